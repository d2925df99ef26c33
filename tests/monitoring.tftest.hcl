# Self-monitoring: the alarms (what they watch, how they treat missing data, whom they notify), the SNS
# topic, the off switch and the dashboard's widgets.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:111122223333:cwotlp-alarms" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
}

variables {
  secret_value = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "test" } }
}

run "alarms_watch_every_stage_on_defaults" {
  command = plan

  assert {
    condition = {
      for key, alarm in aws_cloudwatch_metric_alarm.this : key => [alarm.alarm_name, alarm.namespace, alarm.metric_name]
      } == {
      forwarder-errors             = ["cwotlp-forwarder-errors", "AWS/Lambda", "Errors"]
      forwarder-throttles          = ["cwotlp-forwarder-throttles", "AWS/Lambda", "Throttles"]
      failure-queue-messages       = ["cwotlp-failure-queue-messages", "AWS/SQS", "ApproximateNumberOfMessagesVisible"]
      failure-queue-age            = ["cwotlp-failure-queue-age", "AWS/SQS", "ApproximateAgeOfOldestMessage"]
      firehose-delivery            = ["cwotlp-firehose-delivery", "AWS/Firehose", "DeliveryToS3.Success"]
      firehose-freshness           = ["cwotlp-firehose-freshness", "AWS/Firehose", "DeliveryToS3.DataFreshness"]
      metric-stream-publish-errors = ["cwotlp-metric-stream-publish-errors", "AWS/CloudWatch/MetricStreams", "PublishErrorRate"]
    }
    error_message = "One alarm per failure mode, each on the right metric."
  }
  assert {
    condition = tomap({ for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.dimensions }) == tomap({
      forwarder-errors             = { FunctionName = "cwotlp-forwarder" }
      forwarder-throttles          = { FunctionName = "cwotlp-forwarder" }
      failure-queue-messages       = { QueueName = "cwotlp-forwarder-failures" }
      failure-queue-age            = { QueueName = "cwotlp-forwarder-failures" }
      firehose-delivery            = { DeliveryStreamName = "cwotlp-metrics" }
      firehose-freshness           = { DeliveryStreamName = "cwotlp-metrics" }
      metric-stream-publish-errors = { MetricStreamName = "cwotlp" }
    })
    error_message = "Each alarm must watch this module's resource."
  }
  assert {
    condition = {
      for key, alarm in aws_cloudwatch_metric_alarm.this : key => [alarm.statistic, alarm.comparison_operator, alarm.threshold, alarm.period, alarm.evaluation_periods]
      } == {
      forwarder-errors             = ["Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1]
      forwarder-throttles          = ["Sum", "GreaterThanOrEqualToThreshold", 1, 300, 1]
      failure-queue-messages       = ["Maximum", "GreaterThanOrEqualToThreshold", 1, 300, 1]
      failure-queue-age            = ["Maximum", "GreaterThanOrEqualToThreshold", 86400, 300, 1]
      firehose-delivery            = ["Average", "LessThanThreshold", 1, 300, 3]
      firehose-freshness           = ["Maximum", "GreaterThanThreshold", 900, 300, 1]
      metric-stream-publish-errors = ["Average", "GreaterThanThreshold", 0, 300, 1]
    }
    error_message = "Default statistics and thresholds."
  }
  assert {
    condition = alltrue([
      for key, alarm in aws_cloudwatch_metric_alarm.this : alarm.treat_missing_data == (key == "firehose-delivery" ? "breaching" : "notBreaching")
    ])
    error_message = "Only Firehose's delivery success treats missing data as breaching (nothing delivered); for the rest no data means nothing went wrong."
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && alltrue([for alarm in aws_cloudwatch_metric_alarm.this : length(alarm.alarm_actions) == 0 && length(alarm.ok_actions) == 0])
    error_message = "Without a topic the alarms notify nobody and no topic is created."
  }
  assert {
    condition     = output.sns_topic_arn == null && output.cloudwatch_alarm_names["forwarder-errors"] == "cwotlp-forwarder-errors"
    error_message = "Outputs must name the alarms and no topic."
  }
}

run "thresholds_follow_the_inputs" {
  command = plan

  variables {
    firehose_buffering = { interval_seconds = 900 }
    monitoring = {
      lambda_errors_threshold                = 5
      lambda_throttles_threshold             = 10
      failure_queue_messages_threshold       = 3
      failure_queue_age_seconds              = 3600
      firehose_freshness_seconds             = 1800
      metric_stream_publish_errors_threshold = 0.5
    }
  }

  assert {
    condition = {
      for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.threshold
      } == {
      forwarder-errors             = 5
      forwarder-throttles          = 10
      failure-queue-messages       = 3
      failure-queue-age            = 3600
      firehose-delivery            = 1
      firehose-freshness           = 1800
      metric-stream-publish-errors = 0.5
    }
    error_message = "Each threshold must come from its input."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.this["firehose-delivery"].period == 900 && aws_cloudwatch_metric_alarm.this["firehose-freshness"].period == 900
    error_message = "Firehose alarms must not be shorter than the buffering interval, or quiet periods between deliveries would alarm."
  }
}

run "default_thresholds_fit_every_interval_and_retention" {
  command = plan

  variables {
    firehose_buffering   = { interval_seconds = 900 }
    lambda_failure_queue = { message_retention_seconds = 60 }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["firehose-freshness"].threshold == 1800 && aws_cloudwatch_metric_alarm.this["failure-queue-age"].threshold == 30
    error_message = "Left out, the freshness threshold is twice a long buffering interval and the age threshold half a short retention."
  }
}

run "thresholds_that_cannot_hold_are_not_checked_with_monitoring_off" {
  command = plan

  variables {
    firehose_buffering   = { interval_seconds = 900 }
    lambda_failure_queue = { message_retention_seconds = 600 }
    monitoring           = { enabled = false, failure_queue_age_seconds = 86400, firehose_freshness_seconds = 60 }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0
    error_message = "With monitoring off there is no alarm, and its thresholds are not checked."
  }
}

run "created_topic_receives_alarms_and_state_changes" {
  command = plan

  variables {
    monitoring = { create_sns_topic = true }
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 1 && aws_sns_topic.alarms[0].name == "cwotlp-alarms" && aws_sns_topic.alarms[0].kms_master_key_id == null
    error_message = "The topic must be created; without a customer managed key it is not encrypted (CloudWatch cannot use alias/aws/sns)."
  }
  assert {
    condition = jsondecode(aws_sns_topic_policy.alarms[0].policy).Statement == [{
      Sid       = "PublishFromThisModulesAlarms"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = "arn:aws:sns:eu-west-1:111122223333:cwotlp-alarms"
      Condition = {
        StringEquals = { "aws:SourceAccount" = "111122223333" }
        ArnLike      = { "aws:SourceArn" = "arn:*:cloudwatch:*:111122223333:alarm:cwotlp-*" }
      }
    }]
    error_message = "Only this account's alarms of this module may publish to the topic."
  }
  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.this :
      alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:111122223333:cwotlp-alarms"]) && alarm.ok_actions == toset(["arn:aws:sns:eu-west-1:111122223333:cwotlp-alarms"])
    ])
    error_message = "Every alarm must notify the created topic when it fires and when it clears."
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:eu-west-1:111122223333:cwotlp-alarms"
    error_message = "The output must name the created topic."
  }
}

