# The bucket that receives the Firehose objects, or an existing one (create_bucket = false).

locals {
  bucket_name = var.create_bucket ? aws_s3_bucket.this[0].id : regex("^arn:[^:]+:s3:::(.+)$", var.bucket_arn)[0]
  bucket_arn  = var.create_bucket ? aws_s3_bucket.this[0].arn : var.bucket_arn
}

resource "aws_s3_bucket" "this" {
  count = var.create_bucket ? 1 : 0

  #checkov:skip=CKV_AWS_18:Objects are transient pipeline input read once by the Lambda; access logging would cost more than the data is worth. Enable it on a bucket of your own (bucket_arn) if you need it.
  #checkov:skip=CKV_AWS_21:Objects are written once and expire after two weeks by default; versioning would only keep deleted copies.
  #checkov:skip=CKV_AWS_144:Cross-region replication of short-lived metric objects is not useful; the metrics are already in CloudWatch.
  #checkov:skip=CKV_AWS_145:SSE-S3 is the default on purpose (no key to manage); set s3_kms_key_arn for SSE-KMS.
  #checkov:skip=CKV2_AWS_62:Event notifications are configured by aws_s3_bucket_notification.this (Lambda on metrics/).
  bucket_prefix = local.names.bucket_prefix
  force_destroy = var.s3_force_destroy

  tags = var.tags
}

resource "aws_s3_bucket_public_access_block" "this" {
  count = var.create_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.s3_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.s3_kms_key_arn
    }
    # S3 Bucket Keys cut the KMS requests (and their cost) of many small objects.
    bucket_key_enabled = var.s3_kms_key_arn != null
  }
}

resource "aws_s3_bucket_policy" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.this[0].arn, "${aws_s3_bucket.this[0].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })

  # The public access block must exist first, or S3 may judge the policy public.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    id     = "expire-metrics"
    status = "Enabled"

    filter {
      prefix = local.metrics_prefix
    }

    expiration {
      days = var.s3_lifecycle.metrics_expiration_days
    }
  }

  # A progress marker is of no use once its object has expired.
  rule {
    id     = "expire-progress-markers"
    status = "Enabled"

    filter {
      prefix = local.progress_prefix
    }

    expiration {
      days = var.s3_lifecycle.metrics_expiration_days
    }
  }

  rule {
    id     = "expire-errors"
    status = "Enabled"

    filter {
      prefix = local.errors_prefix
    }

    expiration {
      days = var.s3_lifecycle.errors_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {
      prefix = ""
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = var.s3_lifecycle.abort_incomplete_multipart_upload_days
    }
  }
}

# A queued failure is worth something only while the objects it names exist: replay reads them from the
# bucket. A bucket of your own (create_bucket = false) keeps objects as its own lifecycle says.
check "objects_outlive_their_failure_messages" {
  assert {
    condition = (
      !var.create_bucket ||
      var.s3_lifecycle.metrics_expiration_days * 86400 >= var.lambda_failure_queue.message_retention_seconds
    )
    error_message = "s3_lifecycle.metrics_expiration_days (${var.s3_lifecycle.metrics_expiration_days}) deletes delivered objects before the on-failure queue drops their events (lambda_failure_queue.message_retention_seconds = ${var.lambda_failure_queue.message_retention_seconds}): a replay after ${var.s3_lifecycle.metrics_expiration_days} days finds nothing to deliver. Set metrics_expiration_days to at least ${ceil(var.lambda_failure_queue.message_retention_seconds / 86400)}, or lower the retention."
  }
}

# Tells the Lambda about every object Firehose delivers under metrics/.
# This resource owns the bucket's whole notification configuration, also on an existing bucket.
resource "aws_s3_bucket_notification" "this" {
  bucket = local.bucket_name

  lambda_function {
    lambda_function_arn = aws_lambda_function.this.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = local.metrics_prefix
  }

  depends_on = [aws_lambda_permission.s3]
}
