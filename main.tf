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

# The KMS keys and the alarm topic given must be in the module's region, and an existing secret's key in
# the secret's region (the forwarder reads a secret where its ARN says): AWS refuses a key or topic of
# another region only at apply, resource by resource. The Firehose key is checked in
# modules/regional-stream. An ARN unknown until apply is checked then.
locals {
  regional_arns = {
    for name, arn in {
      s3_kms_key_arn                     = var.s3_kms_key_arn
      "lambda_failure_queue.kms_key_arn" = var.lambda_failure_queue.kms_key_arn
      "monitoring.sns_topic_arn"         = var.monitoring.sns_topic_arn
      "monitoring.sns_kms_key_arn"       = var.monitoring.sns_kms_key_arn
    } : name => split(":", arn)[3] if arn != null
  }
  secret_region     = var.secret_arn == null ? null : split(":", var.secret_arn)[3]
  secret_key_region = var.secret_kms_key_arn == null ? null : split(":", var.secret_kms_key_arn)[3]
}

data "aws_region" "current" {
  lifecycle {
    postcondition {
      condition     = local.secret_key_region == null || local.secret_key_region == coalesce(local.secret_region, self.id)
      error_message = "secret_kms_key_arn is in ${coalesce(local.secret_key_region, "?")}, but the secret is in ${coalesce(local.secret_region, self.id)}${local.secret_region == null ? " (created in the module's region)" : " (secret_arn)"}: a secret's KMS key must be in the secret's region."
    }
    postcondition {
      condition     = alltrue([for region in values(local.regional_arns) : region == self.id])
      error_message = "Not in ${self.id}, the region this module deploys to: ${join(", ", [for name, region in local.regional_arns : "${name} (${region})" if region != self.id])}. Use a key or topic of ${self.id} (a KMS multi-Region replica key has an ARN there)."
    }
  }
}
