# Existing secret, existing bucket, customer managed keys and a prebuilt package instead of created or default ones.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cwotlp-bucket", id = "cwotlp-bucket" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:111122223333:function:cwotlp-forwarder" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/cwotlp-forwarder" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:111122223333:cwotlp-forwarder-failures" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
}

run "existing_secret_is_used_and_nothing_is_created" {
  command = plan

  variables {
    create_secret      = false
    secret_arn         = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-XyZ123"
    secret_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
  }

  assert {
    condition     = length(aws_secretsmanager_secret.this) == 0 && length(aws_secretsmanager_secret_version.this) == 0
    error_message = "No secret may be created when secret_arn is given."
  }
  assert {
    condition     = output.secret_arn == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-XyZ123"
    error_message = "The output must name the given secret."
  }
  assert {
    condition     = aws_lambda_function.this.environment[0].variables["CWOTLP_SECRET_ARN"] == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-XyZ123"
    error_message = "The Lambda must read the given secret."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "ReadTheCollectorSecret"
      Effect   = "Allow"
      Action   = "secretsmanager:GetSecretValue"
      Resource = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-XyZ123"
    })
    error_message = "The Lambda policy must name the given secret."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "DecryptSecretAndObjects"
      Effect   = "Allow"
      Action   = "kms:Decrypt"
      Resource = ["arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"]
    })
    error_message = "The Lambda must decrypt with the given secret's key."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s if s.Sid == "ReadTheCollectorSecret" && s.Resource == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf"]) == 0
    error_message = "No policy may name a secret the module did not create."
  }
}

run "created_secret_uses_the_given_kms_key" {
  command = plan

  variables {
    secret_kms_key_arn   = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
    secret_value         = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "key" } }
    secret_value_version = 3
  }

  assert {
    condition     = aws_secretsmanager_secret.this[0].kms_key_id == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
    error_message = "The created secret must be encrypted with the given key."
  }
  assert {
    condition     = aws_secretsmanager_secret_version.this[0].secret_string_wo_version == 3
    error_message = "secret_value_version must reach the write-only version argument."
  }
}

run "existing_bucket_is_used_and_nothing_is_created" {
  command = plan

  variables {
    create_bucket = false
    bucket_arn    = "arn:aws:s3:::my-metrics-bucket"
    secret_value  = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "test" } }
    # A bucket of one's own keeps objects as its own lifecycle says: s3_lifecycle, unused, warns of nothing.
    s3_lifecycle = { metrics_expiration_days = 1 }
  }

  assert {
    condition = (
      length(aws_s3_bucket.this) == 0 && length(aws_s3_bucket_policy.this) == 0 &&
      length(aws_s3_bucket_lifecycle_configuration.this) == 0 && length(aws_s3_bucket_server_side_encryption_configuration.this) == 0
    )
    error_message = "No bucket or bucket settings may be created when bucket_arn is given."
  }
  assert {
    condition     = output.s3_bucket_name == "my-metrics-bucket" && aws_s3_bucket_notification.this.bucket == "my-metrics-bucket"
    error_message = "The notification and the output must use the given bucket."
  }
  assert {
    condition     = jsondecode(aws_iam_role_policy.lambda.policy).Statement[0].Resource == "arn:aws:s3:::my-metrics-bucket/metrics/*"
    error_message = "The Lambda may read the given bucket's metrics/ only."
  }
}

# Firehose's use of s3_kms_key_arn and firehose_kms_key_arn is asserted on modules/regional-stream
# (regional_stream.tftest.hcl), which creates it.
run "kms_keys_encrypt_bucket_and_queue" {
  command = plan

  variables {
    s3_kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    firehose_kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000d"
    lambda_failure_queue = { kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000c" }
    secret_value         = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "test" } }
  }

  assert {
    condition = (
      one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).kms_master_key_id == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a" &&
      one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).bucket_key_enabled
    )
    error_message = "The bucket must default to SSE-KMS with the given key and a bucket key."
  }
  assert {
    condition     = aws_sqs_queue.failures.kms_master_key_id == "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000c" && aws_sqs_queue.failures.sqs_managed_sse_enabled != true
    error_message = "The queue must use the given key instead of SQS managed encryption."
  }
}

run "prebuilt_package_skips_the_build" {
  command = plan

  variables {
    # Any existing file does here: the plan only hashes it.
    lambda_package_path = "lambda/requirements.txt"
    secret_value        = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "test" } }
  }

  assert {
    condition     = length(terraform_data.package) == 0
    error_message = "A prebuilt package must not be built again."
  }
  assert {
    condition     = aws_lambda_function.this.filename == "lambda/requirements.txt" && aws_lambda_function.this.source_code_hash == filebase64sha256("lambda/requirements.txt")
    error_message = "The Lambda must deploy the given package, hashed by its content."
  }
}
