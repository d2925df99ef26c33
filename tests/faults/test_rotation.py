"""After a rotation: the token endpoint refuses the old client credentials with invalid_client while
Secrets Manager already holds the new ones. The forwarder reads the secret exactly once more and
delivers with the new credentials; when the secret was not rotated after all, that one read is all."""

from __future__ import annotations

import time

import boto3
import pytest
from faults.records import json_object
from faults.world import CLIENT_ID, CLIENT_SECRET, World, s3_event

NEW_SECRET = "cs-Nw5Gt7Hy9Ju2Ki4Lo6"


@pytest.fixture
def secret_reads() -> list[str]:
    """Every GetSecretValue the forwarder makes (through boto3's default session)."""
    reads: list[str] = []
    boto3.DEFAULT_SESSION.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("GetSecretValue")
    )
    return reads


def _rotate(world: World) -> None:
    world.issuer.rotate(CLIENT_ID, NEW_SECRET)
    world.write_secret(world.oauth2_secret() | {"client_secret": NEW_SECRET})


def test_a_revoked_token_and_rotated_credentials_cost_one_fresh_read(
    world: World, secret_reads: list[str]
) -> None:
    assert world.invoke(world.put("metrics/before", json_object(range(50)))).error is None
    assert len(secret_reads) == 1
    _rotate(world)  # also revokes every token issued so far
    world.put("metrics/after-1", json_object(range(100, 150)))
    world.put("metrics/after-2", json_object(range(200, 250)))
    outcome = world.invoke(s3_event(("metrics/after-1", 1), ("metrics/after-2", 1)))
    assert outcome.error is None, outcome.error
    assert len(secret_reads) == 2
    assert world.issuer.refused == [(CLIENT_ID, CLIENT_SECRET)]
    assert [line["status"] for line in outcome.lines] == ["delivered", "delivered"]
    world.receiver.assert_exactly_once([*range(50), *range(100, 150), *range(200, 250)])


def test_an_expired_token_and_rotated_credentials_cost_one_fresh_read(
    world: World, secret_reads: list[str]
) -> None:
    world.issuer.lifetime = 1  # the forwarder renews it within the second
    assert world.invoke(world.put("metrics/before", json_object(range(50)))).error is None
    world.issuer.rotate(CLIENT_ID, NEW_SECRET)
    world.write_secret(world.oauth2_secret() | {"client_secret": NEW_SECRET})
    time.sleep(1.1)
    outcome = world.invoke(world.put("metrics/after", json_object(range(100, 150))))
    assert outcome.error is None, outcome.error
    assert len(secret_reads) == 2
    assert len(world.issuer.refused) == 1
    world.receiver.assert_exactly_once([*range(50), *range(100, 150)])


def test_credentials_refused_without_a_rotation_fail_after_one_fresh_read(
    world: World, secret_reads: list[str]
) -> None:
    world.issuer.rotate(CLIENT_ID, NEW_SECRET)  # the endpoint moved on, the secret did not
    event = world.put("metrics/stale", json_object(range(50)))
    outcome = world.invoke(event)
    outcome.failed_with(r"token endpoint https://127\.0\.0\.1:\d+ answered HTTP 401: invalid_client")
    assert len(secret_reads) == 2
    assert len(world.issuer.refused) == 1
    assert world.collector.requests == []
    _rotate(world)
    assert world.invoke(event).error is None
    world.receiver.assert_exactly_once(range(50))
