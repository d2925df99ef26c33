variable "region" {
  description = "AWS region whose CloudWatch metrics are streamed."
  type        = string
  default     = "eu-west-1"
}

variable "secret_arn" {
  description = "ARN of an existing Secrets Manager secret with the collector JSON ({\"endpoint\": ..., \"token_url\": ..., \"client_id\": ..., \"client_secret\": ...})."
  type        = string
}

variable "kms_key_arn" {
  description = "ARN of a customer managed KMS key that encrypts the secret, the bucket, Firehose and the failure queue. Its key policy must let this account's IAM principals use it."
  type        = string
}

variable "lambda_package_path" {
  description = "Path of a prebuilt deployment package (make package); null builds it during apply."
  type        = string
  default     = null
}
