"""The process settings the Lambda and the `cwotlp` command start with (cwotlp.process)."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import FIXTURES
from cwotlp.process import YOUNG_THRESHOLD

SINGLE = FIXTURES / "otel-contrib-cwmetricstream/single_record"


def run(script: str, **environment: str) -> str:
    """The last line a fresh interpreter prints, in this environment without cwotlp's or AWS's
    variables, and with those given."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("CWOTLP_", "AWS_"))}
    command = [sys.executable, "-c", script]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=60, env={**inherited, **environment}
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_cwotlp_command_walks_the_youngest_generation_less_often() -> None:
    script = (
        "import gc\nfrom cwotlp.commands.cli import main\n"
        f"main(['convert', {str(SINGLE)!r}])\nprint(gc.get_threshold())"
    )
    assert run(script) == f"({YOUNG_THRESHOLD}, 10, 10)"


def test_the_lambda_runtime_walks_the_youngest_generation_less_often() -> None:
    script = "import gc\nimport cwotlp.handler\ncwotlp.handler.runtime()\nprint(gc.get_threshold())"
    arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:cwotlp-endpoint-AbCdEf"
    threshold = run(script, CWOTLP_SECRET_ARN=arn, AWS_DEFAULT_REGION="us-east-1")
    assert threshold == f"({YOUNG_THRESHOLD}, 10, 10)"


def test_garbage_in_cycles_is_still_collected_without_being_asked() -> None:
    """Three thresholds' worth of objects in cycles, which reference counts never free: the collector
    frees most of them on its own."""
    script = f"""
from cwotlp.process import collect_cycles_less_often
collect_cycles_less_often()
freed = 0
class Node:
    def __del__(self):
        global freed
        freed += 1
for _ in range({3 * YOUNG_THRESHOLD}):
    first, second = Node(), Node()
    first.other, second.other = second, first
print(freed)
"""
    assert int(run(script)) > 2 * YOUNG_THRESHOLD
