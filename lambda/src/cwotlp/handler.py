"""The Lambda entry point: S3 event -> one forwarded object per record -> result or failure.

A failure raises, so Lambda's asynchronous retries and then the on-failure queue take over; the
objects that did get delivered are marked and skipped by the retry.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cwotlp import logs
from cwotlp.config import Settings
from cwotlp.delivery.http import Deadline, DeliveryError

log = logging.getLogger("cwotlp")

# Time kept back from the Lambda timeout to record progress and log after the last request.
RESERVE_SECONDS = 5.0


class Runtime:
    """What outlives one invocation: settings, AWS clients, the HTTP session and the cached secret."""

    def __init__(self, settings: Settings, *, need_secret: bool = True) -> None:
        import boto3
        import requests

        from cwotlp.config import ConfigError, SecretSource

        if need_secret and not settings.secret_arn:
            raise ConfigError("CWOTLP_SECRET_ARN is not set; it names the secret with the endpoint")
        self.client = boto3.client
        self.settings = settings
        self.s3 = boto3.client("s3")
        self.secret = SecretSource(
            settings.secret_arn or "", settings.secret_ttl_seconds, lambda: boto3.client("secretsmanager")
        )
        self.session = requests.Session()
        self.session.verify = settings.ca_bundle or True


_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        settings = Settings.from_environment(os.environ)
        logs.configure(settings.log_level)
        _runtime = Runtime(settings)
    return _runtime


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from cwotlp.pipeline import exporter_factory, forward_object
    from cwotlp.source import objects_in_event

    current = runtime()
    deadline = Deadline.after(context.get_remaining_time_in_millis() / 1000 - RESERVE_SECONDS)
    refs, ignored = objects_in_event(event)
    if ignored:
        log.warning("event records that are not S3 records were ignored", extra={"ignored": ignored})
    make_exporter = exporter_factory(current.secret.get(), current.session, current.settings)
    reports = [forward_object(current.s3, ref, make_exporter, current.settings, deadline) for ref in refs]
    for report in reports:
        report.log()
    failed = [report for report in reports if report.status == "failed"]
    if failed:
        raise DeliveryError(
            f"{len(failed)} of {len(reports)} objects not delivered: "
            + "; ".join(f"{report.key}: {report.error}" for report in failed)
        )
    return {
        "objects": len(reports),
        "delivered": sum(report.status == "delivered" for report in reports),
        "already_delivered": sum(report.status == "already_delivered" for report in reports),
        "datapoints": sum(report.counters.datapoints for report in reports),
    }
