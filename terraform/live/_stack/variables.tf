# Every value comes from terraform.tfvars.json, rendered from the topology inventory.
variable "environment" {
  description = "Environment name."
  type        = string
}

variable "aws_account_id" {
  description = "The environment's account."
  type        = string
}

variable "aws_role_arn" {
  description = "Role Terraform assumes, the same one the roles assume."
  type        = string
}

variable "region" {
  description = "This stack's region."
  type        = string
}

variable "region_role" {
  description = "hub or spoke."
  type        = string
}

variable "region_index" {
  description = "The region's index in the topology (also its Transit Gateway ASN offset)."
  type        = number
}

variable "hub_region" {
  description = "The hub region."
  type        = string
}

variable "cidr_plan" {
  description = "The region's CIDR plan."
  type = object({
    vpc_cidr = string
    azs      = list(string)
    subnets  = map(map(string))
  })
}

variable "nat_gateways" {
  description = "single or per_az."
  type        = string
}

variable "peer_regions" {
  description = "The other regions (name, role, vpc_cidr)."
  type = list(object({
    name     = string
    role     = string
    vpc_cidr = string
  }))
}
