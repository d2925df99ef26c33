# Metrics of two regions through one forwarder: the full pipeline in the central region, and a metric
# stream with its Firehose in the other region that writes into the central bucket. Add one
# regional-stream module block (and one provider alias) per further region.

locals {
  namespaces = [
    { namespace = "AWS/EC2" },
    { namespace = "AWS/Lambda" },
    { namespace = "AWS/ApplicationELB" },
  ]
}

module "cloudwatch_otlp" {
  source = "../.."

  name                     = "cwotlp"
  metric_stream_namespaces = local.namespaces

  tags                          = var.tags
  iam_role_path                 = var.iam_role_path
  iam_role_permissions_boundary = var.iam_role_permissions_boundary

  secret_value = {
    endpoint      = var.endpoint
    token_url     = var.token_url
    client_id     = var.client_id
    client_secret = var.client_secret
  }

  monitoring = { create_sns_topic = true }
}

module "stream_eu" {
  source = "../../modules/regional-stream"
  providers = {
    aws = aws.eu
  }

  name           = "cwotlp"
  bucket_arn     = module.cloudwatch_otlp.s3_bucket_arn
  s3_kms_key_arn = module.cloudwatch_otlp.s3_kms_key_arn

  # The one forwarder reads one format: the central stream's.
  metric_stream_output_format = module.cloudwatch_otlp.metric_stream_output_format
  metric_stream_namespaces    = local.namespaces

  # The roles of this region as the root module makes those of its own.
  tags                          = var.tags
  iam_role_path                 = var.iam_role_path
  iam_role_permissions_boundary = var.iam_role_permissions_boundary
}
