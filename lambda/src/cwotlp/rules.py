"""Drop and keep rules: which records to forward, decided before conversion.

A rule matches a record when every field it gives matches: `namespace` and `metric_name` are globs
(`*`, `?`, `[...]`, case-sensitive), and `dimensions` maps dimension names to value globs (the record
must have each named dimension). A record is dropped when a drop rule matches it, or when keep rules
exist and none matches it. They cut cardinality where the metric stream's own filters cannot: those
stop at metric names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any

DROPPED_BY_RULE = "dropped_by_rule"
ACTIONS = ("drop", "keep")
FIELDS = frozenset(("action", "namespace", "metric_name", "dimensions"))

Matcher = Callable[[str], object]


def _glob(pattern: str) -> Matcher:
    return re.compile(translate(pattern)).match


@dataclass(frozen=True)
class Rule:
    action: str
    namespace: str = "*"
    metric_name: str = "*"
    dimensions: Mapping[str, str] = field(default_factory=dict)

    def matcher(self) -> Callable[[Any], bool]:
        namespace, metric_name = _glob(self.namespace), _glob(self.metric_name)
        dimensions = [(name, _glob(value)) for name, value in self.dimensions.items()]

        def matches(record: Any) -> bool:
            if not (namespace(record["namespace"]) and metric_name(record["metric_name"])):
                return False
            present = record.get("dimensions") or {}
            return all(name in present and value(present[name]) for name, value in dimensions)

        return matches


def parse_rules(value: Any, origin: str) -> tuple[Rule, ...]:
    """Rules from their JSON form; ValueError names the rule and field at fault."""
    if not isinstance(value, list):
        raise ValueError(f"{origin} must be a JSON list of rules")
    rules = []
    for index, item in enumerate(value):
        where = f"{origin}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        unknown = set(item) - FIELDS
        if unknown:
            raise ValueError(f"{where} has unknown fields {sorted(unknown)}; use {sorted(FIELDS)}")
        if item.get("action") not in ACTIONS:
            raise ValueError(f"{where}: action must be drop or keep")
        for name in ("namespace", "metric_name"):
            if not isinstance(item.get(name, "*"), str):
                raise ValueError(f"{where}: {name} must be a string (a glob)")
        dimensions = item.get("dimensions", {})
        if not isinstance(dimensions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in dimensions.items()
        ):
            raise ValueError(f"{where}: dimensions must be an object of name -> value glob")
        rules.append(Rule(**item))
    return tuple(rules)


def record_filter(rules: tuple[Rule, ...]) -> Callable[[Any], bool] | None:
    """A predicate that is true for records to forward, or None when there are no rules."""
    if not rules:
        return None
    drops = [rule.matcher() for rule in rules if rule.action == "drop"]
    keeps = [rule.matcher() for rule in rules if rule.action == "keep"]

    def forward(record: Any) -> bool:
        try:
            if keeps and not any(keep(record) for keep in keeps):
                return False
            return not any(drop(record) for drop in drops)
        except (KeyError, TypeError, AttributeError):
            return True  # not a metric record: the converter counts it

    return forward
