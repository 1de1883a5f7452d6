"""The tests' own process helper: a failing test still stops everything it started."""

from __future__ import annotations

import subprocess

import pytest

from tests.processes import group_gone, started


def test_a_failing_test_stops_the_whole_group_it_started() -> None:
    # A command that forks a child and outlives a plain kill of its leader.
    cmd = ["sh", "-c", "sleep 60 & sleep 60"]
    with pytest.raises(RuntimeError), started(cmd, stdout=subprocess.DEVNULL) as proc:
        raise RuntimeError("the test failed half-way")
    assert proc.returncode is not None
    assert group_gone(proc, timeout=5), "a child of the started command was left running"
