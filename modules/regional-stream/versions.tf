terraform {
  # Cross-variable validation needs 1.9; 1.11 matches the root module.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100"
    }
  }
}
