variable "region" {
  description = "AWS region whose CloudWatch metrics are streamed."
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
