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
  # The secret's URLs as the forwarder takes them: http(s) in any case, a host, no user info; group 1
  # an IPv6 address in brackets, group 2 the port.
  secret_url_pattern = "^(?i:https?)://(?:\\[([0-9A-Fa-f:.]+)\\]|[^\\s/?#@:\\[\\]]+)(?::([0-9]*))?(?:[/?#]\\S*)?$"
}

################################################################################
# General
################################################################################

variable "name" {
  description = "Prefix of every resource name (bucket prefix, Firehose stream, metric stream, Lambda, roles, queue, secret, log groups)."
  type        = string
  default     = "cwotlp"

  validation {
    # 32 keeps the longest derived names inside their limits: the bucket prefix (37), IAM roles and the Lambda (64).
    condition = (
      length(var.name) >= 1 && length(var.name) <= 32 &&
      can(regex("^[a-z][a-z0-9-]*[a-z0-9]$|^[a-z]$", var.name)) && !strcontains(var.name, "--")
    )
    error_message = "name must be 1 to 32 characters of lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen, for example \"cwotlp-prod\"."
  }
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
# S3 bucket
################################################################################

variable "create_bucket" {
  description = "Create the S3 bucket that receives the Firehose objects. Set to false and give bucket_arn to use an existing bucket (its encryption, policy and lifecycle stay yours; this module replaces its event notification configuration)."
  type        = bool
  default     = true
  nullable    = false
}

variable "bucket_arn" {
  description = "ARN of an existing S3 bucket to use when create_bucket is false."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_arn == null || can(regex("^arn:aws[a-z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_arn))
    error_message = "bucket_arn must be an S3 bucket ARN such as \"arn:aws:s3:::my-metrics-bucket\" (no object path)."
  }

  validation {
    condition     = var.create_bucket == (var.bucket_arn == null)
    error_message = "Give bucket_arn exactly when create_bucket is false: set create_bucket = false to use an existing bucket, or remove bucket_arn to let the module create one."
  }
}

variable "s3_kms_key_arn" {
  description = "ARN of a KMS key, in the module's region, for the bucket's default encryption and the Firehose objects. Null uses SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.s3_kms_key_arn == null || can(regex(local.kms_key_arn_pattern, var.s3_kms_key_arn))
    error_message = "s3_kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not an alias), or null for SSE-S3."
  }
}

variable "s3_lifecycle" {
  description = "Days after which the created bucket deletes delivered objects (metrics/) with their progress markers, failed deliveries (errors/) and incomplete multipart uploads. A replay can deliver an object only until then: keep metrics_expiration_days at least as long as lambda_failure_queue keeps its messages (14 days each by default)."
  type = object({
    metrics_expiration_days                = optional(number, 14)
    errors_expiration_days                 = optional(number, 14)
    abort_incomplete_multipart_upload_days = optional(number, 1)
  })
  default  = {}
  nullable = false

  validation {
    condition = alltrue([
      for days in values(var.s3_lifecycle) : days >= 1 && days <= 3650 && floor(days) == days
    ])
    error_message = "Every s3_lifecycle value must be a whole number of days from 1 to 3650, for example { metrics_expiration_days = 7 }."
  }
}

variable "s3_force_destroy" {
  description = "Let terraform destroy delete the created bucket even when it still holds objects."
  type        = bool
  default     = false
  nullable    = false
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
  description = "Record format of the metric stream: \"json\" (newline-delimited JSON; Firehose appends a newline to each record) or \"opentelemetry1.0\" (length-prefixed OTLP protobuf; Firehose adds no delimiter, which would break the framing). The forwarder reads both."
  type        = string
  default     = "json"
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

################################################################################
# Secret with the collector endpoint and credentials
################################################################################

variable "create_secret" {
  description = "Create the Secrets Manager secret from secret_value. Set to false and give secret_arn to use an existing secret (then nothing is created and secret_value is ignored)."
  type        = bool
  default     = true
  nullable    = false
}

variable "secret_arn" {
  description = "ARN of an existing secret holding the collector JSON, used when create_secret is false."
  type        = string
  default     = null

  validation {
    condition     = var.secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+-[A-Za-z0-9]{6}$", var.secret_arn))
    error_message = "secret_arn must be the full ARN of a Secrets Manager secret, with the six characters Secrets Manager adds to the name, such as \"arn:aws:secretsmanager:eu-west-1:111122223333:secret:otlp-AbCdEf\" (the policy that lets the forwarder read it names this ARN)."
  }

  validation {
    condition     = var.create_secret == (var.secret_arn == null)
    error_message = "Give secret_arn exactly when create_secret is false: set create_secret = false to use an existing secret, or remove secret_arn to let the module create one."
  }
}

variable "secret_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the secret (the created one, or the existing secret_arn), in the secret's region, which the Lambda may decrypt with. Null uses the AWS managed key."
  type        = string
  default     = null

  validation {
    condition     = var.secret_kms_key_arn == null || can(regex(local.kms_key_arn_pattern, var.secret_kms_key_arn))
    error_message = "secret_kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not an alias), or null for the AWS managed key."
  }
}

variable "secret_value" {
  description = "Collector endpoint and credentials written to the created secret: endpoint plus OAuth2 client credentials (token_url, client_id, client_secret, optional audience and scope), static headers, or both. Ephemeral: it never enters the plan or the state."
  type = object({
    endpoint      = string
    token_url     = optional(string)
    client_id     = optional(string)
    client_secret = optional(string)
    audience      = optional(string)
    scope         = optional(string)
    headers       = optional(map(string))
    allow_http    = optional(bool)
  })
  default   = null
  sensitive = true
  ephemeral = true

  # Terraform evaluates both sides of || and &&, so each rule needs a conditional for the null case.
  validation {
    condition = var.secret_value == null ? true : alltrue([
      for url in concat([var.secret_value.endpoint], compact([var.secret_value.token_url])) :
      can(regex("^(?i)https://", url)) || (can(regex("^(?i)http://", url)) && var.secret_value.allow_http == true)
    ])
    error_message = "secret_value.endpoint and secret_value.token_url must be URLs starting with https://; a plain http:// URL sends credentials unencrypted and needs allow_http = true (for a collector and token endpoint on a trusted network)."
  }

  validation {
    # compact() drops empty fields as well as null ones: the forwarder reads an empty field as a missing one.
    condition = var.secret_value == null ? true : (
      length(compact([var.secret_value.token_url, var.secret_value.client_id, var.secret_value.client_secret])) == 3 || (
        length(compact([
          var.secret_value.token_url, var.secret_value.client_id, var.secret_value.client_secret,
          var.secret_value.audience, var.secret_value.scope,
        ])) == 0 &&
        length(coalesce(var.secret_value.headers, {})) > 0
      )
    )
    error_message = "secret_value needs all of token_url, client_id and client_secret (OAuth2 client credentials, with optional audience and scope, and optional extra headers such as a tenant), or at least one header in headers (an API key) and no OAuth2 field: the forwarder refuses a secret without credentials."
  }

  validation {
    condition = var.secret_value == null ? true : alltrue([
      for url in concat([var.secret_value.endpoint], compact([var.secret_value.token_url])) :
      can(regex(local.secret_url_pattern, url)) && try(
        tonumber(regex(local.secret_url_pattern, url)[1]) >= 1 && tonumber(regex(local.secret_url_pattern, url)[1]) <= 65535,
        true # no port: the scheme's
      )
    ])
    error_message = "secret_value.endpoint and secret_value.token_url must each be a URL with a host, such as \"https://otlp.example.com\": no spaces or control characters, no user or password before the host (put credentials in their fields), and a port, if any, from 1 to 65535."
  }

  validation {
    # The forwarder's URL parser refuses brackets that hold anything but an IPv6 address; cidrhost() reads
    # only a valid one with a /128 prefix (an IPv4 address has at most /32).
    condition = var.secret_value == null ? true : alltrue([
      for url in concat([var.secret_value.endpoint], compact([var.secret_value.token_url])) :
      try(regex(local.secret_url_pattern, url)[0], null) == null ? true : can(cidrhost("${regex(local.secret_url_pattern, url)[0]}/128", 0))
    ])
    error_message = "A host in brackets in secret_value.endpoint or secret_value.token_url must be an IPv6 address, such as \"https://[2001:db8::1]:4318\"; write other hosts without brackets."
  }

  validation {
    # Counted in code points, as the forwarder counts: length() counts what a reader sees as one
    # character, and "q" with a combining accent is one of those but two code points.
    condition = var.secret_value == null ? true : alltrue([
      for text in compact([
        var.secret_value.endpoint, var.secret_value.token_url, var.secret_value.client_id,
        var.secret_value.client_secret, var.secret_value.audience, var.secret_value.scope,
      ]) : length(regexall("(?s).", text)) <= 8192 && can(regex("^(?:[^\\p{C}\\p{Z}]| )*$", text))
    ])
    error_message = "secret_value's fields must each be at most 8192 characters, without line breaks, tabs or other control or invisible characters (a value copied with its trailing newline, say)."
  }

  validation {
    condition = var.secret_value == null ? true : alltrue([
      for name, value in coalesce(var.secret_value.headers, {}) :
      value == null ? false : (
        can(regex("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", name)) && can(regex("^[\\x20-\\x7e\\t]*$", value)) && value == trimspace(value)
      )
    ])
    error_message = "secret_value.headers must map HTTP header names (letters, digits and !#$%&'*+-.^_`|~) to values of visible ASCII characters and spaces, without line breaks, leading or trailing spaces, or null."
  }

  validation {
    condition = var.secret_value == null ? true : (
      length(compact([var.secret_value.token_url])) == 0 ||
      !contains([for header in keys(coalesce(var.secret_value.headers, {})) : lower(header)], "authorization")
    )
    error_message = "secret_value.headers must not set Authorization together with token_url: the forwarder sends the OAuth2 token in that header. Remove the header, or remove token_url, client_id and client_secret to authenticate with the header alone."
  }
}

variable "secret_value_version" {
  description = "Version of secret_value. Terraform cannot see changes of an ephemeral value: increase this number to write a new secret_value."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.secret_value_version >= 1 && floor(var.secret_value_version) == var.secret_value_version
    error_message = "secret_value_version must be a whole number from 1 up; increase it by one each time secret_value changes."
  }
}

