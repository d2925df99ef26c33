# Every validation rule of variables.tf rejects a wrong value at plan, with a message that says how to fix it.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
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

run "valid_defaults_pass" {
  command = plan
}

# AWS refuses these tags at apply, resource by resource: plan refuses them first.
run "tags_at_most_50" {
  command = plan

  variables {
    tags = { for i in range(51) : "tag-${i}" => "value" }
  }

  expect_failures = [var.tags]
}

run "tags_keys_starting_with_aws_are_reserved" {
  command = plan

  variables {
    tags = { "AWS:team" = "platform" }
  }

  expect_failures = [var.tags]
}

run "tags_values_at_most_256_characters" {
  command = plan

  variables {
    tags = { team = join("", [for i in range(257) : "x"]) }
  }

  expect_failures = [var.tags]
}

# The provider leaves a null tag out: a placeholder, not counted among the 50.
run "tags_null_values_pass_and_are_not_counted" {
  command = plan

  variables {
    tags = merge({ for i in range(50) : "tag-${i}" => "value" }, { team = null })
  }
}

run "tags_50_within_limits_pass" {
  command = plan

  variables {
    tags = merge({ for i in range(49) : "tag-${i}" => "value" }, { (join("", [for i in range(128) : "k"])) = join("", [for i in range(256) : "v"]) })
  }
}

run "name_rejects_upper_case" {
  command = plan

  variables {
    name = "CwOtlp"
  }

  expect_failures = [var.name]
}

run "name_rejects_more_than_32_characters" {
  command = plan

  variables {
    name = "a-name-that-is-far-too-long-for-a-bucket"
  }

  expect_failures = [var.name]
}

run "name_rejects_double_hyphens" {
  command = plan

  variables {
    name = "cw--otlp"
  }

  expect_failures = [var.name]
}

run "bucket_arn_must_be_a_bucket_arn" {
  command = plan

  variables {
    create_bucket = false
    bucket_arn    = "arn:aws:s3:::bucket/metrics"
  }

  expect_failures = [var.bucket_arn]
}

run "bucket_arn_is_required_without_create_bucket" {
  command = plan

  variables {
    create_bucket = false
  }

  expect_failures = [var.bucket_arn]
}

run "bucket_arn_conflicts_with_create_bucket" {
  command = plan

  variables {
    bucket_arn = "arn:aws:s3:::my-metrics-bucket"
  }

  expect_failures = [var.bucket_arn]
}

run "s3_kms_key_arn_must_be_a_key_arn" {
  command = plan

  variables {
    s3_kms_key_arn = "alias/metrics"
  }

  expect_failures = [var.s3_kms_key_arn]
}

run "s3_lifecycle_days_must_be_positive" {
  command = plan

  variables {
    s3_lifecycle = { metrics_expiration_days = 0 }
  }

  expect_failures = [var.s3_lifecycle]
}

run "firehose_buffering_size_within_limits" {
  command = plan

  variables {
    firehose_buffering = { size_mb = 129 }
  }

  expect_failures = [var.firehose_buffering]
}

run "firehose_buffering_interval_within_limits" {
  command = plan

  variables {
    firehose_buffering = { interval_seconds = 901 }
  }

  expect_failures = [var.firehose_buffering]
}

run "firehose_kms_key_arn_must_be_a_key_arn" {
  command = plan

  variables {
    firehose_kms_key_arn = "my-key"
  }

  expect_failures = [var.firehose_kms_key_arn]
}

run "firehose_log_retention_days_must_be_accepted_by_cloudwatch" {
  command = plan

  variables {
    firehose_log_retention_days = 10
  }

  expect_failures = [var.firehose_log_retention_days]
}