run "created_topic_is_encrypted_with_the_given_key" {
  command = plan

  variables {
    monitoring = {
      create_sns_topic = true
      sns_kms_key_arn  = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000e"
    }
  }

  assert {
    condition     = aws_sns_topic.alarms[0].kms_master_key_id == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000e"
    error_message = "The topic must be encrypted with the given key."
  }
}

run "given_topic_receives_alarms" {
  command = plan

  variables {
    monitoring = { sns_topic_arn = "arn:aws:sns:eu-west-1:111122223333:on-call" }
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && length(aws_sns_topic_policy.alarms) == 0
    error_message = "No topic may be created when one is given."
  }
  assert {
    condition     = alltrue([for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_actions == toset(["arn:aws:sns:eu-west-1:111122223333:on-call"])])
    error_message = "Every alarm must notify the given topic."
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:eu-west-1:111122223333:on-call"
    error_message = "The output must name the given topic."
  }
}

run "monitoring_off_creates_nothing" {
  command = plan

  variables {
    monitoring = { enabled = false }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.this) == 0 && length(aws_sns_topic.alarms) == 0 && length(aws_sns_topic_policy.alarms) == 0 && length(aws_cloudwatch_dashboard.this) == 0
    error_message = "enabled = false must create no alarm, topic or dashboard."
  }
  assert {
    condition     = output.sns_topic_arn == null && output.cloudwatch_alarm_names == {} && output.cloudwatch_dashboard_name == null
    error_message = "Outputs must be empty when monitoring is off."
  }
}

