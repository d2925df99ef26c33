variable "region" {
  description = "Central region: the bucket, the forwarder and its own metric stream live here."
  type        = string
  default     = "us-east-1"
}

variable "eu_region" {
  description = "A second region whose metrics are streamed into the central bucket."
  type        = string
  default     = "eu-west-1"
}

variable "endpoint" {
  description = "Base URL of the OTLP/HTTP collector; the forwarder posts to <endpoint>/v1/metrics. Ephemeral, as the secret it goes into: it stays out of the plan and the state."
  type        = string
  ephemeral   = true
}

variable "token_url" {
  description = "OAuth2 token endpoint of the collector's identity provider. Ephemeral, as the secret it goes into: it stays out of the plan and the state."
  type        = string
  ephemeral   = true
}

variable "client_id" {
  description = "OAuth2 client id. Ephemeral, as the secret it goes into: it stays out of the plan and the state."
  type        = string
  ephemeral   = true
}

variable "client_secret" {
  description = "OAuth2 client secret. Ephemeral: it is written to Secrets Manager and never stored in the plan or the state."
  type        = string
  sensitive   = true
  ephemeral   = true
}

variable "tags" {
  description = "Tags of every resource, in both regions."
  type        = map(string)
  default     = {}
}

variable "iam_role_path" {
  description = "Path of every IAM role, in both regions."
  type        = string
  default     = "/"
}

variable "iam_role_permissions_boundary" {
  description = "ARN of the IAM policy that bounds every role, in both regions; null for none."
  type        = string
  default     = null
}