run "metric_stream_namespaces_at_most_1000" {
  command = plan

  variables {
    metric_stream_namespaces = [for i in range(1001) : { namespace = "Custom/${i}" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_namespaces_need_a_namespace" {
  command = plan

  variables {
    metric_stream_namespaces = [{ namespace = "" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

# A null where a value belongs fails the validation with its message, not with an error of length().
run "metric_stream_namespaces_null_entries_are_refused_with_the_message" {
  command = plan

  variables {
    metric_stream_namespaces = [{ namespace = "AWS/EC2", metric_names = [null] }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_namespaces_null_namespace_is_refused" {
  command = plan

  variables {
    metric_stream_namespaces = [null]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_exclude_namespaces_null_namespace_is_refused" {
  command = plan

  variables {
    metric_stream_exclude_namespaces = [{ namespace = null }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_namespaces_unique" {
  command = plan

  variables {
    metric_stream_namespaces = [{ namespace = "AWS/EC2" }, { namespace = "AWS/EC2", metric_names = ["CPUUtilization"] }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "include_and_exclude_filters_are_exclusive" {
  command = plan

  variables {
    metric_stream_namespaces         = [{ namespace = "AWS/EC2" }]
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Usage" }]
  }

  expect_failures = [var.metric_stream_namespaces]
}

run "metric_stream_exclude_namespaces_at_most_1000" {
  command = plan

  variables {
    metric_stream_exclude_namespaces = [for i in range(1001) : { namespace = "Custom/${i}" }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_exclude_namespaces_metric_names_not_empty" {
  command = plan

  variables {
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Usage", metric_names = [""] }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_exclude_namespaces_unique" {
  command = plan

  variables {
    metric_stream_exclude_namespaces = [{ namespace = "AWS/Usage" }, { namespace = "AWS/Usage" }]
  }

  expect_failures = [var.metric_stream_exclude_namespaces]
}

run "metric_stream_statistics_at_most_20" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = [for i in range(21) : "p${i + 50}"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_need_metrics" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99"], metrics = [] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_null_statistics_are_refused" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = null, metrics = [{ namespace = "AWS/EC2", metric_name = "CPUUtilization" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_metrics_need_a_metric_name" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99"], metrics = [{ namespace = "AWS/EC2", metric_name = null }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_metrics_need_a_namespace" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99"], metrics = [{ namespace = "", metric_name = "CPUUtilization" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_null_entry_is_refused" {
  command = plan

  variables {
    metric_stream_statistics = [null]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_each_percentile_once" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99", "p50", "p99.0"], metrics = [{ namespace = "AWS/EC2", metric_name = "CPUUtilization" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_close_percentiles_are_distinct" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p99", "p99.9", "p99.99"], metrics = [{ namespace = "AWS/EC2", metric_name = "CPUUtilization" }] }]
  }
}

run "metric_stream_statistics_only_percentiles" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["TM(10%:90%)"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_percentile_p0_is_refused" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p0"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_percentile_p05_is_refused" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p05"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_percentile_p0_1_is_refused" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p0.1"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_percentile_p100_is_refused" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p100"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_statistics_percentiles_between_0_and_100_are_accepted" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p1", "p1.5", "p50", "p99.9999999999"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }
}

run "metric_stream_statistics_percentile_at_most_100" {
  command = plan

  variables {
    metric_stream_statistics = [{ additional_statistics = ["p101"], metrics = [{ namespace = "AWS/ELB", metric_name = "Latency" }] }]
  }

  expect_failures = [var.metric_stream_statistics]
}

run "metric_stream_output_format_known" {
  command = plan

  variables {
    metric_stream_output_format = "opentelemetry0.7"
  }

  expect_failures = [var.metric_stream_output_format]
}

run "secret_arn_must_be_a_secret_arn" {
  command = plan

  variables {
    create_secret = false
    secret_arn    = "arn:aws:ssm:eu-west-1:111122223333:parameter/otlp"
  }

  expect_failures = [var.secret_arn]
}

run "secret_arn_must_be_the_full_arn" {
  command = plan

  variables {
    create_secret = false
    secret_arn    = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp"
  }

  expect_failures = [var.secret_arn]
}

run "secret_arn_is_required_without_create_secret" {
  command = plan

  variables {
    create_secret = false
  }

  expect_failures = [var.secret_arn]
}

run "secret_arn_conflicts_with_create_secret" {
  command = plan

  variables {
    secret_arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp-AbCdEf"
  }

  expect_failures = [var.secret_arn]
}

run "secret_kms_key_arn_must_be_a_key_arn" {
  command = plan

  variables {
    secret_kms_key_arn = "alias/aws/secretsmanager"
  }

  expect_failures = [var.secret_kms_key_arn]
}

# Checked by a precondition of the secret's version, so that the error points at the module's code
# instead of at the "line 0" of a variable the caller left out.
# 8,192 code points at most, as the forwarder counts them: "q" and a combining accent (which has no
# precomposed form that would replace the two) are two.
run "secret_value_fields_of_8192_code_points_pass" {
  command = plan

  variables {
    secret_value = {
      endpoint      = "https://otlp.example.com"
      token_url     = "https://auth.example.com/oauth2/token"
      client_id     = "client"
      client_secret = join("", [for i in range(1024) : "q\u0301q\u0301q\u0301q\u0301"])
    }
  }
}

run "secret_value_fields_over_8192_code_points_are_refused" {
  command = plan

  variables {
    secret_value = {
      endpoint      = "https://otlp.example.com"
      token_url     = "https://auth.example.com/oauth2/token"
      client_id     = "client"
      client_secret = join("", concat([for i in range(1024) : "q\u0301q\u0301q\u0301q\u0301"], ["q\u0301"]))
    }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_is_required_with_create_secret" {
  command = plan

  variables {
    secret_value = null
  }

  expect_failures = [aws_secretsmanager_secret_version.this]
}

run "secret_value_endpoint_must_be_a_url" {
  command = plan

  variables {
    secret_value = { endpoint = "otlp.example.com", headers = { Authorization = "Bearer x" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_endpoint_needs_a_host" {
  command = plan

  variables {
    secret_value = { endpoint = "https://", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_endpoint_without_user_info" {
  command = plan

  variables {
    secret_value = { endpoint = "https://user:pass@otlp.example.com", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_endpoint_without_spaces" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com/v1 metrics", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_endpoint_port_within_range" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com:99999", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_token_url_needs_a_host" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "https:///token", client_id = "id", client_secret = "s" }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_field_without_a_line_break" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "https://auth.example.com/token", client_id = "id", client_secret = "s\n" }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_header_value_without_a_line_break" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = { "x-api-key" = "k\n" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_header_value_without_trailing_spaces" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = { "x-api-key" = "k " } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_header_value_not_null" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = { "x-api-key" = "k", "x-tenant" = null } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_header_name_is_a_token" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = { "X Api: Key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_urls_with_ports_paths_and_ipv6_hosts_are_accepted" {
  command = plan

  variables {
    secret_value = { endpoint = "https://[fd00::1]:4318/otlp/v1/metrics?tenant=a", token_url = "https://auth.example.com:8443/oauth2/token", client_id = "id", client_secret = "s p@ce and symbols: ?#&" }
  }
}

run "secret_value_headers_alone_need_no_oauth2_parts" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", audience = "otlp", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

# A run named "..._is_accepted" asserts by planning without error: a refused value fails it.
run "secret_value_oauth2_with_extra_headers_is_accepted" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "https://auth.example.com/token", client_id = "id", client_secret = "s", headers = { "X-Scope-OrgID" = "platform" } }
  }
}

run "secret_value_plain_http_needs_allow_http" {
  command = plan

  variables {
    secret_value = { endpoint = "http://collector.internal:4318", headers = { "x-api-key" = "k" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_plain_http_with_allow_http_is_accepted" {
  command = plan

  variables {
    secret_value = { endpoint = "http://collector.internal:4318", token_url = "http://auth.internal/token", client_id = "id", client_secret = "s", allow_http = true }
  }
}

run "secret_value_plain_http_token_url_needs_allow_http" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "http://auth.example.com/token", client_id = "id", client_secret = "s" }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_headers_alone_need_a_header" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = {} }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_empty_oauth2_field_counts_as_missing" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "", client_id = "id", client_secret = "s" }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_authorization_header_conflicts_with_oauth2" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "https://auth.example.com/token", client_id = "id", client_secret = "s", headers = { AUTHORIZATION = "Basic a2V5" } }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_authorization_header_alone_is_accepted" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", headers = { Authorization = "Basic a2V5" } }
  }
}

run "secret_value_oauth2_needs_all_three" {
  command = plan

  variables {
    secret_value = { endpoint = "https://otlp.example.com", token_url = "https://auth.example.com/token", client_id = "id" }
  }

  expect_failures = [var.secret_value]
}

run "secret_value_version_from_one" {
  command = plan

  variables {
    secret_value_version = 0
  }

  expect_failures = [var.secret_value_version]
}

run "secret_recovery_window_days_within_limits" {
  command = plan

  variables {
    secret_recovery_window_days = 3
  }

  expect_failures = [var.secret_recovery_window_days]
}

run "lambda_runtime_python_311_or_later" {
  command = plan

  variables {
    lambda_runtime = "python3.9"
  }

  expect_failures = [var.lambda_runtime]
}

run "lambda_runtime_is_python" {
  command = plan

  variables {
    lambda_runtime = "nodejs22.x"
  }

  expect_failures = [var.lambda_runtime]
}

run "lambda_architecture_known" {
  command = plan

  variables {
    lambda_architecture = "aarch64"
  }

  expect_failures = [var.lambda_architecture]
}

run "lambda_memory_size_within_limits" {
  command = plan

  variables {
    lambda_memory_size = 64
  }

  expect_failures = [var.lambda_memory_size]
}

run "lambda_timeout_within_limits" {
  command = plan

  variables {
    lambda_timeout = 901
  }

  expect_failures = [var.lambda_timeout]
}

run "lambda_reserved_concurrency_not_zero" {
  command = plan

  variables {
    lambda_reserved_concurrency = 0
  }

  expect_failures = [var.lambda_reserved_concurrency]
}

run "lambda_log_retention_days_must_be_accepted_by_cloudwatch" {
  command = plan

  variables {
    lambda_log_retention_days = 15
  }

  expect_failures = [var.lambda_log_retention_days]
}

run "lambda_log_level_known" {
  command = plan

  variables {
    lambda_log_level = "info"
  }

  expect_failures = [var.lambda_log_level]
}

run "lambda_service_name_not_empty" {
  command = plan

  variables {
    lambda_service_name = " "
  }

  expect_failures = [var.lambda_service_name]
}

run "lambda_resource_attributes_are_not_null" {
  command = plan

  variables {
    lambda_resource_attributes = { environment = null }
  }

  expect_failures = [var.lambda_resource_attributes]
}

run "lambda_resource_attributes_leave_cloud_attributes_alone" {
  command = plan

  variables {
    lambda_resource_attributes = { "cloud.region" = "eu-west-1" }
  }

  expect_failures = [var.lambda_resource_attributes]
}

run "lambda_exporter_max_request_bytes_within_limits" {
  command = plan

  variables {
    lambda_exporter = { max_request_bytes = 1024 }
  }

  expect_failures = [var.lambda_exporter]
}

run "lambda_exporter_max_retries_within_limits" {
  command = plan

  variables {
    lambda_exporter = { max_retries = 11 }
  }

  expect_failures = [var.lambda_exporter]
}

run "lambda_exporter_request_timeout_below_lambda_timeout" {
  command = plan

  variables {
    lambda_timeout  = 30
    lambda_exporter = { request_timeout_seconds = 30 }
  }

  expect_failures = [var.lambda_exporter]
}

run "lambda_exporter_secret_ttl_within_limits" {
  command = plan

  variables {
    lambda_exporter = { secret_ttl_seconds = -1 }
  }

  expect_failures = [var.lambda_exporter]
}

run "lambda_async_invoke_retries_within_limits" {
  command = plan

  variables {
    lambda_async_invoke = { maximum_retry_attempts = 3 }
  }

  expect_failures = [var.lambda_async_invoke]
}

run "lambda_async_invoke_event_age_within_limits" {
  command = plan

  variables {
    lambda_async_invoke = { maximum_event_age_in_seconds = 30 }
  }

  expect_failures = [var.lambda_async_invoke]
}

run "lambda_failure_queue_retention_within_limits" {
  command = plan

  variables {
    lambda_failure_queue = { message_retention_seconds = 1209601 }
  }

  expect_failures = [var.lambda_failure_queue]
}

run "lambda_failure_queue_kms_key_arn_must_be_a_key_arn" {
  command = plan

  variables {
    lambda_failure_queue = { kms_key_arn = "alias/aws/sqs" }
  }

  expect_failures = [var.lambda_failure_queue]
}

run "lambda_package_path_must_exist" {
  command = plan

  variables {
    lambda_package_path = "dist/no-such-package.zip"
  }

  expect_failures = [var.lambda_package_path]
}

# The created secret's ARN is unknown at plan here (no override_during = plan), and its length is not:
# the 4 KB precondition of the function is decided at plan, not left to the apply.
run "lambda_environment_over_4_kb_is_refused_at_plan_with_a_created_secret" {
  command = plan

  variables {
    lambda_metric_rules        = [for i in range(30) : { action = "drop", namespace = "Custom/Namespace-${i}" }]
    lambda_resource_attributes = { for i in range(40) : "attribute.${i}" => "a value of thirty characters." }
  }

  expect_failures = [aws_lambda_function.this]
}

# Lambda counts the environment in bytes of UTF-8: "é" is two of them, "€" three.
run "lambda_environment_is_counted_in_bytes" {
  command = plan

  variables {
    lambda_resource_attributes = { team = "équipe", currency = "€" }
  }

  assert {
    condition = local.lambda_environment_bytes == 3 + length(join("", [
      for name, value in local.lambda_environment_bound : "${name}${value}"
    ]))
    error_message = "Each character of the environment counts for its UTF-8 bytes: two for é and three for €."
  }
}

run "lambda_environment_over_4_kb_in_bytes_is_refused" {
  command = plan

  variables {
    lambda_resource_attributes = { for i in range(24) : "attribute.${i}" => join("", [for j in range(70) : "é"]) }
  }

  expect_failures = [aws_lambda_function.this]
}

run "lambda_naming_known" {
  command = plan

  variables {
    lambda_naming = "yace"
  }

  expect_failures = [var.lambda_naming]
}

run "lambda_otlp_encoding_known" {
  command = plan

  variables {
    lambda_otlp_encoding = "grpc"
  }

  expect_failures = [var.lambda_otlp_encoding]
}

run "lambda_metric_rules_action_is_drop_or_keep" {
  command = plan

  variables {
    lambda_metric_rules = [{ action = "exclude", namespace = "AWS/Usage" }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "lambda_metric_rules_globs_not_empty" {
  command = plan

  variables {
    lambda_metric_rules = [{ action = "drop", dimensions = { InstanceId = "" } }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "lambda_metric_rules_null_action_is_refused" {
  command = plan

  variables {
    lambda_metric_rules = [{ action = null }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "lambda_metric_rules_null_dimension_glob_is_refused" {
  command = plan

  variables {
    lambda_metric_rules = [{ action = "drop", dimensions = { InstanceId = null } }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "lambda_metric_rules_null_entry_is_refused" {
  command = plan

  variables {
    lambda_metric_rules = [null]
  }

  expect_failures = [var.lambda_metric_rules]
}

# 3,043 characters of JSON, 3,183 bytes: Lambda counts bytes.
run "lambda_metric_rules_fit_the_lambda_environment_in_bytes" {
  command = plan

  variables {
    lambda_metric_rules = [for i in range(28) : { action = "drop", metric_name = "Latenz-für-Anfragen-über-Grenzwerte-äöü-${i}" }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "lambda_metric_rules_fit_the_lambda_environment" {
  command = plan

  variables {
    lambda_metric_rules = [for i in range(60) : { action = "drop", namespace = "Custom/Application${i}", metric_name = "RequestLatencyMilliseconds" }]
  }

  expect_failures = [var.lambda_metric_rules]
}

run "monitoring_sns_topic_arn_must_be_a_topic_arn" {
  command = plan

  variables {
    monitoring = { sns_topic_arn = "alerts" }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_topic_is_created_or_given" {
  command = plan

  variables {
    monitoring = { create_sns_topic = true, sns_topic_arn = "arn:aws:sns:eu-west-1:111122223333:alerts" }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_sns_kms_key_arn_must_be_a_key_arn" {
  command = plan

  variables {
    monitoring = { create_sns_topic = true, sns_kms_key_arn = "alias/aws/sns" }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_sns_kms_key_arn_needs_a_created_topic" {
  command = plan

  variables {
    monitoring = { sns_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000e" }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_count_thresholds_from_one" {
  command = plan

  variables {
    monitoring = { lambda_errors_threshold = 0 }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_queue_age_below_the_queue_retention" {
  command = plan

  variables {
    lambda_failure_queue = { message_retention_seconds = 86400 }
    monitoring           = { failure_queue_age_seconds = 86400 }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_firehose_freshness_above_the_buffering_interval" {
  command = plan

  variables {
    firehose_buffering = { interval_seconds = 900 }
    monitoring         = { firehose_freshness_seconds = 900 }
  }

  expect_failures = [var.monitoring]
}

run "monitoring_publish_errors_threshold_not_negative" {
  command = plan

  variables {
    monitoring = { metric_stream_publish_errors_threshold = -1 }
  }

  expect_failures = [var.monitoring]
}

run "lambda_naming_prometheus_is_accepted" {
  command = plan

  variables {
    lambda_naming = "prometheus"
  }
}

run "lambda_resource_tags_enabled_needs_tag_keys" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_resource_tags_tag_keys_within_limits" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team", ""] }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_resource_tags_tag_keys_at_most_128_characters" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = [join("", [for i in range(129) : "k"])] }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_resource_tags_null_tag_key_is_refused" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = [null] }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_resource_tags_role_name_is_a_role_name" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team"], linked_account_role_name = "role/tag-reader" }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_resource_tags_cache_ttl_within_limits" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team"], cache_ttl_seconds = 30 }
  }

  expect_failures = [var.lambda_resource_tags]
}

run "lambda_vpc_config_needs_subnets" {
  command = plan

  variables {
    lambda_vpc_config = { subnet_ids = [], security_group_ids = ["sg-0123456789abcdef0"] }
  }

  expect_failures = [var.lambda_vpc_config]
}

run "lambda_vpc_config_subnet_ids_are_subnet_ids" {
  command = plan

  variables {
    lambda_vpc_config = { subnet_ids = ["sg-0123456789abcdef0"], security_group_ids = ["sg-0123456789abcdef0"] }
  }

  expect_failures = [var.lambda_vpc_config]
}

run "lambda_vpc_config_needs_security_groups" {
  command = plan

  variables {
    lambda_vpc_config = { subnet_ids = ["subnet-0123456789abcdef0"], security_group_ids = [] }
  }

  expect_failures = [var.lambda_vpc_config]
}

run "lambda_vpc_config_security_group_ids_are_security_group_ids" {
  command = plan

  variables {
    lambda_vpc_config = { subnet_ids = ["subnet-0123456789abcdef0"], security_group_ids = ["subnet-0123456789abcdef0"] }
  }

  expect_failures = [var.lambda_vpc_config]
}

run "iam_role_path_starts_and_ends_with_a_slash" {
  command = plan

  variables {
    iam_role_path = "/observability"
  }

  expect_failures = [var.iam_role_path]
}

run "iam_role_path_has_no_spaces" {
  command = plan

  variables {
    iam_role_path = "/my roles/"
  }

  expect_failures = [var.iam_role_path]
}

run "iam_role_permissions_boundary_is_a_policy_arn" {
  command = plan

  variables {
    iam_role_permissions_boundary = "arn:aws:iam::111122223333:role/boundary"
  }

  expect_failures = [var.iam_role_permissions_boundary]
}

# KMS keys and an alarm topic must be in the module's region (eu-west-1 here), an existing secret's key in
# the secret's region: AWS refuses one of another region only at apply, after the resources before it
# are created. The Firehose key is checked by modules/regional-stream (regional_stream.tftest.hcl).
run "keys_and_topic_of_the_module_region_pass" {
  command = plan

  variables {
    secret_kms_key_arn   = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
    s3_kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    firehose_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000d"
    lambda_failure_queue = { kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000c" }
    monitoring           = { create_sns_topic = true, sns_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000e" }
  }
}

# The forwarder reads a secret in the region its ARN names.
run "existing_secret_of_another_region_with_its_key_there_passes" {
  command = plan

  variables {
    create_secret      = false
    secret_arn         = "arn:aws:secretsmanager:us-west-2:111122223333:secret:otlp/collector-AbCdEf"
    secret_kms_key_arn = "arn:aws:kms:us-west-2:111122223333:key/00000000-0000-0000-0000-00000000000b"
  }
}

run "existing_secret_with_its_key_in_another_region_fails_at_plan" {
  command = plan

  variables {
    create_secret      = false
    secret_arn         = "arn:aws:secretsmanager:us-west-2:111122223333:secret:otlp/collector-AbCdEf"
    secret_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
  }

  expect_failures = [data.aws_region.current]
}

run "s3_kms_key_of_another_region_fails_at_plan" {
  command = plan

  variables {
    s3_kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
  }

  expect_failures = [data.aws_region.current]
}

run "created_secret_with_a_kms_key_of_another_region_fails_at_plan" {
  command = plan

  variables {
    secret_kms_key_arn = "arn:aws:kms:eu-central-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
  }

  expect_failures = [data.aws_region.current]
}

run "failure_queue_kms_key_of_another_region_fails_at_plan" {
  command = plan

  variables {
    lambda_failure_queue = { kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000c" }
  }

  expect_failures = [data.aws_region.current]
}

run "alarm_topic_of_another_region_fails_at_plan" {
  command = plan

  variables {
    monitoring = { sns_topic_arn = "arn:aws:sns:us-east-1:111122223333:on-call" }
  }

  expect_failures = [data.aws_region.current]
}

run "alarm_topic_kms_key_of_another_region_fails_at_plan" {
  command = plan

  variables {
    monitoring = { create_sns_topic = true, sns_kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-00000000000e" }
  }

  expect_failures = [data.aws_region.current]
}
