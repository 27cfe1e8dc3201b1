output "transit_gateway_id" {
  description = "The gateway."
  value       = aws_ec2_transit_gateway.this.id
}

output "route_table_id" {
  description = "Its default route table."
  value       = aws_ec2_transit_gateway.this.association_default_route_table_id
}

output "peering_attachment_id" {
  description = "The spoke's peering to the hub (empty for the hub)."
  value       = one(aws_ec2_transit_gateway_peering_attachment.to_hub[*].id)
}
