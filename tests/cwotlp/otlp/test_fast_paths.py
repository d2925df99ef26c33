"""Both fast paths of the converter, for `json` lines (test_line_entries.py) and for OpenTelemetry 1.0
datapoints (test_datapoint_entries.py), make exactly what the straightforward path makes of the same
object's records, under every naming and encoding, on generated and realistic objects, and when every
memo starts over again and again."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from conftest import EVERY_WAY, assert_converted_alike, only_percentiles, otel1_frames
from cwotlp.formats import otel1
from cwotlp.otlp import pieces
from cwotlp_local.generator import generate_records
from cwotlp_local.realistic import JSON, OTEL1, cached_object

FORMATS = (JSON, OTEL1)
RECORDS = [only_percentiles(record) for record in generate_records(400, seed=9)]
GENERATED = {
    JSON: b"".join(orjson.dumps(record) + b"\n" for record in RECORDS),
    OTEL1: b"".join(otel1_frames(RECORDS, 50)),
}


@pytest.mark.parametrize("stream_format", FORMATS)
@pytest.mark.parametrize(("naming", "encoding"), EVERY_WAY)
def test_generated_objects_convert_alike(stream_format: str, naming: str, encoding: str) -> None:
    entries, skipped, (converted, _, _) = assert_converted_alike(
        GENERATED[stream_format], naming, encoding, stream_format
    )
    assert converted == len(RECORDS) and not skipped
    assert len(entries) >= len(RECORDS)


@pytest.fixture(scope="module")
def realistic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    directory: Path = tmp_path_factory.mktemp("realistic")
    return {
        stream_format: cached_object(directory, 1 << 20, seed=3, output_format=stream_format).read_bytes()
        for stream_format in FORMATS
    }


@pytest.mark.parametrize("stream_format", FORMATS)
@pytest.mark.parametrize(("naming", "encoding"), EVERY_WAY)
def test_realistic_objects_convert_alike(
    realistic: dict[str, bytes], stream_format: str, naming: str, encoding: str
) -> None:
    _, skipped, (converted, _, _) = assert_converted_alike(
        realistic[stream_format], naming, encoding, stream_format
    )
    assert converted > 2000 and not skipped


@pytest.mark.parametrize("stream_format", FORMATS)
@pytest.mark.parametrize("naming", ["cloudwatch", "prometheus"])
def test_alike_when_every_memo_starts_over_again_and_again(
    monkeypatch: pytest.MonkeyPatch, realistic: dict[str, bytes], stream_format: str, naming: str
) -> None:
    monkeypatch.setattr(pieces, "MEMO_BYTES", 4096)
    monkeypatch.setattr(otel1, "ATTRIBUTE_MEMO_BYTES", 2048)
    _, skipped, (converted, _, _) = assert_converted_alike(
        realistic[stream_format], naming, "protobuf", stream_format
    )
    assert converted > 2000 and not skipped
