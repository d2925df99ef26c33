"""Generates the hashicorp/aws v6 schema subset that the test-only provider plugin serves.

The source is the PyPI package cdktn-provider-aws (pinned in requirements-schema.txt), which is
generated from the real provider's schema. Inside it, cdktn_provider_aws/_jsii/*.jsii.tgz is the
npm package of the bindings; its lib/<type>/index.js holds, for every resource and data source:

- the Terraform type name (``static tfResourceType = "aws_..."``);
- one comment per attribute, nested ones included, with the schema flags
  (``// name - computed: true, optional: true, required: false``);
- the getter of each attribute, whose kind gives the type of computed-only attributes
  (``getStringAttribute``, ``getNumberListAttribute``, ``cdktn.Fn.tolist(...)`` for sets, ...)
  and which marks write-only attributes (``@deprecated Write-only``);
- the HCL synthesis of each configurable attribute: whether it is a block, its collection kind
  (simple, list, set, map, struct) and its element type;
- nested blocks as classes: ``new XOutputReference(this, "name")`` is a block of at most one
  item, ``new XList(this, "name", wrapsSet)`` a list or set of them, ``type: "struct"`` a
  single-nested block (``timeouts``).

Only the types that this repository's .tf files use are written, with the provider's own
configuration schema, to aws_v6_provider/schema.json: sorted keys, one-space indent, so that
regenerating it gives the same bytes (tests/tools/test_aws_v6_provider.py checks that).

What the bindings cannot tell, and how it is filled in:
- min_items: 1 for a required block, 0 otherwise; max_items: 1 for a single-object block,
  unset otherwise (a list block limited by a validator reads as unlimited);
- a nested *attribute* (protocol 6 nested_type) looks like a block, except for maps, which
  only nested attributes can be;
- schema versions and sensitivity are not recorded: versions are 0, nothing is sensitive.

Usage: python generate_schema.py [--output PATH] [--root REPO_ROOT]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE = "cdktn-provider-aws"
HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
DEFAULT_OUTPUT = HERE / "schema.json"

# Directories whose .tf files are not part of the configuration.
SKIP_DIRS = {".terraform", ".git", "node_modules", "__pycache__"}

BLOCK_RE = re.compile(r'^\s*(resource|data)\s+"(aws_[a-z0-9_]+)"\s+"', re.MULTILINE)


class GenerateError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# Which types the repository uses
# --------------------------------------------------------------------------------------------


def tf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*.tf")):
        parts = path.relative_to(root).parts[:-1]
        if any(p in SKIP_DIRS or p.startswith(".venv") or p.startswith(".") for p in parts):
            continue
        found.append(path)
    return found


def used_types(root: Path) -> tuple[list[str], list[str]]:
    """(resource types, data source types) of hashicorp/aws declared in root's .tf files."""
    resources: set[str] = set()
    data_sources: set[str] = set()
    for path in tf_files(root):
        text = path.read_text(encoding="utf-8")
        # Comments could mention a block; drop # and // line comments first.
        text = re.sub(r"(?m)^\s*(#|//).*$", "", text)
        for kind, type_name in BLOCK_RE.findall(text):
            (resources if kind == "resource" else data_sources).add(type_name)
    return sorted(resources), sorted(data_sources)


# --------------------------------------------------------------------------------------------
# Reading the bindings
# --------------------------------------------------------------------------------------------


def package_tarball() -> tuple[str, Path]:
    try:
        dist = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise GenerateError(f"{PACKAGE} is not installed in this Python ({sys.executable})") from exc
    for file in dist.files or []:
        if file.name.endswith(".jsii.tgz") and "_jsii" in file.parts:
            return dist.version, Path(str(dist.locate_file(file)))
    raise GenerateError(f"no jsii assembly tarball found in {PACKAGE} {dist.version}")


def lib_dir(kind: str, type_name: str) -> str:
    """The bindings' directory of a type: aws_s3_bucket -> s3-bucket, data aws_x -> data-aws-x."""
    if kind == "provider":
        return "provider"
    stem = type_name.replace("_", "-")
    return f"data-{stem}" if kind == "data" else stem.removeprefix("aws-")


