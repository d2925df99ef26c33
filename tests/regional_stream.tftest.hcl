# modules/regional-stream planned as a module: a metric stream and Firehose in another region that write
# under the central bucket's metrics/<region>/, with their own least-privilege roles.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_kinesis_firehose_delivery_stream" {
    defaults = { arn = "arn:aws:firehose:us-east-1:111122223333:deliverystream/cwotlp-metrics" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/kinesisfirehose/cwotlp-metrics" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "us-east-1", name = "us-east-1" }
  }
}

variables {
  bucket_arn = "arn:aws:s3:::cwotlp-20240101000000000000000001"
}

run "streams_into_the_central_bucket_under_its_region" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition = (
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).bucket_arn == "arn:aws:s3:::cwotlp-20240101000000000000000001" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).prefix == "metrics/us-east-1/!{timestamp:yyyy/MM/dd/HH}/" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).error_output_prefix == "errors/us-east-1/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    )
    error_message = "Objects must land under metrics/<region>/ of the central bucket, where the forwarder is notified; errors under errors/<region>/."
  }
  assert {
    condition = (
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).compression_format == "GZIP" &&
      one(one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration).processors).type == "AppendDelimiterToRecord" &&
      one(aws_kinesis_firehose_delivery_stream.this.server_side_encryption).key_type == "AWS_OWNED_CMK"
    )
    error_message = "JSON objects are GZIP with a newline after each record, and Firehose is encrypted."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_stream.this.name == "cwotlp" &&
      aws_cloudwatch_metric_stream.this.output_format == "json" &&
      aws_cloudwatch_metric_stream.this.firehose_arn == "arn:aws:firehose:us-east-1:111122223333:deliverystream/cwotlp-metrics" &&
      !aws_cloudwatch_metric_stream.this.include_linked_accounts_metrics
    )
    error_message = "The metric stream must send JSON to its Firehose."
  }
  assert {
    condition     = aws_iam_role.firehose.name == "cwotlp-us-east-1-firehose" && aws_iam_role.metric_stream.name == "cwotlp-us-east-1-metric-stream"
    error_message = "IAM roles are global: their names must carry the region."
  }
  assert {
    condition     = output.s3_prefix == "metrics/us-east-1/" && output.region == "us-east-1" && output.firehose_delivery_stream_name == "cwotlp-metrics"
    error_message = "Outputs must name the region's prefix and stream."
  }
}

run "roles_may_only_write_their_region_and_put_to_their_stream" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition = jsondecode(aws_iam_role_policy.firehose.policy).Statement == [
      {
        Sid      = "WriteObjectsUnderItsPrefixes"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
        Resource = ["arn:aws:s3:::cwotlp-20240101000000000000000001/metrics/us-east-1/*", "arn:aws:s3:::cwotlp-20240101000000000000000001/errors/us-east-1/*"]
      },
      {
        Sid      = "FindTheBucket"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
        Resource = "arn:aws:s3:::cwotlp-20240101000000000000000001"
      },
      {
        Sid       = "ListItsPrefixes"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = "arn:aws:s3:::cwotlp-20240101000000000000000001"
        Condition = { StringLike = { "s3:prefix" = ["metrics/us-east-1/*", "errors/us-east-1/*"] } }
      },
      {
        Sid      = "LogDeliveryErrors"
        Effect   = "Allow"
        Action   = "logs:PutLogEvents"
        Resource = "arn:aws:logs:us-east-1:111122223333:log-group:/aws/kinesisfirehose/cwotlp-metrics:log-stream:DestinationDelivery"
      },
    ]
    error_message = "Firehose may only write this region's prefixes of the central bucket and its own log stream."
  }
  assert {
    condition = jsondecode(aws_iam_role_policy.metric_stream.policy).Statement == [{
      Sid      = "PutRecordsToTheDeliveryStream"
      Effect   = "Allow"
      Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
      Resource = "arn:aws:firehose:us-east-1:111122223333:deliverystream/cwotlp-metrics"
    }]
    error_message = "The metric stream may only put records to its own Firehose."
  }
  assert {
    condition = jsondecode(aws_iam_role.firehose.assume_role_policy).Statement[0].Condition == { StringEquals = { "sts:ExternalId" = "111122223333" } } && jsondecode(aws_iam_role.metric_stream.assume_role_policy).Statement[0] == {
      Effect    = "Allow"
      Principal = { Service = "streams.metrics.cloudwatch.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = "111122223333" } }
    }
    error_message = "Only this account's services may assume the roles."
  }
}

