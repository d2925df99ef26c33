"""Forward CloudWatch Metric Streams objects from S3 to an OpenTelemetry (OTLP/HTTP) collector."""

__version__ = "0.2.0"