def read_sources(tarball: Path, wanted: dict[str, tuple[str, str]]) -> dict[tuple[str, str], str]:
    """index.js of every wanted lib directory, by (kind, type); a second pass finds renamed ones."""
    members = {f"package/lib/{d}/index.js": key for d, key in wanted.items()}
    found: dict[tuple[str, str], str] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:
            key = members.get(member.name)
            if key is not None:
                found[key] = _read(tar, member)
    missing = [key for key in wanted.values() if key not in found]
    if missing:
        # A type whose directory is not named after it: look for its tfResourceType.
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar:
                if not (member.name.startswith("package/lib/") and member.name.endswith("/index.js")):
                    continue
                text = _read(tar, member)
                match = re.search(r'static tfResourceType = "([\w]+)";', text)
                if not match:
                    continue
                is_data = "extends cdktn.TerraformDataSource" in text
                key = ("data" if is_data else "resource", match.group(1))
                if key in missing:
                    found[key] = text
        still = [f"{k} {t}" for k, t in wanted.values() if (k, t) not in found]
        if still:
            raise GenerateError(f"not in {PACKAGE}: {', '.join(still)}")
    return found


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> str:
    handle = tar.extractfile(member)
    if handle is None:
        raise GenerateError(f"cannot read {member.name}")
    return handle.read().decode("utf-8")


# --------------------------------------------------------------------------------------------
# Parsing one index.js
# --------------------------------------------------------------------------------------------

FLAGS_RE = re.compile(
    r"^    // (\w+) - computed: (true|false), optional: (true|false), required: (true|false)$", re.M
)
CLASS_RE = re.compile(r"^class (\w+) extends ([\w.]+) \{$(.*?)^\}$", re.M | re.S)
FUNCTION_RE = re.compile(r"^function (\w+)\(struct\) \{$(.*?)^\}$", re.M | re.S)
HCL_ENTRY_RE = re.compile(
    r'^\s+"?(\w+)"?: \{\n\s+value: [^\n]*\n\s+isBlock: (true|false),\n\s+type: "(\w+)",\n'
    r'\s+storageClassType: "(\w+)",\n',
    re.M,
)
NEW_RE = re.compile(r'_\w+ = new ([\w.]+)\(this, "(\w+)"(?:, (true|false))?\);')
GETTER_RE = re.compile(r"return (cdktn\.Fn\.tolist\()?this\.(\w+)\('(\w+)'\)")

SIMPLE_TYPES = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
ELEMENT_TYPES = {
    "stringList": ["list", "string"],
    "numberList": ["list", "number"],
    "booleanList": ["list", "bool"],
    "stringMap": ["map", "string"],
    "numberMap": ["map", "number"],
    "booleanMap": ["map", "bool"],
    "stringListList": ["list", ["list", "string"]],
    "stringListMap": ["map", ["list", "string"]],
    "stringMapList": ["list", ["map", "string"]],
    "stringMapMap": ["map", ["map", "string"]],
}
GETTER_TYPES: dict[str, Any] = {
    "getStringAttribute": "string",
    "getNumberAttribute": "number",
    "getBooleanAttribute": "bool",
    "getListAttribute": ["list", "string"],
    "getNumberListAttribute": ["list", "number"],
    "getStringMapAttribute": ["map", "string"],
    "getNumberMapAttribute": ["map", "number"],
    "getBooleanMapAttribute": ["map", "bool"],
    "getAnyMapAttribute": ["map", "dynamic"],
    "interpolationForAttribute": "dynamic",
}
MAP_CLASSES = {
    "cdktn.StringMap": ["map", "string"],
    "cdktn.NumberMap": ["map", "number"],
    "cdktn.BooleanMap": ["map", "bool"],
}


@dataclass
class Member:
    """One attribute or block of a class, as its comment, getter and synthesis describe it."""

    name: str
    computed: bool
    optional: bool
    required: bool
    write_only: bool = False
    getter: str | None = None
    tolist: bool = False
    nested_class: str | None = None
    wraps_set: bool = False


@dataclass
class HclEntry:
    is_block: bool
    kind: str
    storage: str


