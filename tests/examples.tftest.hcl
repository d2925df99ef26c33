# Each example planned as a root module, against the mock provider.

mock_provider "aws" {
  override_during = plan

  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::cwotlp-bucket", id = "cwotlp-bucket" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:111122223333:cwotlp-complete-alarms" }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
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
    secret_arn  = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-AbCdEf"
    kms_key_arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = output.secret_arn == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp/collector-AbCdEf"
    error_message = "The complete example must use the existing secret."
  }
  assert {
    condition     = output.sns_topic_arn == "arn:aws:sns:eu-west-1:111122223333:cwotlp-complete-alarms" && output.cloudwatch_dashboard_name == "cwotlp-complete"
    error_message = "The complete example must alarm to a created topic and create the dashboard."
  }
}
