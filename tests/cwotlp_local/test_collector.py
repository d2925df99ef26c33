"""The local OTLP/HTTP collector: decoding, strictness, faults, limits, auth and TLS, with a real client."""

from __future__ import annotations

import gzip
import json
import threading
import time

import pytest
import requests
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from cwotlp_local import Collector, Fault, TokenServer

JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
TIMEOUT = 5


def make_request(points: int = 2, account: str = "111122223333", metric: str = "amazonaws.com/AWS/EC2/CPU"):
    message = ExportMetricsServiceRequest()
    resource_metrics = message.resource_metrics.add()
    attribute = resource_metrics.resource.attributes.add()
    attribute.key = "cloud.account.id"
    attribute.value.string_value = account
    summary = resource_metrics.scope_metrics.add().metrics.add()
    summary.name = metric
    summary.unit = "%"
    for i in range(points):
        point = summary.summary.data_points.add()
        point.time_unix_nano = 1_714_564_800_000_000_000 + i * 60_000_000_000
        point.count = 6
        point.sum = 12.2
        quantile = point.quantile_values.add()
        quantile.quantile = 0.99
        quantile.value = 3.1
        dimension = point.attributes.add()
        dimension.key = "InstanceId"
        dimension.value.string_value = "i-0abc"
    return message


def as_json(message: ExportMetricsServiceRequest) -> bytes:
    return json_format.MessageToJson(message).encode()


def post(url: str, body: bytes, headers: dict[str, str], **kwargs) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=TIMEOUT, **kwargs)


def test_url_is_local_and_free_port() -> None:
    with Collector() as a, Collector() as b:
        assert a.url.startswith("http://127.0.0.1:")
        assert a.url.endswith("/v1/metrics")
        assert a.port != b.port


def test_json_plain_is_decoded_and_recorded() -> None:
    message = make_request(points=3)
    body = as_json(message)
    with Collector() as collector:
        response = post(collector.url, body, JSON)
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/json"
        json_format.Parse(response.text, ExportMetricsServiceResponse())
        assert collector.errors == []
        [recorded] = collector.requests
        assert recorded.message == message
        assert recorded.content_type == "application/json"
        assert recorded.content_encoding == "identity"
        assert recorded.raw_bytes == recorded.wire_bytes == len(body)
        assert recorded.headers["content-type"] == "application/json"
        assert recorded.headers["Content-Type"] == "application/json"  # lookups ignore case
        assert collector.datapoint_count() == 3
        resource, name, point = collector.datapoints()[0]
        assert resource == {"cloud.account.id": "111122223333"}
        assert name == "amazonaws.com/AWS/EC2/CPU"
        assert point.count == 6


