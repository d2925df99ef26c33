"""Runs a command and writes its wall time and peak resident set to REPORT: spawn.py REPORT COMMAND...

The bench measures every process through this small launcher rather than directly, because a process
inherits the peak resident set (ru_maxrss) of the process it is forked from: spawned by the bench,
whose heap holds generated objects, every process would report the bench's peak. Run with python -S,
the launcher is a few MiB, below any measured process. Its exit status is the command's.
"""

import json
import os
import sys
import time


def main(report: str, command: list[str]) -> int:
    started = time.perf_counter()
    pid = os.posix_spawnp(command[0], command, os.environ)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    with open(report, "w") as out:
        json.dump({"seconds": seconds, "max_rss_kib": usage.ru_maxrss}, out)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
