# The forwarder's least-privilege role: the Lambda may only read what it forwards and write its progress
# markers. The roles of the metric stream and Firehose are in modules/regional-stream.

locals {
  lambda_kms_keys = compact([var.secret_kms_key_arn, var.s3_kms_key_arn])

  lambda_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid      = "ReadDeliveredObjects"
          Effect   = "Allow"
          Action   = "s3:GetObject"
          Resource = "${local.bucket_arn}/${local.metrics_prefix}*"
        },
        {
          Sid      = "ReadAndWriteProgressMarkers"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject"]
          Resource = "${local.bucket_arn}/${local.progress_prefix}*"
        },
        {
          # The forwarder never lists (cwotlp replay does, with the operator's credentials). S3 answers the
          # GET of a missing key with 404 only to a caller that may list the bucket, and with 403 to others:
          # this tells a marker not written yet, and an object gone, from a refusal. S3 takes the requested
          # key as s3:prefix for that decision, so the keys the role reads are all the condition needs.
          Sid       = "ListDeliveredObjectsAndMarkers"
          Effect    = "Allow"
          Action    = "s3:ListBucket"
          Resource  = local.bucket_arn
          Condition = { StringLike = { "s3:prefix" = ["${local.metrics_prefix}*", "${local.progress_prefix}*"] } }
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
      var.s3_kms_key_arn == null ? [] : [
        {
          # Progress markers are written under the bucket's default encryption.
          Sid      = "EncryptProgressMarkers"
          Effect   = "Allow"
          Action   = "kms:GenerateDataKey"
          Resource = var.s3_kms_key_arn
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
      var.lambda_resource_tags.enabled ? [
        {
          # GetResources has no resource-level permissions: it takes "*" only.
          Sid      = "ReadResourceTags"
          Effect   = "Allow"
          Action   = "tag:GetResources"
          Resource = "*"
        },
      ] : [],
      var.lambda_resource_tags.enabled && var.lambda_resource_tags.linked_account_role_name != null ? [
        {
          Sid      = "ReadResourceTagsInLinkedAccounts"
          Effect   = "Allow"
          Action   = "sts:AssumeRole"
          Resource = "arn:${local.partition}:iam::*:role/${var.lambda_resource_tags.linked_account_role_name}"
        },
      ] : [],
      var.lambda_vpc_config == null ? [] : [
        {
          # What AWSLambdaVPCAccessExecutionRole grants for the function's network interfaces; these
          # EC2 actions are granted on "*" there too, as Lambda creates and describes the interfaces.
          Sid    = "ManageNetworkInterfacesInTheVpc"
          Effect = "Allow"
          Action = [
            "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
            "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
          ]
          Resource = "*"
        },
      ],
    )
  }
}

resource "aws_iam_role" "lambda" {
  name                 = local.names.role_lambda
  path                 = var.iam_role_path
  permissions_boundary = var.iam_role_permissions_boundary
  description          = "Lets the ${var.name} forwarder read delivered objects and its secret"
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
