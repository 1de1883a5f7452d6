"""``pars synth``: synthetic booking events as JSON Lines.

Rule: stdout carries only the data (one event per line, UTF-8); progress and the
summary go to stderr, so ``pars synth ... | pars ingest -`` works.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from pars.cli.common import err_console

_CHUNK = 2000  # events per write and per progress refresh


def _parse_start(value: str) -> date:
    from pars.clock import parse_day

    try:
        return parse_day(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: {exc}") from None


def synth(
    arrests: Annotated[
        int,
        typer.Option(
            "--arrests", min=0, max=100_000_000, help="How many arrests to book (follow-ups extra)."
        ),
    ],
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**63 - 1, help="Same seed and options, same bytes.")
    ],
    start: Annotated[
        str, typer.Option("--start", help="First day of the window (YYYY-MM-DD), city time.")
    ] = "2017-09-01",
    days: Annotated[
        int, typer.Option("--days", min=1, max=36_500, help="Length of the window in days.")
    ] = 365,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the events to FILE instead of stdout.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")] = False,
) -> None:
    """Realistic synthetic booking events (JSON Lines on stdout), sorted by `at`.

    Arrests fall in the window [start, start+days); their charging, arraignment,
    release, disposition and expungement events follow, up to 90 days past the
    window. Every SSN is in a range never issued (area 9xx, group 01-49).
    """
    from pars.synth import generate

    first_day = _parse_start(start)
    counts: Counter[str] = Counter()
    began = time.perf_counter()
    with ExitStack() as stack:
        sink: BinaryIO = stack.enter_context(out.open("wb")) if out is not None else sys.stdout.buffer
        progress = Progress(
            TextColumn("[bold]synth[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("arrests"),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
            transient=True,
        )
        stack.enter_context(progress)
        task = progress.add_task("synth", total=arrests)
        lines: list[str] = []
        for event in generate(arrests, seed, first_day, days):
            counts[event["type"]] += 1
            lines.append(json.dumps(event, ensure_ascii=False))
            if len(lines) >= _CHUNK:
                sink.write(("\n".join(lines) + "\n").encode())
                lines.clear()
                progress.update(task, completed=counts["arrest"])
        if lines:
            sink.write(("\n".join(lines) + "\n").encode())
        sink.flush()
    if not quiet:
        _summary(counts, time.perf_counter() - began, out)


def _summary(counts: Counter[str], seconds: float, out: Path | None) -> None:
    total = sum(counts.values())
    table = Table(title="synthetic booking events", title_justify="left")
    table.add_column("type")
    table.add_column("events", justify="right")
    for kind in ("arrest", "charging", "arraignment", "release", "disposition", "expungement"):
        table.add_row(kind, f"{counts[kind]:,}")
    table.add_row(Text("total", style="bold"), Text(f"{total:,}", style="bold"))
    err_console.print(table)
    rate = total / seconds if seconds > 0 else 0.0
    where = f" to {out}" if out is not None else ""
    err_console.print(f"{total:,} events{where} in {seconds:.1f} s ({rate:,.0f} events/s)")


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
