output "s3_bucket_name" {
  description = "Name of the bucket that receives the Firehose objects (created or given)."
  value       = local.bucket_name
}

output "s3_bucket_arn" {
  description = "ARN of the bucket that receives the Firehose objects (created or given)."
  value       = local.bucket_arn
}

output "s3_kms_key_arn" {
  description = "ARN of the KMS key of the bucket's objects (s3_kms_key_arn), or null for SSE-S3; regional streams (modules/regional-stream) encrypt with it too."
  value       = var.s3_kms_key_arn
}

output "firehose_delivery_stream_name" {
  description = "Name of the Firehose delivery stream."
  value       = module.stream.firehose_delivery_stream_name
}

output "firehose_delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream."
  value       = module.stream.firehose_delivery_stream_arn
}

output "firehose_log_group_name" {
  description = "Name of the log group with the Firehose delivery errors."
  value       = module.stream.firehose_log_group_name
}

output "firehose_role_arn" {
  description = "ARN of the IAM role Firehose uses to write to the bucket."
  value       = module.stream.firehose_role_arn
}

output "metric_stream_name" {
  description = "Name of the CloudWatch metric stream."
  value       = module.stream.metric_stream_name
}

output "metric_stream_arn" {
  description = "ARN of the CloudWatch metric stream."
  value       = module.stream.metric_stream_arn
}

output "metric_stream_output_format" {
  description = "Record format of the metric stream, the one the forwarder reads: pass it to every modules/regional-stream."
  value       = var.metric_stream_output_format
}

output "metric_stream_role_arn" {
  description = "ARN of the IAM role the metric stream uses to put records to Firehose."
  value       = module.stream.metric_stream_role_arn
}

output "secret_arn" {
  description = "ARN of the secret with the collector endpoint and credentials (created or given)."
  value       = local.secret_arn
}

output "lambda_function_name" {
  description = "Name of the forwarder Lambda."
  value       = aws_lambda_function.this.function_name
}

output "lambda_function_arn" {
  description = "ARN of the forwarder Lambda."
  value       = aws_lambda_function.this.arn
}

output "lambda_role_arn" {
  description = "ARN of the forwarder Lambda's execution role."
  value       = aws_iam_role.lambda.arn
}

output "lambda_log_group_name" {
  description = "Name of the forwarder Lambda's log group."
  value       = aws_cloudwatch_log_group.lambda.name
}

output "sqs_queue_name" {
  description = "Name of the SQS queue that receives failed forwarder invocations."
  value       = aws_sqs_queue.failures.name
}

output "sqs_queue_arn" {
  description = "ARN of the SQS queue that receives failed forwarder invocations."
  value       = aws_sqs_queue.failures.arn
}

output "sqs_queue_url" {
  description = "URL of the SQS queue that receives failed forwarder invocations (the replay command reads it)."
  value       = aws_sqs_queue.failures.url
}

output "sns_topic_arn" {
  description = "ARN of the SNS topic the alarms notify (created or given), or null when they notify nobody."
  value       = local.monitoring ? local.alarm_topic_arn : null
}

output "cloudwatch_alarm_names" {
  description = "Names of the pipeline's CloudWatch alarms by what they watch (forwarder-errors, forwarder-throttles, failure-queue-messages, failure-queue-age, firehose-delivery, firehose-freshness, metric-stream-publish-errors); empty when monitoring is off."
  value       = { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.alarm_name }
}

output "cloudwatch_dashboard_name" {
  description = "Name of the pipeline's CloudWatch dashboard, or null when it is not created."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}
