"""The names the Terraform module gives its resources (main.tf, `local.names`), for one `var.name`."""

from __future__ import annotations

from dataclasses import dataclass

MOTO_ACCOUNT = "123456789012"  # the account moto runs everything in


@dataclass(frozen=True)
class ModuleNames:
    name: str = "cwotlp-demo"
    region: str = "us-east-1"
    account: str = MOTO_ACCOUNT
    metrics_prefix: str = "metrics/"  # where Firehose writes the objects the forwarder is notified of

    @property
    def function_name(self) -> str:
        return f"{self.name}-forwarder"

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account}:function:{self.function_name}"

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def secret_name(self) -> str:
        return f"{self.name}/collector"

    @property
    def failure_queue(self) -> str:
        return f"{self.name}-forwarder-failures"

    @property
    def bucket_prefix(self) -> str:
        return f"{self.name}-"
