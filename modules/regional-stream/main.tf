# A CloudWatch metric stream and its Firehose in the region of the given provider, delivering into the
# central bucket. The root module creates its own region's stream with it (home_region = true); in every
# further region it is called directly, so that the root module's one forwarder serves every region.

locals {
  # id is the region's name in both hashicorp/aws v5 and v6 (v6 deprecates name; v5 has no region attribute).
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  # The home region keeps the names and prefixes the root module has always used; elsewhere the region
  # keeps the streams apart: in the bucket, and in the names of the IAM roles, which are global.
  role_qualifier = var.home_region ? "" : "-${local.region}"
  location       = var.home_region ? "" : " in ${local.region}"
  key_segment    = var.home_region ? "" : "${local.region}/"

  names = {
    firehose         = "${var.name}-metrics"
    metric_stream    = var.name
    role_firehose    = "${var.name}${local.role_qualifier}-firehose"
    role_stream      = "${var.name}${local.role_qualifier}-metric-stream"
    firehose_log     = "/aws/kinesisfirehose/${var.name}-metrics"
    firehose_log_std = "DestinationDelivery"
  }

  # Delivered objects go under metrics/, where the bucket notifies the forwarder, and failed deliveries
  # under errors/, where its lifecycle expires them: directly in the home region, under metrics/<region>/
  # and errors/<region>/ in the others.
  metrics_prefix = "metrics/${local.key_segment}"
  errors_prefix  = "errors/${local.key_segment}"

  # Least privilege: the metric stream may only put records to its Firehose, and Firehose may only
  # write its prefixes and its log stream.
  metric_stream_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PutRecordsToTheDeliveryStream"
        Effect   = "Allow"
        Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
        Resource = aws_kinesis_firehose_delivery_stream.this.arn
      },
    ]
  }

  firehose_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteObjectsUnderItsPrefixes"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
          Resource = ["${var.bucket_arn}/${local.metrics_prefix}*", "${var.bucket_arn}/${local.errors_prefix}*"]
        },
        {
          Sid      = "FindTheBucket"
          Effect   = "Allow"
          Action   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
          Resource = var.bucket_arn
        },
        {
          Sid       = "ListItsPrefixes"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = var.bucket_arn
          Condition = { StringLike = { "s3:prefix" = ["${local.metrics_prefix}*", "${local.errors_prefix}*"] } }
        },
        {
          Sid      = "LogDeliveryErrors"
          Effect   = "Allow"
          Action   = "logs:PutLogEvents"
          Resource = "${aws_cloudwatch_log_group.firehose.arn}:log-stream:${aws_cloudwatch_log_stream.firehose.name}"
        },
      ],
      var.s3_kms_key_arn == null ? [] : [
        {
          Sid      = "EncryptObjects"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource = var.s3_kms_key_arn
        },
      ],
    )
  }
}

data "aws_caller_identity" "current" {}

# AWS refuses a Firehose key of another region only at apply; an ARN unknown until apply is checked then.
# (s3_kms_key_arn is the bucket's key, in the home region.)
locals {
  firehose_key_region = var.firehose_kms_key_arn == null ? null : split(":", var.firehose_kms_key_arn)[3]
}

data "aws_region" "current" {
  lifecycle {
    postcondition {
      condition     = local.firehose_key_region == null || local.firehose_key_region == self.id
      error_message = "Not in ${self.id}, the region of this stream: firehose_kms_key_arn (${coalesce(local.firehose_key_region, "?")}). Use a key of ${self.id} (a KMS multi-Region replica key has an ARN there)."
    }
  }
}

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

# Firehose (Direct PUT) turns the metric stream into GZIP objects in the bucket: newline-delimited JSON,
# or length-prefixed OpenTelemetry protobuf records.
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
    bucket_arn  = var.bucket_arn
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

resource "aws_iam_role" "metric_stream" {
  name                 = local.names.role_stream
  path                 = var.iam_role_path
  permissions_boundary = var.iam_role_permissions_boundary
  description          = "Lets the ${var.name} CloudWatch metric stream${local.location} put records to its Firehose"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "streams.metrics.cloudwatch.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "metric_stream" {
  name   = "put-records"
  role   = aws_iam_role.metric_stream.id
  policy = jsonencode(local.metric_stream_policy)
}

resource "aws_iam_role" "firehose" {
  name                 = local.names.role_firehose
  path                 = var.iam_role_path
  permissions_boundary = var.iam_role_permissions_boundary
  description          = "Lets the ${var.name} Firehose${local.location} write objects and its error log"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "firehose.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "sts:ExternalId" = local.account_id } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-to-s3"
  role   = aws_iam_role.firehose.id
  policy = jsonencode(local.firehose_policy)
}
