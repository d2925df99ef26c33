# The metric stream of this region and its Firehose, which writes directly under metrics/ and errors/ of
# the bucket: modules/regional-stream, which also serves every further region.

module "stream" {
  source = "./modules/regional-stream"

  name        = var.name
  home_region = true
  tags        = var.tags

  iam_role_path                 = var.iam_role_path
  iam_role_permissions_boundary = var.iam_role_permissions_boundary

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
