# The secret with the collector endpoint and credentials, or an existing one (create_secret = false).

locals {
  secret_arn = var.create_secret ? aws_secretsmanager_secret.this[0].arn : var.secret_arn
}

resource "aws_secretsmanager_secret" "this" {
  count = var.create_secret ? 1 : 0

  #checkov:skip=CKV_AWS_149:The AWS managed key is the default on purpose (no key policy to manage); set secret_kms_key_arn for a customer managed key.
  #checkov:skip=CKV2_AWS_57:The credentials belong to the collector's identity provider, which rotates them; write the new value with secret_value and secret_value_version.
  name                    = local.names.secret
  description             = "OTLP collector endpoint and credentials for the ${var.name} CloudWatch metric stream forwarder"
  kms_key_id              = var.secret_kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days

  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "this" {
  count = var.create_secret ? 1 : 0

  secret_id = aws_secretsmanager_secret.this[0].id
  # Write-only: the value goes to Secrets Manager and never into the plan or the state.
  # Null fields are left out, as if never given: the forwarder refuses "allow_http": null, for one.
  secret_string_wo         = jsonencode({ for key, value in var.secret_value : key => value if value != null })
  secret_string_wo_version = var.secret_value_version

  lifecycle {
    # A check here rather than on the variable: a missing secret_value has no source location, so a
    # failed variable validation would point at "line 0" instead of at this module.
    precondition {
      condition     = var.secret_value != null
      error_message = "secret_value is required when create_secret is true: pass { endpoint, token_url, client_id, client_secret } or { endpoint, headers }, or set create_secret = false and secret_arn."
    }
  }
}
