################################################################################
# Rules that several validations share
################################################################################

# Each rule is written once and referred to by the validations (Terraform >= 1.9 lets a validation
# refer to locals). The root module and modules/regional-stream hold the same locals, and
# tests/module/test_shared_variables.py fails when the two copies differ.
locals {
  kms_key_arn_pattern = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$"
  kms_key_arn_example = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-..."
  # The retention periods CloudWatch Logs accepts, in days.
  log_retention_days = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
  # IAM role paths: "/" or "/a/b/", at most 512 characters of printable ASCII.
  iam_role_path_pattern = "^/([!-~]*/)?$"
  # Customer or AWS managed IAM policies, which permissions boundaries are.
  iam_policy_arn_pattern = "^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/.+$"
}

################################################################################
# General
################################################################################

variable "name" {
  description = "Prefix of the resource names in this region (Firehose stream, metric stream, log group); the IAM roles, which are global, also carry the region unless home_region is set. The root module's name fits."
  type        = string
  default     = "cwotlp"

  validation {
    # 32 keeps the IAM role names (name, region and suffix) within 64 characters.
    condition = (
      length(var.name) >= 1 && length(var.name) <= 32 &&
      can(regex("^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$", var.name)) && !strcontains(var.name, "--")
    )
    error_message = "name must be 1 to 32 characters of lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen, for example \"cwotlp-prod\"."
  }
}

variable "home_region" {
  description = "Whether this is the stream of the central bucket's own region, which the root module creates with this module: its objects then land directly under metrics/ and errors/, and its IAM role names carry no region. Leave false in every further region."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Tags added to every resource that supports them."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    # AWS refuses these at apply, resource by resource; the provider's default_tags count towards the 50 too.
    # A null value is a placeholder the provider leaves out (hashicorp/aws 5.1 and later).
    condition = length([for value in values(var.tags) : value if value != null]) <= 50 && alltrue([
      for key, value in var.tags :
      length(key) >= 1 && length(key) <= 128 && !startswith(lower(key), "aws:") && (value == null ? true : length(value) <= 256)
    ])
    error_message = "tags may hold at most 50 tags (AWS's limit per resource, default_tags included), each key 1 to 128 characters not starting with \"aws:\" (reserved for AWS) and each value at most 256 characters."
  }
}

variable "iam_role_path" {
  description = "Path of every IAM role the module creates, such as \"/cwotlp/\" where an organisation groups roles by path."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.iam_role_path) <= 512 && can(regex(local.iam_role_path_pattern, var.iam_role_path))
    error_message = "iam_role_path must start and end with \"/\" and hold at most 512 printable ASCII characters, for example \"/\" or \"/observability/\"."
  }
}

variable "iam_role_permissions_boundary" {
  description = "ARN of the IAM policy set as the permissions boundary of every IAM role the module creates. Null sets none."
  type        = string
  default     = null

  validation {
    condition     = var.iam_role_permissions_boundary == null || can(regex(local.iam_policy_arn_pattern, var.iam_role_permissions_boundary))
    error_message = "iam_role_permissions_boundary must be the ARN of an IAM policy such as \"arn:aws:iam::111122223333:policy/boundary\", or null for none."
  }
}

################################################################################
# The central bucket (outputs of the root module)
################################################################################

variable "bucket_arn" {
  description = "ARN of the central bucket the root module's forwarder reads (its s3_bucket_arn output). Objects land under metrics/<region>/, failed deliveries under errors/<region>/ (directly under metrics/ and errors/ with home_region)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN such as \"arn:aws:s3:::cwotlp-20240101000000000000000001\" (no object path): pass the root module's s3_bucket_arn output."
  }
}

variable "s3_kms_key_arn" {
  description = "ARN of the KMS key of the central bucket's objects (the root module's s3_kms_key_arn output). Null for SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.s3_kms_key_arn == null || can(regex(local.kms_key_arn_pattern, var.s3_kms_key_arn))
    error_message = "s3_kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not an alias), or null for SSE-S3."
  }
}

################################################################################
# Firehose
################################################################################