variable "secret_recovery_window_days" {
  description = "Days Secrets Manager keeps the created secret after deletion before removing it for good (0 deletes at once)."
  type        = number
  default     = 7
  nullable    = false

  validation {
    condition = (
      var.secret_recovery_window_days == 0 || (
        var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30 &&
        floor(var.secret_recovery_window_days) == var.secret_recovery_window_days
      )
    )
    error_message = "secret_recovery_window_days must be 0 (delete at once) or a whole number from 7 to 30."
  }
}

################################################################################
# Lambda forwarder
################################################################################

variable "lambda_runtime" {
  description = "Python runtime of the Lambda; the deployment package is built for it."
  type        = string
  default     = "python3.13"
  nullable    = false

  validation {
    condition     = can(regex("^python3\\.1[1-9]$", var.lambda_runtime))
    error_message = "lambda_runtime must be a Lambda Python runtime from python3.11 up (the forwarder needs Python 3.11 or later), for example \"python3.13\"."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the Lambda: arm64 (cheaper per GB-second) or x86_64; the deployment package is built for it."
  type        = string
  default     = "arm64"
  nullable    = false

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "lambda_memory_size" {
  description = "Memory of the Lambda in MB (CPU grows with it)."
  type        = number
  default     = 512
  nullable    = false

  validation {
    condition = (
      var.lambda_memory_size >= 128 && var.lambda_memory_size <= 10240 &&
      floor(var.lambda_memory_size) == var.lambda_memory_size
    )
    error_message = "lambda_memory_size must be a whole number of MB from 128 to 10240; 512 suits Firehose objects of a few MB."
  }
}

variable "lambda_timeout" {
  description = "Timeout of one Lambda invocation, in seconds."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.lambda_timeout >= 10 && var.lambda_timeout <= 900 && floor(var.lambda_timeout) == var.lambda_timeout
    error_message = "lambda_timeout must be a whole number of seconds from 10 to 900 (the Lambda maximum); leave room for the exporter's retries."
  }
}

variable "lambda_reserved_concurrency" {
  description = "Reserved concurrent executions of the Lambda, which also caps the load on the collector. Null leaves the function on the account's unreserved pool."
  type        = number
  default     = null

  validation {
    condition = (
      var.lambda_reserved_concurrency == null ||
      try(var.lambda_reserved_concurrency >= 1 && floor(var.lambda_reserved_concurrency) == var.lambda_reserved_concurrency, false)
    )
    error_message = "lambda_reserved_concurrency must be a whole number from 1 up, or null for no reservation (0 would stop the forwarder)."
  }
}

variable "lambda_vpc_config" {
  description = "Subnets and security groups to run the forwarder in a VPC, which must then reach S3, Secrets Manager, STS and the collector (docs/deployment.md). Null runs it outside any VPC."
  type = object({
    subnet_ids         = list(string)
    security_group_ids = list(string)
  })
  default = null

  validation {
    condition = var.lambda_vpc_config == null ? true : (
      length(var.lambda_vpc_config.subnet_ids) >= 1 && length(var.lambda_vpc_config.subnet_ids) <= 16 &&
      alltrue([for id in var.lambda_vpc_config.subnet_ids : can(regex("^subnet-([0-9a-f]{8}|[0-9a-f]{17})$", id))])
    )
    error_message = "lambda_vpc_config.subnet_ids must list 1 to 16 subnet IDs such as \"subnet-0123456789abcdef0\", ideally in several availability zones."
  }

  validation {
    condition = var.lambda_vpc_config == null ? true : (
      length(var.lambda_vpc_config.security_group_ids) >= 1 && length(var.lambda_vpc_config.security_group_ids) <= 5 &&
      alltrue([for id in var.lambda_vpc_config.security_group_ids : can(regex("^sg-([0-9a-f]{8}|[0-9a-f]{17})$", id))])
    )
    error_message = "lambda_vpc_config.security_group_ids must list 1 to 5 security group IDs such as \"sg-0123456789abcdef0\" that allow outbound HTTPS."
  }
}

variable "lambda_log_retention_days" {
  description = "Retention of the Lambda's log group, in days."
  type        = number
  default     = 14
  nullable    = false

  validation {
    condition     = contains(local.log_retention_days, var.lambda_log_retention_days)
    error_message = "lambda_log_retention_days must be one of the values CloudWatch Logs accepts: ${join(", ", local.log_retention_days)}."
  }
}

variable "lambda_log_level" {
  description = "Log level of the forwarder (CWOTLP_LOG_LEVEL) and of the Lambda's JSON application logs."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.lambda_log_level)
    error_message = "lambda_log_level must be one of \"DEBUG\", \"INFO\", \"WARNING\" or \"ERROR\" (upper case)."
  }
}

