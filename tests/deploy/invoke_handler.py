"""Runs a deployed Lambda handler once, as Lambda's Python runtime would: the package's directory first on
sys.path, then the runtime's own libraries (boto3 and its dependencies), nothing else.

    python3.X -I -S invoke_handler.py CODE_DIR RUNTIME_DIR HANDLER EVENT_FILE FUNCTION_ARN TIMEOUT_SECONDS

Standard library only, so that nothing but the package and the runtime libraries can be imported. Prints the
handler's result as the last line, as JSON.
"""

import importlib
import json
import os
import sys
import time
import uuid


class Context:
    """The Lambda context object, from the function's configuration in the environment."""

    def __init__(self, function_arn: str, timeout_seconds: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = "deploy-test"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> None:
    code_dir, runtime_dir, handler_name, event_file, function_arn, timeout = sys.argv[1:7]
    sys.path[:0] = [code_dir, runtime_dir]
    module_name, function_name = handler_name.rsplit(".", 1)
    module = importlib.import_module(module_name)
    if not os.path.realpath(module.__file__ or "").startswith(os.path.realpath(code_dir)):
        raise SystemExit(f"{module_name} was imported from {module.__file__}, not from the package")
    with open(event_file) as handle:
        event = json.load(handle)
    result = getattr(module, function_name)(event, Context(function_arn, float(timeout)))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
