variable "name" {
  description = "Prefix of the bucket, table and key names, e.g. meridian-dev-tfstate."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource (meridian:environment, managed-by, ...)."
  type        = map(string)
  default     = {}
}