variable "lambda_service_name" {
  description = "Resource attribute service.name of the forwarded metrics."
  type        = string
  default     = "aws-cloudwatch-stream"
  nullable    = false

  validation {
    condition     = length(trimspace(var.lambda_service_name)) > 0
    error_message = "lambda_service_name must not be empty; the default is \"aws-cloudwatch-stream\"."
  }
}

variable "lambda_resource_attributes" {
  description = "Extra resource attributes added to every forwarded metric."
  type        = map(string)
  default     = { environment = "production" }
  nullable    = false

  validation {
    condition = alltrue([
      for k in keys(var.lambda_resource_attributes) : length(trimspace(k)) > 0 && !startswith(k, "cloud.") && k != "service.name"
    ])
    error_message = "lambda_resource_attributes keys must be non-empty and must not set cloud.* or service.name (the forwarder sets those; use lambda_service_name for service.name)."
  }

  validation {
    condition     = alltrue([for value in values(var.lambda_resource_attributes) : value != null])
    error_message = "lambda_resource_attributes values must be strings, not null (a variable left unset, say): the forwarder refuses the setting otherwise."
  }
}

variable "lambda_dimension_attributes" {
  description = "Add one datapoint attribute per CloudWatch dimension, besides the Dimensions JSON attribute."
  type        = bool
  default     = false
  nullable    = false
}

