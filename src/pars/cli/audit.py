"""``pars audit``: verify the log, print its checkpoint and key, prove entries.

Rule: thin. Each command calls ``pars.audit`` and prints; proofs and checkpoints
are computed there, never here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pars.cli.common import console, err_console, fail, print_json, styled

if TYPE_CHECKING:
    from pars.store import Store

app = typer.Typer(
    name="audit",
    help="The audit log: verify it, print its checkpoint and key, prove entries.\n\n"
    "Keys live in PARS_KEY_DIR (default ./pars-keys, files mode 0600, created by pars init); "
    "a new log takes its origin from PARS_LOG_ORIGIN (default pars.local/audit); "
    "the store is PARS_DATABASE_URL.",
    no_args_is_help=True,
)

#: Logs at least this long get a progress bar while verifying.
PROGRESS_FROM = 100_000


@contextmanager
def _opened() -> Iterator[Store]:
    """The configured store, closed afterwards (PostgreSQL pools hold sockets)."""
    from pars.store import open_store

    store = open_store()
    try:
        yield store
    finally:
        store.dispose()


JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@app.command()
def verify(
    as_json: JsonFlag = False,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="PARS_VERIFIER_KEY",
            help="Verifier key name+keyid+base64 to trust (default: the key in PARS_KEY_DIR).",
        ),
    ] = None,
) -> None:
    """Recompute every leaf, subtree and checkpoint; exit 1 naming the first bad index.

    Indices are 0-based. Reads the store as one snapshot and streams it.
    """
    from pars.audit import load_keys

    vkey = key or load_keys().verifier_key
    with _opened() as store:
        _verify(store, vkey, as_json)


def _verify(store: Store, vkey: str, as_json: bool) -> None:
    from pars.audit import log_size, verify_log

    with store.read() as conn:
        total = log_size(conn)
    if total >= PROGRESS_FROM and not as_json:
        with Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err_console,
        ) as bar:
            task = bar.add_task("verify", total=total)
            result = verify_log(store, vkey, progress=lambda done, _n: bar.update(task, completed=done))
    else:
        result = verify_log(store, vkey)
    if as_json:
        print_json(result.to_json())
    elif result.ok:
        console.print(
            f"log verified: {result.size} entries, {result.checkpoints_checked} checkpoints, "
            f"root {result.root_hex}",
            highlight=False,
            soft_wrap=True,
        )
    if result.problem is not None:
        if not as_json:
            p = result.problem
            err_console.print(
                f"[bold red]log does not verify[/] {styled(f'at index {p.index} ({p.kind}): {p.message}')}",
                highlight=False,
                markup=True,
            )
        raise typer.Exit(1)


@app.command()
def checkpoint() -> None:
    """Print the latest signed checkpoint (a C2SP signed note)."""
    from pars.audit import latest_checkpoint

    with _opened() as store, store.read() as conn:
        cp = latest_checkpoint(conn)
    if cp is None:
        raise fail("the audit log has no checkpoint yet (no entries)")
    typer.echo(cp.note, nl=False)


@app.command()
def key() -> None:
    """Print the log's verifier key (name+keyid+base64), for auditors."""
    from pars.audit import load_keys

    typer.echo(load_keys().verifier_key)


@app.command()
def prove(
    index: Annotated[int, typer.Option("--index", help="0-based leaf index.")],
    size: Annotated[int | None, typer.Option("--size", help="Tree size (default: the latest).")] = None,
) -> None:
    """Print an inclusion proof as JSON: {index, size, proof_hex, leaf_hash_hex, root_hex}."""
    from pars.audit import get_entry, inclusion_proof, log_size, root_at

    with _opened() as store, store.read() as conn:
        n = log_size(conn) if size is None else size
        proof = inclusion_proof(conn, index, n)
        entry = get_entry(conn, index)
        root = root_at(conn, n)
    print_json(
        {
            "index": index,
            "size": n,
            "proof_hex": [p.hex() for p in proof],
            "leaf_hash_hex": entry.leaf_hash.hex(),
            "root_hex": root.hex(),
        }
    )


@app.command()
def consistency(
    old: Annotated[int, typer.Option("--old", help="The older tree size.")],
    new: Annotated[
        int | None, typer.Option("--new", help="The newer tree size (default: the latest).")
    ] = None,
) -> None:
    """Print a consistency proof as JSON: {old, new, proof_hex, old_root_hex, new_root_hex}."""
    from pars.audit import consistency_proof, log_size, root_at

    with _opened() as store, store.read() as conn:
        n = log_size(conn) if new is None else new
        proof = consistency_proof(conn, old, n)
        old_root, new_root = root_at(conn, old), root_at(conn, n)
    print_json(
        {
            "old": old,
            "new": n,
            "proof_hex": [p.hex() for p in proof],
            "old_root_hex": old_root.hex(),
            "new_root_hex": new_root.hex(),
        }
    )


@app.command()
def entry(index: Annotated[int, typer.Argument(help="0-based leaf index.")]) -> None:
    """Print one stored entry as JSON: {index, entry}."""
    from pars.audit import get_entry

    with _opened() as store, store.read() as conn:
        stored = get_entry(conn, index)
    print_json({"index": stored.index, "entry": json.loads(stored.entry)})


@app.command("sign-checkpoint")
def sign_checkpoint(
    size: Annotated[int, typer.Option("--size", help="Tree size to sign.")],
) -> None:
    """Print a checkpoint for a past size: the stored one, or a freshly signed one."""
    from pars.audit import AuditLog

    log = AuditLog.open()
    with _opened() as store, store.read() as conn:
        cp = log.checkpoint_at(conn, size)
    typer.echo(cp.note, nl=False)


def init_audit(store: Store) -> None:
    """``pars init``'s audit part: create missing keys, fix the log origin, say so."""
    from pars.audit import init_log

    setup = init_log(store)
    store.dispose()  # the last use of init's store; PostgreSQL pools hold sockets
    for path in setup.created_files:
        console.print(f"created key file {path} (mode 0600)", highlight=False, soft_wrap=True)
    console.print(f"audit log origin: {setup.origin}", highlight=False, soft_wrap=True)
    console.print(f"audit log verifier key: {setup.verifier_key}", highlight=False, soft_wrap=True)