def test_protobuf_gzip_is_decoded_and_answered_in_protobuf() -> None:
    message = make_request(points=5)
    raw = message.SerializeToString()
    wire = gzip.compress(raw)
    with Collector() as collector:
        response = post(collector.url, wire, {**PROTOBUF, "Content-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "application/x-protobuf"
        parsed = ExportMetricsServiceResponse()
        parsed.ParseFromString(response.content)
        assert not parsed.HasField("partial_success")
        [recorded] = collector.requests
        assert recorded.message == message
        assert recorded.content_type == "application/x-protobuf"
        assert recorded.content_encoding == "gzip"
        assert recorded.raw_bytes == len(raw)
        assert recorded.wire_bytes == len(wire)
        assert collector.datapoint_count() == 5
        assert collector.errors == []


def test_json_gzip_and_protobuf_plain() -> None:
    message = make_request()
    with Collector() as collector:
        assert post(collector.url, gzip.compress(as_json(message)), {**JSON, "Content-Encoding": "gzip"}).ok
        assert post(collector.url, message.SerializeToString(), PROTOBUF).ok
        assert [r.message for r in collector.requests] == [message, message]
        assert collector.datapoint_count() == 4


def test_json_with_unknown_field_is_rejected() -> None:
    document = json.loads(as_json(make_request()))
    document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["colour"] = "red"
    with Collector() as collector:
        response = post(collector.url, json.dumps(document).encode(), JSON)
        assert response.status_code == 400
        assert "colour" in response.json()["message"]
        assert collector.requests == []
        assert len(collector.errors) == 1
        assert collector.errors[0].status == 400


def test_protobuf_with_unknown_field_is_rejected() -> None:
    # a Metric carrying field 99 (varint 1), which the schema does not know, deep inside the request
    metric = Metric()
    metric.ParseFromString(make_request().resource_metrics[0].scope_metrics[0].metrics[0].SerializeToString())
    metric.MergeFromString(b"\x98\x06\x01")
    message = ExportMetricsServiceRequest()
    message.resource_metrics.add().scope_metrics.add().metrics.append(metric)
    body = message.SerializeToString()
    assert body.endswith(b"\x98\x06\x01")
    with Collector() as collector:
        response = post(collector.url, body, PROTOBUF)
        assert response.status_code == 400
        assert "unknown" in collector.errors[0].reason
        assert collector.requests == []


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", JSON, 400),
        (b"\xff\xff\xff", PROTOBUF, 400),
        (b"not gzip at all", {**JSON, "Content-Encoding": "gzip"}, 400),
        (b"{}", {"Content-Type": "text/plain"}, 415),
        (b"{}", {**JSON, "Content-Encoding": "br"}, 415),
        (b'{"resourceMetrics": {"oops": 1}}', JSON, 400),
    ],
)
def test_malformed_bodies_are_rejected_and_recorded(
    body: bytes, headers: dict[str, str], status: int
) -> None:
    with Collector() as collector:
        assert post(collector.url, body, headers).status_code == status
        assert len(collector.errors) == 1
        assert collector.requests == []
        assert collector.attempts == 1


def test_unknown_path_is_404() -> None:
    with Collector() as collector:
        response = post(collector.url.replace("/v1/metrics", "/v1/traces"), b"{}", JSON)
        assert response.status_code == 404
        assert collector.errors[0].status == 404


def test_empty_json_request_is_valid() -> None:
    with Collector() as collector:
        assert post(collector.url, b"{}", JSON).status_code == 200
        assert collector.errors == []
        assert collector.datapoint_count() == 0


def test_status_fault_is_answered_and_not_recorded() -> None:
    body = as_json(make_request())
    with Collector() as collector:
        collector.inject(Fault(status=503, headers={"Retry-After": "1"}, body=b"busy"), times=2)
        first = post(collector.url, body, JSON)
        second = post(collector.url, body, JSON)
        third = post(collector.url, body, JSON)
        assert (first.status_code, second.status_code, third.status_code) == (503, 503, 200)
        assert first.headers["Retry-After"] == "1"
        assert first.content == b"busy"
        assert collector.attempts == 3
        assert collector.statuses == [503, 503, 200]
        assert len(collector.requests) == 1
        assert collector.pending_faults == 0


def test_faults_are_consumed_in_order() -> None:
    body = as_json(make_request())
    with Collector() as collector:
        collector.inject(Fault(status=429), times=1)
        collector.inject(Fault(status=500), times=1)
        collector.inject(Fault(status=502), times=1)
        statuses = [post(collector.url, body, JSON).status_code for _ in range(4)]
        assert statuses == [429, 500, 502, 200]


def test_faults_can_start_after_some_requests() -> None:
    body = as_json(make_request())
    with Collector() as collector:
        collector.inject(Fault(status=503), times=2, after=3)
        statuses = [post(collector.url, body, JSON).status_code for _ in range(6)]
        assert statuses == [200, 200, 200, 503, 503, 200]
        assert len(collector.requests) == 4
        assert collector.pending_faults == 0


