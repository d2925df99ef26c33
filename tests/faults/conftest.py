"""Fixtures of the fault suite: the certificate authority, and `world`, the forwarder's surroundings.

Every test that uses `world` runs with the root logger at DEBUG and ends with the witness: no secret
value (client secret, token, API key, query string value, basic credentials) in any log record, in
what reached stdout or stderr, or in any exception the handler raised (with its chained causes).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from faults.aws import atomic_conditional_writes, fresh_session
from faults.figures import FIGURES
from faults.probes import start_probes, stop_probes
from faults.tls import Authority, create_authority
from faults.world import World
from moto import mock_aws

import cwotlp.handler


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "memory: large hostile inputs, memory and CPU time measured")


def pytest_collection_finish(session: pytest.Session) -> None:
    """The memory cases' probes take minutes of CPU: they start now, and run while other cases wait."""
    if not session.config.option.collectonly and any(
        item.get_closest_marker("memory") for item in session.items
    ):
        start_probes()


def pytest_sessionfinish() -> None:
    stop_probes()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault suite figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return create_authority(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_environment: None) -> Iterator[None]:
    """moto in-process, the forwarder's boto3 session fresh, and S3's conditional writes atomic."""
    import boto3

    atomic_conditional_writes(monkeypatch)
    with mock_aws():
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", fresh_session())  # after moto's reset of it
        yield


@pytest.fixture
def forwarder_settings(monkeypatch: pytest.MonkeyPatch, authority: Authority) -> None:
    """The forwarder's environment: Lambda's JSON log format (records reach caplog), the suite's CA,
    several requests per object, few retries. No other CWOTLP_* setting leaks in from outside."""
    import os

    for name in [name for name in os.environ if name.startswith("CWOTLP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "JSON")
    monkeypatch.setenv("CWOTLP_CA_BUNDLE", str(authority.ca_file))
    monkeypatch.setenv("CWOTLP_MAX_REQUEST_BYTES", "20000")
    monkeypatch.setenv("CWOTLP_MAX_RETRIES", "2")
    monkeypatch.setattr(cwotlp.handler, "_runtime", None)


@pytest.fixture
def logging_state() -> Iterator[None]:
    """The forwarder configures loggers once per runtime; every test starts from Lambda's state (with
    JSON logs the runtime's handler on the root logger writes every record, so the forwarder's logger has
    none of its own and propagates, which is also how caplog sees its records), whatever tests ran before
    in this process, and the state before is restored after."""
    names = ("cwotlp", "botocore")
    saved = {name: logging.getLogger(name) for name in names}
    state = {name: (log.level, list(log.handlers), log.propagate) for name, log in saved.items()}
    forwarder = saved["cwotlp"]
    forwarder.handlers[:], forwarder.propagate = [], True
    yield
    for name, log in saved.items():
        log.level, log.handlers[:], log.propagate = state[name]


@pytest.fixture
def world(
    aws: None,
    forwarder_settings: None,
    logging_state: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    authority: Authority,
) -> Iterator[World]:
    world = World(monkeypatch, caplog, authority.server_context())
    world.start()
    try:
        caplog.set_level(logging.DEBUG)  # the root logger: an operator turned everything up
        yield world
        out, err = capfd.readouterr()
        assert world.leaks(out + err) == [], "secret values leaked"
        assert world.receiver.malformed == [], "the forwarder sent requests the collector could not decode"
    finally:
        world.close()