# Topic settings beside enabled = false are a warning (a check), and still create nothing.
run "monitoring_off_with_a_topic_to_create_warns_and_creates_nothing" {
  command = plan

  variables {
    monitoring = { enabled = false, create_sns_topic = true }
  }

  expect_failures = [check.monitoring_settings_take_effect]

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && length(aws_cloudwatch_metric_alarm.this) == 0 && output.sns_topic_arn == null
    error_message = "enabled = false must create no topic and no alarm."
  }
}

run "monitoring_off_with_a_topic_to_notify_warns" {
  command = plan

  variables {
    monitoring = { enabled = false, sns_topic_arn = "arn:aws:sns:eu-west-1:111122223333:on-call" }
  }

  expect_failures = [check.monitoring_settings_take_effect]
}

run "dashboard_shows_each_stage_in_the_module_region" {
  command = plan

  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "cwotlp" && output.cloudwatch_dashboard_name == "cwotlp"
    error_message = "The dashboard must be named after the module."
  }
  assert {
    condition     = alltrue([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.region == "eu-west-1" && w.width == 12 && w.height == 6])
    error_message = "Every widget needs the module's region and a place on the grid."
  }
  assert {
    condition     = length(distinct([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [w.x, w.y]])) == length(jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets)
    error_message = "No two widgets may share a place."
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [for m in w.properties.metrics : join(" ", slice(m, 0, 4))] if w.type == "metric"
      ])) == toset([
      "AWS/CloudWatch/MetricStreams MetricUpdate MetricStreamName cwotlp",
      "AWS/CloudWatch/MetricStreams PublishErrorRate MetricStreamName cwotlp",
      "AWS/Firehose IncomingRecords DeliveryStreamName cwotlp-metrics",
      "AWS/Firehose DeliveryToS3.Records DeliveryStreamName cwotlp-metrics",
      "AWS/Firehose DeliveryToS3.Success DeliveryStreamName cwotlp-metrics",
      "AWS/Firehose DeliveryToS3.DataFreshness DeliveryStreamName cwotlp-metrics",
      "AWS/Lambda Invocations FunctionName cwotlp-forwarder",
      "AWS/Lambda Errors FunctionName cwotlp-forwarder",
      "AWS/Lambda Throttles FunctionName cwotlp-forwarder",
      "AWS/Lambda Duration FunctionName cwotlp-forwarder",
      "AWS/SQS ApproximateNumberOfMessagesVisible QueueName cwotlp-forwarder-failures",
      "AWS/SQS ApproximateAgeOfOldestMessage QueueName cwotlp-forwarder-failures",
    ])
    error_message = "The metric widgets must show each stage's metrics of this module's resources."
  }
  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      w.properties.period == 300 && w.properties.stacked == false && w.properties.view == "timeSeries" if w.type == "metric"
    ])
    error_message = "Metric widgets are five-minute line charts (period a number, stacked a boolean)."
  }
  assert {
    condition = alltrue([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets :
      startswith(w.properties.query, "SOURCE '/aws/lambda/cwotlp-forwarder' | ") if w.type == "log"
    ])
    error_message = "Every Logs Insights widget must query the forwarder's log group."
  }
  assert {
    condition = alltrue([
      for field in [
        "object.status = \"delivered\"", "object.datapoints", "object.records", "object.retries", "object.splits",
        "object.rejected_datapoints", "object.skipped.malformed_json", "object.skipped.not_a_metric",
        "object.skipped.invalid_value", "object.skipped.truncated_line", "object.skipped.truncated_gzip",
        "object.skipped.dropped_by_rule", "object.skipped.truncated_frame", "object.skipped.malformed_frame",
        "object.skipped.stray_delimiter", "object.skipped.empty_frame", "pct(object.lag_seconds, 50)", "pct(object.lag_seconds, 99)",
        "max(object.lag_seconds)", "object.status = \"failed\"",
      ] : anytrue([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : strcontains(w.properties.query, field) if w.type == "log"])
    ])
    error_message = "The log widgets must chart forwarded objects, retries, skipped lines by reason, latency and failures."
  }
  assert {
    condition     = length([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w if w.type == "log" && w.properties.view == "table"]) == 1
    error_message = "Failed objects are listed in one table."
  }
}

run "dashboard_can_be_left_out" {
  command = plan

  variables {
    monitoring = { create_dashboard = false }
  }

  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && length(aws_cloudwatch_metric_alarm.this) == 7
    error_message = "create_dashboard = false must keep the alarms and drop only the dashboard."
  }
}
