# The smallest useful setup: three namespaces of one account streamed to one collector.

module "cloudwatch_otlp" {
  source = "../.."

  name = "cwotlp"

  metric_stream_namespaces = [
    { namespace = "AWS/EC2" },
    { namespace = "AWS/Lambda" },
    { namespace = "AWS/ApplicationELB" },
  ]

  secret_value = {
    endpoint      = var.endpoint
    token_url     = var.token_url
    client_id     = var.client_id
    client_secret = var.client_secret
  }
}
