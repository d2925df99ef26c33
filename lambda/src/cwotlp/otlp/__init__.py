"""Building OTLP requests: naming records, encoding them as OTLP JSON or protobuf, cutting requests."""
