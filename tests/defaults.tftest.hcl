# The module on its defaults: what gets created, how it is named and wired, and what the Lambda is told.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cwotlp-20240101000000000000000001", id = "cwotlp-20240101000000000000000001" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:111122223333:function:cwotlp-forwarder" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:eu-west-1:111122223333:cwotlp-forwarder-failures"
      url = "https://sqs.eu-west-1.amazonaws.com/111122223333/cwotlp-forwarder-failures"
    }
  }
  mock_resource "aws_kinesis_firehose_delivery_stream" {
    defaults = { arn = "arn:aws:firehose:eu-west-1:111122223333:deliverystream/cwotlp-metrics" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

variables {
  secret_value = {
    endpoint      = "https://otlp.example.com"
    token_url     = "https://auth.example.com/oauth2/token"
    client_id     = "client"
    client_secret = "client-secret"
  }
}

run "creates_everything_on_defaults" {
  command = plan

  assert {
    condition     = length(aws_s3_bucket.this) == 1 && aws_s3_bucket.this[0].bucket_prefix == "cwotlp-" && !aws_s3_bucket.this[0].force_destroy
    error_message = "A bucket named after the prefix must be created."
  }
  assert {
    condition     = length(aws_secretsmanager_secret.this) == 1 && length(aws_secretsmanager_secret_version.this) == 1
    error_message = "The secret and its version must be created."
  }
  assert {
    condition     = aws_secretsmanager_secret_version.this[0].secret_string_wo_version == 1 && aws_secretsmanager_secret_version.this[0].secret_string == null
    error_message = "The secret value must go through the write-only argument only."
  }
  assert {
    condition     = length(terraform_data.package) == 1
    error_message = "Without lambda_package_path the package must be built during apply."
  }
  assert {
    condition     = output.s3_bucket_name == "cwotlp-20240101000000000000000001" && output.secret_arn == aws_secretsmanager_secret.this[0].arn
    error_message = "Outputs must name the created bucket and secret."
  }
  assert {
    condition     = output.sqs_queue_url == "https://sqs.eu-west-1.amazonaws.com/111122223333/cwotlp-forwarder-failures"
    error_message = "The queue URL must be an output."
  }
}

run "bucket_is_private_encrypted_and_expiring" {
  command = plan

  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.this[0].block_public_acls,
      aws_s3_bucket_public_access_block.this[0].block_public_policy,
      aws_s3_bucket_public_access_block.this[0].ignore_public_acls,
      aws_s3_bucket_public_access_block.this[0].restrict_public_buckets,
    ])
    error_message = "All public access must be blocked."
  }
  assert {
    condition     = one(aws_s3_bucket_ownership_controls.this[0].rule).object_ownership == "BucketOwnerEnforced"
    error_message = "Object ownership must be bucket-owner-enforced."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "The default encryption must be SSE-S3 when no KMS key is given."
  }
  assert {
    condition = jsondecode(aws_s3_bucket_policy.this[0].policy).Statement[0] == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:aws:s3:::cwotlp-20240101000000000000000001", "arn:aws:s3:::cwotlp-20240101000000000000000001/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The bucket policy must deny requests without TLS."
  }
  assert {
    condition = {
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.id => r
      }["expire-metrics"].expiration[0].days == 14 && {
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.id => r
    }["abort-incomplete-uploads"].abort_incomplete_multipart_upload[0].days_after_initiation == 1
    error_message = "Delivered objects must be kept 14 days, as long as the on-failure queue keeps their events, and incomplete uploads be aborted after 1 day."
  }
  assert {
    condition = {
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.id => r
      }["expire-progress-markers"].filter[0].prefix == "progress/" && {
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.id => r
    }["expire-progress-markers"].expiration[0].days == 14
    error_message = "Progress markers must expire with their objects, after the days of metrics/."
  }
  assert {
    condition = (
      one(aws_s3_bucket_notification.this.lambda_function).filter_prefix == "metrics/" &&
      one(aws_s3_bucket_notification.this.lambda_function).events == toset(["s3:ObjectCreated:*"]) &&
      one(aws_s3_bucket_notification.this.lambda_function).lambda_function_arn == aws_lambda_function.this.arn
    )
    error_message = "Objects created under metrics/ must invoke the Lambda."
  }
  assert {
    condition     = aws_lambda_permission.s3.principal == "s3.amazonaws.com" && aws_lambda_permission.s3.source_arn == aws_s3_bucket.this[0].arn && aws_lambda_permission.s3.source_account == "111122223333"
    error_message = "Only the bucket of this account may invoke the Lambda."
  }
}

