"""CloudWatch units and the UCUM units CloudWatch writes for them in its OpenTelemetry 1.0 output.

The table is the one AWS documents for the OpenTelemetry 1.0.0 format ("Translations with
OpenTelemetry 1.0.0 format in CloudWatch"): each CloudWatch unit has a case-sensitive UCUM form, and
`X/Second` maps to the form of X followed by `/s`. The mapping is one to one on CloudWatch's 27 units,
so a unit survives the trip both ways. Where it cannot: AWS's own 1.0 sample writes `NoneTranslated` for
`None`, which reads back as `None` too, and a unit outside the table is passed through unchanged both
ways.
"""

from __future__ import annotations

_BASE = {
    "Seconds": "s",
    "Microseconds": "us",
    "Milliseconds": "ms",
    "Bytes": "By",
    "Kilobytes": "kBy",
    "Megabytes": "MBy",
    "Gigabytes": "GBy",
    "Terabytes": "TBy",
    "Bits": "bit",
    "Kilobits": "kbit",
    "Megabits": "MBit",
    "Gigabits": "GBit",
    "Terabits": "Tbit",
    "Percent": "%",
    "Count": "{Count}",
    "None": "1",
}
# Every base unit but Seconds, Microseconds, Milliseconds, Percent and None has an `X/Second` form.
_PER_SECOND = [
    unit for unit in _BASE if unit not in ("Seconds", "Microseconds", "Milliseconds", "Percent", "None")
]

TO_UCUM: dict[str, str] = {**_BASE, **{f"{unit}/Second": f"{_BASE[unit]}/s" for unit in _PER_SECOND}}
FROM_UCUM: dict[str, str] = {ucum: unit for unit, ucum in TO_UCUM.items()} | {"NoneTranslated": "None"}


def to_ucum(unit: str) -> str:
    """The unit CloudWatch's OpenTelemetry 1.0 output gives a CloudWatch unit."""
    return TO_UCUM.get(unit, unit)


def from_ucum(unit: str) -> str:
    """The CloudWatch unit behind a unit of CloudWatch's OpenTelemetry 1.0 output."""
    return FROM_UCUM.get(unit, unit)
