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

  metric_stream_namespaces = local.namespaces
}