variable "lambda_naming" {
  description = "How the forwarder names metrics: \"cloudwatch\" (amazonaws.com/<namespace>/<metric>), \"otel\" (the OpenTelemetry Collector's awsfirehosereceiver), \"native\" (the shape of CloudWatch's OpenTelemetry 1.0 output) or \"prometheus\" (a gauge per statistic, YACE-compatible names and labels)."
  type        = string
  default     = "cloudwatch"
  nullable    = false

  validation {
    condition     = contains(["cloudwatch", "otel", "native", "prometheus"], var.lambda_naming)
    error_message = "lambda_naming must be \"cloudwatch\", \"otel\", \"native\" or \"prometheus\"."
  }
}

variable "lambda_account_region_attributes" {
  description = "Whether every datapoint also carries its account and region as attributes. Null keeps the default of lambda_naming, which is on for \"prometheus\" only."
  type        = bool
  default     = null
}

variable "lambda_otlp_encoding" {
  description = "Encoding of the OTLP/HTTP requests: \"json\" or \"protobuf\" (about half the size before gzip; make bench shows both after gzip)."
  type        = string
  default     = "json"
  nullable    = false

  validation {
    condition     = contains(["json", "protobuf"], var.lambda_otlp_encoding)
    error_message = "lambda_otlp_encoding must be \"json\" or \"protobuf\"."
  }
}

