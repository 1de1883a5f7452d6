"""The ``pars`` command: thin Typer adapters over the domain rooms.

Rule: no business logic here. Commands parse arguments, call a room, and turn
``ParsError`` into a message on stderr and an exit code.
"""

from __future__ import annotations

import typer

from pars.cli import (
    agreements,
    audit,
    demo,
    monitor,
    oversight,
    parties,
    records,
    serve,
    synth,
    tokens,
    warrants,
    witness,
)
from pars.cli.common import run

app = typer.Typer(
    name="pars",
    help="PARS: arrest records shared under written agreements, every access logged "
    "in a verifiable Merkle log.\n\nThe store is chosen by PARS_DATABASE_URL "
    "(default: SQLite file pars.db in the working directory).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keep ``pars`` a group even while it has few commands."""


monitor.register(audit.app)
app.add_typer(audit.app, name="audit")
agreements.register(app)
demo.register(app)
oversight.register(app)
parties.register(app)
records.register(app)
serve.register(app)
synth.register(app)
tokens.register(app)
warrants.register(app)
witness.register(app)


def main() -> None:
    run(app)
