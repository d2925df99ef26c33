"""The messages of Terraform's plugin protocol 6 that the test-only provider exchanges.

Only field numbers and wire types matter on the wire, so the messages are declared here as flat
protobuf descriptors rather than compiled from a .proto file: nested messages get flat names,
enums are int32 (the same varint encoding), and a map<string, V> is the repeated entry message it
is encoded as. Requests whose content the plugin never reads are parsed as Empty (protobuf skips
unknown fields). Field numbers follow tfplugin6.proto of protocol 6.9 (Terraform 1.11).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES, "bool": _F.TYPE_BOOL, "int64": _F.TYPE_INT64}
_PACKAGE = "cwotlp_tests.tfplugin6"

# name -> "type name=number; repeated type name=number; ..." (int32 stands for an enum).
_MESSAGES = {
    "Empty": "",
    "DynamicValue": "bytes msgpack=1; bytes json=2",
    "Diagnostic": "int32 severity=1; string summary=2; string detail=3",
    "Schema": "int64 version=1; SchemaBlock block=2",
    "SchemaBlock": (
        "int64 version=1; repeated SchemaAttribute attributes=2; repeated SchemaNestedBlock block_types=3;"
        " string description=4; int32 description_kind=5; bool deprecated=6"
    ),
    "SchemaAttribute": (
        "string name=1; bytes type=2; SchemaObject nested_type=10; string description=3; bool required=4;"
        " bool optional=5; bool computed=6; bool sensitive=7; int32 description_kind=8; bool deprecated=9;"
        " bool write_only=11"
    ),
    "SchemaNestedBlock": (
        "string type_name=1; SchemaBlock block=2; int32 nesting=3; int64 min_items=4; int64 max_items=5"
    ),
    "SchemaObject": "repeated SchemaAttribute attributes=1; int32 nesting=3",
    "SchemaEntry": "string key=1; Schema value=2",
    "ServerCapabilities": (
        "bool plan_destroy=1; bool get_provider_schema_optional=2; bool move_resource_state=3"
    ),
    "TypeName": "string type_name=1",
    "GetMetadataResponse": (
        "ServerCapabilities server_capabilities=1; repeated Diagnostic diagnostics=2;"
        " repeated TypeName data_sources=3; repeated TypeName resources=4"
    ),
    "GetProviderSchemaResponse": (
        "Schema provider=1; repeated SchemaEntry resource_schemas=2;"
        " repeated SchemaEntry data_source_schemas=3; repeated Diagnostic diagnostics=4;"
        " Schema provider_meta=5; ServerCapabilities server_capabilities=6"
    ),
    # ValidateResourceConfig.Request and ValidateDataResourceConfig.Request begin with type_name = 1.
    "TypeNameRequest": "string type_name=1",
    # Responses that carry nothing but diagnostics, by the field number of their diagnostics.
    "Diagnostics1": "repeated Diagnostic diagnostics=1",
    "Diagnostics2": "repeated Diagnostic diagnostics=2",
    "Diagnostics3": "repeated Diagnostic diagnostics=3",
    "Diagnostics4": "repeated Diagnostic diagnostics=4",
    "StopProviderResponse": "string Error=1",
}

# Enum values.
ERROR = 1
NESTING = {"single": 1, "list": 2, "set": 3, "map": 4, "group": 5}


def _build() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="tfplugin6_subset.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, spec in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for declaration in filter(None, (part.strip() for part in spec.split(";"))):
            words = declaration.split()
            repeated = words[0] == "repeated"
            type_name, assignment = words[-2], words[-1]
            field_name, number = assignment.split("=")
            field = message.field.add(name=field_name, number=int(number))
            field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
            if type_name == "int32":
                field.type = _F.TYPE_INT32
            elif type_name in _SCALARS:
                field.type = _SCALARS[type_name]
            else:
                field.type = _F.TYPE_MESSAGE
                field.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


messages = _build()
