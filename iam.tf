# Least-privilege roles: the metric stream may only put records to its Firehose, Firehose may only
# write its prefixes and its log stream, and the Lambda may only read what it forwards.

locals {
  metric_stream_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "PutRecordsToTheDeliveryStream"
        Effect   = "Allow"
        Action   = ["firehose:PutRecord", "firehose:PutRecordBatch"]
        Resource = aws_kinesis_firehose_delivery_stream.this.arn
      },
    ]
  }

  firehose_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "WriteObjectsUnderItsPrefixes"
          Effect   = "Allow"
          Action   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
          Resource = ["${local.bucket_arn}/${local.metrics_prefix}*", "${local.bucket_arn}/${local.errors_prefix}*"]
        },
        {
          Sid      = "FindTheBucket"
          Effect   = "Allow"
          Action   = ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"]
          Resource = local.bucket_arn
        },
        {
          Sid       = "ListItsPrefixes"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = local.bucket_arn
          Condition = { StringLike = { "s3:prefix" = ["${local.metrics_prefix}*", "${local.errors_prefix}*"] } }
        },
        {
          Sid      = "LogDeliveryErrors"
          Effect   = "Allow"
          Action   = "logs:PutLogEvents"
          Resource = "${aws_cloudwatch_log_group.firehose.arn}:log-stream:${aws_cloudwatch_log_stream.firehose.name}"
        },
      ],
      var.s3_kms_key_arn == null ? [] : [
        {
          Sid      = "EncryptObjects"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource = var.s3_kms_key_arn
        },
      ],
    )
  }

  lambda_kms_keys = compact([var.secret_kms_key_arn, var.s3_kms_key_arn])

  lambda_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ReadAndTagDeliveredObjects"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:GetObjectTagging", "s3:PutObjectTagging"]
          Resource = "${local.bucket_arn}/${local.metrics_prefix}*"
        },
        {
          # The replay command lists delivered objects.
          Sid       = "ListDeliveredObjects"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = local.bucket_arn
          Condition = { StringLike = { "s3:prefix" = [local.metrics_prefix, "${local.metrics_prefix}*"] } }
        },
        {
          Sid      = "ReadTheCollectorSecret"
          Effect   = "Allow"
          Action   = "secretsmanager:GetSecretValue"
          Resource = local.secret_arn
        },
        {
          Sid      = "WriteItsLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
          Resource = "${aws_cloudwatch_log_group.lambda.arn}:*"
        },
        {
          Sid      = "SendFailedInvocations"
          Effect   = "Allow"
          Action   = "sqs:SendMessage"
          Resource = aws_sqs_queue.failures.arn
        },
      ],
      length(local.lambda_kms_keys) == 0 ? [] : [
        {
          Sid      = "DecryptSecretAndObjects"
          Effect   = "Allow"
          Action   = "kms:Decrypt"
          Resource = local.lambda_kms_keys
        },
      ],
      var.lambda_failure_queue.kms_key_arn == null ? [] : [
        {
          Sid      = "EncryptFailedInvocations"
          Effect   = "Allow"
          Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
          Resource = var.lambda_failure_queue.kms_key_arn
        },
      ],
    )
  }
}

resource "aws_iam_role" "metric_stream" {
  name        = local.names.role_stream
  description = "Lets the ${var.name} CloudWatch metric stream put records to its Firehose"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "streams.metrics.cloudwatch.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "aws:SourceAccount" = local.account_id } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "metric_stream" {
  name   = "put-records"
  role   = aws_iam_role.metric_stream.id
  policy = jsonencode(local.metric_stream_policy)
}

resource "aws_iam_role" "firehose" {
  name        = local.names.role_firehose
  description = "Lets the ${var.name} Firehose write objects and its error log"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "firehose.amazonaws.com" }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "sts:ExternalId" = local.account_id } }
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "firehose" {
  name   = "deliver-to-s3"
  role   = aws_iam_role.firehose.id
  policy = jsonencode(local.firehose_policy)
}

resource "aws_iam_role" "lambda" {
  name        = local.names.role_lambda
  description = "Lets the ${var.name} forwarder read delivered objects and its secret"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "lambda.amazonaws.com" }
        Action    = "sts:AssumeRole"
      },
    ]
  })

  tags = var.tags
}

resource "aws_iam_role_policy" "lambda" {
  name   = "forward-metrics"
  role   = aws_iam_role.lambda.id
  policy = jsonencode(local.lambda_policy)
}
