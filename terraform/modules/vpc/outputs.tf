output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "subnet_ids" {
  description = "Subnet ids by <tier>-<az>."
  value       = { for key, subnet in aws_subnet.this : key => subnet.id }
}

output "intra_subnet_ids" {
  description = "The Transit Gateway attachment subnets."
  value       = [for key, subnet in aws_subnet.this : subnet.id if startswith(key, "intra-")]
}
