"""The local Lambda context: it counts down as an invocation's does, from the module's default timeout
and with its default memory, as variables.tf sets them (and so does the bench's cold-start child)."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from cwotlp_local.lambda_context import LAMBDA_TIMEOUT_SECONDS, LambdaContext
from cwotlp_local.names import ModuleNames

ROOT = Path(__file__).resolve().parents[2]


def module_default(variable: str) -> float:
    """The default of one of the module's input variables, from variables.tf."""
    text = (ROOT / "variables.tf").read_text()
    found = re.search(rf'variable "{variable}" {{.*?\n  default\s*=\s*([\d.]+)\n', text, re.S)
    assert found, variable
    return float(found.group(1))


def test_the_lambda_context_counts_down_from_the_timeout() -> None:
    context = LambdaContext.of(ModuleNames("metrics-eu"), request_id="r-1", timeout_seconds=2)
    assert context.function_name == "metrics-eu-forwarder"
    assert (
        context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:metrics-eu-forwarder"
    )
    assert context.aws_request_id == "r-1"
    assert 1900 < context.get_remaining_time_in_millis() <= 2000
    time.sleep(0.2)
    assert context.get_remaining_time_in_millis() <= 1800
    assert LambdaContext(timeout_seconds=0).get_remaining_time_in_millis() == 0


def test_the_context_has_the_modules_default_timeout_and_memory() -> None:
    context = LambdaContext()
    assert context.timeout_seconds == module_default("lambda_timeout")
    assert 0 < module_default("lambda_timeout") * 1000 - context.get_remaining_time_in_millis() < 1000
    assert int(context.memory_limit_in_mb) == module_default("lambda_memory_size")


def test_the_bench_cold_start_has_the_modules_default_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    monkeypatch.delitem(sys.modules, "coldstart_child", raising=False)
    import coldstart_child

    assert (
        coldstart_child.LAMBDA_TIMEOUT_SECONDS == LAMBDA_TIMEOUT_SECONDS == module_default("lambda_timeout")
    )
