# Include filters, exclude filters, percentiles, linked-account metrics and the output format, planned on
# modules/regional-stream, which creates the metric stream and its Firehose for the root module and for
# every further region. validation.tftest.hcl checks that the root module rejects wrong values.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "111122223333" }
  }
}

variables {
  bucket_arn                  = "arn:aws:s3:::cwotlp-20240101000000000000000001"
  metric_stream_output_format = "json"
}

run "include_filters_from_namespaces" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_namespaces = [
      { namespace = "AWS/EC2" },
      { namespace = "AWS/ApplicationELB", metric_names = ["RequestCount", "TargetResponseTime"] },
    ]
  }

  assert {
    condition = aws_cloudwatch_metric_stream.this.include_filter == toset([
      { namespace = "AWS/EC2", metric_names = toset([]) },
      { namespace = "AWS/ApplicationELB", metric_names = toset(["RequestCount", "TargetResponseTime"]) },
    ])
    error_message = "Each namespace must become one include filter with its metric names."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_stream.this.exclude_filter) == 0
    error_message = "Include filters exclude exclude filters."
  }
}

run "exclude_filters_from_exclude_namespaces" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_exclude_namespaces = [
      { namespace = "AWS/Usage" },
      { namespace = "AWS/Logs", metric_names = ["IncomingBytes"] },
    ]
  }

  assert {
    condition = aws_cloudwatch_metric_stream.this.exclude_filter == toset([
      { namespace = "AWS/Usage", metric_names = toset([]) },
      { namespace = "AWS/Logs", metric_names = toset(["IncomingBytes"]) },
    ])
    error_message = "Each excluded namespace must become one exclude filter."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_stream.this.include_filter) == 0
    error_message = "Exclude filters exclude include filters."
  }
}

run "percentiles_per_metric" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_statistics = [
      {
        additional_statistics = ["p50", "p99", "p99.9"]
        metrics = [
          { namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime" },
          { namespace = "AWS/Lambda", metric_name = "Duration" },
        ]
      },
      {
        additional_statistics = ["p90"]
        metrics               = [{ namespace = "AWS/SQS", metric_name = "ApproximateAgeOfOldestMessage" }]
      },
    ]
    metric_stream_include_linked_accounts = true
  }

  assert {
    condition = aws_cloudwatch_metric_stream.this.statistics_configuration == toset([
      {
        additional_statistics = toset(["p50", "p99", "p99.9"])
        include_metric = toset([
          { namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime" },
          { namespace = "AWS/Lambda", metric_name = "Duration" },
        ])
      },
      {
        additional_statistics = toset(["p90"])
        include_metric        = toset([{ namespace = "AWS/SQS", metric_name = "ApproximateAgeOfOldestMessage" }])
      },
    ])
    error_message = "Each statistics entry must become one statistics configuration."
  }
  assert {
    condition     = aws_cloudwatch_metric_stream.this.include_linked_accounts_metrics
    error_message = "Linked-account metrics must be streamed when asked for."
  }
}

run "json_output_gets_newline_delimiters" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  assert {
    condition     = aws_cloudwatch_metric_stream.this.output_format == "json"
    error_message = "The metric stream must use the chosen output format."
  }
  assert {
    condition = (
      length(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration) == 1 &&
      one(one(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration).processors).type == "AppendDelimiterToRecord"
    )
    error_message = "JSON records must get Firehose's newline delimiter."
  }
}

run "opentelemetry_output_gets_no_delimiter" {
  command = plan

  module {
    source = "./modules/regional-stream"
  }

  variables {
    metric_stream_output_format = "opentelemetry1.0"
  }

  assert {
    condition     = aws_cloudwatch_metric_stream.this.output_format == "opentelemetry1.0"
    error_message = "The metric stream must use the chosen output format."
  }
  assert {
    condition     = length(one(aws_kinesis_firehose_delivery_stream.this.extended_s3_configuration).processing_configuration) == 0
    error_message = "A delimiter would corrupt the length-prefixed OpenTelemetry records: no processor may be configured."
  }
}
