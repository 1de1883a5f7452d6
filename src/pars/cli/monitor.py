"""``pars audit monitor URL --key KEY --state FILE``: follow a public log (CONTRACT 9.3).

Rule: thin; ``pars.audit.monitor`` decides. Exit 0 when the log's new checkpoint
extends the kept one, 1 on a fork, a cut or a bad signature, 3 when the log
could not be read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pars.cli.common import console, print_json


def monitor(
    url: Annotated[
        str, typer.Argument(help="The log's tlog-tiles prefix, e.g. https://pars.example.gov/log.")
    ],
    key: Annotated[str, typer.Option("--key", help="The log's verifier key name+keyid+base64.")],
    state: Annotated[
        Path,
        typer.Option("--state", help="File keeping the last good checkpoint (created on the first run)."),
    ],
    witness: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness's cosigner key (type 0x04); repeat for several."),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option("--quorum", help="Valid cosignatures the checkpoint needs (default: every --witness)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per HTTP request.")] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Fetch URL/checkpoint, check the log's signature and, from the hash tiles, that it
    extends the checkpoint kept in --state; keep the new one.

    Exits 1 naming the problem on a fork (same size, other root, or no consistency),
    a cut (the log shrank), a bad signature or, with --witness, too few valid
    cosignatures; 3 when the log cannot be fetched. The kept checkpoint is left as it
    was on any failure.
    """
    import httpx

    from pars.audit.monitor import monitor as run_monitor

    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        result = run_monitor(url, key, state, client, witness or (), quorum)
    if as_json:
        print_json(result.to_json())
        return
    cp = result.checkpoint
    what = {
        "first": "first checkpoint kept",
        "same": "unchanged",
        "grew": f"grew from {result.previous_size}, consistent",
    }[result.status]
    console.print(f"{cp.origin}: size {cp.size}, root {cp.root_hex}: {what}", highlight=False, soft_wrap=True)


def register(audit_app: typer.Typer) -> None:
    audit_app.command("monitor")(monitor)
