# The metric stream, its Firehose and their roles were declared in the root module before it called
# modules/regional-stream (module.stream in metric_stream.tf); the moves keep them, with the same names
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
