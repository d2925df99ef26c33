# Shared naming and the few facts about the account that the policies need.

locals {
  # Every resource name starts with var.name; the suffixes below fix the longest names
  # (see the length check on var.name in variables.tf).
  names = {
    bucket_prefix = "${var.name}-"
    lambda        = "${var.name}-forwarder"
    failure_queue = "${var.name}-forwarder-failures"
    secret        = "${var.name}/collector"
    role_lambda   = "${var.name}-forwarder"
    lambda_log    = "/aws/lambda/${var.name}-forwarder"
    alarm_prefix  = "${var.name}-"
    alarm_topic   = "${var.name}-alarms"
    dashboard     = var.name
  }

  # This region's Firehose writes delivered objects under metrics/ and failed deliveries under errors/,
  # other regions' under metrics/<region>/ and errors/<region>/ (modules/regional-stream); the Lambda
  # is notified for metrics/, which holds them all.
  metrics_prefix = "metrics/"
  errors_prefix  = "errors/"
  # The forwarder keeps each object's delivery progress and lease in a small marker object,
  # progress/<object key>, written with S3 conditional writes.
  progress_prefix = "progress/"

  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
}

# Used for the confused-deputy condition of the alarm topic's policy and for the S3 invoke permission.
data "aws_caller_identity" "current" {}

# The ARN partition (aws, aws-cn, aws-us-gov) of the role names the forwarder may assume.
data "aws_partition" "current" {}