run "metric_stream_and_firehose_deliver_under_metrics" {
  command = plan

  # Their settings are tested on modules/regional-stream (tests/regional_stream.tftest.hcl), which creates them.
  assert {
    condition = (
      output.metric_stream_name == "cwotlp" &&
      output.firehose_delivery_stream_name == "cwotlp-metrics" &&
      output.firehose_delivery_stream_arn == "arn:aws:firehose:eu-west-1:111122223333:deliverystream/cwotlp-metrics" &&
      output.firehose_log_group_name == "/aws/kinesisfirehose/cwotlp-metrics"
    )
    error_message = "The metric stream, Firehose and log group must keep their names."
  }
  assert {
    condition     = module.stream.s3_prefix == "metrics/" && one(aws_s3_bucket_notification.this.lambda_function).filter_prefix == module.stream.s3_prefix
    error_message = "This region's objects must land directly under metrics/, where the bucket notifies the forwarder."
  }
}

run "names_follow_the_prefix" {
  command = plan

  variables {
    name = "a23456789012345678901234567890bc"
  }

  assert {
    condition = alltrue([
      output.metric_stream_name == "a23456789012345678901234567890bc",
      output.firehose_delivery_stream_name == "a23456789012345678901234567890bc-metrics",
      output.firehose_log_group_name == "/aws/kinesisfirehose/a23456789012345678901234567890bc-metrics",
      aws_lambda_function.this.function_name == "a23456789012345678901234567890bc-forwarder",
      aws_iam_role.lambda.name == "a23456789012345678901234567890bc-forwarder",
      aws_sqs_queue.failures.name == "a23456789012345678901234567890bc-forwarder-failures",
    ])
    error_message = "Every name must start with var.name."
  }
  assert {
    condition     = length(aws_s3_bucket.this[0].bucket_prefix) <= 37 && length(aws_lambda_function.this.function_name) <= 64
    error_message = "The longest name must keep every derived name inside its limit (the submodule's tests check its role names)."
  }
}

run "lambda_runs_the_forwarder" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.handler == "cwotlp.handler.handler" && aws_lambda_function.this.runtime == "python3.13" && aws_lambda_function.this.architectures == tolist(["arm64"])
    error_message = "The Lambda must run cwotlp.handler.handler on python3.13/arm64 by default."
  }
  assert {
    condition     = aws_lambda_function.this.function_name == "cwotlp-forwarder" && aws_lambda_function.this.memory_size == 512 && aws_lambda_function.this.timeout == 300
    error_message = "Name, memory and timeout defaults."
  }
  assert {
    condition     = aws_lambda_function.this.reserved_concurrent_executions == null
    error_message = "No concurrency is reserved by default."
  }
  assert {
    condition     = one(aws_lambda_function.this.logging_config).log_format == "JSON" && one(aws_lambda_function.this.logging_config).log_group == "/aws/lambda/cwotlp-forwarder"
    error_message = "The Lambda must log JSON to its own log group."
  }
  assert {
    condition     = aws_cloudwatch_log_group.lambda.retention_in_days == 14
    error_message = "The Lambda's log group must have a retention."
  }
  assert {
    condition = (
      aws_lambda_function_event_invoke_config.this.maximum_retry_attempts == 2 &&
      aws_lambda_function_event_invoke_config.this.maximum_event_age_in_seconds == 21600 &&
      one(one(aws_lambda_function_event_invoke_config.this.destination_config).on_failure).destination == aws_sqs_queue.failures.arn
    )
    error_message = "Failed async invocations must be retried and then sent to the queue."
  }
  assert {
    condition     = aws_sqs_queue.failures.sqs_managed_sse_enabled && aws_sqs_queue.failures.message_retention_seconds == 1209600
    error_message = "The on-failure queue must be encrypted and keep messages 14 days."
  }
}

run "source_code_hash_is_known_at_plan" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.source_code_hash == base64encode(local.lambda_build_digest) && length(base64decode(aws_lambda_function.this.source_code_hash)) == 64
    error_message = "source_code_hash must be the digest of the build inputs, known at plan."
  }
  assert {
    condition     = startswith(aws_lambda_function.this.filename, "./build/cwotlp-arm64-3.13-") && endswith(aws_lambda_function.this.filename, ".zip")
    error_message = "The package is built under build/ with architecture and Python version in its name."
  }
  assert {
    condition     = contains(local.lambda_source_files, "cwotlp/environment.json") && alltrue([for f in local.lambda_source_files : !strcontains(f, "__pycache__")])
    error_message = "The digest must cover the package sources and nothing generated."
  }
}

