output "s3_bucket_name" {
  description = "The central bucket: metrics/ holds the central region's objects, metrics/<region>/ the other regions'."
  value       = module.cloudwatch_otlp.s3_bucket_name
}

output "metric_stream_names" {
  description = "The metric stream of each region."
  value = {
    (var.region)    = module.cloudwatch_otlp.metric_stream_name
    (var.eu_region) = module.stream_eu.metric_stream_name
  }
}

output "eu_s3_prefix" {
  description = "Where the second region's objects land in the central bucket."
  value       = module.stream_eu.s3_prefix
}

output "lambda_log_group_name" {
  description = "Where the one forwarder logs what it sent, for every region."
  value       = module.cloudwatch_otlp.lambda_log_group_name
}

output "sns_topic_arn" {
  description = "Topic of the pipeline's alarms; subscribe the on-call address to it."
  value       = module.cloudwatch_otlp.sns_topic_arn
}

output "cloudwatch_dashboard_name" {
  description = "The pipeline's dashboard in the central region."
  value       = module.cloudwatch_otlp.cloudwatch_dashboard_name
}
