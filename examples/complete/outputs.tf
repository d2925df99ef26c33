output "metric_stream_arn" {
  description = "ARN of the CloudWatch metric stream."
  value       = module.cloudwatch_otlp.metric_stream_arn
}

output "firehose_delivery_stream_arn" {
  description = "ARN of the Firehose delivery stream."
  value       = module.cloudwatch_otlp.firehose_delivery_stream_arn
}

output "s3_bucket_name" {
  description = "Bucket that keeps the delivered objects."
  value       = module.cloudwatch_otlp.s3_bucket_name
}

output "lambda_function_name" {
  description = "Name of the forwarder Lambda."
  value       = module.cloudwatch_otlp.lambda_function_name
}

output "lambda_role_arn" {
  description = "Execution role of the forwarder; the key policy of kms_key_arn must let it decrypt."
  value       = module.cloudwatch_otlp.lambda_role_arn
}

output "secret_arn" {
  description = "The secret the forwarder reads."
  value       = module.cloudwatch_otlp.secret_arn
}

output "sqs_queue_url" {
  description = "Queue of failed deliveries, for the replay command."
  value       = module.cloudwatch_otlp.sqs_queue_url
}

output "sns_topic_arn" {
  description = "Topic the pipeline's alarms notify; subscribe the on-call address to it."
  value       = module.cloudwatch_otlp.sns_topic_arn
}

output "cloudwatch_dashboard_name" {
  description = "The pipeline's CloudWatch dashboard."
  value       = module.cloudwatch_otlp.cloudwatch_dashboard_name
}
