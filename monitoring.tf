# Alarms on the pipeline itself, and the SNS topic they notify when one is created or given.

locals {
  monitoring = var.monitoring.enabled

  alarm_topic_arn = var.monitoring.create_sns_topic ? one(aws_sns_topic.alarms[*].arn) : var.monitoring.sns_topic_arn
  alarm_actions   = local.monitoring && local.alarm_topic_arn != null ? [local.alarm_topic_arn] : []

  # Defaults that fit every allowed retention and buffering interval.
  failure_queue_age_seconds  = coalesce(var.monitoring.failure_queue_age_seconds, min(86400, floor(var.lambda_failure_queue.message_retention_seconds / 2)))
  firehose_freshness_seconds = coalesce(var.monitoring.firehose_freshness_seconds, max(900, 2 * var.firehose_buffering.interval_seconds))

  # Firehose publishes DeliveryToS3.* only for periods in which it delivers, at least once per buffering interval.
  firehose_alarm_period = max(300, ceil(var.firehose_buffering.interval_seconds / 60) * 60)

  # Missing data means "nothing happened" for errors, throttles, the queue and publish errors, but
  # "nothing was delivered" for Firehose's success rate: the one alarm that also catches a silent pipeline.
  alarms = { for name, alarm in local.alarm_settings : name => merge(local.alarm_defaults, alarm) }
  alarm_defaults = {
    period              = 300
    evaluation_periods  = 1
    comparison_operator = "GreaterThanOrEqualToThreshold"
    treat_missing_data  = "notBreaching"
  }
  alarm_settings = {
    forwarder-errors = {
      description = "The forwarder failed on objects; failed events are retried, then land in the on-failure queue. See its log group for object.status = \"failed\"."
      namespace   = "AWS/Lambda"
      metric_name = "Errors"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum"
      threshold   = var.monitoring.lambda_errors_threshold
    }
    forwarder-throttles = {
      description = "Invocations of the forwarder were throttled: raise lambda_reserved_concurrency or the account's concurrency limit."
      namespace   = "AWS/Lambda"
      metric_name = "Throttles"
      dimensions  = { FunctionName = aws_lambda_function.this.function_name }
      statistic   = "Sum"
      threshold   = var.monitoring.lambda_throttles_threshold
    }
    failure-queue-messages = {
      description = "Objects failed after all retries and wait in the on-failure queue: fix the cause, then run cwotlp replay --queue-url."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateNumberOfMessagesVisible"
      dimensions  = { QueueName = aws_sqs_queue.failures.name }
      statistic   = "Maximum"
      threshold   = var.monitoring.failure_queue_messages_threshold
    }
    failure-queue-age = {
      description = "A failed object has waited in the on-failure queue for long; it is lost when the queue's retention runs out. Run cwotlp replay --queue-url."
      namespace   = "AWS/SQS"
      metric_name = "ApproximateAgeOfOldestMessage"
      dimensions  = { QueueName = aws_sqs_queue.failures.name }
      statistic   = "Maximum"
      threshold   = local.failure_queue_age_seconds
    }
    firehose-delivery = {
      description         = "Firehose failed to write objects to the bucket, or delivered nothing at all (is the metric stream running?). Delivery errors are in the Firehose log group and under errors/."
      namespace           = "AWS/Firehose"
      metric_name         = "DeliveryToS3.Success"
      dimensions          = { DeliveryStreamName = module.stream.firehose_delivery_stream_name }
      statistic           = "Average"
      period              = local.firehose_alarm_period
      evaluation_periods  = 3
      comparison_operator = "LessThanThreshold"
      threshold           = 1
      treat_missing_data  = "breaching"
    }
    firehose-freshness = {
      description         = "Records wait in Firehose longer than expected: deliveries to the bucket are failing or slow."
      namespace           = "AWS/Firehose"
      metric_name         = "DeliveryToS3.DataFreshness"
      dimensions          = { DeliveryStreamName = module.stream.firehose_delivery_stream_name }
      statistic           = "Maximum"
      period              = local.firehose_alarm_period
      comparison_operator = "GreaterThanThreshold"
      threshold           = local.firehose_freshness_seconds
    }
    metric-stream-publish-errors = {
      description         = "The metric stream could not put records to Firehose: check the metric stream role and the Firehose stream."
      namespace           = "AWS/CloudWatch/MetricStreams"
      metric_name         = "PublishErrorRate"
      dimensions          = { MetricStreamName = module.stream.metric_stream_name }
      statistic           = "Average"
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.monitoring.metric_stream_publish_errors_threshold
    }
  }
}

# A warning, not an error: turning the alarms off for a while should not mean editing their settings too.
check "monitoring_settings_take_effect" {
  assert {
    condition     = var.monitoring.enabled || !(var.monitoring.create_sns_topic || var.monitoring.sns_topic_arn != null)
    error_message = "monitoring.enabled is false, so no alarm, topic or dashboard is created: ${var.monitoring.create_sns_topic ? "create_sns_topic = true creates no topic" : "sns_topic_arn is notified by nothing"}. Set monitoring.enabled = true for the alarms, or leave the topic settings out."
  }
}

resource "aws_sns_topic" "alarms" {
  count = local.monitoring && var.monitoring.create_sns_topic ? 1 : 0

  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic under the AWS managed key alias/aws/sns; give monitoring.sns_kms_key_arn, a customer managed key that lets cloudwatch.amazonaws.com use it, to encrypt the topic.
  name              = local.names.alarm_topic
  kms_master_key_id = var.monitoring.sns_kms_key_arn

  tags = var.tags
}

resource "aws_sns_topic_policy" "alarms" {
  count = local.monitoring && var.monitoring.create_sns_topic ? 1 : 0

  arn = aws_sns_topic.alarms[0].arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "PublishFromThisModulesAlarms"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = aws_sns_topic.alarms[0].arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "arn:*:cloudwatch:*:${local.account_id}:alarm:${local.names.alarm_prefix}*" }
        }
      },
    ]
  })
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.monitoring ? local.alarms : {}

  alarm_name          = "${local.names.alarm_prefix}${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = var.tags
}