def test_reset_fault_closes_the_connection_without_response() -> None:
    body = as_json(make_request())
    with Collector() as collector:
        collector.inject(Fault(reset=True))
        with pytest.raises(requests.ConnectionError):
            post(collector.url, body, JSON)
        assert collector.attempts == 1
        assert collector.statuses == [0]
        assert collector.requests == []
        # the next request, on a new connection, goes through
        assert post(collector.url, body, JSON).status_code == 200


def test_reset_fault_on_a_kept_alive_connection() -> None:
    body = as_json(make_request())
    with Collector() as collector, requests.Session() as session:
        assert session.post(collector.url, data=body, headers=JSON, timeout=TIMEOUT).status_code == 200
        collector.inject(Fault(reset=True))
        with pytest.raises(requests.ConnectionError):
            session.post(collector.url, data=body, headers=JSON, timeout=TIMEOUT)
        assert session.post(collector.url, data=body, headers=JSON, timeout=TIMEOUT).status_code == 200
        assert len(collector.requests) == 2


def test_delay_fault_is_a_slow_response() -> None:
    body = as_json(make_request())
    with Collector() as collector:
        collector.inject(Fault(status=200, delay=0.4))
        started = time.monotonic()
        response = post(collector.url, body, JSON)
        assert time.monotonic() - started >= 0.4
        assert response.status_code == 200
        assert collector.requests == []  # a faulted request is not accepted, even with status 200

        collector.inject(Fault(status=503, delay=2.0))
        with pytest.raises(requests.Timeout):
            requests.post(collector.url, data=body, headers=JSON, timeout=0.3)


def test_max_body_bytes_applies_to_the_decompressed_body() -> None:
    small = as_json(make_request(points=1))
    big = as_json(make_request(points=50))
    assert len(small) < 2000 < len(big)
    with Collector(max_body_bytes=2000) as collector:
        assert post(collector.url, small, JSON).status_code == 200
        assert post(collector.url, big, JSON).status_code == 413
        compressed = gzip.compress(big)
        assert len(compressed) < 2000
        assert post(collector.url, compressed, {**JSON, "Content-Encoding": "gzip"}).status_code == 413
        assert len(collector.requests) == 1
        assert collector.errors == []


def test_partial_success_is_reported_once_and_points_are_kept() -> None:
    body = as_json(make_request(points=4))
    with Collector() as collector:
        collector.partial_success(rejected=3, message="three too old")
        first = post(collector.url, body, JSON)
        assert first.json() == {
            "partialSuccess": {"rejectedDataPoints": "3", "errorMessage": "three too old"}
        }
        assert post(collector.url, body, JSON).json() == {}
        collector.partial_success(rejected=1, message="one")
        response = post(collector.url, make_request().SerializeToString(), PROTOBUF)
        parsed = ExportMetricsServiceResponse()
        parsed.ParseFromString(response.content)
        assert parsed.partial_success.rejected_data_points == 1
        assert parsed.partial_success.error_message == "one"
        assert collector.datapoint_count() == 10


def test_token_check_with_token_server() -> None:
    body = as_json(make_request())
    with TokenServer(client_secret="s") as tokens, Collector(token_check=tokens.is_valid) as collector:
        assert post(collector.url, body, JSON).status_code == 401
        wrong = post(collector.url, body, {**JSON, "Authorization": "Bearer not-a-token"})
        assert wrong.status_code == 401
        assert "Bearer" in wrong.headers["WWW-Authenticate"]
        token = requests.post(
            tokens.url, data={"grant_type": "client_credentials"}, auth=("demo-client", "s"), timeout=TIMEOUT
        ).json()["access_token"]
        good = {**JSON, "Authorization": f"Bearer {token}"}
        assert post(collector.url, body, good).status_code == 200
        assert collector.requests[0].headers["authorization"] == f"Bearer {token}"
        tokens.expire_all()
        assert post(collector.url, body, good).status_code == 401
        assert len(collector.requests) == 1
        assert collector.errors == []


