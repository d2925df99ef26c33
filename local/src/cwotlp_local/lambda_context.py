"""The context object Lambda's Python runtime passes to a handler, for invoking the handler locally."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from cwotlp_local.names import ModuleNames

DEFAULT_NAMES = ModuleNames()
# The defaults of the module's lambda_timeout and lambda_memory_size (variables.tf).
LAMBDA_TIMEOUT_SECONDS = 300.0
LAMBDA_MEMORY_MB = 512


@dataclass
class LambdaContext:
    """The attributes and the method of Lambda's context object; the remaining time counts down from
    the moment the context is made, as an invocation's does."""

    function_name: str = DEFAULT_NAMES.function_name
    invoked_function_arn: str = DEFAULT_NAMES.function_arn
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = str(LAMBDA_MEMORY_MB)  # the runtime passes the memory size as text
    log_group_name: str = DEFAULT_NAMES.log_group
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef"
    started: float = field(default_factory=time.monotonic)

    @classmethod
    def of(
        cls,
        names: ModuleNames,
        *,
        request_id: str | None = None,
        timeout_seconds: float = LAMBDA_TIMEOUT_SECONDS,
    ) -> LambdaContext:
        """The context of one invocation of the module's forwarder function."""
        return cls(
            function_name=names.function_name,
            invoked_function_arn=names.function_arn,
            aws_request_id=request_id or str(uuid.uuid4()),
            timeout_seconds=timeout_seconds,
            log_group_name=names.log_group,
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.started + self.timeout_seconds - time.monotonic()) * 1000))
