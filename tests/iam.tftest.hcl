# The forwarder's IAM policy, asserted by content: it may do only what forwarding needs. The metric stream's
# and Firehose's roles belong to modules/regional-stream and are asserted in regional_stream.tftest.hcl.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cwotlp-bucket", id = "cwotlp-bucket" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = { arn = "arn:aws:sqs:eu-west-1:111122223333:cwotlp-forwarder-failures" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

override_resource {
  target          = aws_cloudwatch_log_group.lambda
  override_during = plan
  values          = { arn = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/cwotlp-forwarder" }
}

variables {
  secret_value = {
    endpoint = "https://otlp.example.com"
    headers  = { Authorization = "Bearer token" }
  }
}

run "lambda_may_only_read_its_objects_secret_and_write_logs_and_queue" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role_policy.lambda.policy).Statement == [
      {
        Sid      = "ReadAndTagDeliveredObjects"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"]
        Resource = "arn:aws:s3:::cwotlp-bucket/metrics/*"
      },
      {
        Sid       = "ListDeliveredObjects"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = "arn:aws:s3:::cwotlp-bucket"
        Condition = { StringLike = { "s3:prefix" = ["metrics/", "metrics/*"] } }
      },
      {
        Sid      = "ReadTheCollectorSecret"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:cwotlp/collector-AbCdEf"
      },
      {
        Sid      = "WriteItsLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/cwotlp-forwarder:*"
      },
      {
        Sid      = "SendFailedInvocations"
        Effect   = "Allow"
        Action   = "sqs:SendMessage"
        Resource = "arn:aws:sqs:eu-west-1:111122223333:cwotlp-forwarder-failures"
      },
    ]
    error_message = "Without KMS keys the Lambda role must hold exactly these five statements."
  }
  assert {
    condition = jsondecode(aws_iam_role.lambda.assume_role_policy).Statement == [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
    error_message = "Only Lambda may assume the forwarder role."
  }
}

run "no_policy_grants_wildcard_actions_or_resources" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for policy in [aws_iam_role_policy.lambda.policy] : [
        for s in jsondecode(policy).Statement : concat(
          [for action in flatten([s.Action]) : !strcontains(action, "*")],
          [for resource in flatten([s.Resource]) : resource != "*" && startswith(resource, "arn:")],
        )
      ]
    ]))
    error_message = "Policies must name their actions and resources: no \"*\" action or resource."
  }
}

run "kms_keys_are_granted_where_used" {
  command = plan

  variables {
    s3_kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    secret_kms_key_arn   = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b"
    lambda_failure_queue = { kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000c" }
  }

  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid    = "DecryptSecretAndObjects"
      Effect = "Allow"
      Action = "kms:Decrypt"
      Resource = [
        "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000b",
        "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a",
      ]
    })
    error_message = "The Lambda must decrypt with the secret's and the bucket's keys."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "EncryptFailedInvocations"
      Effect   = "Allow"
      Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
      Resource = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000c"
    })
    error_message = "The Lambda must be able to send to a queue encrypted with a customer managed key."
  }
}
