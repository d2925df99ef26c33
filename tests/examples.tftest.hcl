# Each example planned as a root module, against mock providers (two regions for multi-region).

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cwotlp-bucket", id = "cwotlp-bucket" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:us-east-1:111122223333:cwotlp-complete-alarms" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "us-east-1", name = "us-east-1" }
  }
}

# The second region of the multi-region example.
mock_provider "aws" {
  alias           = "eu"
  override_during = plan

  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1" }
  }
}

run "quickstart" {
  command = plan

  module {
    source = "./examples/quickstart"
  }

  variables {
    endpoint      = "https://otlp.example.com"
    token_url     = "https://auth.example.com/oauth2/token"
    client_id     = "cloudwatch-stream"
    client_secret = "client-secret"
  }

  assert {
    condition     = output.s3_bucket_name == "cwotlp-bucket"
    error_message = "The quickstart must create the bucket."
  }
}

run "complete" {
  command = plan

  module {
    source = "./examples/complete"
  }

  variables {
    secret_arn               = "arn:aws:secretsmanager:us-east-1:111122223333:secret:otlp/collector-AbCdEf"
    kms_key_arn              = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    permissions_boundary_arn = "arn:aws:iam::111122223333:policy/workload-boundary"
    subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
    security_group_ids       = ["sg-0123456789abcdef0"]
  }

  assert {
    condition     = output.secret_arn == "arn:aws:secretsmanager:us-east-1:111122223333:secret:otlp/collector-AbCdEf"
    error_message = "The complete example must use the existing secret."
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:us-east-1:111122223333:cwotlp-complete-alarms" && output.cloudwatch_dashboard_name == "cwotlp-complete"
    error_message = "The complete example must alarm to a created topic and create the dashboard."
  }
}

run "complete_outside_a_vpc" {
  command = plan

  module {
    source = "./examples/complete"
  }

  variables {
    secret_arn  = "arn:aws:secretsmanager:us-east-1:111122223333:secret:otlp/collector-AbCdEf"
    kms_key_arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  # Subnets, security groups and the boundary are optional: the run passes when the example plans without
  # them. The module's handling of each option is asserted in iam.tftest.hcl; make test-deploy applies the
  # complete example with them.
}

run "multi_region" {
  command = plan

  module {
    source = "./examples/multi-region"
  }

  providers = {
    aws    = aws
    aws.eu = aws.eu
  }

  variables {
    endpoint      = "https://otlp.example.com"
    token_url     = "https://auth.example.com/oauth2/token"
    client_id     = "cloudwatch-stream"
    client_secret = "client-secret"
  }

  assert {
    condition     = output.s3_bucket_name == "cwotlp-bucket" && output.eu_s3_prefix == "metrics/eu-west-1/"
    error_message = "The second region must write under metrics/eu-west-1/ of the central bucket."
  }
  assert {
    condition     = output.metric_stream_names == { "us-east-1" = "cwotlp", "eu-west-1" = "cwotlp" }
    error_message = "Each region must have its metric stream."
  }
  assert {
    condition     = output.sns_topic_arn != null && output.cloudwatch_dashboard_name == "cwotlp"
    error_message = "The central region must alarm to a created topic and have the dashboard."
  }
}
