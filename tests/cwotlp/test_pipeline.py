"""One object start to finish: the conversion (what counts as nothing read, resuming, when frames are
forwarded as they are) and forward_object against moto S3 and a local collector."""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from conftest import chunked, fixture_bytes, frame, make_settings, otel1_request
from cwotlp.delivery.export import Delivery
from cwotlp.delivery.http import Deadline
from cwotlp.errors import DeliveryError
from cwotlp.otlp.naming import Naming
from cwotlp.pipeline import Conversion, forward_object, timed
from cwotlp.report import ObjectReport
from cwotlp.rules import Rule
from cwotlp.secret import Destination
from cwotlp.source import ObjectRef
from cwotlp.tags import ResourceTags, TagSettings
from cwotlp_local.collector import Collector
from cwotlp_local.faults import Fault
from cwotlp_local.otlp import datapoint_identity

DATA = fixture_bytes("otel-contrib-cwmetricstream/multiple_records")  # 127 records
RECORDS = [orjson.loads(line) for line in DATA.splitlines() if line.strip()]
OTEL1 = make_settings(stream_format="opentelemetry1.0")


def read_all(data: bytes, settings: Any = None, **options: Any) -> Conversion:
    conversion = Conversion(chunked(data, 4096), settings or make_settings(), **options)
    for _ in conversion.batches():
        pass
    return conversion


@pytest.mark.parametrize(
    ("data", "settings", "nothing"),
    [
        (b"", None, False),
        (b"\n\n", None, False),
        (gzip.compress(b""), None, False),
        (DATA, None, False),
        (b"{not json\n[1, 2]\n", None, True),
        (gzip.compress(DATA)[:30], None, True),
        (DATA, make_settings(rules=(Rule("drop"),)), False),
        (b"\x05abcde", OTEL1, True),
        (b"", OTEL1, False),
        (DATA, OTEL1, True),  # a JSON object read as frames
    ],
)
def test_nothing_read_means_content_and_not_one_record(data: bytes, settings: Any, nothing: bool) -> None:
    assert read_all(data, settings).nothing_read() is nothing


def test_a_resumed_conversion_skips_the_units_already_delivered() -> None:
    settings = make_settings(max_request_bytes=8_000)
    whole = list(Conversion([DATA], settings).batches())
    assert len(whole) > 3
    conversion = Conversion(chunked(DATA, 1000), settings, resume_from=whole[1].end_record)
    resumed = list(conversion.batches())
    assert [(b.first_record, b.end_record) for b in resumed] == [
        (b.first_record, b.end_record) for b in whole[2:]
    ]
    assert [b.body() for b in resumed] == [b.body() for b in whole[2:]]
    assert conversion.units == len(RECORDS)  # every unit was read, the first ones not sent
    assert list(Conversion([DATA], settings, resume_from=10_000).batches()) == []


NATIVE = Naming(scheme="native")


@pytest.mark.parametrize(
    ("changes", "tags", "passthrough"),
    [
        ({"stream_format": "opentelemetry1.0", "naming": NATIVE, "encoding": "protobuf"}, False, True),
        ({"stream_format": "opentelemetry1.0", "naming": NATIVE, "encoding": "protobuf"}, True, False),
        ({"stream_format": "opentelemetry1.0", "naming": NATIVE, "encoding": "json"}, False, False),
        ({"stream_format": "json", "naming": NATIVE, "encoding": "protobuf"}, False, False),
        ({"stream_format": "opentelemetry1.0", "naming": Naming(), "encoding": "protobuf"}, False, False),
        (
            {
                "stream_format": "opentelemetry1.0",
                "naming": Naming(scheme="native", account_region_attributes=True),
                "encoding": "protobuf",
            },
            False,
            False,
        ),
    ],
)
def test_frames_are_forwarded_as_they_are_only_when_nothing_would_change_them(
    changes: dict[str, Any], tags: bool, passthrough: bool
) -> None:
    resource_tags = ResourceTags(TagSettings(keys=("team",)), own_account="123456789012") if tags else None
    conversion = Conversion([], make_settings(**changes), tags=resource_tags)
    assert conversion.passthrough is passthrough


def test_reading_stops_at_the_deadline() -> None:
    chunks = timed(iter([b"a", b"b"]), Deadline.after(-1))
    with pytest.raises(DeliveryError, match="out of time while reading the object"):
        next(chunks)
    assert list(timed(iter([b"a", b"b"]), Deadline.after(10))) == [b"a", b"b"]


BUCKET = "metrics-bucket"


class Fixed:
    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    def get(self) -> Destination:
        return self.destination

    def refresh(self) -> Destination:
        return self.destination


@dataclasses.dataclass
class World:
    s3: Any
    collector: Collector
    settings: Any

    def put(self, key: str, data: bytes) -> ObjectRef:
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        return ObjectRef(BUCKET, key, len(data))

    def forward(
        self, ref: ObjectRef, make_exporter: Any = None, holder: str = "invocation-1"
    ) -> ObjectReport:
        destination = Destination.from_secret(
            {"endpoint": self.collector.url, "headers": {"x-api-key": "k"}, "allow_http": True}, "test"
        )
        delivery = Delivery(Fixed(destination), self.settings)
        return forward_object(
            self.s3, ref, make_exporter or delivery.exporter, self.settings, Deadline.after(60), holder=holder
        )

    def marker(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=f"progress/{key}")["Body"].read())


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws(), Collector() as collector:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield World(s3, collector, make_settings(max_request_bytes=8_000, max_retries=0))


