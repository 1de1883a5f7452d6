"""What every sub-command shares: consoles, JSON output, error translation."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from pars.clock import parse_instant
from pars.errors import InvalidInput, ParsError

if TYPE_CHECKING:
    from pars.agreements.service import AdminEventRecorder
    from pars.clock import Clock
    from pars.store import Store

# Markup off: messages carry user and domain text (``[a-z0-9-]+`` in an error about an
# agreement id) that Rich would otherwise read as style tags and swallow. The few
# styled lines pass ``markup=True`` and ``styled()`` their data.
console = Console(soft_wrap=True, markup=False)
err_console = Console(stderr=True, soft_wrap=True, markup=False)


def styled(text: object) -> str:
    """``text`` escaped for a line printed with ``markup=True``."""
    return escape(str(text))


def option_instant(option: str, text: str | None) -> datetime | None:
    """An option's ISO 8601 time with offset, or None when it was not given."""
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from None


def print_json(data: Any) -> None:
    """Data output for ``--json``: plain JSON on stdout, one document."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {styled(message)}", highlight=False, markup=True)
    return typer.Exit(code)


def run(app: typer.Typer) -> None:
    """Run the app, turning domain errors into a message and an exit code."""
    try:
        app()
    except ParsError as exc:
        err_console.print(f"[bold red]error:[/] {styled(exc)}", highlight=False, markup=True)
        sys.exit(exc.exit_code)


def ready_store() -> Store:
    """The configured store, which must have been initialised by ``pars init``."""
    from pars.store import open_store
    from pars.store.migrate import require_current

    return require_current(open_store())


def admin_recorder(clock: Clock, *, route: str = "cli") -> AdminEventRecorder:
    """Where every admin change (agreements, approvals, party keys, tokens) reaches
    the audit log: one entry per event, appended in the change's own transaction.

    Fails closed: without the log's keys (no ``pars init``, or ``PARS_KEY_DIR``
    pointing elsewhere) nothing is changed and the error says so.
    """
    from pars.audit import AuditLog
    from pars.errors import ConfigError
    from pars.gate import admin_event_recorder

    try:
        log = AuditLog.open(clock=clock)
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}. Nothing was changed: every admin change needs its audit entry "
            "(run `pars init`, or set PARS_KEY_DIR to the log's key directory)"
        ) from None
    return admin_event_recorder(log, route=None if route == "cli" else route)


def login_name(by: str | None = None) -> str:
    """Who does this: ``--by``, else the login name."""
    import getpass

    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
