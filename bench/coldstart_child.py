"""The Lambda side of the cold-start measurement, in a fresh interpreter: python coldstart_child.py RUN MARKS

RUN is a JSON file with the function ARN and two S3 events. The handler module is imported, the first
event handled (the cold object), then the second (a warm object, in the same process), the way Lambda
runs a new execution environment. MARKS receives the time.monotonic() of each step as JSON; the bench
took the same clock just before it started this process. Nothing else is imported before the handler.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

LAMBDA_TIMEOUT_SECONDS = 300.0  # the default of the module's lambda_timeout (variables.tf)


class Context:
    """The parts of Lambda's context object the handler uses."""

    def __init__(self, request_id: str, function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = function_arn
        self._deadline = time.monotonic() + LAMBDA_TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(run_path: str, marks_path: str) -> None:
    with open(run_path) as run_file:
        run = json.load(run_file)
    from cwotlp.handler import handler

    marks: dict[str, Any] = {"imported": time.monotonic()}
    for name, event in zip(("cold", "warm"), run["events"], strict=True):
        marks[f"{name}_started"] = time.monotonic()
        marks[f"{name}_result"] = handler(event, Context(f"bench-{name}", run["function_arn"]))
        marks[f"{name}_done"] = time.monotonic()
    with open(marks_path, "w") as marks_file:
        json.dump(marks, marks_file)


if __name__ == "__main__":
    main(*sys.argv[1:3])
