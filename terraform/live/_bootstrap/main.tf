# The environment's state backend, applied once per environment with local state (then migrated into itself
# if wanted). live/<env>/bootstrap/ links this file and holds terraform.tfvars.json.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0, < 7.0" }
  }
}

variable "environment" {
  description = "Environment name."
  type        = string
}

variable "hub_region" {
  description = "Region of the state bucket and lock table (the hub)."
  type        = string
}

variable "aws_role_arn" {
  description = "Role Terraform assumes."
  type        = string
}

provider "aws" {
  region = var.hub_region
  assume_role {
    role_arn = var.aws_role_arn
  }
}

module "state_backend" {
  source = "../../../modules/state-backend"
  name   = "meridian-${var.environment}-tfstate"
  tags = {
    "meridian:environment" = var.environment
    "meridian:layer"       = "terraform-state"
    "managed-by"           = "terraform"
  }
}

output "backend_config" {
  description = "Values for terraform init -backend-config in live/<env>/<region>/."
  value = {
    bucket         = module.state_backend.bucket
    dynamodb_table = module.state_backend.lock_table
    kms_key_id     = module.state_backend.kms_key_arn
    region         = var.hub_region
    encrypt        = true
  }
}
