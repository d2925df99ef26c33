"""The forwarder's Lambda cost: CPU-seconds per million datapoints of its own work, and what that makes in
GB-seconds at the module's default memory. python cost.py OBJECT RUNS prints one JSON line.

The work timed is everything the Lambda does to an object but the network: gunzip, parse, convert,
encode and gzip every request, with the forwarder's defaults, which are the module's (cloudwatch naming,
OTLP JSON, 3 MiB requests), in a process set as the Lambda's is (cwotlp.process). It runs in this process
with time.process_time(), so neither interpreter start nor the machine's other load counts. Lambda gives
a function one vCPU per 1,769 MB and the forwarder uses one thread, so GB-seconds = CPU-seconds x 1,769 /
1,024 whatever the memory up to 1,769 MB.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from cwotlp.config import Settings
from cwotlp.delivery.export import gzipped
from cwotlp.pipeline import Conversion
from cwotlp.process import collect_cycles_less_often

MB_PER_VCPU = 1769


def chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 1 << 20):
        yield data[start : start + (1 << 20)]


def one_run(data: bytes) -> tuple[float, int]:
    """CPU-seconds of the forwarder's work on the object (Conversion gunzips it), and the datapoints it
    made."""
    started = time.process_time()
    conversion = Conversion(chunks(data), Settings())
    datapoints = 0
    for batch in conversion.batches():
        gzipped(batch.body_parts())
        datapoints += batch.datapoints
    return time.process_time() - started, datapoints


def main(path: str, runs: str) -> None:
    collect_cycles_less_often()  # as the Lambda's process does when it starts
    data = Path(path).read_bytes()
    measured = [one_run(data) for _ in range(int(runs))]
    per_million = [seconds / datapoints * 1e6 for seconds, datapoints in measured]
    print(json.dumps({"cpu_seconds_per_million": per_million}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
