# modules/regional-stream planned as a module: a metric stream and its Firehose that write into the central
# bucket with least-privilege roles; under metrics/<region>/ in a further region, directly under metrics/
# as the root module's own stream (home_region).

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

# The two inputs without a default: the root module's bucket and output format.
variables {
  bucket_arn                  = "arn:aws:s3:::cwotlp-20240101000000000000000001"
  metric_stream_output_format = "json"
}

run "firehose_delivers_gzip_objects_on_defaults" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition = (
      aws_kinesis_firehose_delivery_stream.this.name == "cwotlp-metrics" &&
      aws_kinesis_firehose_delivery_stream.this.destination == "extended_s3" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).bucket_arn == "arn:aws:s3:::cwotlp-20240101000000000000000001"
    )
    error_message = "Firehose must deliver to the central bucket."
  }
  assert {
    condition = (
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).compression_format == "GZIP" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).buffering_size == 5 &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).buffering_interval == 60
    )
    error_message = "Objects must be GZIP with 5 MB / 60 s buffering by default."
  }
  assert {
    condition     = one(one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration).processors).type == "AppendDelimiterToRecord"
    error_message = "JSON records must get a newline after each."
  }
  assert {
    condition = (
      one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).cloudwatch_logging_options).enabled &&
      one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).cloudwatch_logging_options).log_group_name == "/aws/kinesisfirehose/cwotlp-metrics" &&
      one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).cloudwatch_logging_options).log_stream_name == "DestinationDelivery" &&
      aws_cloudwatch_log_group.firehose.retention_in_days == 14
    )
    error_message = "Delivery errors must be logged to a log group with a retention."
  }
  assert {
    condition     = one(aws_kinesis_firehose_delivery_stream.this.server_side_encryption).enabled && one(aws_kinesis_firehose_delivery_stream.this.server_side_encryption).key_type == "AWS_OWNED_CMK"
    error_message = "Firehose server-side encryption must be on."
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
    condition     = length(aws_cloudwatch_metric_stream.this.include_filter) == 0 && length(aws_cloudwatch_metric_stream.this.exclude_filter) == 0 && length(aws_cloudwatch_metric_stream.this.statistics_configuration) == 0
    error_message = "Without filters every namespace must be streamed."
  }
}

run "further_region_streams_under_its_region" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition = (
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).prefix == "metrics/us-east-1/!{timestamp:yyyy/MM/dd/HH}/" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).error_output_prefix == "errors/us-east-1/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/"
    )
    error_message = "Objects must land under metrics/<region>/ of the central bucket, where the forwarder is notified; errors under errors/<region>/."
  }
  assert {
    condition     = aws_iam_role.firehose.name == "cwotlp-us-east-1-firehose" && aws_iam_role.metric_stream.name == "cwotlp-us-east-1-metric-stream"
    error_message = "IAM roles are global: their names must carry the region."
  }
  assert {
    condition     = aws_iam_role.metric_stream.description == "Lets the cwotlp CloudWatch metric stream in us-east-1 put records to its Firehose"
    error_message = "The role descriptions must name the region."
  }
  assert {
    condition     = output.s3_prefix == "metrics/us-east-1/" && output.region == "us-east-1" && output.firehose_delivery_stream_name == "cwotlp-metrics"
    error_message = "Outputs must name the region's prefix and stream."
  }
}

run "home_region_streams_directly_under_metrics_and_errors" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    home_region = true
  }

  assert {
    condition = (
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).prefix == "metrics/!{timestamp:yyyy/MM/dd/HH}/" &&
      one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).error_output_prefix == "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/" &&
      output.s3_prefix == "metrics/"
    )
    error_message = "The home region's objects must land under metrics/ with a date path, errors under errors/."
  }
  assert {
    # The names a single-region deployment has always had, so that its roles are kept.
    condition = (
      aws_iam_role.firehose.name == "cwotlp-firehose" &&
      aws_iam_role.firehose.description == "Lets the cwotlp Firehose write objects and its error log" &&
      aws_iam_role.metric_stream.name == "cwotlp-metric-stream" &&
      aws_iam_role.metric_stream.description == "Lets the cwotlp CloudWatch metric stream put records to its Firehose"
    )
    error_message = "The home region's role names and descriptions must carry no region."
  }
  assert {
    # The rest of the policy is the same in every region (roles_may_only_write_their_region_and_put_to_their_stream).
    condition = (
      jsondecode(aws_iam_role_policy.firehose.policy).Statement[0].Resource == ["arn:aws:s3:::cwotlp-20240101000000000000000001/metrics/*", "arn:aws:s3:::cwotlp-20240101000000000000000001/errors/*"] &&
      jsondecode(aws_iam_role_policy.firehose.policy).Statement[2].Condition == { StringLike = { "s3:prefix" = ["metrics/*", "errors/*"] } }
    )
    error_message = "The home region's Firehose may only write under metrics/ and errors/."
  }
}

