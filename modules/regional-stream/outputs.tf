output "region" {
  description = "Region of the metric stream and its Firehose."
  value       = local.region
}

output "s3_prefix" {
  description = "Prefix of this region's objects in the central bucket: metrics/<region>/, or metrics/ with home_region."
  value       = local.metrics_prefix
}

output "firehose_delivery_stream_name" {
  description = "Name of the Firehose delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.name
}

output "firehose_delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream."
  value       = aws_kinesis_firehose_delivery_stream.this.arn
}

output "firehose_log_group_name" {
  description = "Name of the log group with the Firehose delivery errors."
  value       = aws_cloudwatch_log_group.firehose.name
}

output "firehose_role_arn" {
  description = "ARN of the IAM role Firehose uses to write to the central bucket; a customer managed key of the bucket must let it encrypt."
  value       = aws_iam_role.firehose.arn
}

output "metric_stream_name" {
  description = "Name of the CloudWatch metric stream."
  value       = aws_cloudwatch_metric_stream.this.name
}

output "metric_stream_arn" {
  description = "ARN of the CloudWatch metric stream."
  value       = aws_cloudwatch_metric_stream.this.arn
}

output "metric_stream_role_arn" {
  description = "ARN of the IAM role the metric stream uses to put records to Firehose."
  value       = aws_iam_role.metric_stream.arn
}
