"""Which pNN statistics of a record a summary sends as quantiles, and in what order.

A summary's quantiles must be strictly increasing, with min and max standing for 0 and 1; the pNN
statistics go between them (p99 as 0.99), in order, and a statistic that is no pNN, out of range, a
repeat of another's quantile or not a finite number is dropped and counted. The records of a stream
name the same statistics, so the order is worked out once per set of names (a plan).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cwotlp.otlp.encoding import Encoding
from cwotlp.otlp.yace import STATISTICS

SUMMARY_STATISTICS = frozenset(STATISTICS)  # count, sum, min, max and the like: never quantiles

# The statistics sent, in order; the %-template of their entries (`Encoding.quantile_entry`); how many
# of the others are dropped.
Plan = tuple[tuple[str, ...], bytes, int]


def finite(number: Any) -> bool:
    """Whether a statistic's value can be sent: a finite float or int (not a bool)."""
    return (type(number) is float or type(number) is int) and not number - number


def quantile_of(statistic: str) -> float | None:
    """The quantile a `pNN` statistic stands for (p99 -> 0.99, p99.9 -> 0.999), or None.

    Decimal keeps the division exact: 99.9 / 100 in binary floating point is 0.9990000000000001.
    """
    if not statistic.startswith("p"):
        return None
    # Imported here: the module takes a few milliseconds to load, and most objects never need it.
    from decimal import Decimal, InvalidOperation

    try:
        percent = Decimal(statistic[1:])
    except InvalidOperation:
        return None
    if not percent.is_finite() or not 0 <= percent <= 100:
        return None
    return float(percent.scaleb(-2))


class Percentiles:
    """The quantile entries of records under one encoding; `remember` is told what each plan keeps
    (bytes, roughly), for the converter's memory bound, which calls `forget`."""

    def __init__(self, encoding: Encoding, remember: Callable[[int], None]) -> None:
        self._encoding = encoding
        self._remember = remember
        self._plans: dict[tuple[str, ...], Plan] = {}
        self._quantiles: dict[str, tuple[float, bytes] | None] = {}
        self.dropped = 0

    def forget(self) -> None:
        self._plans.clear()
        self._quantiles.clear()

    def entries(self, value: dict[str, Any]) -> bytes:
        """Quantile entries for the pNN statistics of a record's value, in increasing order; counts the
        others dropped. A record with a number that cannot be sent gets a plan of its own without that
        statistic, so its place goes to the next one."""
        names = tuple(value)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = self._plan(names)
            self._remember(100 + 150 * len(names))
        entries = self._entries(plan, value)
        if entries is None:
            sendable = tuple(
                name for name, number in value.items() if name in SUMMARY_STATISTICS or finite(number)
            )
            self.dropped += len(names) - len(sendable)
            plan = self._plan(sendable)
            entries = self._entries(plan, value)
            assert entries is not None  # every number of the plan can be sent
        self.dropped += plan[2]
        return entries

    def _entries(self, plan: Plan, value: dict[str, Any]) -> bytes | None:
        """The encoded quantile entries of the plan's statistics, or None if a number cannot be sent."""
        number, numbers = self._encoding.quantile_number, []
        for statistic in plan[0]:
            found = value[statistic]
            if (type(found) is not float and type(found) is not int) or found - found:  # finite(), inline
                return None
            numbers.append(number(found))
        return plan[1] % tuple(numbers)

    def _plan(self, names: tuple[str, ...]) -> Plan:
        """Which of the statistics `names` are sent as quantiles, in order, the template of their
        entries, and how many of the others are dropped."""
        found: list[tuple[float, str, bytes]] = []
        dropped = 0
        for statistic in names:
            if statistic in SUMMARY_STATISTICS:
                continue
            quantile = self._quantile(statistic)
            if quantile is None:
                dropped += 1
            else:
                found.append((quantile[0], statistic, quantile[1]))
        found.sort()
        sent, entries = [], []
        previous = 0.0
        for position, statistic, entry in found:
            # min and max already stand for quantiles 0 and 1; keep the sequence strictly increasing.
            if previous < position < 1.0:
                sent.append(statistic)
                entries.append(entry)
                previous = position
            else:
                dropped += 1
        return tuple(sent), b"".join(entries), dropped

    def _quantile(self, statistic: str) -> tuple[float, bytes] | None:
        """The quantile of a statistic and its entry's template, or None if it is no pNN."""
        if statistic not in self._quantiles:
            quantile = quantile_of(statistic)
            found = None if quantile is None else (quantile, self._encoding.quantile_entry(quantile))
            self._quantiles[statistic] = found
            self._remember(150 + len(statistic))
            return found
        return self._quantiles[statistic]
