# Upgrading a deployment from before the root module called modules/regional-stream keeps its metric
# stream, Firehose and roles: the moved blocks in moved.tf carry them into module.stream. Without
# them, the plan would create new ones, whose ARNs it cannot know; with them, the ARNs are those in the state.

# Computed values of resources to be created stay unknown at plan (no override_during = plan).
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

variables {
  secret_value = { endpoint = "https://otlp.example.com", headers = { "X-Api-Key" = "test" } }
}

run "state_before_the_submodule" {
  state_key = "upgrade"

  module {
    source = "./tests/upgrade/stream-in-root-module"
  }

  override_resource {
    target = aws_iam_role.firehose
    values = { arn = "arn:aws:iam::111122223333:role/cwotlp-firehose" }
  }
  override_resource {
    target = aws_iam_role.metric_stream
    values = { arn = "arn:aws:iam::111122223333:role/cwotlp-metric-stream" }
  }
  override_resource {
    target = aws_kinesis_firehose_delivery_stream.this
    values = { arn = "arn:aws:firehose:eu-west-1:111122223333:deliverystream/cwotlp-metrics" }
  }
  override_resource {
    target = aws_cloudwatch_metric_stream.this
    values = { arn = "arn:aws:cloudwatch:eu-west-1:111122223333:metric-stream/cwotlp" }
  }
}

run "plan_moves_the_stream_into_the_submodule" {
  state_key = "upgrade"
  command   = plan

  assert {
    condition = {
      metric_stream      = output.metric_stream_arn
      metric_stream_role = output.metric_stream_role_arn
      firehose           = output.firehose_delivery_stream_arn
      firehose_role      = output.firehose_role_arn
    } == run.state_before_the_submodule.arns
    error_message = "The metric stream, Firehose and their roles must be moved into module.stream, not created anew."
  }
}
