"""The README and ``--help`` never drift: every command the README shows exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pars.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line.startswith("pars "):
                continue
            words = []
            for word in line.split()[1:]:
                if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            found[" ".join(words)] = words
    return list(found.values())


def test_quick_start_is_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## Quick start\n+```sh\n(.*?)```", text, re.M | re.S)
    assert m, "README must open with a Quick start block"
    commands = [ln for ln in m.group(1).splitlines() if ln.strip()]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]


@pytest.mark.parametrize("words", _readme_commands(), ids=lambda w: " ".join(w) or "pars")
def test_every_readme_command_exists(words: list[str]) -> None:
    result = CliRunner().invoke(app, [*words, "--help"])
    assert result.exit_code == 0, result.output
