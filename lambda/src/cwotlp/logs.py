"""Structured JSON logs: one object per line, the fields of `extra` at the top level.

Inside Lambda with the JSON log format, the runtime's own handler already writes records that way (and
adds the request id), so it is kept; everywhere else cwotlp writes its records itself.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson

_STANDARD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD_FIELDS)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure(level: str) -> None:
    logger = logging.getLogger("cwotlp")
    logger.setLevel(level)
    # botocore's DEBUG output includes response bodies, and GetSecretValue's body is the secret; urllib3
    # logs request lines, query strings included. Whatever level an operator sets, they stay quiet.
    for library in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(library).setLevel(logging.WARNING)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON" or logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.propagate = False
