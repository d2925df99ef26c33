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
  description = "Path of a prebuilt deployment package (make package ARCH=x86_64, for this example's architecture); null builds it during apply."
  type        = string
  default     = null
}

variable "permissions_boundary_arn" {
  description = "ARN of the IAM policy that bounds every role the module creates; null for none."
  type        = string
  default     = null
}

variable "subnet_ids" {
  description = "Private subnets to run the forwarder in; empty runs it outside any VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups of the forwarder in those subnets (outbound HTTPS); needed with subnet_ids."
  type        = list(string)
  default     = []
}
