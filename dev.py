#!/usr/bin/env python3
"""Run PARS from a fresh checkout with nothing but Python 3.11+.

    python3 dev.py demo [ARGS...]         # `pars demo` on the embedded SQLite store
    python3 dev.py test [ARGS...]         # ruff check and format, mypy --strict, import rules, pytest
    python3 dev.py test --fast [ARGS...]  # pytest only (quick iterations; CI runs the full `test`)
    python3 dev.py mutation [MODULE...]   # mutmut on the pure cores; prints the kill rate per module
    python3 dev.py pars ARGS...           # any other `pars` command

The first run creates ``.venv`` and installs the pinned dependencies into it; later
runs reinstall only when ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".pars-installed"


def _run(*cmd: str | Path) -> int:
    return subprocess.call([str(c) for c in cmd], cwd=ROOT)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"PARS needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing PARS and its pinned dependencies into .venv", file=sys.stderr)
    pip = [BIN / "python", "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if _run(*pip, "-e", f"{ROOT}[dev]") != 0:
        sys.exit("dev.py: installing dependencies failed (see the pip output above)")
    STAMP.write_text(want)


def run_tests(args: list[str]) -> int:
    pytest: list[str | Path] = [BIN / "python", "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"]
    if args[:1] == ["--fast"]:
        steps: list[list[str | Path]] = [[*pytest, *args[1:]]]
    else:
        steps = [
            [BIN / "ruff", "check", "src", "tests", "benchmarks", "dev.py", "scripts"],
            [BIN / "ruff", "format", "--check", "src", "tests", "benchmarks", "dev.py", "scripts"],
            [BIN / "mypy"],
            # The architecture's import contracts (pyproject.toml [tool.importlinter]).
            [BIN / "lint-imports"],
            [*pytest, *args],
        ]
    for step in steps:
        print(
            "dev.py: $",
            " ".join(str(Path(s).name) if i == 0 else str(s) for i, s in enumerate(step)),
            file=sys.stderr,
            flush=True,
        )
        rc = _run(*step)
        if rc != 0:
            return rc
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    ensure_venv()
    what, rest = argv[0], argv[1:]
    if what == "test":
        return run_tests(rest)
    if what == "mutation":
        return _run(BIN / "python", ROOT / "scripts" / "mutation.py", *rest)
    if what == "demo":
        return _run(BIN / "pars", "demo", *rest)
    if what == "pars":
        return _run(BIN / "pars", *rest)
    print(f"dev.py: unknown command {what!r}; use demo, test, mutation or pars", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
