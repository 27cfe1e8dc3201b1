output "bucket" {
  description = "State bucket name."
  value       = aws_s3_bucket.state.id
}

output "lock_table" {
  description = "DynamoDB lock table name."
  value       = aws_dynamodb_table.lock.name
}

output "kms_key_arn" {
  description = "KMS key that encrypts state and locks."
  value       = aws_kms_key.state.arn
}
