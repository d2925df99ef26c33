output "metric_stream_name" {
  description = "Name of the CloudWatch metric stream."
  value       = module.cloudwatch_otlp.metric_stream_name
}

output "s3_bucket_name" {
  description = "Bucket that keeps the delivered objects for 14 days, as long as the failure queue keeps its events."
  value       = module.cloudwatch_otlp.s3_bucket_name
}

output "lambda_log_group_name" {
  description = "Where the forwarder logs what it sent."
  value       = module.cloudwatch_otlp.lambda_log_group_name
}

output "sqs_queue_url" {
  description = "Queue of failed deliveries, for the replay command."
  value       = module.cloudwatch_otlp.sqs_queue_url
}
