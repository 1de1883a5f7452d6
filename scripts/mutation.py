#!/usr/bin/env python3
"""Mutation testing of the pure cores with mutmut: the kill rate per module.

    python3 dev.py mutation                      # every core below (long: run it on a quiet machine)
    python3 dev.py mutation pars.audit.merkle    # one module
    python3 scripts/mutation.py pars.audit.merkle --jobs 2 --show

For each module, a scratch copy of ``src/`` and ``tests/`` is made (the worktree is
never touched), mutmut mutates only that module and runs only the tests that
exercise it (``CORES`` below), and the script prints killed / survived / other
and the kill rate, then the surviving mutants (``--show`` prints each one's diff).
A survivor is either killed by a new test or listed in DEVELOPERS.md with why it is
equivalent. The goal is at least 90% killed in every core.

Rule: keep ``CORES`` honest: a module's tests are the ones that can kill its mutants;
adding slow store tests here makes a run take hours.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Core module -> the test files that exercise it.
CORES: dict[str, list[str]] = {
    "pars.audit.merkle": ["tests/test_audit_merkle.py", "tests/test_audit_vectors.py"],
    "pars.audit.tiles": ["tests/test_audit_merkle.py", "tests/test_c2sp_spec.py"],
    "pars.audit.note": ["tests/test_audit_entry.py", "tests/test_c2sp_spec.py", "tests/test_c2sp_kat.py"],
    "pars.audit.entry": ["tests/test_audit_entry.py"],
    # Not test_agreements_cedar.py: its 250-example differential test costs ~15 s a mutant.
    "pars.agreements.decide": ["tests/test_agreements_decide.py"],
    "pars.agreements.plan": [
        "tests/test_agreements_plan.py",
        "tests/test_agreements_decide.py",
        "tests/test_agreements_redact.py",
    ],
    "pars.audit.cosignature": ["tests/test_c2sp_spec.py", "tests/test_c2sp_kat.py", "tests/test_witness.py"],
    "pars.audit.tlogproof": ["tests/test_c2sp_spec.py", "tests/test_c2sp_kat.py"],
    # One small SQLite log, tampered with in every way verify names (not the store-wide
    # test_audit_tamper.py: with it a run takes over an hour).
    "pars.audit.verify": ["tests/test_audit_verify_fast.py"],
    "pars.agreements.redact": ["tests/test_agreements_redact.py"],
    "pars.agreements.request": ["tests/test_agreements_request.py", "tests/test_agreements_decide.py"],
    # The gate core: its pure view helpers and the feed floor rule (SQLite in the run).
    "pars.gate.view": ["tests/test_gate_view.py"],
    "pars.gate.floors": ["tests/test_gate_floors.py"],
    "pars.oversight.stats": ["tests/test_oversight_stats.py"],
    # Not test_transparency.py: it solves integer programs per mutant (minutes each).
    "pars.oversight.suppression": ["tests/test_suppression.py"],
    "pars.records.identity": ["tests/test_records_identity.py"],
}


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _scratch(module: str, tests: list[str]) -> Path:
    """A copy of the project whose [tool.mutmut] mutates ``module`` only."""
    work = Path(tempfile.mkdtemp(prefix="pars-mutation-"))
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", text)
    path = "src/" + module.replace(".", "/") + ".py"
    text += (
        "\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {_toml_list([path])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q"]\n'
        # A mutant is cut off (and counted as killed) at 15x (mutmut's default) its tests' time plus
        # one second, in wall-clock time: at 3x, a machine loaded by other work cut off mutants
        # that merely ran their tests slowly, and counted them killed.
        "timeout_multiplier = 15.0\n"
    )
    (work / "pyproject.toml").write_text(text)
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # mutmut puts mutants/src first; the worktree must not shadow it
    # The KAT vectors are in ../shared/vectors of the main checkout, ../../shared of a worktree;
    # a KAT that skipped would kill nothing, so a missing one fails the clean run instead.
    found = [d / "shared" / "vectors" for d in ROOT.parents if (d / "shared" / "vectors").is_dir()]
    if found:
        env.setdefault("PARS_VECTORS_DIR", str(found[0]))
    env.setdefault("PARS_REQUIRE_VECTORS", "1")
    return env


def run(module: str, jobs: int, show: bool, keep: bool) -> tuple[int, int, int]:
    tests = CORES.get(module)
    if tests is None:
        sys.exit(f"mutation: {module!r} is not a listed core; known: {', '.join(CORES)}")
    work = _scratch(module, tests)
    mutmut = Path(sys.executable).parent / "mutmut"
    try:
        subprocess.run(
            [mutmut, "run", "--max-children", str(jobs)],
            cwd=work,
            env=_env(),
            check=False,
            stdout=subprocess.DEVNULL,
        )
        listing = [mutmut, "results", "--all", "true"]
        out = subprocess.run(listing, cwd=work, env=_env(), capture_output=True, text=True).stdout
        status: dict[str, str] = {}
        for line in out.splitlines():
            name, sep, state = line.strip().rpartition(": ")
            if sep and name.startswith(module + "."):
                status[name] = state
        # A mutant that makes the tests hang was detected as surely as one that fails them.
        timeouts = sum(1 for s in status.values() if s == "timeout")
        killed = sum(1 for s in status.values() if s == "killed") + timeouts
        survived = sorted(n for n, s in status.items() if s == "survived")
        other = sorted(n for n, s in status.items() if s not in ("killed", "timeout", "survived"))
        rate = 100.0 * killed / len(status) if status else 0.0
        print(f"{module}: {killed} killed ({timeouts} by timeout), {len(survived)} survived, "
              f"{len(other)} not run (no tests, ...) of {len(status)}: {rate:.1f}% killed")  # fmt: skip
        for name in other:
            print(f"  {status[name]}: {name}")
        for name in survived:
            print(f"  survived: {name}")
            if show:
                diff = subprocess.run(
                    [mutmut, "show", name], cwd=work, env=_env(), capture_output=True, text=True, check=False
                ).stdout
                print("    " + diff.strip().replace("\n", "\n    "))
        return killed, len(survived), len(other)
    finally:
        if keep:
            print(f"  (scratch copy kept in {work})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"cores to mutate (default: all of {', '.join(CORES)})")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1: shared machine)")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (to run `mutmut browse`)")
    args = parser.parse_args(argv)
    tomllib.loads((ROOT / "pyproject.toml").read_text())  # a broken pyproject fails here, not in mutmut
    total_killed = total = 0
    for module in args.modules or list(CORES):
        killed, survived, other = run(module, args.jobs, args.show, args.keep)
        total_killed += killed
        total += killed + survived + other
    if total:
        print(f"all: {total_killed} of {total} mutants killed: {100.0 * total_killed / total:.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
