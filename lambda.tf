# The forwarder: the cwotlp package from lambda/, its log group, on-failure queue and S3 trigger.

locals {
  lambda_python_version = trimprefix(var.lambda_runtime, "python")

  # The package is built during apply, so its hash is not known at plan. source_code_hash is instead
  # a digest of everything the build reads; since hashicorp/aws 5.51 it is a plain trigger that the
  # provider never overwrites with the deployed CodeSha256 (also in v6), so there is no perpetual diff.
  lambda_source_files = sort([
    for f in fileset("${path.module}/lambda/src", "cwotlp/**") : f
    if !strcontains(f, "__pycache__") && !endswith(f, ".pyc")
  ])
  lambda_build_digest = sha256(join("\n", concat(
    [for f in local.lambda_source_files : "${f}:${filesha256("${path.module}/lambda/src/${f}")}"],
    [
      "requirements.txt:${filesha256("${path.module}/lambda/requirements.txt")}",
      "build.py:${filesha256("${path.module}/lambda/build.py")}",
      "arch:${var.lambda_architecture}",
      "runtime:${var.lambda_runtime}",
    ],
  )))

  build_package = var.lambda_package_path == null
  # The build digest in the file name makes a changed package a changed filename as well.
  lambda_package_path     = local.build_package ? "${path.module}/build/cwotlp-${var.lambda_architecture}-${local.lambda_python_version}-${substr(local.lambda_build_digest, 0, 16)}.zip" : var.lambda_package_path
  lambda_source_code_hash = local.build_package ? base64encode(local.lambda_build_digest) : filebase64sha256(var.lambda_package_path)

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
  }
}

# Builds the deployment package during apply (plan needs no build tools), again whenever an input of the build changes.
resource "terraform_data" "package" {
  count = local.build_package ? 1 : 0

  triggers_replace = [local.lambda_build_digest, local.lambda_package_path]

  provisioner "local-exec" {
    command = "python3 \"${path.module}/lambda/build.py\" --output \"${local.lambda_package_path}\" --arch ${var.lambda_architecture} --python-version ${local.lambda_python_version}"
  }
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
  #checkov:skip=CKV_AWS_117:The forwarder needs S3, Secrets Manager, SQS and the collector; a VPC would add NAT or endpoints without protecting anything here.
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

  logging_config {
    log_format            = "JSON"
    log_group             = aws_cloudwatch_log_group.lambda.name
    application_log_level = var.lambda_log_level == "WARNING" ? "WARN" : var.lambda_log_level
    system_log_level      = "WARN"
  }

  tags = var.tags

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
