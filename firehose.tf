# Firehose (Direct PUT) turns the metric stream into GZIP objects in the bucket: newline-delimited JSON,
# or length-prefixed OpenTelemetry protobuf records.

resource "aws_cloudwatch_log_group" "firehose" {
  #checkov:skip=CKV_AWS_158:Delivery error messages hold no secrets or metric data; CloudWatch Logs encrypts them at rest with its own key.
  #checkov:skip=CKV_AWS_338:Delivery errors matter for days, not a year; the retention is firehose_log_retention_days.
  name              = local.names.firehose_log
  retention_in_days = var.firehose_log_retention_days

  tags = var.tags
}

resource "aws_cloudwatch_log_stream" "firehose" {
  name           = local.names.firehose_log_std
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_kinesis_firehose_delivery_stream" "this" {
  name        = local.names.firehose
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = var.firehose_kms_key_arn == null ? "AWS_OWNED_CMK" : "CUSTOMER_MANAGED_CMK"
    key_arn  = var.firehose_kms_key_arn
  }

  extended_s3_configuration {
    role_arn    = aws_iam_role.firehose.arn
    bucket_arn  = local.bucket_arn
    kms_key_arn = var.s3_kms_key_arn

    # Custom prefixes with a date path; errors are sorted by their kind.
    prefix              = "${local.metrics_prefix}!{timestamp:yyyy/MM/dd/HH}/"
    error_output_prefix = "${local.errors_prefix}!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"

    buffering_size     = var.firehose_buffering.size_mb
    buffering_interval = var.firehose_buffering.interval_seconds
    compression_format = "GZIP"

    # A JSON metric stream record holds newline-separated JSON objects but does not end with a newline;
    # the delimiter processor adds one, so consecutive records do not run together in an object.
    # OpenTelemetry records are length-prefixed protobuf, which an added byte would corrupt.
    dynamic "processing_configuration" {
      for_each = var.metric_stream_output_format == "json" ? [1] : []

      content {
        enabled = true

        processors {
          type = "AppendDelimiterToRecord"
        }
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.firehose.name
    }
  }

  tags = var.tags

  # Firehose checks its role when the stream is created.
  depends_on = [aws_iam_role_policy.firehose]
}
