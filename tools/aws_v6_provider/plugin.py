"""A test-only hashicorp/aws v6 provider: it serves the v6 schema subset in schema.json, nothing more.

Terraform starts it like any provider plugin (go-plugin over gRPC, plugin protocol 6). It answers
what `terraform validate` and `terraform test` with `mock_provider "aws"` ask of a provider:

- GetProviderSchema (and GetMetadata): the schemas from schema.json;
- ValidateProviderConfig, ValidateResourceConfig, ValidateDataResourceConfig: no diagnostics, since
  Terraform core itself checks a configuration against the schema (unknown and misspelled
  arguments, missing required ones, types, block counts); an unknown type name is an error;
- ConfigureProvider: accepted without effect (a mocked provider is never configured);
- StopProvider and go-plugin's Shutdown.

A mock provider plans, applies and reads data sources itself, so this plugin never talks to AWS:
PlanResourceChange, ApplyResourceChange, ReadResource, ReadDataSource, ImportResourceState and
UpgradeResourceState answer with an error that says so.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tfplugin6 import ERROR, NESTING, messages

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.json"
# go-plugin's handshake for Terraform providers.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
PROTOCOL_VERSION = 6

NOT_SERVED = (
    "This hashicorp/aws v6 provider is a test double: it serves the provider's schema for "
    "`terraform validate` and for `terraform test` with `mock_provider`, and cannot plan, apply or read."
)


# --------------------------------------------------------------------------------------------
# Schema JSON -> protocol messages
# --------------------------------------------------------------------------------------------


def attribute_message(name: str, spec: dict[str, Any]) -> Any:
    attribute = messages["SchemaAttribute"](name=name)
    for flag in ("required", "optional", "computed", "sensitive", "write_only", "deprecated"):
        setattr(attribute, flag, bool(spec.get(flag)))
    if "nested_type" in spec:
        nested = spec["nested_type"]
        attribute.nested_type.nesting = NESTING[nested["nesting_mode"]]
        for inner_name, inner in sorted(nested["attributes"].items()):
            attribute.nested_type.attributes.append(attribute_message(inner_name, inner))
    else:
        attribute.type = json.dumps(spec["type"], separators=(",", ":")).encode()
    return attribute


def block_message(spec: dict[str, Any]) -> Any:
    block = messages["SchemaBlock"]()
    for name, attribute in sorted(spec.get("attributes", {}).items()):
        block.attributes.append(attribute_message(name, attribute))
    for name, nested in sorted(spec.get("block_types", {}).items()):
        block.block_types.append(
            messages["SchemaNestedBlock"](
                type_name=name,
                block=block_message(nested["block"]),
                nesting=NESTING[nested["nesting_mode"]],
                min_items=nested.get("min_items", 0),
                max_items=nested.get("max_items", 0),
            )
        )
    return block


def schema_message(spec: dict[str, Any]) -> Any:
    return messages["Schema"](version=spec.get("version", 0), block=block_message(spec["block"]))


def capabilities() -> Any:
    # The schema never changes, so Terraform may reuse a cached copy instead of asking again.
    return messages["ServerCapabilities"](get_provider_schema_optional=True)


def provider_schema_response(document: dict[str, Any]) -> Any:
    response = messages["GetProviderSchemaResponse"](
        provider=schema_message(document["provider"]),
        provider_meta=messages["Schema"](block=messages["SchemaBlock"]()),
        server_capabilities=capabilities(),
    )
    for key in ("resource_schemas", "data_source_schemas"):
        entries = getattr(response, key)
        for type_name, spec in sorted(document[key].items()):
            entries.append(messages["SchemaEntry"](key=type_name, value=schema_message(spec)))
    return response


def error(summary: str, detail: str = "") -> Any:
    return messages["Diagnostic"](severity=ERROR, summary=summary, detail=detail)


# --------------------------------------------------------------------------------------------
# The gRPC services
# --------------------------------------------------------------------------------------------


class Provider:
    def __init__(self, document: dict[str, Any], shutdown: threading.Event) -> None:
        self.document = document
        self.shutdown = shutdown
        self.schema_bytes = provider_schema_response(document).SerializeToString()

    def handlers(self) -> dict[str, grpc.RpcMethodHandler]:
        m = messages
        methods: dict[str, tuple[str, Callable[[Any], Any]]] = {
            # method: (request message, handler of the request)
            "GetMetadata": ("Empty", self.get_metadata),
            "ValidateProviderConfig": ("Empty", lambda _: m["Diagnostics2"]()),
            "ValidateResourceConfig": ("TypeNameRequest", self.validate("resource_schemas")),
            "ValidateDataResourceConfig": ("TypeNameRequest", self.validate("data_source_schemas")),
            "ConfigureProvider": ("Empty", lambda _: m["Diagnostics1"]()),
            "StopProvider": ("Empty", lambda _: m["StopProviderResponse"]()),
            "GetFunctions": ("Empty", lambda _: m["Diagnostics2"]()),
            # Operations of a real provider, which a mocked one never forwards.
            "UpgradeResourceState": ("Empty", self.refuse("Diagnostics2")),
            "ReadResource": ("Empty", self.refuse("Diagnostics2")),
            "PlanResourceChange": ("Empty", self.refuse("Diagnostics4")),
            "ApplyResourceChange": ("Empty", self.refuse("Diagnostics3")),
            "ImportResourceState": ("Empty", self.refuse("Diagnostics2")),
            "ReadDataSource": ("Empty", self.refuse("Diagnostics2")),
            "ValidateEphemeralResourceConfig": ("Empty", self.refuse("Diagnostics1")),
        }
        handlers = {name: unary(request, handler) for name, (request, handler) in methods.items()}
        # The schema is encoded once: every instance of the provider asks for it.
        handlers["GetProviderSchema"] = grpc.unary_unary_rpc_method_handler(
            lambda _request, _context: self.schema_bytes,
            request_deserializer=m["Empty"].FromString,
            response_serializer=lambda data: data,
        )
        return handlers

    def get_metadata(self, _request: Any) -> Any:
        response = messages["GetMetadataResponse"](server_capabilities=capabilities())
        for type_name in sorted(self.document["resource_schemas"]):
            response.resources.append(messages["TypeName"](type_name=type_name))
        for type_name in sorted(self.document["data_source_schemas"]):
            response.data_sources.append(messages["TypeName"](type_name=type_name))
        return response

    def validate(self, key: str) -> Callable[[Any], Any]:
        def handler(request: Any) -> Any:
            response = messages["Diagnostics1"]()
            if request.type_name not in self.document[key]:
                response.diagnostics.append(
                    error(
                        f"Unsupported type {request.type_name}", "It is not in the v6 subset (schema.json)."
                    )
                )
            return response

        return handler

    def refuse(self, response: str) -> Callable[[Any], Any]:
        def handler(_request: Any) -> Any:
            return messages[response](diagnostics=[error("Not supported by this provider", NOT_SERVED)])

        return handler


def unary(request: str, handler: Callable[[Any], Any]) -> grpc.RpcMethodHandler:
    """A unary method whose handler takes the decoded request (gRPC's context is not needed)."""
    return grpc.unary_unary_rpc_method_handler(
        lambda message, _context: handler(message),
        request_deserializer=messages[request].FromString,
        response_serializer=lambda response: response.SerializeToString(),
    )


def controller_handlers(shutdown: threading.Event) -> dict[str, grpc.RpcMethodHandler]:
    """go-plugin's GRPCController: Shutdown ends the process once the answer is out."""

    def do_shutdown(_request: Any) -> Any:
        shutdown.set()
        return messages["Empty"]()

    return {"Shutdown": unary("Empty", do_shutdown)}


def stdio_handlers() -> dict[str, grpc.RpcMethodHandler]:
    """go-plugin's GRPCStdio: this plugin forwards no output, so the stream ends at once."""

    def stream(_request: Any, _context: Any) -> Iterator[bytes]:
        return iter(())

    return {
        "StreamStdio": grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=messages["Empty"].FromString, response_serializer=lambda data: data
        )
    }


