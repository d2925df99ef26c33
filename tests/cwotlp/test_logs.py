"""Structured logs outside Lambda: one JSON object per line with the extra fields at the top."""

from __future__ import annotations

import subprocess
import sys

import orjson

SCRIPT = """
import logging, os
os.environ.pop("AWS_LAMBDA_LOG_FORMAT", None)
from cwotlp import logs
logs.configure("INFO")
log = logging.getLogger("cwotlp")
log.debug("hidden")
log.info("object delivered", extra={"object": {"key": "k", "records": 3}})
"""


def test_log_lines_are_json_with_extras_on_top() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, timeout=60, check=True)
    [line] = result.stderr.splitlines()
    record = orjson.loads(line)
    assert record["level"] == "INFO"
    assert record["message"] == "object delivered"
    assert record["object"] == {"key": "k", "records": 3}
    assert record["timestamp"].endswith("Z")
