# The same VPC the network role builds, from the same CIDR plan: public/private/intra subnets per AZ, IGW,
# NAT (single or per AZ), one route table per tier (private: per AZ), peer CIDRs to the Transit Gateway.

locals {
  subnets = merge([
    for tier, by_az in var.cidr_plan.subnets : {
      for az, cidr in by_az : "${tier}-${az}" => { tier = tier, az = az, cidr = cidr }
    }
  ]...)
  nat_azs = var.nat_gateways == "per_az" ? var.cidr_plan.azs : slice(var.cidr_plan.azs, 0, 1)
  subnet_tags = {
    public  = { "kubernetes.io/role/elb" = "1" }
    private = { "kubernetes.io/role/internal-elb" = "1" }
    intra   = {}
  }
}

data "aws_caller_identity" "current" {}

resource "aws_vpc" "this" {
  cidr_block           = var.cidr_plan.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# Nothing may use the default security group: it is emptied.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_kms_key" "flow_logs" {
  description         = "${var.name} VPC flow logs"
  enable_key_rotation = true
  tags                = var.tags
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:aws:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypts"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  name              = "/meridian/vpc/${var.name}/flow-logs"
  retention_in_days = var.flow_log_retention_days
  kms_key_id        = aws_kms_key.flow_logs.arn
  tags              = var.tags
}

resource "aws_iam_role" "flow_logs" {
  name = "${var.name}-vpc-flow-logs"
  tags = var.tags
  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Principal = { Service = "vpc-flow-logs.amazonaws.com" }, Action = "sts:AssumeRole" }]
  })
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "write-flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow_logs.arn}:*"
    }]
  })
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs.arn
  iam_role_arn    = aws_iam_role.flow_logs.arn
  tags            = var.tags
}

resource "aws_subnet" "this" {
  for_each          = local.subnets
  vpc_id            = aws_vpc.this.id
  cidr_block        = each.value.cidr
  availability_zone = "${var.region}${each.value.az}"
  tags = merge(var.tags, local.subnet_tags[each.value.tier], {
    Name            = "${var.name}-${each.key}"
    "meridian:tier" = each.value.tier
  })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)
  domain   = "vpc"
  tags     = merge(var.tags, { Name = "${var.name}-nat-${each.key}", "meridian:tier" = "nat", "meridian:az" = each.key })
}

resource "aws_nat_gateway" "this" {
  for_each      = toset(local.nat_azs)
  subnet_id     = aws_subnet.this["public-${each.key}"].id
  allocation_id = aws_eip.nat[each.key].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${each.key}", "meridian:az" = each.key })
  depends_on    = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public", "meridian:tier" = "public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table" "private" {
  for_each = toset(var.cidr_plan.azs)
  vpc_id   = aws_vpc.this.id
  tags     = merge(var.tags, { Name = "${var.name}-private-${each.key}", "meridian:tier" = "private", "meridian:az" = each.key })
}

resource "aws_route" "private_nat" {
  for_each               = toset(var.cidr_plan.azs)
  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[contains(local.nat_azs, each.key) ? each.key : local.nat_azs[0]].id
}

resource "aws_route_table" "intra" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-intra", "meridian:tier" = "intra" })
}

resource "aws_route_table_association" "this" {
  for_each       = local.subnets
  subnet_id      = aws_subnet.this[each.key].id
  route_table_id = each.value.tier == "public" ? aws_route_table.public.id : each.value.tier == "intra" ? aws_route_table.intra.id : aws_route_table.private[each.value.az].id
}

locals {
  route_table_ids = merge(
    { public = aws_route_table.public.id, intra = aws_route_table.intra.id },
    { for az, table in aws_route_table.private : "private-${az}" => table.id },
  )
  peer_routes = var.transit_gateway_id == "" ? {} : merge([
    for name, table in local.route_table_ids : { for cidr in var.peer_cidrs : "${name}|${cidr}" => { table = table, cidr = cidr } }
  ]...)
}

resource "aws_route" "peers" {
  for_each               = local.peer_routes
  route_table_id         = each.value.table
  destination_cidr_block = each.value.cidr
  transit_gateway_id     = var.transit_gateway_id
}
