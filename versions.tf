terraform {
  # 1.11 brings write-only arguments, which keep the collector credentials out of plan and state.
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100"
    }
  }
}
