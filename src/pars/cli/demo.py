"""``pars demo``: the whole story on an embedded store, in one command."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from pars.cli.common import console
from pars.demo import Demo, run_demo


def demo(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="Folder for the demo's store, keys and reports (default: a new temp folder)."
        ),
    ] = None,
    arrests: Annotated[int, typer.Option(min=100, help="Synthetic arrests to book over the year.")] = 12_000,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic city.")] = 2018,
) -> None:
    """Tell the PARS story end to end on an embedded SQLite store, with synthetic people."""
    target = folder or Path(tempfile.mkdtemp(prefix="pars-demo-"))
    if folder is not None and (folder / "pars.db").exists():
        console.print(f"{folder} already holds a demo; choose an empty --dir", style="red")
        raise typer.Exit(2)
    console.rule("PARS demo")
    run_demo(Demo(target, arrests=arrests, seed=seed, say=lambda s: console.print(s, highlight=False)))
    console.print(f"\nEverything is in {target}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
