variable "name" {
  description = "Name of the gateway, e.g. meridian-dev-eu-west-1."
  type        = string
}

variable "amazon_side_asn" {
  description = "ASN of the gateway; peered gateways need distinct ASNs."
  type        = number
}

variable "vpc_id" {
  description = "VPC to attach."
  type        = string
}

variable "subnet_ids" {
  description = "Intra subnets that hold the attachment's interfaces (one per AZ)."
  type        = list(string)
}

variable "peer" {
  description = "For a spoke: the hub's gateway to peer with (id, region, account_id, vpc_cidr). Null for the hub."
  type = object({
    transit_gateway_id = string
    region             = string
    account_id         = string
  })
  default = null
}

variable "peer_cidrs" {
  description = "Peer regions' VPC CIDRs routed over the peering (spokes)."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags put on every resource."
  type        = map(string)
  default     = {}
}
