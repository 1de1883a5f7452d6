"""Processes started by tests: each in its own process group, always stopped.

    with started([PARS, "ingest", path], env=env, stdout=subprocess.PIPE) as proc:
        ...                       # proc is a subprocess.Popen
    # here the whole group (the command and any worker it forked) is gone

``kill_group(proc, signal.SIGKILL)`` kills the command and its children at once, as
a crash would; the ``with`` block still stops whatever is left when the test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Sequence
from typing import Any


def kill_group(proc: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group ``proc`` leads (started by ``started``)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop(proc: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM to the group, then SIGKILL if it is not gone within ``timeout`` seconds."""
    kill_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=10)
    kill_group(proc, signal.SIGKILL)  # children that outlived their leader


@contextlib.contextmanager
def started(cmd: Sequence[str], **kw: Any) -> Iterator[subprocess.Popen[Any]]:
    proc = subprocess.Popen(list(cmd), start_new_session=True, **kw)
    try:
        yield proc
    finally:
        stop(proc)
        for stream in (proc.stdout, proc.stderr, proc.stdin):
            if stream is not None:
                stream.close()


def group_gone(proc: subprocess.Popen[Any], timeout: float = 10) -> bool:
    """True once no process is left in ``proc``'s group (orphans are reaped by init)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