# --------------------------------------------------------------------------------------------
# go-plugin: TLS certificate, handshake line, lifetime
# --------------------------------------------------------------------------------------------


def server_certificate() -> tuple[bytes, bytes, bytes]:
    """(certificate DER, certificate PEM, key PEM): a short-lived self-signed one for localhost.

    Terraform sends its own certificate in PLUGIN_CLIENT_CERT and then trusts exactly the one the
    plugin prints in its handshake line, for the server name localhost.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (
        certificate.public_bytes(serialization.Encoding.DER),
        certificate.public_bytes(serialization.Encoding.PEM),
        key_pem,
    )


def serve() -> int:
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        print("This is a Terraform provider plugin; Terraform starts it, not a person.", file=sys.stderr)
        return 1
    offered = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(PROTOCOL_VERSION)).split(",")
    if str(PROTOCOL_VERSION) not in offered:
        print(
            f"Terraform offers plugin protocols {offered}; this one speaks {PROTOCOL_VERSION}.",
            file=sys.stderr,
        )
        return 1
    # Terraform stops its plugins itself (StopProvider, Shutdown); Ctrl-C is for Terraform only.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    shutdown = threading.Event()
    provider = Provider(document, shutdown)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler("tfplugin6.Provider", provider.handlers()),
            grpc.method_handlers_generic_handler("plugin.GRPCController", controller_handlers(shutdown)),
            grpc.method_handlers_generic_handler("plugin.GRPCStdio", stdio_handlers()),
        )
    )

    with tempfile.TemporaryDirectory(prefix="tf-aws-v6-") as directory:
        socket = f"{directory}/plugin.sock"
        certificate = ""
        if os.environ.get("PLUGIN_CLIENT_CERT"):
            der, pem, key = server_certificate()
            server.add_secure_port(f"unix:{socket}", grpc.ssl_server_credentials([(key, pem)]))
            certificate = base64.b64encode(der).decode().rstrip("=")
        else:
            server.add_insecure_port(f"unix:{socket}")
        server.start()
        print(f"1|{PROTOCOL_VERSION}|unix|{socket}|grpc|{certificate}", flush=True)

        parent = os.getppid()
        # Ends on Shutdown, or when Terraform is gone without saying so.
        while not shutdown.wait(1.0):
            if os.getppid() != parent:
                break
        server.stop(grace=1.0).wait()
    return 0


if __name__ == "__main__":
    sys.exit(serve())