variable "firehose_buffering" {
  description = "Firehose buffering hints: an object is written when either limit is reached. The defaults keep end-to-end latency near two to three minutes."
  type = object({
    size_mb          = optional(number, 5)
    interval_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false

  validation {
    condition = (
      var.firehose_buffering.size_mb >= 1 && var.firehose_buffering.size_mb <= 128 &&
      floor(var.firehose_buffering.size_mb) == var.firehose_buffering.size_mb
    )
    error_message = "firehose_buffering.size_mb must be a whole number from 1 to 128 (the Firehose limits for an S3 destination)."
  }

  validation {
    condition = (
      var.firehose_buffering.interval_seconds >= 0 && var.firehose_buffering.interval_seconds <= 900 &&
      floor(var.firehose_buffering.interval_seconds) == var.firehose_buffering.interval_seconds
    )
    error_message = "firehose_buffering.interval_seconds must be a whole number from 0 to 900 (the Firehose limits); 60 is a good value."
  }
}

variable "firehose_kms_key_arn" {
  description = "ARN of a customer managed KMS key, in the metric stream's region, for Firehose server-side encryption. Null uses an AWS owned key."
  type        = string
  default     = null

  validation {
    condition     = var.firehose_kms_key_arn == null || can(regex(local.kms_key_arn_pattern, var.firehose_kms_key_arn))
    error_message = "firehose_kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not an alias), or null for an AWS owned key."
  }
}

variable "firehose_log_retention_days" {
  description = "Retention of the Firehose delivery error log group, in days."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = contains(local.log_retention_days, var.firehose_log_retention_days)
    error_message = "firehose_log_retention_days must be one of the values CloudWatch Logs accepts: ${join(", ", local.log_retention_days)}."
  }
}

################################################################################
# Metric stream
################################################################################

variable "metric_stream_namespaces" {
  description = "Namespaces to stream (include filters), each optionally limited to some metric names. Empty streams every namespace, less metric_stream_exclude_namespaces."
  type = list(object({
    namespace    = string
    metric_names = optional(list(string), [])
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(var.metric_stream_namespaces) <= 1000
    error_message = "metric_stream_namespaces can hold at most 1000 entries (the metric stream limit); stream fewer namespaces or use metric_stream_exclude_namespaces."
  }

  validation {
    condition = alltrue([
      for f in var.metric_stream_namespaces :
      # try(): a null entry, namespace or metric name fails here with this message, not with length()'s error.
      try(
        length(f.namespace) >= 1 && length(f.namespace) <= 255 &&
        length(f.metric_names) <= 999 && alltrue([for m in f.metric_names : length(m) >= 1 && length(m) <= 255]),
        false
      )
    ])
    error_message = "Each metric_stream_namespaces entry needs a namespace of 1 to 255 characters (such as \"AWS/EC2\") and at most 999 metric_names of 1 to 255 characters each."
  }

  validation {
    condition = (
      length(distinct([for f in var.metric_stream_namespaces : try(f.namespace, null)])) ==
      length(var.metric_stream_namespaces)
    )
    error_message = "Each namespace may appear only once in metric_stream_namespaces: merge the metric_names of repeated entries."
  }

  validation {
    condition     = length(var.metric_stream_namespaces) == 0 || length(var.metric_stream_exclude_namespaces) == 0
    error_message = "Set either metric_stream_namespaces (include filters) or metric_stream_exclude_namespaces (exclude filters), not both: a metric stream accepts only one kind."
  }
}

variable "metric_stream_exclude_namespaces" {
  description = "Namespaces not to stream (exclude filters), each optionally limited to some metric names; the alternative to metric_stream_namespaces."
  type = list(object({
    namespace    = string
    metric_names = optional(list(string), [])
  }))
  default  = []
  nullable = false

  validation {
    condition     = length(var.metric_stream_exclude_namespaces) <= 1000
    error_message = "metric_stream_exclude_namespaces can hold at most 1000 entries (the metric stream limit)."
  }

  validation {
    condition = alltrue([
      for f in var.metric_stream_exclude_namespaces :
      # try(): a null entry, namespace or metric name fails here with this message, not with length()'s error.
      try(
        length(f.namespace) >= 1 && length(f.namespace) <= 255 &&
        length(f.metric_names) <= 999 && alltrue([for m in f.metric_names : length(m) >= 1 && length(m) <= 255]),
        false
      )
    ])
    error_message = "Each metric_stream_exclude_namespaces entry needs a namespace of 1 to 255 characters (such as \"AWS/Usage\") and at most 999 metric_names of 1 to 255 characters each."
  }

  validation {
    condition = (
      length(distinct([for f in var.metric_stream_exclude_namespaces : try(f.namespace, null)])) ==
      length(var.metric_stream_exclude_namespaces)
    )
    error_message = "Each namespace may appear only once in metric_stream_exclude_namespaces: merge the metric_names of repeated entries."
  }
}

variable "metric_stream_statistics" {
  description = "Percentiles streamed in addition to min, max, sum and count: each entry lists up to 20 percentiles (such as \"p99\") and the namespace/metric pairs (up to 100) that get them."
  type = list(object({
    additional_statistics = list(string)
    metrics = list(object({
      namespace   = string
      metric_name = string
    }))
  }))
  default  = []
  nullable = false

  validation {
    condition = alltrue([
      for s in var.metric_stream_statistics :
      try(
        length(s.additional_statistics) >= 1 && length(s.additional_statistics) <= 20 &&
        length(s.metrics) >= 1 && length(s.metrics) <= 100 && alltrue([
          for m in s.metrics :
          length(m.namespace) >= 1 && length(m.namespace) <= 255 && length(m.metric_name) >= 1 && length(m.metric_name) <= 255
        ]),
        false
      )
    ])
    error_message = "Each metric_stream_statistics entry needs 1 to 20 additional_statistics and 1 to 100 metrics (the metric stream limits), each metric a namespace and a metric_name of 1 to 255 characters; split larger lists into several entries."
  }

  validation {
    # The forwarder turns percentiles into summary quantiles; other statistics (TM, WM, PR, ...) would be dropped.
    condition = alltrue(flatten([
      for s in var.metric_stream_statistics : [for stat in try(coalesce(s.additional_statistics, []), []) : can(regex("^p[1-9][0-9]?(\\.[0-9]{1,10})?$", stat))]
    ]))
    error_message = "additional_statistics may only hold percentiles written as p followed by a number above 0 and below 100 without a leading zero, such as \"p50\", \"p99\" or \"p99.9\" (CloudWatch streams no p0 or p100: min and max are those): the forwarder sends percentiles as summary quantiles and has no place for other statistics."
  }

  validation {
    # p99 and p99.0 are one quantile: the forwarder would send one of them and count the other dropped.
    condition = alltrue([
      for s in var.metric_stream_statistics : try(
        length(distinct([for stat in s.additional_statistics : tonumber(substr(stat, 1, -1))])) == length(s.additional_statistics),
        true # not percentiles: the rule above says so
      )
    ])
    error_message = "Each metric_stream_statistics entry must name each percentile once: p99 and p99.0 (or p99 twice) are one statistic."
  }
}

variable "metric_stream_output_format" {
  description = "Record format of the metric stream, \"json\" or \"opentelemetry1.0\": the root module's (its metric_stream_output_format output), since its one forwarder reads one format. Firehose appends a newline to each JSON record and nothing to OpenTelemetry records, whose framing a delimiter would break."
  type        = string
  nullable    = false

  validation {
    condition     = contains(["json", "opentelemetry1.0"], var.metric_stream_output_format)
    error_message = "metric_stream_output_format must be \"json\" or \"opentelemetry1.0\" (the formats the forwarder reads; \"opentelemetry0.7\" is not supported)."
  }
}

variable "metric_stream_include_linked_accounts" {
  description = "In a CloudWatch cross-account monitoring account, also stream the metrics of the linked source accounts."
  type        = bool
  default     = false
  nullable    = false
}
