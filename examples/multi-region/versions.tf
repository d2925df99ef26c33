terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100"
    }
  }
}

# The central region: bucket, forwarder, secret, alarms and dashboard, and its own metric stream.
provider "aws" {
  region = var.region
}

# One more region whose metrics are streamed into the central bucket.
provider "aws" {
  alias  = "eu"
  region = var.eu_region
}
