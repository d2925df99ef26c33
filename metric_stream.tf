# The CloudWatch metric stream that feeds Firehose with JSON or OpenTelemetry 1.0 records.

resource "aws_cloudwatch_metric_stream" "this" {
  name          = local.names.metric_stream
  role_arn      = aws_iam_role.metric_stream.arn
  firehose_arn  = aws_kinesis_firehose_delivery_stream.this.arn
  output_format = var.metric_stream_output_format

  include_linked_accounts_metrics = var.metric_stream_include_linked_accounts

  dynamic "include_filter" {
    for_each = var.metric_stream_namespaces

    content {
      namespace    = include_filter.value.namespace
      metric_names = include_filter.value.metric_names
    }
  }

  dynamic "exclude_filter" {
    for_each = var.metric_stream_exclude_namespaces

    content {
      namespace    = exclude_filter.value.namespace
      metric_names = exclude_filter.value.metric_names
    }
  }

  dynamic "statistics_configuration" {
    for_each = var.metric_stream_statistics

    content {
      additional_statistics = statistics_configuration.value.additional_statistics

      dynamic "include_metric" {
        for_each = statistics_configuration.value.metrics

        content {
          namespace   = include_metric.value.namespace
          metric_name = include_metric.value.metric_name
        }
      }
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.metric_stream]
}
