"""Shared by the whole-process benches: run one command as its own process and measure it.

For each run: wall seconds, the process's CPU seconds (user + system, children included,
from ``wait4``), its peak resident memory, the 1-minute load average before it starts, and
how many cores *other* work kept busy meanwhile: (busy CPU time of the whole machine from
``/proc/stat`` minus the process's own) / wall time. The load average alone cannot tell a
quiet machine from our own previous run (a 2-thread process leaves ~1.3 behind it for a
minute), the other-cores figure can.

A run is *contended* when the load average before it exceeds ``CONTENDED_LOAD`` or other
work held more than ``CONTENDED_OTHER_CORES`` cores on average; medians are taken over the
uncontended runs when there are any (and say so), else over all of them, marked.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONTENDED_LOAD = 2.5
CONTENDED_OTHER_CORES = 0.5


@dataclass(frozen=True)
class Timed:
    """One process run. ``other_cores``: average cores busy with other work meanwhile."""

    label: str
    seconds: float
    cpu_seconds: float
    peak_rss_gb: float
    load_before: float
    other_cores: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def contended(self) -> bool:
        return self.load_before > CONTENDED_LOAD or self.other_cores > CONTENDED_OTHER_CORES

    def check(self) -> Timed:
        """Self, or a RuntimeError with the command's last lines when it failed."""
        if self.returncode != 0:
            tail = "\n".join((self.stdout + self.stderr).strip().splitlines()[-15:])
            raise RuntimeError(f"{self.label} failed (exit {self.returncode}):\n{tail}")
        return self


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (every core summed)."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_timed(label: str, command: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Timed:
    """Run ``command`` to completion and measure it (see the module docstring)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load_before = os.getloadavg()[0]
        busy_before = _busy_seconds()
        started = time.perf_counter()
        process = subprocess.Popen(list(command), stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        seconds = time.perf_counter() - started
        busy = _busy_seconds() - busy_before
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    cpu = usage.ru_utime + usage.ru_stime
    return Timed(label, seconds, cpu, usage.ru_maxrss / 1024**2, load_before,
                 max(0.0, (busy - cpu) / seconds), process.returncode, stdout, stderr)


@dataclass(frozen=True)
class Summary:
    """The median of a set of runs and how it was taken."""

    median: float
    n_used: int
    n_runs: int
    all_contended: bool

    def note(self) -> str:
        if self.all_contended:
            return f"all {self.n_runs} contended"
        if self.n_used < self.n_runs:
            return f"{self.n_runs - self.n_used} of {self.n_runs} contended, dropped"
        return f"{self.n_runs} quiet"


def summarize(runs: Sequence[Timed]) -> Summary:
    """Median wall seconds over the uncontended runs (all runs when every one was)."""
    quiet = [r for r in runs if not r.contended]
    used = quiet or list(runs)
    return Summary(statistics.median(r.seconds for r in used), len(used), len(runs), not quiet)


def run_line(run: Timed) -> str:
    """One run as a table row fragment: seconds, load before, other cores, flag."""
    flag = "CONTENDED" if run.contended else "quiet"
    return (f"{run.seconds:8.1f} s  cpu {run.cpu_seconds:7.1f} s  load {run.load_before:4.2f}  "
            f"others {run.other_cores:4.2f} cores  {flag}")
