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
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
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

run "lambda_may_only_read_its_objects_and_markers_secret_and_write_logs_and_queue" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role_policy.lambda.policy).Statement == [
      {
        Sid      = "ReadDeliveredObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = "arn:aws:s3:::cwotlp-bucket/metrics/*"
      },
      {
        Sid      = "ReadAndWriteProgressMarkers"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "arn:aws:s3:::cwotlp-bucket/progress/*"
      },
      {
        Sid       = "ListDeliveredObjectsAndMarkers"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = "arn:aws:s3:::cwotlp-bucket"
        Condition = { StringLike = { "s3:prefix" = ["metrics/*", "progress/*"] } }
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
    error_message = "Without KMS keys the Lambda may read objects, read and write progress markers, list both, read its secret, log and send failures: nothing else (no object tagging)."
  }
  assert {
    # The forwarder lists nothing: s3:ListBucket only turns a missing key's 403 into a 404, for the keys it reads.
    condition = toset([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement :
      trimprefix(s.Resource, "arn:aws:s3:::cwotlp-bucket/") if contains(flatten([s.Action]), "s3:GetObject")
    ]) == toset(one([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s if s.Action == "s3:ListBucket"]).Condition.StringLike["s3:prefix"])
    error_message = "s3:ListBucket must be conditioned on exactly the keys the forwarder reads."
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
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "EncryptProgressMarkers"
      Effect   = "Allow"
      Action   = "kms:GenerateDataKey"
      Resource = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-00000000000a"
    })
    error_message = "Progress markers are written under the bucket's key, so the Lambda must be able to encrypt with it."
  }
}

run "no_tagging_role_or_network_permissions_by_default" {
  command = plan

  assert {
    condition = length([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s
      if anytrue([for action in flatten([s.Action]) : startswith(action, "tag:") || startswith(action, "sts:") || startswith(action, "ec2:")])
    ]) == 0
    error_message = "Without tag enrichment and a VPC, the Lambda may not read tags, assume roles or manage network interfaces."
  }
  assert {
    condition     = aws_iam_role.lambda.path == "/" && aws_iam_role.lambda.permissions_boundary == null
    error_message = "Roles sit at the root path with no boundary by default."
  }
}

run "resource_tags_grant_the_tagging_api_and_the_linked_role" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team"], linked_account_role_name = "cwotlp-tag-reader" }
  }

  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "ReadResourceTags"
      Effect   = "Allow"
      Action   = "tag:GetResources"
      Resource = "*"
    })
    error_message = "Tag enrichment needs tag:GetResources, which takes no resource but \"*\"."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid      = "ReadResourceTagsInLinkedAccounts"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = "arn:aws:iam::*:role/cwotlp-tag-reader"
    })
    error_message = "The Lambda may assume only the named role, in any linked account."
  }
}

run "resource_tags_without_a_role_assume_nothing" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team"] }
  }

  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s if s.Action == "sts:AssumeRole"]) == 0
    error_message = "Without linked_account_role_name the Lambda reads its own account's tags only."
  }
  assert {
    condition     = length([for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s if s.Action == "tag:GetResources"]) == 1
    error_message = "Enrichment in the own account still needs tag:GetResources."
  }
}

run "vpc_config_places_the_function_and_lets_it_manage_its_interfaces" {
  command = plan

  variables {
    lambda_vpc_config = {
      subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
      security_group_ids = ["sg-0123456789abcdef0"]
    }
  }

  assert {
    condition = (
      one(aws_lambda_function.this.vpc_config).subnet_ids == toset(["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]) &&
      one(aws_lambda_function.this.vpc_config).security_group_ids == toset(["sg-0123456789abcdef0"])
    )
    error_message = "The function must run in the given subnets with the given security groups."
  }
  assert {
    condition = contains(jsondecode(aws_iam_role_policy.lambda.policy).Statement, {
      Sid    = "ManageNetworkInterfacesInTheVpc"
      Effect = "Allow"
      Action = [
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
      ]
      Resource = "*"
    })
    error_message = "In a VPC the Lambda needs the network interface permissions of AWSLambdaVPCAccessExecutionRole."
  }
}

run "only_tag_reading_and_network_interfaces_take_any_resource" {
  command = plan

  variables {
    lambda_resource_tags = { enabled = true, tag_keys = ["team"], linked_account_role_name = "cwotlp-tag-reader" }
    lambda_vpc_config    = { subnet_ids = ["subnet-0123456789abcdef0"], security_group_ids = ["sg-0123456789abcdef0"] }
  }

  assert {
    condition = sort([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : s.Sid if contains(flatten([s.Resource]), "*")
    ]) == tolist(["ManageNetworkInterfacesInTheVpc", "ReadResourceTags"])
    error_message = "Only the statements whose actions take no resource-level permissions may name \"*\"."
  }
  assert {
    condition = alltrue(flatten([
      for s in jsondecode(aws_iam_role_policy.lambda.policy).Statement : [for action in flatten([s.Action]) : !strcontains(action, "*")]
    ]))
    error_message = "No action may be a wildcard."
  }
}

run "roles_take_the_path_and_the_permissions_boundary" {
  command = plan

  variables {
    iam_role_path                 = "/observability/cwotlp/"
    iam_role_permissions_boundary = "arn:aws:iam::111122223333:policy/workload-boundary"
  }

  # The stream's roles are asserted in regional_stream.tftest.hcl; tests/module/test_shared_variables.py
  # checks that the root module passes both inputs on to module.stream.
  assert {
    condition     = aws_iam_role.lambda.path == "/observability/cwotlp/" && aws_iam_role.lambda.permissions_boundary == "arn:aws:iam::111122223333:policy/workload-boundary"
    error_message = "The forwarder's role must take the path and the boundary."
  }
}
