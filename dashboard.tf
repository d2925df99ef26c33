# A CloudWatch dashboard of the whole pipeline: service metrics of each stage, and Logs Insights
# queries over the forwarder's one-line-per-object JSON logs (fields under object.).

locals {
  # The region of this module's metric stream, Firehose and forwarder.
  region = module.stream.region

  log_source = "SOURCE '${aws_cloudwatch_log_group.lambda.name}'"
  # The forwarder's skip reasons: JSON lines, then OpenTelemetry 1.0 frames.
  skip_reasons = [
    "malformed_json", "not_a_metric", "invalid_value", "truncated_line", "truncated_gzip", "dropped_by_rule",
    "truncated_frame", "malformed_frame", "stray_delimiter", "empty_frame",
  ]

  stream_dimension   = ["MetricStreamName", module.stream.metric_stream_name]
  firehose_dimension = ["DeliveryStreamName", module.stream.firehose_delivery_stream_name]
  lambda_dimension   = ["FunctionName", aws_lambda_function.this.function_name]
  queue_dimension    = ["QueueName", aws_sqs_queue.failures.name]

  metric_view = { view = "timeSeries", stacked = false, period = 300 }

  # Widgets in reading order, from the metric stream to the collector; laid out two to a row below.
  dashboard_widgets = [
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "Metric stream: updates and publish errors"
        metrics = [
          concat(["AWS/CloudWatch/MetricStreams", "MetricUpdate"], local.stream_dimension, [{ stat = "Sum" }]),
          concat(["AWS/CloudWatch/MetricStreams", "PublishErrorRate"], local.stream_dimension, [{ stat = "Average", yAxis = "right" }]),
        ]
      })
    },
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "Firehose: records in, delivery success"
        metrics = [
          concat(["AWS/Firehose", "IncomingRecords"], local.firehose_dimension, [{ stat = "Sum" }]),
          concat(["AWS/Firehose", "DeliveryToS3.Records"], local.firehose_dimension, [{ stat = "Sum" }]),
          concat(["AWS/Firehose", "DeliveryToS3.Success"], local.firehose_dimension, [{ stat = "Average", yAxis = "right" }]),
        ]
      })
    },
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "Firehose: age of the oldest undelivered record (s)"
        metrics = [
          concat(["AWS/Firehose", "DeliveryToS3.DataFreshness"], local.firehose_dimension, [{ stat = "Maximum" }]),
        ]
      })
    },
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "Forwarder: invocations, errors, throttles"
        metrics = [
          concat(["AWS/Lambda", "Invocations"], local.lambda_dimension, [{ stat = "Sum" }]),
          concat(["AWS/Lambda", "Errors"], local.lambda_dimension, [{ stat = "Sum" }]),
          concat(["AWS/Lambda", "Throttles"], local.lambda_dimension, [{ stat = "Sum" }]),
        ]
      })
    },
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "Forwarder: duration (ms)"
        metrics = [
          concat(["AWS/Lambda", "Duration"], local.lambda_dimension, [{ stat = "Average" }]),
          concat(["AWS/Lambda", "Duration"], local.lambda_dimension, [{ stat = "p99" }]),
          concat(["AWS/Lambda", "Duration"], local.lambda_dimension, [{ stat = "Maximum" }]),
        ]
      })
    },
    {
      type = "metric"
      properties = merge(local.metric_view, {
        title = "On-failure queue: messages and oldest age (s)"
        metrics = [
          concat(["AWS/SQS", "ApproximateNumberOfMessagesVisible"], local.queue_dimension, [{ stat = "Maximum" }]),
          concat(["AWS/SQS", "ApproximateAgeOfOldestMessage"], local.queue_dimension, [{ stat = "Maximum", yAxis = "right" }]),
        ]
      })
    },
    {
      type = "log"
      properties = {
        title = "Objects, records and datapoints forwarded"
        view  = "timeSeries"
        query = "${local.log_source} | filter object.status = \"delivered\" | stats count(*) as objects, sum(object.records) as records, sum(object.datapoints) as datapoints by bin(5m)"
      }
    },
    {
      type = "log"
      properties = {
        title = "Requests, retries, splits and rejected datapoints"
        view  = "timeSeries"
        query = "${local.log_source} | filter ispresent(object.status) | stats sum(object.requests) as requests, sum(object.retries) as retries, sum(object.splits) as splits, sum(object.rejected_datapoints) as rejected_datapoints by bin(5m)"
      }
    },
    {
      type = "log"
      properties = {
        title = "Skipped lines by reason"
        view  = "timeSeries"
        query = "${local.log_source} | filter ispresent(object.status) | stats ${join(", ", [for reason in local.skip_reasons : "sum(object.skipped.${reason}) as ${reason}"])}, sum(object.statistics_dropped) as statistics_dropped by bin(5m)"
      }
    },
    {
      type = "log"
      properties = {
        title = "End-to-end latency: oldest datapoint to delivery (s)"
        view  = "timeSeries"
        query = "${local.log_source} | filter object.status = \"delivered\" | stats pct(object.lag_seconds, 50) as p50, pct(object.lag_seconds, 99) as p99, max(object.lag_seconds) as max by bin(5m)"
      }
    },
    {
      type = "log"
      properties = {
        title = "Objects by status"
        view  = "timeSeries"
        query = "${local.log_source} | filter ispresent(object.status) | stats count(*) as objects by object.status, bin(5m)"
      }
    },
    {
      type = "log"
      properties = {
        title = "Failed objects (replay them from the on-failure queue)"
        view  = "table"
        query = "${local.log_source} | filter object.status = \"failed\" | fields @timestamp, object.key, object.error, object.resumed_from | sort @timestamp desc | limit 50"
      }
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = local.monitoring && var.monitoring.create_dashboard ? 1 : 0

  dashboard_name = local.names.dashboard
  dashboard_body = jsonencode({
    widgets = [
      for i, widget in local.dashboard_widgets : merge(widget, {
        x          = (i % 2) * 12
        y          = floor(i / 2) * 6
        width      = 12
        height     = 6
        properties = merge(widget.properties, { region = local.region })
      })
    ]
  })
}
