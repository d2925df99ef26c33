"""What a process that forwards objects (the Lambda's, `cwotlp`) sets for itself when it starts.

Python's cyclic garbage collector walks its youngest generation every 700 container objects kept, and
the older ones every ten and hundred such walks. A conversion keeps a few containers per record until
their request is made (the entries, the lists that group them), none of them in a cycle: on a realistic
32 MiB object the collector ran 113 times and took about 4% of the conversion, finding four objects in
all. Walking the youngest generation every YOUNG_THRESHOLD objects instead leaves it none, or a few, per
object. Objects are still freed by their reference counts as before; only garbage in cycles waits
longer. A failed delivery leaves the most of it: a failed invocation, in the handler's tests, leaves
about 200 objects in cycles (at most 30 KB), and after 450 of them in one process about a hundred
failures' worth is waiting, a few MiB (tests/cwotlp/test_handler.py measures it).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def collect_cycles_less_often() -> None:
    """Sets the youngest generation's threshold to YOUNG_THRESHOLD, the others' as they are."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
