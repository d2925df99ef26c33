# Every option of the module: an existing secret, customer managed keys, exclude filters, percentiles,
# linked accounts, the OpenTelemetry output format, drop/keep rules, resource-tag enrichment, a VPC,
# IAM role path and permissions boundary, and tuned Lambda settings.

module "cloudwatch_otlp" {
  source = "../.."

  name = "cwotlp-complete"
  tags = { project = "observability", owner = "platform" }

  # IAM: every role under one path, each limited by the organisation's permissions boundary.
  iam_role_path                 = "/observability/"
  iam_role_permissions_boundary = var.permissions_boundary_arn

  # S3
  s3_kms_key_arn = var.kms_key_arn
  s3_lifecycle = {
    metrics_expiration_days                = 7
    errors_expiration_days                 = 30
    abort_incomplete_multipart_upload_days = 1
  }
  s3_force_destroy = true

  # Firehose
  firehose_buffering          = { size_mb = 8, interval_seconds = 120 }
  firehose_kms_key_arn        = var.kms_key_arn
  firehose_log_retention_days = 30

  # Metric stream: everything except billing-like and log metrics, with latency percentiles.
  metric_stream_exclude_namespaces = [
    { namespace = "AWS/Usage" },
    { namespace = "AWS/Logs", metric_names = ["IncomingBytes", "IncomingLogEvents"] },
  ]
  metric_stream_statistics = [
    {
      additional_statistics = ["p50", "p90", "p99"]
      metrics = [
        { namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime" },
        { namespace = "AWS/Lambda", metric_name = "Duration" },
      ]
    },
    {
      additional_statistics = ["p99.9"]
      metrics               = [{ namespace = "AWS/ApiGateway", metric_name = "Latency" }]
    },
  ]
  metric_stream_include_linked_accounts = true
  metric_stream_output_format           = "opentelemetry1.0"

  # An existing secret, managed outside this configuration.
  create_secret      = false
  secret_arn         = var.secret_arn
  secret_kms_key_arn = var.kms_key_arn

  # Lambda
  lambda_runtime              = "python3.13"
  lambda_architecture         = "x86_64"
  lambda_memory_size          = 1024
  lambda_timeout              = 600
  lambda_reserved_concurrency = 5
  lambda_log_retention_days   = 30
  lambda_log_level            = "DEBUG"
  lambda_service_name         = "aws-cloudwatch"
  lambda_resource_attributes  = { environment = "staging", "deployment.region" = var.region }
  lambda_dimension_attributes = true
  lambda_naming               = "otel"
  lambda_otlp_encoding        = "protobuf"
  # Account and region as datapoint attributes, and two tags of each metric's resource, read in the
  # linked accounts through a role of this name that each of them provides.
  lambda_account_region_attributes = true
  lambda_resource_tags = {
    enabled                  = true
    tag_keys                 = ["team", "environment"]
    linked_account_role_name = "cwotlp-tag-reader"
    cache_ttl_seconds        = 1800
  }
  # In private subnets, when they are given; docs/deployment.md lists what the VPC must reach.
  lambda_vpc_config = length(var.subnet_ids) == 0 ? null : {
    subnet_ids         = var.subnet_ids
    security_group_ids = var.security_group_ids
  }
  # Forward nothing of the test stages and no per-volume EBS operation counts.
  lambda_metric_rules = [
    { action = "drop", dimensions = { Stage = "test*" } },
    { action = "drop", namespace = "AWS/EBS", metric_name = "Volume*Ops" },
  ]
  lambda_exporter = {
    max_request_bytes       = 1048576
    max_retries             = 3
    request_timeout_seconds = 20
    secret_ttl_seconds      = 600
  }
  lambda_async_invoke = {
    maximum_retry_attempts       = 2
    maximum_event_age_in_seconds = 3600
  }
  lambda_failure_queue = {
    message_retention_seconds = 604800
    kms_key_arn               = var.kms_key_arn
  }
  lambda_package_path = var.lambda_package_path

  # Alarms to a created topic under the same key (its policy must let cloudwatch.amazonaws.com use it).
  monitoring = {
    create_sns_topic          = true
    sns_kms_key_arn           = var.kms_key_arn
    lambda_errors_threshold   = 3
    failure_queue_age_seconds = 43200
    create_dashboard          = true
  }
}
