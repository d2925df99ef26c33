# Shared naming and the few facts about the account that the policies need.

locals {
  # Every resource name starts with var.name; the suffixes below fix the longest names
  # (see the length check on var.name in variables.tf).
  names = {
    bucket_prefix    = "${var.name}-"
    firehose         = "${var.name}-metrics"
    metric_stream    = var.name
    lambda           = "${var.name}-forwarder"
    failure_queue    = "${var.name}-forwarder-failures"
    secret           = "${var.name}/collector"
    role_firehose    = "${var.name}-firehose"
    role_stream      = "${var.name}-metric-stream"
    role_lambda      = "${var.name}-forwarder"
    firehose_log     = "/aws/kinesisfirehose/${var.name}-metrics"
    lambda_log       = "/aws/lambda/${var.name}-forwarder"
    firehose_log_std = "DestinationDelivery"
    alarm_prefix     = "${var.name}-"
    alarm_topic      = "${var.name}-alarms"
    dashboard        = var.name
  }

  # Firehose writes delivered objects under metrics/ and failed deliveries under errors/;
  # the Lambda is notified for metrics/ only.
  metrics_prefix = "metrics/"
  errors_prefix  = "errors/"

  account_id = data.aws_caller_identity.current.account_id
}

# Used for the confused-deputy conditions of the service roles and for the S3 invoke permission.
data "aws_caller_identity" "current" {}
