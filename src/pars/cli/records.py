"""``pars init`` and ``pars ingest``: the records room's commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from pars.cli.common import console, err_console, fail, ready_store, styled

if TYPE_CHECKING:
    from pars.store.ingest import LineResult, Totals

#: ``pars.store.ingest.BATCH_SIZE`` (a test keeps them equal): the store is imported only
#: when a command uses it, so ``pars audit check-bundle`` runs without SQLAlchemy.
BATCH_SIZE = 20_000


def init() -> None:
    """Create or migrate the store (PARS_DATABASE_URL) and the log's signing key."""
    from pars.store import open_store
    from pars.store.migrate import upgrade

    store = open_store()
    upgrade(store)
    console.print(f"store ready: {store.engine.url.render_as_string(hide_password=True)}")
    from pars.cli.audit import init_audit  # the audit log's keys and origin

    init_audit(store)


class _JsonReport:
    """Streams the CONTRACT section 1 report so memory does not grow with the input."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.first = True
        out.write('{"results": [')

    def add(self, results: list[LineResult]) -> None:
        import json

        for r in results:
            self.out.write(("\n  " if self.first else ",\n  ") + json.dumps(r.to_json(), ensure_ascii=False))
            self.first = False
        self.out.flush()  # what is printed is committed: let readers see it now

    def close(self, totals: Totals) -> None:
        import json

        body = json.dumps(totals.to_json())[1:-1]
        self.out.write(("\n" if not self.first else "") + "], " + body + "}\n")


def _numbered(stream: IO[bytes], progress: Progress, task: TaskID) -> Iterator[tuple[int, bytes]]:
    done = 0
    for n, line in enumerate(stream, 1):
        done += len(line)
        if n % 500 == 0:
            progress.update(task, completed=done)
        yield n, line
    progress.update(task, completed=done)


def ingest(
    files: Annotated[list[str], typer.Argument(help="JSON Lines files of booking events; '-' reads stdin.")],
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report of CONTRACT section 1 as JSON.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=100_000, help="Events per transaction.")] = BATCH_SIZE,
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=64,
            help="Processes validating the coming batches while this one writes; "
            "0 validates in this process. Default: one less than the CPUs, at most 4.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Take booking events; print accepted/rejected counts and each rejection's reason.

    Each batch is committed before it is reported, so an interrupted run loses
    nothing reported accepted: run the same files again to finish (what went in
    comes back as duplicates). Exits 1 when any event was rejected.
    """
    for f in files:
        if f != "-" and not Path(f).is_file():
            raise fail(f"{f}: no such file", 2)
    from pars.store.ingest import Totals, default_workers, ingest_lines

    store = ready_store()
    totals = Totals()
    report = _JsonReport(sys.stdout) if json_out else None
    shown = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        for f in files:
            source = None if len(files) == 1 else f
            stream: IO[bytes] = sys.stdin.buffer if f == "-" else open(f, "rb")  # noqa: SIM115
            try:
                size = None if f == "-" else Path(f).stat().st_size
                task = progress.add_task(f"ingest {Path(f).name if f != '-' else 'stdin'}", total=size)

                def on_batch(results: list[LineResult], source: str | None = source) -> None:
                    nonlocal shown
                    for r in results:
                        r.source = source
                    if report:
                        report.add(results)
                        return
                    for r in results:
                        if r.status == "rejected" or r.warnings:
                            where = f"{r.source}:{r.line}" if r.source else f"line {r.line}"
                            label = r.event_id or "?"
                            if r.status == "rejected":
                                line = styled(f"{where} ({label}): {r.reason}")
                                console.print(f"[red]rejected[/] {line}", highlight=False, markup=True)
                            for w in r.warnings or ():
                                line = styled(f"{where} ({label}): {w}")
                                console.print(f"[yellow]warning[/] {line}", highlight=False, markup=True)
                            shown += 1

                part = ingest_lines(
                    store,
                    _numbered(stream, progress, task),
                    batch_size=batch_size,
                    on_batch=on_batch,
                    workers=default_workers() if workers is None else workers,
                )
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
            totals.accepted += part.accepted
            totals.rejected += part.rejected
            totals.duplicates += part.duplicates
            totals.warnings += part.warnings
    if report:
        report.close(totals)
    else:
        console.print(
            f"accepted {totals.accepted}, rejected {totals.rejected}, "
            f"duplicates {totals.duplicates}, warnings {totals.warnings}"
        )
    if totals.rejected:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("ingest")(ingest)
