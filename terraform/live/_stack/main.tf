# One region of an environment: the VPC and the Transit Gateway (with the spoke's peering to the hub).
# live/<env>/<region>/ links this file and variables.tf and holds terraform.tfvars.json, rendered from the
# topology inventory by playbooks/terraform_tfvars.yml, so the inventory stays the one source of truth.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.0, < 7.0" }
  }
  # bucket, key, region, dynamodb_table and kms_key_id come from -backend-config (the bootstrap stack's outputs).
  backend "s3" {}
}

locals {
  name = "meridian-${var.environment}-${var.region}"
  tags = {
    "meridian:environment" = var.environment
    "meridian:region"      = var.region
    "meridian:layer"       = "network"
    "managed-by"           = "terraform"
  }
  is_spoke = var.region_role == "spoke"
}

provider "aws" {
  region = var.region
  assume_role {
    role_arn = var.aws_role_arn
  }
  default_tags {
    tags = local.tags
  }
}

# The hub region, where a spoke's peering is accepted and the route back to the spoke is added.
provider "aws" {
  alias  = "hub"
  region = var.hub_region
  assume_role {
    role_arn = var.aws_role_arn
  }
  default_tags {
    tags = local.tags
  }
}

module "vpc" {
  source             = "../../../modules/vpc"
  name               = local.name
  region             = var.region
  cidr_plan          = var.cidr_plan
  nat_gateways       = var.nat_gateways
  peer_cidrs         = [for peer in var.peer_regions : peer.vpc_cidr]
  transit_gateway_id = module.transit_gateway.transit_gateway_id
}

data "aws_ec2_transit_gateway" "hub" {
  count    = local.is_spoke ? 1 : 0
  provider = aws.hub
  filter {
    name   = "tag:meridian:region"
    values = [var.hub_region]
  }
  filter {
    name   = "tag:meridian:environment"
    values = [var.environment]
  }
  filter {
    name   = "state"
    values = ["available"]
  }
}

module "transit_gateway" {
  source          = "../../../modules/transit-gateway"
  name            = local.name
  amazon_side_asn = 64512 + var.region_index
  vpc_id          = module.vpc.vpc_id
  subnet_ids      = module.vpc.intra_subnet_ids
  peer = local.is_spoke ? {
    transit_gateway_id = data.aws_ec2_transit_gateway.hub[0].id
    region             = var.hub_region
    account_id         = var.aws_account_id
  } : null
  peer_cidrs = [for peer in var.peer_regions : peer.vpc_cidr]
}

resource "aws_ec2_transit_gateway_peering_attachment_accepter" "hub" {
  count                         = local.is_spoke ? 1 : 0
  provider                      = aws.hub
  transit_gateway_attachment_id = module.transit_gateway.peering_attachment_id
  tags                          = merge(local.tags, { Name = "${local.name}-to-${var.hub_region}", "meridian:peer-region" = var.hub_region })
}

resource "aws_ec2_transit_gateway_route" "hub_to_spoke" {
  count                          = local.is_spoke ? 1 : 0
  provider                       = aws.hub
  destination_cidr_block         = var.cidr_plan.vpc_cidr
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment_accepter.hub[0].transit_gateway_attachment_id
  transit_gateway_route_table_id = data.aws_ec2_transit_gateway.hub[0].association_default_route_table_id
}

output "vpc_id" {
  description = "The region's VPC."
  value       = module.vpc.vpc_id
}

output "transit_gateway_id" {
  description = "The region's Transit Gateway."
  value       = module.transit_gateway.transit_gateway_id
}
