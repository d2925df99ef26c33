# The forwarder: the cwotlp package from lambda/, its log group, on-failure queue and S3 trigger.

locals {
  # Every key here is read by the forwarder's config (lambda/src/cwotlp/environment.json lists them).
  lambda_environment = {
    CWOTLP_SECRET_ARN              = local.secret_arn
    CWOTLP_SECRET_TTL_SECONDS      = tostring(var.lambda_exporter.secret_ttl_seconds)
    CWOTLP_SERVICE_NAME            = var.lambda_service_name
    CWOTLP_RESOURCE_ATTRIBUTES     = jsonencode(var.lambda_resource_attributes)
    CWOTLP_DIMENSION_ATTRIBUTES    = tostring(var.lambda_dimension_attributes)
    CWOTLP_MAX_REQUEST_BYTES       = tostring(var.lambda_exporter.max_request_bytes)
    CWOTLP_MAX_RETRIES             = tostring(var.lambda_exporter.max_retries)
    CWOTLP_REQUEST_TIMEOUT_SECONDS = tostring(var.lambda_exporter.request_timeout_seconds)
    CWOTLP_LOG_LEVEL               = var.lambda_log_level
    CWOTLP_NAMING                  = var.lambda_naming
    CWOTLP_OTLP_ENCODING           = var.lambda_otlp_encoding
    CWOTLP_RULES                   = jsonencode(var.lambda_metric_rules)
    CWOTLP_STREAM_FORMAT           = var.metric_stream_output_format
    CWOTLP_PROGRESS_PREFIX         = local.progress_prefix
    # Empty leaves the choice to the naming.
    CWOTLP_ACCOUNT_REGION_ATTRIBUTES = (
      var.lambda_account_region_attributes == null ? "" : tostring(var.lambda_account_region_attributes)
    )
    # An empty list switches the enrichment off.
    CWOTLP_RESOURCE_TAGS = jsonencode(var.lambda_resource_tags.enabled ? var.lambda_resource_tags.tag_keys : [])
    CWOTLP_RESOURCE_TAGS_ROLE_NAME = (
      var.lambda_resource_tags.linked_account_role_name == null ? "" : var.lambda_resource_tags.linked_account_role_name
    )
    CWOTLP_RESOURCE_TAGS_TTL_SECONDS = tostring(var.lambda_resource_tags.cache_ttl_seconds)
  }
  # Lambda allows 4 KB for the names and values of all environment variables together. A created secret's
  # ARN is unknown until apply, but not its length: arn:<partition>:secretsmanager:<region>:<account>:secret:
  # <name>-<6 characters>. The longest partition (aws-us-gov) and 20 characters of region (the longest has
  # 15) bound it, so that the check runs at plan.
  lambda_environment_bound = merge(local.lambda_environment, {
    CWOTLP_SECRET_ARN = var.create_secret ? "arn:aws-us-gov:secretsmanager:${format("%-20s", "<region>")}:111122223333:secret:${local.names.secret}-AbCdEf" : var.secret_arn
  })
  # In bytes of UTF-8, as Lambda counts them: base64 writes 4 characters for every 3 bytes, so its length
  # without the "=" padding, times 3/4 and rounded down, is the byte count.
  lambda_environment_bytes = floor(length(replace(base64encode(join("", [
    for name, value in local.lambda_environment_bound : "${name}${value}"
  ])), "=", "")) * 3 / 4)
}

resource "aws_cloudwatch_log_group" "lambda" {
  #checkov:skip=CKV_AWS_158:The forwarder logs counts and errors, never credentials or metric values; CloudWatch Logs encrypts them at rest with its own key.
  #checkov:skip=CKV_AWS_338:Operational logs are kept for lambda_log_retention_days, not a year by default.
  name              = local.names.lambda_log
  retention_in_days = var.lambda_log_retention_days

  tags = var.tags
}

resource "aws_sqs_queue" "failures" {
  name                      = local.names.failure_queue
  message_retention_seconds = var.lambda_failure_queue.message_retention_seconds
  sqs_managed_sse_enabled   = var.lambda_failure_queue.kms_key_arn == null ? true : null
  kms_master_key_id         = var.lambda_failure_queue.kms_key_arn

  tags = var.tags
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to an on-failure destination (aws_lambda_function_event_invoke_config.this), which records more than a dead-letter queue.
  #checkov:skip=CKV_AWS_117:A VPC is optional (lambda_vpc_config): the forwarder only reads S3 and Secrets Manager and calls the collector, and a VPC needs NAT or endpoints for that.
  #checkov:skip=CKV_AWS_173:The environment holds settings and the secret's ARN, no secrets; the AWS managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_272:The package is built from this repository at apply time; code signing would need a signing profile of the user's.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is optional (lambda_reserved_concurrency) because it takes capacity away from the account's other functions.
  #checkov:skip=CKV_AWS_50:X-Ray tracing adds cost and nothing the forwarder's own logs do not show.
  function_name    = local.names.lambda
  description      = "Forwards CloudWatch metric stream objects from S3 to an OTLP/HTTP collector"
  role             = aws_iam_role.lambda.arn
  handler          = "cwotlp.handler.handler"
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = var.lambda_memory_size
  timeout          = var.lambda_timeout
  filename         = local.lambda_package_path
  source_code_hash = local.lambda_source_code_hash

  reserved_concurrent_executions = var.lambda_reserved_concurrency

  environment {
    variables = local.lambda_environment
  }

  dynamic "vpc_config" {
    for_each = var.lambda_vpc_config == null ? [] : [var.lambda_vpc_config]

    content {
      subnet_ids         = vpc_config.value.subnet_ids
      security_group_ids = vpc_config.value.security_group_ids
    }
  }

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda.name
    application_log_level = var.lambda_log_level == "WARNING" ? "WARN" : var.lambda_log_level
    system_log_level      = "WARN"
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = local.lambda_environment_bytes <= 4096
      error_message = "The forwarder's environment variables (${local.lambda_environment_bytes} bytes, counting a created secret's ARN at its longest) exceed Lambda's 4 KB: shorten lambda_metric_rules, lambda_resource_tags.tag_keys or lambda_resource_attributes."
    }
  }

  depends_on = [terraform_data.package, aws_iam_role_policy.lambda]
}

resource "aws_lambda_function_event_invoke_config" "this" {
  function_name                = aws_lambda_function.this.function_name
  maximum_retry_attempts       = var.lambda_async_invoke.maximum_retry_attempts
  maximum_event_age_in_seconds = var.lambda_async_invoke.maximum_event_age_in_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowInvokeFromBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.this.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = local.bucket_arn
  source_account = local.account_id
}