@dataclass
class Module:
    """The classes and synthesis functions of one index.js."""

    source: str
    classes: dict[str, tuple[str, str]] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, source: str) -> Module:
        module = cls(source)
        for name, base, body in CLASS_RE.findall(source):
            module.classes[name] = (base, body)
        for name, body in FUNCTION_RE.findall(source):
            module.functions[name] = body
        return module

    def main_class(self, base: str) -> tuple[str, str]:
        for name, (class_base, body) in self.classes.items():
            if class_base == base:
                return name, body
        raise GenerateError(f"no class extending {base}")

    def members(self, class_name: str) -> list[Member]:
        _, body = self.classes[class_name]
        marks = list(FLAGS_RE.finditer(body))
        members = []
        for i, mark in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
            segment = body[mark.end() : end]
            name, computed, optional, required = mark.groups()
            member = Member(name, computed == "true", optional == "true", required == "true")
            member.write_only = "@deprecated Write-only" in segment
            new = NEW_RE.search(segment)
            if new and new.group(2) == name:
                member.nested_class = new.group(1)
                member.wraps_set = new.group(3) == "true"
            else:
                getter = GETTER_RE.search(segment)
                if not getter or getter.group(3) != name:
                    raise GenerateError(f"{class_name}.{name}: no getter found")
                member.getter = getter.group(2)
                member.tolist = bool(getter.group(1))
            members.append(member)
        return members

    def hcl(self, function_body: str) -> dict[str, HclEntry]:
        return {
            name: HclEntry(is_block == "true", kind, storage)
            for name, is_block, kind, storage in HCL_ENTRY_RE.findall(function_body)
        }

    def hcl_of_class(self, class_name: str) -> dict[str, HclEntry]:
        """HCL synthesis of a nested struct: XOutputReference -> function xToHclTerraform."""
        struct = class_name.removesuffix("OutputReference")
        function = struct[0].lower() + struct[1:] + "ToHclTerraform"
        return self.hcl(self.functions.get(function, ""))

    def element_class(self, collection_class: str) -> str:
        """The OutputReference class a List or Map class hands out."""
        _, body = self.classes[collection_class]
        match = re.search(r"return new (\w+OutputReference)\(", body)
        if not match:
            raise GenerateError(f"{collection_class}: no element class")
        return match.group(1)


# --------------------------------------------------------------------------------------------
# Building schema blocks
# --------------------------------------------------------------------------------------------


def flags(member: Member) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag in ("required", "optional", "computed", "write_only"):
        if getattr(member, flag):
            out[flag] = True
    return out


def simple_type(entry: HclEntry, where: str) -> Any:
    if entry.kind == "simple":
        if entry.storage not in SIMPLE_TYPES:
            raise GenerateError(f"{where}: unknown simple type {entry.storage}")
        return SIMPLE_TYPES[entry.storage]
    if entry.storage not in ELEMENT_TYPES:
        raise GenerateError(f"{where}: unknown collection type {entry.storage}")
    element = ELEMENT_TYPES[entry.storage]
    if entry.kind == "set" and element[0] == "list":
        return ["set", element[1]]
    if entry.kind not in ("list", "map", "set") or (entry.kind == "map") != (element[0] == "map"):
        raise GenerateError(f"{where}: {entry.kind} of {entry.storage}")
    return element


def computed_type(module: Module, member: Member, where: str) -> Any:
    """The type of an attribute that only the provider sets, from its getter or nested class."""
    if member.nested_class:
        if member.nested_class in MAP_CLASSES:
            return MAP_CLASSES[member.nested_class]
        if member.nested_class.endswith("OutputReference"):
            return object_type(module, member.nested_class, where)
        element = object_type(module, module.element_class(member.nested_class), where)
        if member.nested_class.endswith("Map"):
            return ["map", element]
        return ["set" if member.wraps_set else "list", element]
    assert member.getter is not None
    if member.getter not in GETTER_TYPES:
        raise GenerateError(f"{where}: unknown getter {member.getter}")
    kind = GETTER_TYPES[member.getter]
    if member.tolist:
        return ["set", kind[1]]
    return kind


def object_type(module: Module, class_name: str, where: str) -> Any:
    attributes = {}
    for member in module.members(class_name):
        attributes[member.name] = computed_type(module, member, f"{where}.{member.name}")
    return ["object", attributes]


