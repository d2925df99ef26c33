"""AWS for the fault suite: moto in-process, with two things made as they are in AWS."""

from __future__ import annotations

import functools
import threading
from typing import Any

import pytest


@functools.cache
def _loader() -> Any:
    from botocore.loaders import create_loader

    return create_loader()


def fresh_session() -> Any:
    """A new boto3 session (its own events and clients) that shares the loaded service models, which
    take most of the time a session needs to make its first client."""
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.register_component("data_loader", _loader())
    return boto3.Session(botocore_session=core, region_name="us-east-1")


def atomic_conditional_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 checks If-Match / If-None-Match and writes in one step; moto in two, which two threads can
    interleave. One lock around moto's PutObject makes its conditional write what S3's is."""
    from moto.s3.responses import S3Response

    method = S3Response.put_object
    lock = threading.Lock()

    @functools.wraps(method)
    def put_object(self: Any) -> Any:
        with lock:
            return method(self)

    monkeypatch.setattr(S3Response, "put_object", put_object)
