"""Metric and label names as yet-another-cloudwatch-exporter (YACE) writes them, for dashboards and
alerts built on YACE.

The rules (YACE's pkg/promutil, as of its release line 0.6x):
- a name part is made lower snake case: the separators ` ,\\t/\\.-:=@<>()“` become `_`, `%` becomes
  `_percent`, and an upper-case letter after a lower-case letter or a digit gets a `_` before it
  (`CPUUtilization` -> `cpuutilization`, `HTTPCode_Target_5XX_Count` -> `httpcode_target_5_xx_count`);
- a metric is `aws_<namespace>_<metric>_<statistic>`: the namespace lower-cased before conversion
  (`AWS/ApplicationELB` -> `aws_applicationelb`), `aws_` added when it does not start with `aws`, a
  metric name that repeats the start of the namespace loses it (`AWS/RDS` `RDSToAuroraPostgreSQLReplicaLag`
  -> `aws_rds_to_aurora_postgre_sqlreplica_lag`), and the statistic converted likewise (`Average`,
  `Sum`, `Maximum`, `Minimum`, `SampleCount` -> `sample_count`, `p99.9` -> `p99_9`);
- a label keeps its case with the separators replaced (`dimension_InstanceId`), and is left out when
  the result is not a valid Prometheus label name.
"""

from __future__ import annotations

import re

_SEPARATORS = frozenset(" ,\t/\\.-:=@<>()“")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_SEPARATOR_TABLE = {ord(c): "_" for c in _SEPARATORS} | {ord("%"): "_percent"}

# The statistics of a CloudWatch record (its `value` keys) by YACE's statistic names.
STATISTICS = {"sum": "Sum", "count": "SampleCount", "min": "Minimum", "max": "Maximum"}


def snake(text: str) -> str:
    """A name part in YACE's lower snake case."""
    out = []
    previous = ""
    for char in text:
        if char in _SEPARATORS:
            out.append("_")
        elif char == "%":
            out.append("_percent")
        else:
            if char.isupper() and (previous.islower() or previous.isdigit()):
                out.append("_")
            out.append(char.lower())
        previous = char
    return "".join(out)


def metric_name(namespace: str, metric: str, statistic: str) -> str:
    """The gauge YACE exports for one statistic of a CloudWatch metric."""
    prefix = snake(namespace.removeprefix("/").lower())
    name = prefix if prefix.startswith("aws") else f"aws_{prefix}"
    part = snake(metric)
    skip = 0
    for word in prefix.split("_"):
        if part[skip:].startswith(word):
            skip = len(word)  # not +=: YACE counts only the last word matched, and names must match its
    part = part[skip:].removeprefix("_")
    return f"{name}_{part}_{snake(statistic)}" if statistic else f"{name}_{part}"


def label_name(prefix: str, name: str) -> str | None:
    """`prefix` + the name with separators replaced and case kept, or None when not a valid label."""
    text = name.translate(_SEPARATOR_TABLE)
    return prefix + text if _LABEL.fullmatch(text) else None