def test_an_object_is_delivered_once(world: World) -> None:
    ref = world.put("metrics/a.gz", gzip.compress(DATA))
    report = world.forward(ref)
    assert (report.status, report.records, report.counters.datapoints) == ("delivered", 127, 127)
    assert report.error is None and report.progress_recorded
    assert world.marker("metrics/a.gz")["state"] == "delivered"
    again = world.forward(ref, holder="invocation-2")
    assert again.status == "already_delivered"
    assert world.collector.datapoint_count() == 127


def test_a_failed_delivery_resumes_where_it_stopped(world: World) -> None:
    ref = world.put("metrics/b.gz", DATA)
    world.collector.inject(Fault(status=503), times=1, after=2)
    failed = world.forward(ref)
    assert failed.status == "failed" and "HTTP 503" in (failed.error or "")
    marker = world.marker("metrics/b.gz")
    assert (marker["state"], marker["lease_until"]) == ("sending", 0.0)  # released for the retry
    assert 0 < marker["position"] < 127
    retried = world.forward(ref, holder="invocation-2")
    assert (retried.status, retried.resumed_from) == ("delivered", marker["position"])
    identities = [datapoint_identity(*point) for point in world.collector.datapoints()]
    assert len(identities) == len(set(identities)) == 127


def test_an_object_written_again_while_it_is_started_fails_and_the_retry_delivers_the_new_content(
    world: World,
) -> None:
    """The HEAD names the content whose progress the marker counts; a body that is no longer that
    content is not read under its marker."""
    ref = world.put("metrics/moving.gz", DATA)
    rewrites: list[bytes] = [gzip.compress(DATA[: len(DATA) // 2])]

    def write_again(**_: Any) -> None:
        if rewrites:
            world.s3.put_object(Bucket=BUCKET, Key=ref.key, Body=rewrites.pop())

    world.s3.meta.events.register("before-call.s3.GetObject", write_again, unique_id="test-write-again")
    failed = world.forward(ref)
    assert (failed.status, failed.error) == (
        "failed",
        "the object was written again while it was being started; the retry delivers it anew",
    )
    assert world.collector.datapoint_count() == 0
    retried = world.forward(ref, holder="invocation-2")
    assert (retried.status, retried.restarted) == ("delivered", True)
    assert 0 < retried.records < 127


def test_an_object_with_nothing_readable_fails(world: World) -> None:
    ref = world.put("metrics/c.gz", b"{not json\n{still not\n")
    report = world.forward(ref)
    assert report.status == "failed"
    assert report.error == "nothing in the object could be read (see skipped); is it in the stream's format?"
    assert report.skipped == {"malformed_json": 2}
    assert world.marker("metrics/c.gz")["state"] == "sending"


def test_an_invocation_out_of_time_does_not_start_an_object(world: World) -> None:
    ref = world.put("metrics/late.gz", DATA)
    calls: list[str] = []
    world.s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    report = forward_object(world.s3, ref, None, world.settings, Deadline.after(-1), holder="late")  # type: ignore[arg-type]
    assert (report.status, report.error) == (
        "failed",
        "out of time before the object was started; the retry delivers it",
    )
    assert calls == [] and world.collector.requests == []


def test_aws_errors_are_reported_by_their_code(world: World) -> None:
    report = world.forward(ObjectRef(BUCKET, "metrics/missing.gz"))
    assert (report.status, report.error) == ("failed", "S3 HeadObject: NoSuchKey")


def test_an_internal_error_is_reported_without_its_text(world: World) -> None:
    def broken_exporter(report: ObjectReport) -> Any:
        raise ValueError("Sk3-secret-in-a-library-message")

    report = world.forward(world.put("metrics/d.gz", DATA), make_exporter=broken_exporter)
    assert report.status == "failed"
    assert (report.error or "").startswith("internal error: ValueError")
    assert "Sk3-secret" not in (report.error or "")


def test_frames_are_delivered_as_parts(world: World) -> None:
    records = [{**RECORDS[i], "timestamp": 1_767_225_600_000} for i in range(40)]
    world.settings = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf")
    ref = world.put("metrics/e", frame(otel1_request(records[:20])) + frame(otel1_request(records[20:])))
    report = world.forward(ref)
    assert (report.status, report.format, report.counters.datapoints) == ("delivered", "opentelemetry1.0", 40)
    assert world.collector.datapoint_count() == 40
    assert report.units == world.marker("metrics/e")["position"]


def test_a_frame_damaged_inside_a_datapoint_is_passed_over_and_the_rest_delivered(world: World) -> None:
    """Frames forwarded as they are are walked down to their resources only: a frame damaged deeper (a
    dimension value that is no UTF-8) goes out, the collector refuses it with 400, and the exporter
    narrows the refusal down to the part that holds it, delivering every other part. (Converting, the
    frame is read up to the datapoint and the rest of it counted as malformed_frame.)"""
    records = [{**RECORDS[i % len(RECORDS)], "timestamp": 1_767_225_600_000} for i in range(60)]
    records[25] = {**records[25], "dimensions": {"InstanceId": "i-damaged"}}
    damaged = frame(otel1_request(records[20:40])).replace(b"i-damaged", b"i-\xffamaged")
    data = frame(otel1_request(records[:20])) + damaged + frame(otel1_request(records[40:]))
    world.settings = make_settings(stream_format="opentelemetry1.0", naming=NATIVE, encoding="protobuf")
    report = world.forward(world.put("metrics/f", data))
    assert 400 in world.collector.statuses
    assert report.status == "delivered"
    assert report.counters.rejected_by_collector == 20  # its frame's: one resource, so one part
    assert report.counters.datapoints == world.collector.datapoint_count() == 40
    identities = {datapoint_identity(*point) for point in world.collector.datapoints()}
    assert len(identities) == 40
    assert not any("amaged" in str(point) for *_, point in world.collector.datapoints())