variable "lambda_metric_rules" {
  description = "Drop and keep rules the forwarder applies to each record before conversion, where the metric stream's filters are too coarse: globs on namespace, metric_name and dimension values (docs/deployment.md). A record is dropped when a drop rule matches it, or when keep rules exist and none matches it."
  type = list(object({
    action      = string
    namespace   = optional(string, "*")
    metric_name = optional(string, "*")
    dimensions  = optional(map(string), {})
  }))
  default  = []
  nullable = false

  validation {
    condition     = alltrue([for r in var.lambda_metric_rules : try(contains(["drop", "keep"], r.action), false)])
    error_message = "Each lambda_metric_rules entry needs action = \"drop\" or \"keep\"."
  }

  validation {
    condition = alltrue([
      for r in var.lambda_metric_rules :
      try(length(r.namespace) > 0 && length(r.metric_name) > 0 && alltrue([for k, v in r.dimensions : length(k) > 0 && length(v) > 0]), false)
    ])
    error_message = "lambda_metric_rules globs must not be empty: leave namespace or metric_name out (or use \"*\") to match any, and give each dimension a non-empty name and value glob."
  }

  validation {
    # The rules travel in CWOTLP_RULES, and Lambda allows 4 KB for all environment variables together,
    # counted in bytes. Base64 writes 4 characters for every 3 bytes: 4096 of them hold at most 3072 bytes.
    condition     = length(base64encode(jsonencode(var.lambda_metric_rules))) <= 4096
    error_message = "lambda_metric_rules must fit in 3072 bytes of JSON (Lambda allows 4 KB of environment variables in all): merge rules with globs, such as metric_name = \"*Bytes\", or narrow the stream with metric_stream_namespaces instead."
  }
}

variable "lambda_resource_tags" {
  description = "Adds the tags tag_keys of each metric's AWS resource as attributes, read with the Resource Groups Tagging API (in linked accounts through the role linked_account_role_name) and cached for cache_ttl_seconds. Off by default."
  type = object({
    enabled                  = optional(bool, false)
    tag_keys                 = optional(list(string), [])
    linked_account_role_name = optional(string)
    cache_ttl_seconds        = optional(number, 900)
  })
  default  = {}
  nullable = false

  validation {
    condition     = !var.lambda_resource_tags.enabled || length(var.lambda_resource_tags.tag_keys) > 0
    error_message = "lambda_resource_tags.enabled = true needs at least one tag key in tag_keys, for example [\"team\", \"environment\"]."
  }

  validation {
    condition = (
      length(var.lambda_resource_tags.tag_keys) <= 20 &&
      alltrue([for key in var.lambda_resource_tags.tag_keys : try(length(key) >= 1 && length(key) <= 128, false)])
    )
    error_message = "lambda_resource_tags.tag_keys may hold up to 20 tag keys of 1 to 128 characters each (the AWS limit of a tag key)."
  }

  validation {
    condition = (
      var.lambda_resource_tags.linked_account_role_name == null ||
      can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.lambda_resource_tags.linked_account_role_name))
    )
    error_message = "lambda_resource_tags.linked_account_role_name must be an IAM role name (1 to 64 letters, digits and +=,.@_-), the same in every linked account, or null."
  }

  validation {
    condition = (
      var.lambda_resource_tags.cache_ttl_seconds >= 60 && var.lambda_resource_tags.cache_ttl_seconds <= 86400 &&
      floor(var.lambda_resource_tags.cache_ttl_seconds) == var.lambda_resource_tags.cache_ttl_seconds
    )
    error_message = "lambda_resource_tags.cache_ttl_seconds must be a whole number from 60 to 86400; tag changes reach the metrics after at most this long."
  }
}

