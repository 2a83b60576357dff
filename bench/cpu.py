"""CPU seconds used by the processes of a benchmark, read from ``/proc`` (Linux).

On a shared machine wall-clock rates move with the neighbours' load much more than the
CPU time a request costs: printed next to the rates, CPU per request says where the time
goes (the server, PostgreSQL, the load generator), and the machine's busy time says how
much of it other processes took. Where ``/proc`` is missing the figures read "n/a".
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Mapping
from pathlib import Path

Reading = Callable[[], float | None]

try:
    _TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _TICKS = 100


def _stat(pid: int) -> tuple[int, list[int]] | None:
    """(parent pid, [utime, stime, cutime, cstime] in ticks) of a live process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    # fields[0] is the state; ppid is field 4 of the man page, utime..cstime 14-17.
    return int(fields[1]), [int(x) for x in fields[11:15]]


def process(pid: int) -> Reading:
    """CPU seconds of one process (all its threads)."""

    def read() -> float | None:
        stat = _stat(pid)
        return None if stat is None else sum(stat[1][:2]) / _TICKS

    return read


def machine() -> Reading:
    """CPU seconds all cores spent busy (anything but idle and I/O wait), whoever ran."""

    def read() -> float | None:
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        return (sum(fields[:8]) - fields[3] - fields[4]) / _TICKS  # up to steal; no guests

    return read


def this_process() -> Reading:
    def read() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    return read


def postgres(pgdata: Path) -> Reading:
    """CPU seconds of a PostgreSQL server: the postmaster, its live children and (through
    the postmaster's cutime/cstime) the children it has reaped."""

    def read() -> float | None:
        try:
            postmaster = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            entries = os.listdir("/proc")
        except (OSError, ValueError):
            return None
        own = _stat(postmaster)
        if own is None:
            return None
        ticks = sum(own[1])
        for entry in entries:
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat is not None and stat[0] == postmaster:
                    ticks += sum(stat[1][:2])
        return ticks / _TICKS

    return read


class Meter:
    """Accumulates CPU seconds per named reading over the intervals it is started for."""

    def __init__(self, readings: Mapping[str, Reading], *, others: str = "other processes") -> None:
        self._readings = {**readings, "machine": machine()}
        self._others = others  # what the CPU not in ``readings`` went to
        self.seconds: dict[str, float | None] = dict.fromkeys(self._readings, 0.0)
        self.wall = 0.0
        self._start: dict[str, float | None] = {}
        self._wall_start = 0.0

    def start(self) -> None:
        self._start = {name: read() for name, read in self._readings.items()}
        self._wall_start = time.perf_counter()

    def stop(self) -> None:
        self.wall += time.perf_counter() - self._wall_start
        for name, read in self._readings.items():
            before, after, total = self._start.get(name), read(), self.seconds[name]
            if before is None or after is None or total is None:
                self.seconds[name] = None
            else:
                self.seconds[name] = total + after - before

    def load(self) -> str:
        """How busy the machine was meanwhile, and how much of that was not us."""
        busy = self.seconds.get("machine")
        ours = [v for k, v in self.seconds.items() if k != "machine"]
        if busy is None or not self.wall or any(v is None for v in ours):
            return "n/a"
        rest = max(0.0, busy - sum(v for v in ours if v is not None))
        return (
            f"{busy / self.wall:.1f} of {os.cpu_count()} cores busy, "
            f"{rest / self.wall:.1f} of them with {self._others}"
        )

    def per(self, name: str, count: int) -> float | None:
        """Milliseconds of CPU per unit of work, or None when unknown."""
        value = self.seconds.get(name)
        return None if value is None or count <= 0 else value * 1000 / count


def ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"
