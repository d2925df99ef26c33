# The metric stream of this region and its Firehose, which writes directly under metrics/ and errors/ of
# the bucket: modules/regional-stream, which also serves every further region.

module "stream" {
  source = "./modules/regional-stream"

  name        = var.name
  home_region = true
  tags        = var.tags

  bucket_arn     = local.bucket_arn
  s3_kms_key_arn = var.s3_kms_key_arn

  firehose_buffering          = var.firehose_buffering
  firehose_kms_key_arn        = var.firehose_kms_key_arn
  firehose_log_retention_days = var.firehose_log_retention_days

  metric_stream_namespaces              = var.metric_stream_namespaces
  metric_stream_exclude_namespaces      = var.metric_stream_exclude_namespaces
  metric_stream_statistics              = var.metric_stream_statistics
  metric_stream_output_format           = var.metric_stream_output_format
  metric_stream_include_linked_accounts = var.metric_stream_include_linked_accounts
}

# These resources were declared in the root module before; the moves keep them, with the same names
# and settings, instead of replacing the metric stream and Firehose of existing deployments.

moved {
  from = aws_cloudwatch_metric_stream.this
  to   = module.stream.aws_cloudwatch_metric_stream.this
}

moved {
  from = aws_kinesis_firehose_delivery_stream.this
  to   = module.stream.aws_kinesis_firehose_delivery_stream.this
}

moved {
  from = aws_cloudwatch_log_group.firehose
  to   = module.stream.aws_cloudwatch_log_group.firehose
}

moved {
  from = aws_cloudwatch_log_stream.firehose
  to   = module.stream.aws_cloudwatch_log_stream.firehose
}

moved {
  from = aws_iam_role.metric_stream
  to   = module.stream.aws_iam_role.metric_stream
}

moved {
  from = aws_iam_role_policy.metric_stream
  to   = module.stream.aws_iam_role_policy.metric_stream
}

moved {
  from = aws_iam_role.firehose
  to   = module.stream.aws_iam_role.firehose
}

moved {
  from = aws_iam_role_policy.firehose
  to   = module.stream.aws_iam_role_policy.firehose
}