variable "lambda_exporter" {
  description = "Tuning of the OTLP exporter and the secret cache."
  type = object({
    max_request_bytes       = optional(number, 3145728)
    max_retries             = optional(number, 5)
    request_timeout_seconds = optional(number, 15)
    secret_ttl_seconds      = optional(number, 300)
  })
  default  = {}
  nullable = false

  validation {
    condition = (
      var.lambda_exporter.max_request_bytes >= 65536 && var.lambda_exporter.max_request_bytes <= 67108864 &&
      floor(var.lambda_exporter.max_request_bytes) == var.lambda_exporter.max_request_bytes
    )
    error_message = "lambda_exporter.max_request_bytes must be a whole number from 65536 to 67108864 (64 KiB to 64 MiB); match your collector's request size limit."
  }

  validation {
    condition = (
      var.lambda_exporter.max_retries >= 0 && var.lambda_exporter.max_retries <= 10 &&
      floor(var.lambda_exporter.max_retries) == var.lambda_exporter.max_retries
    )
    error_message = "lambda_exporter.max_retries must be a whole number from 0 to 10; Lambda's own async retries come on top."
  }

  validation {
    condition = (
      var.lambda_exporter.request_timeout_seconds >= 1 &&
      var.lambda_exporter.request_timeout_seconds <= 300 &&
      var.lambda_exporter.request_timeout_seconds < var.lambda_timeout
    )
    error_message = "lambda_exporter.request_timeout_seconds must be from 1 to 300 and below lambda_timeout (leave room for retries), for example 15."
  }

  validation {
    condition = (
      var.lambda_exporter.secret_ttl_seconds >= 0 && var.lambda_exporter.secret_ttl_seconds <= 86400 &&
      floor(var.lambda_exporter.secret_ttl_seconds) == var.lambda_exporter.secret_ttl_seconds
    )
    error_message = "lambda_exporter.secret_ttl_seconds must be a whole number from 0 to 86400; rotated credentials take effect after at most this long."
  }
}

variable "lambda_async_invoke" {
  description = "Lambda's handling of failed asynchronous invocations: retries, then the on-failure queue once retries or the maximum event age run out."
  type = object({
    maximum_retry_attempts       = optional(number, 2)
    maximum_event_age_in_seconds = optional(number, 21600)
  })
  default  = {}
  nullable = false

  validation {
    condition     = contains([0, 1, 2], var.lambda_async_invoke.maximum_retry_attempts)
    error_message = "lambda_async_invoke.maximum_retry_attempts must be 0, 1 or 2 (the Lambda limits)."
  }

  validation {
    condition = (
      var.lambda_async_invoke.maximum_event_age_in_seconds >= 60 &&
      var.lambda_async_invoke.maximum_event_age_in_seconds <= 21600 &&
      floor(var.lambda_async_invoke.maximum_event_age_in_seconds) == var.lambda_async_invoke.maximum_event_age_in_seconds
    )
    error_message = "lambda_async_invoke.maximum_event_age_in_seconds must be a whole number from 60 to 21600 (six hours, the Lambda limits)."
  }
}

variable "lambda_failure_queue" {
  description = "The SQS queue that receives failed invocations: message retention and an optional KMS key in the module's region (null uses SQS managed encryption). A message can be replayed only while the objects it names still exist (s3_lifecycle.metrics_expiration_days on a created bucket)."
  type = object({
    message_retention_seconds = optional(number, 1209600)
    kms_key_arn               = optional(string)
  })
  default  = {}
  nullable = false

  validation {
    condition = (
      var.lambda_failure_queue.message_retention_seconds >= 60 &&
      var.lambda_failure_queue.message_retention_seconds <= 1209600 &&
      floor(var.lambda_failure_queue.message_retention_seconds) == var.lambda_failure_queue.message_retention_seconds
    )
    error_message = "lambda_failure_queue.message_retention_seconds must be a whole number from 60 to 1209600 (14 days, the SQS maximum and the default)."
  }

  validation {
    condition = (
      var.lambda_failure_queue.kms_key_arn == null ||
      can(regex(local.kms_key_arn_pattern, var.lambda_failure_queue.kms_key_arn))
    )
    error_message = "lambda_failure_queue.kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not an alias), or null for SQS managed encryption."
  }
}

