"""``pars demo``: the whole story on an embedded store, in one command.

``pars demo --serve`` then issues a custodian and an oversight token, prints them
with the console's address, and serves the demo's store until Ctrl-C, on a clock
that carries on from the story's last instant (so the console shows 2018 as "now").

Rule: tokens are printed once, here, and never written to the demo's folder.
"""

from __future__ import annotations

import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pars.cli.common import console

if TYPE_CHECKING:
    from pars.demo import Demo


class ContinuingClock:
    """The demo's clock set running: its last instant plus the real seconds since."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._began = time.monotonic()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=time.monotonic() - self._began)


def serve_demo(demo: Demo, *, host: str, port: int) -> None:
    """Issue console tokens, print how to use them, and serve the demo's store until Ctrl-C."""
    import logging

    import uvicorn

    from pars.audit import AuditLog
    from pars.gate import admin_event_recorder, issue_token
    from pars.store.db import Store
    from pars.web.app import create_app

    store = Store(demo.store_url)
    clock = ContinuingClock(demo.clock.now())
    try:
        log = AuditLog.open(demo.key_dir, clock)
        record = admin_event_recorder(log)

        def issue(role: str, user: str, agreement_id: str | None = None) -> str:
            return issue_token(
                store,
                clock,
                role=role,
                user=user,
                agreement_id=agreement_id,
                by="records.custodian",
                record_admin_event=record,
            )[0]

        tokens = {
            "custodian": issue("custodian", "records.custodian"),
            "oversight": issue("oversight", "inspector.general"),
            "partner (FBI, for the API)": issue("partner", "fbi.demo", "fbi-2017"),
        }
        app = create_app(store, clock, demo.key_dir, audit_log=log)
        console.rule("PARS console")
        console.print(
            f"Console: http://{host}:{port}/console  (sign in by pasting a token)",
            highlight=False,
            soft_wrap=True,
        )
        for role, token in tokens.items():
            console.print(f"  {role + ' token:':<36} {token}", highlight=False, soft_wrap=True)
        partner = tokens["partner (FBI, for the API)"]
        console.print(
            f"Try a partner request and watch it on the live page:\n  curl -s -X POST "
            f"http://{host}:{port}/v1/search -H 'Authorization: Bearer {partner}' "
            '-H \'Content-Type: application/json\' -d \'{"purpose": "C", "case_number": "FBI-18-1", '
            '"justification": "Follow-up on a pending criminal case.", "filters": {"last_name": "Garcia"}, '
            '"limit": 3}\'',
            highlight=False,
            soft_wrap=True,
        )
        from pars.audit.publish import alarms

        with store.read() as conn:
            refusing = alarms(conn)
        if refusing:  # the story's last chapter cut the log: the witnesses refuse it
            console.print(
                f"[bold red]ALARM[/]: {len(refusing)} witnesses refuse this log since the insider's cut; "
                "the console shows it on every page.",
                soft_wrap=True,
            )
        console.print("Ctrl-C stops the server.")
        logging.basicConfig(level=logging.WARNING, format="%(message)s")  # no access log: the live page polls
        uvicorn.run(
            app, host=host, port=port, access_log=False, log_level="warning", timeout_graceful_shutdown=5
        )
    finally:
        store.dispose()


def demo(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Folder for the demo's store, keys and reports (default: a new temp folder)."
        ),
    ] = None,
    arrests: Annotated[int, typer.Option(min=100, help="Synthetic arrests to book over the year.")] = 12_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 2018,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the console on the demo's store until Ctrl-C.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="Port for --serve (on 127.0.0.1).")] = 8000,
) -> None:
    """Tell the PARS story end to end on an embedded SQLite store, with synthetic people.

    Starts two witnesses (pars witness serve, on 127.0.0.1) for the story and stops them
    at its end; the last chapter cuts the log's tail to show the cut caught."""
    from pars.demo import Demo, run_demo  # the whole story: every room, matplotlib included

    target = folder or Path(tempfile.mkdtemp(prefix="pars-demo-"))
    if folder is not None and (folder / "pars.db").exists():
        console.print(f"{folder} already holds a demo; choose an empty --dir", style="red")
        raise typer.Exit(2)
    console.rule("PARS demo")
    story = Demo(target, arrests=arrests, seed=seed, say=lambda s: console.print(s, highlight=False))
    run_demo(story)
    console.print(f"\nEverything is in {target}")
    if serve:
        serve_demo(story, host="127.0.0.1", port=port)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
