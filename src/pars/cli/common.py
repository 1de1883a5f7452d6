"""What every sub-command shares: consoles, JSON output, error translation."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from pars.errors import ParsError

if TYPE_CHECKING:
    from pars.store import Store

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Data output for ``--json``: plain JSON on stdout, one document."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def run(app: typer.Typer) -> None:
    """Run the app, turning domain errors into a message and an exit code."""
    try:
        app()
    except ParsError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)


def ready_store() -> Store:
    """The configured store, which must have been initialised by ``pars init``."""
    from pars.store import open_store
    from pars.store.migrate import require_current

    return require_current(open_store())