variable "lambda_package_path" {
  description = "Path of a prebuilt deployment package (make package writes dist/cwotlp-lambda.zip) for runners without Python. Null builds the package during apply with lambda/build.py."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_package_path == null ? true : fileexists(var.lambda_package_path)
    error_message = "lambda_package_path must name an existing deployment package (make package writes dist/cwotlp-lambda.zip; relative paths start at the root module), or be null to build the package during apply."
  }
}

################################################################################
# Monitoring of the pipeline itself
################################################################################

variable "monitoring" {
  description = "CloudWatch alarms on every stage of the pipeline and a dashboard, notifying sns_topic_arn (in the module's region), a created topic (create_sns_topic) or nobody; thresholds are counts per five minutes and ages in seconds. docs/deployment.md describes each alarm."
  type = object({
    enabled                                = optional(bool, true)
    create_dashboard                       = optional(bool, true)
    create_sns_topic                       = optional(bool, false)
    sns_topic_arn                          = optional(string)
    sns_kms_key_arn                        = optional(string)
    lambda_errors_threshold                = optional(number, 1)
    lambda_throttles_threshold             = optional(number, 1)
    failure_queue_messages_threshold       = optional(number, 1)
    failure_queue_age_seconds              = optional(number)
    firehose_freshness_seconds             = optional(number)
    metric_stream_publish_errors_threshold = optional(number, 0)
  })
  default  = {}
  nullable = false

  validation {
    condition = (
      var.monitoring.sns_topic_arn == null ||
      can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.monitoring.sns_topic_arn))
    )
    error_message = "monitoring.sns_topic_arn must be the ARN of a standard SNS topic in the module's region, such as \"arn:aws:sns:eu-west-1:111122223333:alerts\"."
  }

  validation {
    condition     = !(var.monitoring.create_sns_topic && var.monitoring.sns_topic_arn != null)
    error_message = "Set either monitoring.create_sns_topic = true or monitoring.sns_topic_arn, not both."
  }

  validation {
    condition = (
      var.monitoring.sns_kms_key_arn == null ||
      (var.monitoring.create_sns_topic && can(regex(local.kms_key_arn_pattern, var.monitoring.sns_kms_key_arn)))
    )
    error_message = "monitoring.sns_kms_key_arn must be a KMS key ARN such as \"${local.kms_key_arn_example}\" (not alias/aws/sns, which CloudWatch alarms cannot use), and only goes with create_sns_topic = true."
  }

  validation {
    condition = alltrue([
      for n in [
        var.monitoring.lambda_errors_threshold, var.monitoring.lambda_throttles_threshold,
        var.monitoring.failure_queue_messages_threshold,
      ] : n >= 1 && floor(n) == n
    ])
    error_message = "monitoring.lambda_errors_threshold, lambda_throttles_threshold and failure_queue_messages_threshold must be whole numbers from 1 up (1 alarms on the first one)."
  }

  # Checked only with the alarms on: these thresholds mean nothing without them.
  validation {
    condition = (
      !var.monitoring.enabled || var.monitoring.failure_queue_age_seconds == null ? true : (
        var.monitoring.failure_queue_age_seconds >= 1 &&
        var.monitoring.failure_queue_age_seconds < var.lambda_failure_queue.message_retention_seconds
      )
    )
    error_message = "monitoring.failure_queue_age_seconds must be at least 1 and below lambda_failure_queue.message_retention_seconds, so the alarm fires before failed events expire unreplayed; leave it out for a day, or half the retention when that is shorter."
  }

  validation {
    condition = (
      !var.monitoring.enabled || var.monitoring.firehose_freshness_seconds == null ? true : (
        var.monitoring.firehose_freshness_seconds > var.firehose_buffering.interval_seconds &&
        var.monitoring.firehose_freshness_seconds <= 86400
      )
    )
    error_message = "monitoring.firehose_freshness_seconds must exceed firehose_buffering.interval_seconds (records wait that long by design) and be at most 86400 (Firehose keeps undelivered records for a day); leave it out for 900 seconds, or twice the interval when that is longer."
  }

  validation {
    condition     = var.monitoring.metric_stream_publish_errors_threshold >= 0
    error_message = "monitoring.metric_stream_publish_errors_threshold must be 0 or more; 0 alarms on any publish error."
  }
}
