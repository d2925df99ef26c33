"""CloudWatch units and the UCUM units of CloudWatch's OpenTelemetry 1.0 output, both ways.

Expected values: AWS's "Translations with OpenTelemetry 1.0.0 format in CloudWatch" page, whose table
maps each base unit and says that `X/Second` maps to the form of X followed by `/s`; the 27 units are
the `Unit` values of CloudWatch's MetricDatum.
"""

from __future__ import annotations

import pytest

from cwotlp.otlp.units import FROM_UCUM, TO_UCUM, from_ucum, to_ucum

CLOUDWATCH_TO_UCUM = {
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
    "Bytes/Second": "By/s",
    "Kilobytes/Second": "kBy/s",
    "Megabytes/Second": "MBy/s",
    "Gigabytes/Second": "GBy/s",
    "Terabytes/Second": "TBy/s",
    "Bits/Second": "bit/s",
    "Kilobits/Second": "kbit/s",
    "Megabits/Second": "MBit/s",
    "Gigabits/Second": "GBit/s",
    "Terabits/Second": "Tbit/s",
    "Count/Second": "{Count}/s",
    "None": "1",
}


def test_all_27_cloudwatch_units_are_in_the_table() -> None:
    assert len(CLOUDWATCH_TO_UCUM) == 27
    assert TO_UCUM == CLOUDWATCH_TO_UCUM


@pytest.mark.parametrize(("unit", "ucum"), sorted(CLOUDWATCH_TO_UCUM.items()))
def test_each_unit_both_ways(unit: str, ucum: str) -> None:
    assert to_ucum(unit) == ucum
    assert from_ucum(ucum) == unit
    assert from_ucum(to_ucum(unit)) == unit


def test_the_mapping_is_one_to_one() -> None:
    assert len(set(CLOUDWATCH_TO_UCUM.values())) == 27


def test_none_translated_reads_back_as_none() -> None:
    # AWS's own 1.0 sample writes NoneTranslated for a unit of None, where the table says 1.
    assert from_ucum("NoneTranslated") == "None"
    assert FROM_UCUM["1"] == "None"
    assert to_ucum("None") == "1"


@pytest.mark.parametrize("unit", ["", "Requests", "seconds", "COUNT", "Bytes/Minute", "{Count}x"])
def test_units_outside_the_table_pass_through_both_ways(unit: str) -> None:
    assert to_ucum(unit) == unit
    assert from_ucum(unit) == unit
