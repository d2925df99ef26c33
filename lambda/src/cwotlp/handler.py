"""The Lambda entry point: S3 event -> one forwarded object per record -> result or failure.

Each object gets its own report and log line; one object's failure does not stop the others. The
invocation fails (so that Lambda retries it, then sends it to the on-failure queue) when any object
was not delivered; the delivered ones are marked and skipped by the retry.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from functools import cached_property
from typing import Any

from cwotlp import logs
from cwotlp.config import Settings
from cwotlp.deadline import RESERVE_SECONDS, Deadline
from cwotlp.errors import ConfigError, DeliveryError
from cwotlp.process import collect_cycles_less_often
from cwotlp.report import ObjectReport

log = logging.getLogger("cwotlp")


class Runtime:
    """What outlives one invocation: settings, AWS clients, HTTP connections, the cached secret. Clients
    are made when first needed, so a cold start pays only for what the objects use."""

    def __init__(self, settings: Settings, *, need_secret: bool = True) -> None:
        if need_secret and not settings.secret_arn:
            raise ConfigError("CWOTLP_SECRET_ARN is not set; it names the secret with the endpoint")
        self.settings = settings

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of the function's region, or of `region`."""
        import boto3
        from botocore.config import Config

        config = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})
        make: Any = boto3.client
        return make(service, config=config, region_name=region)

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def secret(self) -> Any:
        from cwotlp.secret import SecretSource

        arn = self.settings.secret_arn or ""
        # Secrets Manager answers for the secrets of its own region: a secret elsewhere is read there.
        return SecretSource(
            arn, self.settings.secret_ttl_seconds, lambda: self.client("secretsmanager", region_of(arn))
        )

    @cached_property
    def delivery(self) -> Any:
        from cwotlp.delivery.export import Delivery

        return Delivery(self.secret, self.settings)

    def resource_tags(self, own_account: str | None) -> Any:
        if not self.settings.tags.enabled:
            return None
        if "tags" not in self.__dict__:
            from cwotlp.tags import ResourceTags

            self.__dict__["tags"] = ResourceTags(self.settings.tags, own_account=own_account)
        return self.__dict__["tags"]


def region_of(arn: str) -> str | None:
    """The region an ARN names (arn:partition:service:region:...), None when it names none."""
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and parts[0] == "arn" and parts[3] else None


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = Settings.from_environment(os.environ)
        logs.configure(settings.log_level)
        collect_cycles_less_often()
        _runtime = Runtime(settings)
    return _runtime


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cwotlp.pipeline import forward_object
    from cwotlp.source import objects_in_event

    current = runtime()
    deadline = Deadline.after(context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)
    partition, account = _function_place(getattr(context, "invoked_function_arn", ""))
    naming = dataclasses.replace(current.settings.naming, exporter_account=account, partition=partition)
    settings = dataclasses.replace(current.settings, naming=naming)
    found = objects_in_event(event)
    if found.ignored:
        log.warning(
            "event records that are not S3 object creations were ignored", extra={"ignored": found.ignored}
        )
    elif not found.refs and not found.unusable and not _is_test_event(event):
        log.warning("the event is not an S3 notification; it names no object to deliver")
    tags = current.resource_tags(account)
    holder = str(getattr(context, "aws_request_id", "") or uuid.uuid4())
    reports = [
        forward_object(
            current.s3,
            ref,
            current.delivery.exporter,
            settings,
            deadline,
            holder=holder,
            tags=tags,
        )
        for ref in found.refs
    ]
    reports += [
        ObjectReport("", "", status="failed", error="an S3 event record names no usable bucket and key")
        for _ in range(found.unusable)
    ]
    for report in reports:
        report.log()
    failed = [report for report in reports if report.status == "failed"]
    if failed:
        raise DeliveryError(
            f"{len(failed)} of {len(reports)} objects not delivered: "
            + "; ".join(f"{report.key}: {report.error}" for report in failed[:5])
        )
    return {
        "objects": len(reports),
        "delivered": sum(report.status == "delivered" for report in reports),
        "already_delivered": sum(report.status == "already_delivered" for report in reports),
        "datapoints": sum(report.counters.datapoints for report in reports),
    }


def _is_test_event(event: Any) -> bool:
    """S3's s3:TestEvent, sent when a notification is set up."""
    return isinstance(event, dict) and event.get("Event") == "s3:TestEvent"


def _function_place(arn: str) -> tuple[str, str | None]:
    """(partition, account) from the function's ARN: arn:aws:lambda:region:account:function:name."""
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) >= 5 and parts[0] == "arn" and parts[4].isdigit():
        return parts[1], parts[4]
    return "aws", None