run "filters_statistics_format_linked_accounts_and_keys" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    name                                  = "cwotlp-prod"
    s3_kms_key_arn                        = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    firehose_kms_key_arn                  = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000f"
    metric_stream_exclude_namespaces      = [{ namespace = "AWS/Usage" }]
    metric_stream_statistics              = [{ additional_statistics = ["p99"], metrics = [{ namespace = "AWS/Lambda", metric_name = "Duration" }] }]
    metric_stream_output_format           = "opentelemetry1.0"
    metric_stream_include_linked_accounts = true
    tags                                  = { team = "observability" }
  }

  assert {
    condition = (
      [for f in aws_cloudwatch_metric_stream.this.exclude_filter : f.namespace] == ["AWS/Usage"] &&
      length(aws_cloudwatch_metric_stream.this.include_filter) == 0 &&
      aws_cloudwatch_metric_stream.this.include_linked_accounts_metrics
    )
    error_message = "Filters and linked accounts must reach the metric stream."
  }
  assert {
    condition = aws_cloudwatch_metric_stream.this.statistics_configuration == toset([{
      additional_statistics = toset(["p99"])
      include_metric        = toset([{ namespace = "AWS/Lambda", metric_name = "Duration" }])
    }])
    error_message = "Percentiles must reach the metric stream."
  }
  assert {
    condition     = aws_cloudwatch_metric_stream.this.output_format == "opentelemetry1.0" && length(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration) == 0
    error_message = "OpenTelemetry records must get no delimiter."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.firehose.policy).Statement, {
      Sid      = "EncryptObjects"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    }) && one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).kms_key_arn == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    error_message = "Objects must be encrypted with the central bucket's key, which the Firehose role may use."
  }
  assert {
    condition     = one(aws_kinesis_firehose_delivery_stream.this.server_side_encryption).key_type == "CUSTOMER_MANAGED_CMK" && one(aws_kinesis_firehose_delivery_stream.this.server_side_encryption).key_arn == "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000f"
    error_message = "Firehose must use the given key of its region."
  }
  assert {
    condition     = aws_cloudwatch_metric_stream.this.name == "cwotlp-prod" && aws_iam_role.metric_stream.name == "cwotlp-prod-us-east-1-metric-stream" && aws_cloudwatch_metric_stream.this.tags == tomap({ team = "observability" })
    error_message = "Names must follow name, and tags must be applied."
  }
}

# Each validation of the submodule rejects a wrong value at plan.

run "bucket_arn_must_be_a_bucket_arn" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    bucket_arn = "arn:aws:s3:::cwotlp-bucket/metrics"
  }

  expect_failures = [var.bucket_arn]
}

run "name_rejects_upper_case" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    name = "CwOtlp"
  }

  expect_failures = [var.name]
}

run "s3_kms_key_arn_must_be_a_key_arn" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    s3_kms_key_arn = "alias/cwotlp"
  }

  expect_failures = [var.s3_kms_key_arn]
}

run "firehose_kms_key_arn_must_be_a_key_arn" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    firehose_kms_key_arn = "alias/aws/firehose"
  }

  expect_failures = [var.firehose_kms_key_arn]
}

run "firehose_buffering_size_within_limits" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    firehose_buffering = { size_mb = 129 }
  }

  expect_failures = [var.firehose_buffering]
}

run "firehose_buffering_interval_within_limits" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    firehose_buffering = { interval_seconds = 901 }
  }

  expect_failures = [var.firehose_buffering]
}

run "firehose_log_retention_days_must_be_accepted_by_cloudwatch" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    firehose_log_retention_days = 10
  }

  expect_failures = [var.firehose_log_retention_days]
}

run "metric_stream_namespaces_at_most_1000" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_namespaces = [for i in range(1001) : { namespace = "Custom/${i}" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_namespaces_need_a_namespace" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_namespaces = [{ namespace = "" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_namespaces_unique" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_namespaces = [{ namespace = "AWS/EC2" }, { namespace = "AWS/EC2", metric_names = ["CPUUtilization"] }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "include_and_exclude_filters_are_exclusive" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_namespaces         = [{ namespace = "AWS/EC2" }]
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Usage" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_exclude_namespaces_at_most_1000" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_exclude_namespaces = [for i in range(1001) : { namespace = "Custom/${i}" }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_exclude_namespaces_metric_names_not_empty" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Logs", metric_names = [""] }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_exclude_namespaces_unique" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Usage" }, { namespace = "AWS/Usage" }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_statistics_within_limits" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99"], metrics = [] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_only_percentiles" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_statistics = [{ additional_statistics = ["TM(10%:90%)"], metrics = [{ namespace = "AWS/Lambda", metric_name = "Duration" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_output_format_known" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_output_format = "opentelemetry0.7"
  }

  expect_failures = [var.metric_stream_output_format]
}
