# The forwarder's least-privilege role: the Lambda may only read what it forwards. The roles of the
# metric stream and Firehose are in modules/regional-stream.

locals {
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
