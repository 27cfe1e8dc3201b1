variable "name" {
  description = "Name of the VPC and prefix of its resources, e.g. meridian-dev-eu-west-1."
  type        = string
}

variable "region" {
  description = "AWS region; AZ names are the region plus the plan's letters."
  type        = string
}

variable "cidr_plan" {
  description = "The region's CIDR plan from the topology inventory: vpc_cidr, azs, subnets.{public,private,intra}.<az>."
  type = object({
    vpc_cidr = string
    azs      = list(string)
    subnets  = map(map(string))
  })
}

variable "nat_gateways" {
  description = "single or per_az."
  type        = string
  default     = "single"
  validation {
    condition     = contains(["single", "per_az"], var.nat_gateways)
    error_message = "nat_gateways is single or per_az."
  }
}

variable "peer_cidrs" {
  description = "Other regions' VPC CIDRs, routed to the Transit Gateway once transit_gateway_id is set."
  type        = list(string)
  default     = []
}

variable "transit_gateway_id" {
  description = "Transit Gateway to route peer CIDRs to; empty before the gateway exists."
  type        = string
  default     = ""
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