run "source_code_hash_follows_architecture_and_runtime" {
  command = plan

  variables {
    lambda_architecture = "x86_64"
    lambda_runtime      = "python3.12"
  }

  assert {
    condition     = strcontains(base64decode(aws_lambda_function.this.source_code_hash), local.lambda_build_digest) && strcontains(terraform_data.package[0].triggers_replace[0], local.lambda_build_digest)
    error_message = "source_code_hash and the build trigger must both follow the build digest."
  }
  assert {
    condition     = strcontains(terraform_data.package[0].triggers_replace[1], "cwotlp-x86_64-3.12-")
    error_message = "The build must be for the chosen architecture and Python version."
  }
}

run "lambda_environment_matches_what_cwotlp_reads" {
  command = plan

  assert {
    condition     = length(setsubtract(keys(aws_lambda_function.this.environment[0].variables), keys(jsondecode(file("lambda/src/cwotlp/environment.json"))))) == 0
    error_message = "Every CWOTLP_* variable must be listed in lambda/src/cwotlp/environment.json."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["CWOTLP_SECRET_ARN"] == aws_secretsmanager_secret.this[0].arn
    error_message = "CWOTLP_SECRET_ARN must name the created secret."
  }
  assert {
    condition     = jsondecode(aws_lambda_function.this.environment[0].variables["CWOTLP_RESOURCE_ATTRIBUTES"]) == { environment = "production" }
    error_message = "CWOTLP_RESOURCE_ATTRIBUTES must be a JSON object, environment=production by default."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["CWOTLP_DIMENSION_ATTRIBUTES"] == "false" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_LOG_LEVEL"] == "INFO" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_SERVICE_NAME"] == "aws-cloudwatch-stream"
    )
    error_message = "Default forwarder settings."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["CWOTLP_NAMING"] == "cloudwatch" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_OTLP_ENCODING"] == "json" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_RULES"] == "[]"
    )
    error_message = "By default records keep CloudWatch names, requests are JSON and no rule applies."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["CWOTLP_STREAM_FORMAT"] == "json" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_PROGRESS_PREFIX"] == "progress/" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_ACCOUNT_REGION_ATTRIBUTES"] == ""
    )
    error_message = "The forwarder is told the stream's format and the markers' prefix; an empty CWOTLP_ACCOUNT_REGION_ATTRIBUTES leaves the choice to the naming."
  }
  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["CWOTLP_RESOURCE_TAGS"] == "[]" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_RESOURCE_TAGS_ROLE_NAME"] == "" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_RESOURCE_TAGS_TTL_SECONDS"] == "900"
    )
    error_message = "Resource-tag enrichment is off by default: no tag keys and no role."
  }
  assert {
    condition     = local.lambda_environment_bytes < 1024
    error_message = "The default environment must stay well inside Lambda's 4 KB."
  }
  assert {
    condition     = alltrue([for v in values(aws_lambda_function.this.environment[0].variables) : !strcontains(v, "client-secret")])
    error_message = "No credential may reach the Lambda environment."
  }
}

