# The metric stream, its Firehose, their roles and log group at the addresses where the root module kept
# them before it called modules/regional-stream, with the names it gave them for name = "cwotlp". Only
# the state matters here: tests/upgrade.tftest.hcl applies this with a mock provider, then plans the root
# module on that state.

terraform {
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

resource "aws_cloudwatch_log_group" "firehose" {
  name = "/aws/kinesisfirehose/cwotlp-metrics"
}

resource "aws_cloudwatch_log_stream" "firehose" {
  name           = "DestinationDelivery"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_iam_role" "firehose" {
  name               = "cwotlp-firehose"
  assume_role_policy = "{}"
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-to-s3"
  role   = aws_iam_role.firehose.id
  policy = "{}"
}

resource "aws_iam_role" "metric_stream" {
  name               = "cwotlp-metric-stream"
  assume_role_policy = "{}"
}

resource "aws_iam_role_policy" "metric_stream" {
  name   = "put-records"
  role   = aws_iam_role.metric_stream.id
  policy = "{}"
}

resource "aws_kinesis_firehose_delivery_stream" "this" {
  name        = "cwotlp-metrics"
  destination = "extended_s3"

  extended_s3_configuration {
    role_arn   = aws_iam_role.firehose.arn
    bucket_arn = "arn:aws:s3:::cwotlp-20240101000000000000000001"
  }
}

resource "aws_cloudwatch_metric_stream" "this" {
  name          = "cwotlp"
  role_arn      = aws_iam_role.metric_stream.arn
  firehose_arn  = aws_kinesis_firehose_delivery_stream.this.arn
  output_format = "json"
}

output "arns" {
  value = {
    metric_stream      = aws_cloudwatch_metric_stream.this.arn
    metric_stream_role = aws_iam_role.metric_stream.arn
    firehose           = aws_kinesis_firehose_delivery_stream.this.arn
    firehose_role      = aws_iam_role.firehose.arn
  }
}