def block(module: Module, class_name: str, hcl: dict[str, HclEntry], where: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    block_types: dict[str, Any] = {}
    for member in module.members(class_name):
        path = f"{where}.{member.name}"
        entry = hcl.get(member.name)
        if entry is None:
            # Not configurable: a computed-only attribute.
            if not member.computed or member.optional or member.required:
                raise GenerateError(f"{path}: configurable but not synthesised")
            attributes[member.name] = {"type": computed_type(module, member, path), **flags(member)}
        elif not entry.is_block:
            attributes[member.name] = {"type": simple_type(entry, path), **flags(member)}
        elif entry.kind == "map":
            attributes[member.name] = map_attribute(module, member, path)
        else:
            block_types[member.name] = nested_block(module, member, entry, path)
    out: dict[str, Any] = {"attributes": attributes}
    if block_types:
        out["block_types"] = block_types
    return out


def inner_block(module: Module, member: Any, path: str) -> tuple[dict[str, Any], bool]:
    """The schema of a member's nested class, and whether it is a single block (an OutputReference)."""
    if not member.nested_class:
        raise GenerateError(f"{path}: a block without a nested class")
    single = member.nested_class.endswith("OutputReference")
    element = member.nested_class if single else module.element_class(member.nested_class)
    return block(module, element, module.hcl_of_class(element), path), single


def map_attribute(module: Module, member: Any, path: str) -> dict[str, Any]:
    """A map of objects, which only a nested attribute can be."""
    inner, _ = inner_block(module, member, path)
    if inner.get("block_types"):
        raise GenerateError(f"{path}: blocks inside a map attribute")
    return {"nested_type": {"nesting_mode": "map", "attributes": inner["attributes"]}, **flags(member)}


def nested_block(module: Module, member: Any, entry: HclEntry, path: str) -> dict[str, Any]:
    inner, single = inner_block(module, member, path)
    found: dict[str, Any] = {"block": inner}
    if entry.kind == "struct":
        found["nesting_mode"] = "single"
    elif entry.kind in ("list", "set"):
        found["nesting_mode"] = entry.kind
        if single:
            found["max_items"] = 1
    else:
        raise GenerateError(f"{path}: unknown block kind {entry.kind}")
    if member.required:
        found["min_items"] = 1
    return found


def type_schema(source: str, base: str, type_name: str) -> dict[str, Any]:
    module = Module.parse(source)
    class_name, body = module.main_class(base)
    declared = re.search(r'static tfResourceType = "(\w+)";', body)
    if not declared or declared.group(1) != type_name:
        raise GenerateError(f"{class_name} is not {type_name}")
    hcl = module.hcl(_method(body, "synthesizeHclAttributes"))
    return {"version": 0, "block": block(module, class_name, hcl, type_name)}


def provider_schema(source: str, declarations: str) -> tuple[str, dict[str, Any]]:
    """The provider's configuration: every argument is optional (checked against index.d.ts)."""
    if re.search(r"^\s+readonly \w+: ", declarations, re.M):
        raise GenerateError("the provider has required arguments; this generator assumes none")
    module = Module.parse(source)
    _, body = module.main_class("cdktn.TerraformProvider")
    version = re.search(r"providerVersion: '([\d.]+)'", body)
    if not version:
        raise GenerateError("no providerVersion in the provider class")

    def provider_block(hcl: dict[str, HclEntry], where: str) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        block_types: dict[str, Any] = {}
        for name, entry in hcl.items():
            if entry.is_block:
                struct = entry.storage.removesuffix("List")
                inner = module.hcl(module.functions[struct[0].lower() + struct[1:] + "ToHclTerraform"])
                block_types[name] = {
                    "nesting_mode": entry.kind,
                    "block": provider_block(inner, f"{where}.{name}"),
                }
            else:
                attributes[name] = {"type": simple_type(entry, f"{where}.{name}"), "optional": True}
        out: dict[str, Any] = {"attributes": attributes}
        if block_types:
            out["block_types"] = block_types
        return out

    hcl = module.hcl(_method(body, "synthesizeHclAttributes"))
    return version.group(1), {"version": 0, "block": provider_block(hcl, "provider")}


def _method(class_body: str, name: str) -> str:
    match = re.search(rf"^    {name}\(\) \{{$(.*?)^    \}}$", class_body, re.M | re.S)
    if not match:
        raise GenerateError(f"no {name}() found")
    return match.group(1)


# --------------------------------------------------------------------------------------------


def generate(root: Path) -> str:
    package_version, tarball = package_tarball()
    resources, data_sources = used_types(root)
    wanted = {lib_dir("resource", t): ("resource", t) for t in resources}
    wanted |= {lib_dir("data", t): ("data", t) for t in data_sources}
    wanted["provider"] = ("provider", "aws")
    sources = read_sources(tarball, wanted)
    with tarfile.open(tarball, "r:gz") as tar:
        declarations = _read(tar, tar.getmember("package/lib/provider/index.d.ts"))

    provider_version, provider = provider_schema(sources[("provider", "aws")], declarations)
    document = {
        "format_version": 1,
        "generated_from": {"package": PACKAGE, "version": package_version},
        "provider_version": provider_version,
        "provider": provider,
        "resource_schemas": {
            t: type_schema(sources[("resource", t)], "cdktn.TerraformResource", t) for t in resources
        },
        "data_source_schemas": {
            t: type_schema(sources[("data", t)], "cdktn.TerraformDataSource", t) for t in data_sources
        },
    }
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write (- for stdout)")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository whose .tf files count")
    args = parser.parse_args(argv)
    try:
        text = generate(args.root.resolve())
    except GenerateError as exc:
        print(f"generate_schema: {exc}", file=sys.stderr)
        return 1
    if str(args.output) == "-":
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        document = json.loads(text)
        print(
            f"wrote {args.output}: aws {document['provider_version']}, "
            f"{len(document['resource_schemas'])} resource types, "
            f"{len(document['data_source_schemas'])} data sources"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