run "names_fit_the_limits_in_the_longest_region" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    name = "a23456789012345678901234567890bc"
  }

  override_data {
    target = data.aws_region.current
    values = { id = "ap-southeast-5", name = "ap-southeast-5" }
  }

  assert {
    condition     = aws_iam_role.metric_stream.name == "a23456789012345678901234567890bc-ap-southeast-5-metric-stream" && length(aws_iam_role.metric_stream.name) <= 64
    error_message = "The longest role name must stay within IAM's 64 characters."
  }
  assert {
    condition     = aws_cloudwatch_metric_stream.this.name == "a23456789012345678901234567890bc" && aws_kinesis_firehose_delivery_stream.this.name == "a23456789012345678901234567890bc-metrics"
    error_message = "Every name must start with name."
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
    condition = jsondecode(aws_iam_role.firehose.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "firehose.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = "111122223333" } }
    }]
    error_message = "Only Firehose in this account may assume the Firehose role."
  }
  assert {
    condition = jsondecode(aws_iam_role.metric_stream.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "streams.metrics.cloudwatch.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = "111122223333" } }
    }]
    error_message = "Only metric streams of this account may assume the metric stream role."
  }
}

run "keys_tags_and_names" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    name                 = "cwotlp-prod"
    s3_kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    firehose_kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000f"
    tags                 = { team = "observability" }
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
    condition     = length([for s in jsondecode(aws_iam_role_policy.metric_stream.policy).Statement : s if startswith(s.Action[0], "kms:")]) == 0
    error_message = "The metric stream role needs no KMS access."
  }
  assert {
    condition = alltrue(flatten([
      for policy in [aws_iam_role_policy.metric_stream.policy, aws_iam_role_policy.firehose.policy] : [
        for s in jsondecode(policy).Statement : concat(
          [for action in flatten([s.Action]) : !strcontains(action, "*")],
          [for resource in flatten([s.Resource]) : resource != "*" && startswith(resource, "arn:")],
        )
      ]
    ]))
    error_message = "Policies must name their actions and resources: no \"*\" action or resource."
  }
  assert {
    condition     = aws_cloudwatch_metric_stream.this.name == "cwotlp-prod" && aws_iam_role.metric_stream.name == "cwotlp-prod-us-east-1-metric-stream" && aws_cloudwatch_metric_stream.this.tags == tomap({ team = "observability" })
    error_message = "Names must follow name, and tags must be applied."
  }
}

run "roles_take_the_path_and_the_permissions_boundary" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    iam_role_path                 = "/observability/cwotlp/"
    iam_role_permissions_boundary = "arn:aws:iam::111122223333:policy/workload-boundary"
  }

  assert {
    condition = alltrue([
      for role in [aws_iam_role.firehose, aws_iam_role.metric_stream] :
      role.path == "/observability/cwotlp/" && role.permissions_boundary == "arn:aws:iam::111122223333:policy/workload-boundary"
    ])
    error_message = "Both roles must take the path and the boundary."
  }
}

run "roles_sit_at_the_root_path_without_a_boundary_by_default" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition     = aws_iam_role.firehose.path == "/" && aws_iam_role.metric_stream.path == "/" && aws_iam_role.firehose.permissions_boundary == null && aws_iam_role.metric_stream.permissions_boundary == null
    error_message = "Roles sit at the root path with no boundary by default."
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

run "iam_role_path_starts_and_ends_with_a_slash" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    iam_role_path = "observability/"
  }

  expect_failures = [var.iam_role_path]
}

run "iam_role_permissions_boundary_is_a_policy_arn" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    iam_role_permissions_boundary = "workload-boundary"
  }

  expect_failures = [var.iam_role_permissions_boundary]
}

# The Firehose key must be in the stream's region (us-east-1 here); the bucket's key is the home region's.
run "firehose_kms_key_of_another_region_fails_at_plan" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    s3_kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    firehose_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000f"
  }

  expect_failures = [data.aws_region.current]
}
