# A region's Transit Gateway, its VPC attachment and, for a spoke, the peering request to the hub with static
# routes over it. The hub side accepts with aws_ec2_transit_gateway_peering_attachment_accepter in the hub's
# stack (a provider for the hub region); the network role does both from the spoke's run.

resource "aws_ec2_transit_gateway" "this" {
  description                     = "${var.name} hub-and-spoke gateway"
  amazon_side_asn                 = var.amazon_side_asn
  auto_accept_shared_attachments  = "disable"
  default_route_table_association = "enable"
  default_route_table_propagation = "enable"
  dns_support                     = "enable"
  vpn_ecmp_support                = "enable"
  tags                            = merge(var.tags, { Name = var.name })
}

resource "aws_ec2_transit_gateway_vpc_attachment" "this" {
  transit_gateway_id = aws_ec2_transit_gateway.this.id
  vpc_id             = var.vpc_id
  subnet_ids         = var.subnet_ids
  dns_support        = "enable"
  tags               = merge(var.tags, { Name = var.name })
}

resource "aws_ec2_transit_gateway_peering_attachment" "to_hub" {
  count                   = var.peer == null ? 0 : 1
  transit_gateway_id      = aws_ec2_transit_gateway.this.id
  peer_transit_gateway_id = var.peer.transit_gateway_id
  peer_region             = var.peer.region
  peer_account_id         = var.peer.account_id
  tags                    = merge(var.tags, { Name = "${var.name}-to-${var.peer.region}", "meridian:peer-region" = var.peer.region })
}

resource "aws_ec2_transit_gateway_route" "peers" {
  for_each                       = var.peer == null ? toset([]) : toset(var.peer_cidrs)
  destination_cidr_block         = each.key
  transit_gateway_attachment_id  = aws_ec2_transit_gateway_peering_attachment.to_hub[0].id
  transit_gateway_route_table_id = aws_ec2_transit_gateway.this.association_default_route_table_id
}