run "lambda_settings_reach_the_environment" {
  command = plan

  variables {
    lambda_log_level                 = "WARNING"
    lambda_service_name              = "cloudwatch"
    lambda_resource_attributes       = { environment = "staging", team = "platform" }
    lambda_dimension_attributes      = true
    lambda_exporter                  = { max_retries = 3, request_timeout_seconds = 10 }
    lambda_naming                    = "otel"
    lambda_otlp_encoding             = "protobuf"
    lambda_metric_rules              = [{ action = "drop", namespace = "AWS/Usage" }]
    metric_stream_output_format      = "opentelemetry1.0"
    lambda_account_region_attributes = false
    lambda_resource_tags = {
      enabled                  = true
      tag_keys                 = ["team", "cost-center"]
      linked_account_role_name = "cwotlp-tag-reader"
      cache_ttl_seconds        = 3600
    }
  }

  assert {
    condition = aws_lambda_function.this.environment[0].variables == tomap({
      CWOTLP_SECRET_ARN                = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf"
      CWOTLP_SECRET_TTL_SECONDS        = "300"
      CWOTLP_SERVICE_NAME              = "cloudwatch"
      CWOTLP_RESOURCE_ATTRIBUTES       = "{\"environment\":\"staging\",\"team\":\"platform\"}"
      CWOTLP_DIMENSION_ATTRIBUTES      = "true"
      CWOTLP_MAX_REQUEST_BYTES         = "3145728"
      CWOTLP_MAX_RETRIES               = "3"
      CWOTLP_REQUEST_TIMEOUT_SECONDS   = "10"
      CWOTLP_LOG_LEVEL                 = "WARNING"
      CWOTLP_NAMING                    = "otel"
      CWOTLP_OTLP_ENCODING             = "protobuf"
      CWOTLP_RULES                     = "[{\"action\":\"drop\",\"dimensions\":{},\"metric_name\":\"*\",\"namespace\":\"AWS/Usage\"}]"
      CWOTLP_STREAM_FORMAT             = "opentelemetry1.0"
      CWOTLP_PROGRESS_PREFIX           = "progress/"
      CWOTLP_ACCOUNT_REGION_ATTRIBUTES = "false"
      CWOTLP_RESOURCE_TAGS             = "[\"team\",\"cost-center\"]"
      CWOTLP_RESOURCE_TAGS_ROLE_NAME   = "cwotlp-tag-reader"
      CWOTLP_RESOURCE_TAGS_TTL_SECONDS = "3600"
    })
    error_message = "The inputs must reach the environment as the forwarder reads them."
  }
  assert {
    condition     = one(aws_lambda_function.this.logging_config).application_log_level == "WARN"
    error_message = "Lambda's log filter spells WARNING as WARN."
  }
}

run "metric_rules_reach_the_environment_as_the_forwarder_reads_them" {
  command = plan

  variables {
    lambda_metric_rules = [
      { action = "keep", namespace = "AWS/EC2", dimensions = { InstanceId = "i-0[0-9a-f]*" } },
      { action = "drop", metric_name = "*Credit?" },
    ]
  }

  assert {
    condition = jsondecode(aws_lambda_function.this.environment[0].variables["CWOTLP_RULES"]) == [
      { action = "keep", namespace = "AWS/EC2", metric_name = "*", dimensions = { InstanceId = "i-0[0-9a-f]*" } },
      { action = "drop", namespace = "*", metric_name = "*Credit?", dimensions = {} },
    ]
    error_message = "CWOTLP_RULES must be the rules in order, with * for the fields left out."
  }
  assert {
    condition = alltrue([
      for rule in jsondecode(aws_lambda_function.this.environment[0].variables["CWOTLP_RULES"]) :
      keys(rule) == ["action", "dimensions", "metric_name", "namespace"]
    ])
    error_message = "Each rule must carry exactly the fields the forwarder accepts."
  }
}

run "tag_keys_are_sent_only_when_enrichment_is_on" {
  command = plan

  variables {
    lambda_resource_tags             = { tag_keys = ["team"] }
    lambda_account_region_attributes = true
  }

  assert {
    condition = (
      aws_lambda_function.this.environment[0].variables["CWOTLP_RESOURCE_TAGS"] == "[]" &&
      aws_lambda_function.this.environment[0].variables["CWOTLP_ACCOUNT_REGION_ATTRIBUTES"] == "true"
    )
    error_message = "Tag keys without enabled = true must not switch enrichment on; true reaches the environment as \"true\"."
  }
}

run "lifecycle_days_follow_the_inputs" {
  command = plan

  variables {
    s3_lifecycle = { metrics_expiration_days = 21, errors_expiration_days = 30, abort_incomplete_multipart_upload_days = 2 }
  }

  assert {
    condition = {
      for r in aws_s3_bucket_lifecycle_configuration.this[0].rule : r.id => (
        length(r.expiration) > 0 ? r.expiration[0].days : r.abort_incomplete_multipart_upload[0].days_after_initiation
      )
      } == {
      expire-metrics           = 21
      expire-progress-markers  = 21
      expire-errors            = 30
      abort-incomplete-uploads = 2
    }
    error_message = "Objects and their progress markers expire together; errors and uploads after their own days."
  }
}

# A replay of a queued event needs the objects it names: a warning when the bucket deletes them first.
run "objects_expiring_before_their_failure_messages_are_warned_about" {
  command = plan

  variables {
    s3_lifecycle = { metrics_expiration_days = 13 }
  }

  expect_failures = [check.objects_outlive_their_failure_messages]
}

# Passes by planning: a check that fails makes the run fail.
run "objects_kept_as_long_as_a_shorter_queue_retention_is_accepted" {
  command = plan

  variables {
    s3_lifecycle         = { metrics_expiration_days = 3 }
    lambda_failure_queue = { message_retention_seconds = 259200 }
  }
}