def test_tls_with_generated_ca() -> None:
    body = as_json(make_request())
    with Collector(tls=True) as collector:
        assert collector.url.startswith("https://127.0.0.1:")
        assert collector.ca_file is not None
        with open(collector.ca_file) as f:
            assert "BEGIN CERTIFICATE" in f.read()
        assert post(collector.url, body, JSON, verify=collector.ca_file).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            post(collector.url, body, JSON, verify=True)
        assert len(collector.requests) == 1


def test_concurrent_clients_are_all_recorded() -> None:
    body = gzip.compress(make_request(points=7).SerializeToString())
    failures: list[BaseException] = []

    def client() -> None:
        try:
            with requests.Session() as session:
                for _ in range(5):
                    headers = {**PROTOBUF, "Content-Encoding": "gzip"}
                    response = session.post(collector.url, data=body, headers=headers, timeout=TIMEOUT)
                    assert response.status_code == 200
        except BaseException as e:  # collected and re-raised in the test thread
            failures.append(e)

    with Collector() as collector:
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert failures == []
        assert len(collector.requests) == 40
        assert collector.datapoint_count() == 280
        assert collector.wait_for_datapoints(280, timeout=0.1)
        assert not collector.wait_for_datapoints(281, timeout=0.1)


def test_server_is_gone_after_the_context_exits() -> None:
    with requests.Session() as session:
        with Collector() as collector:
            url = collector.url
            # a kept-alive connection stays open while the server shuts down
            assert session.post(url, data=b"{}", headers=JSON, timeout=TIMEOUT).ok
            started = time.monotonic()
        assert time.monotonic() - started < 3
        with pytest.raises(requests.ConnectionError):
            session.post(url, data=b"{}", headers=JSON, timeout=TIMEOUT)


def test_errors_are_answered_as_otlp_status_in_the_request_content_type() -> None:
    from google.protobuf.empty_pb2 import Empty
    from google.protobuf.unknown_fields import UnknownFieldSet

    with Collector() as collector:
        protobuf = post(collector.url, b"\xff\xff\xff", PROTOBUF)
        assert (protobuf.status_code, protobuf.headers["Content-Type"]) == (400, "application/x-protobuf")
        status = Empty()  # google.rpc.Status read field by field: 1 code, 2 message
        status.ParseFromString(protobuf.content)
        fields = {field.field_number: field.data for field in UnknownFieldSet(status)}
        assert fields[1] == 3 and fields[2].decode().startswith("bad OTLP protobuf")
        as_json_answer = post(collector.url, b"{not json", JSON)
        assert as_json_answer.headers["Content-Type"] == "application/json"
        assert as_json_answer.json()["code"] == 3
        assert [e.status for e in collector.errors] == [400, 400]
        assert collector.statuses == [400, 400]


def test_a_body_that_cannot_be_read_is_answered_in_json_and_recorded() -> None:
    import http.client

    with Collector() as collector:
        conn = http.client.HTTPConnection("127.0.0.1", collector.port, timeout=TIMEOUT)
        try:
            conn.putrequest("POST", "/v1/metrics")
            conn.putheader("Content-Type", "application/x-protobuf")
            conn.putheader("Content-Length", "many")
            conn.endheaders()
            answer = conn.getresponse()
            body = answer.read()
        finally:
            conn.close()
        assert answer.status == 400
        assert answer.getheader("Content-Type") == "application/json"
        assert json.loads(body)["message"] == "bad Content-Length 'many'"
        [error] = collector.errors
        assert (error.status, error.reason) == (400, "bad Content-Length 'many'")


def test_a_collector_bug_is_answered_500_and_recorded_not_hidden() -> None:
    def broken_check(token: str) -> bool:
        raise KeyError("the token table")

    with Collector(token_check=broken_check) as collector:
        response = post(collector.url, b"{}", {**JSON, "Authorization": "Bearer t"})
        assert response.status_code == 500
        assert response.json() == {"code": 13, "message": "internal error"}
        [error] = collector.errors
        assert error.status == 500 and "the token table" in error.reason
        assert collector.statuses == [500]
