"""``pars audit``: verify the log, print its checkpoint and key, prove entries.

Rule: thin. Each command calls ``pars.audit`` and prints; proofs and checkpoints
are computed there, never here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pars.audit.note import CheckpointError
from pars.cli.common import console, err_console, fail, print_json, styled

if TYPE_CHECKING:
    from pars.audit.extends import Kept
    from pars.store import Store

app = typer.Typer(
    name="audit",
    help="The audit log: verify it, print its checkpoint and key, prove entries.\n\n"
    "Keys live in PARS_KEY_DIR (default ./pars-keys, files mode 0600, created by pars init); "
    "a new log takes its origin from PARS_LOG_ORIGIN (default pars.local/audit); "
    "the store is PARS_DATABASE_URL.",
    no_args_is_help=True,
)

#: Largest index or size taken (both databases store 64-bit integers).
MAX_INDEX = 2**62
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
    checkpoints: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint you kept (the signed note, a receipt JSON or a tlog-proof file): the "
            "stored log must extend it. Repeat to give several; a cut names the first missing "
            "index, a fork the size where the trees are shown to disagree.",
        ),
    ] = None,
    witnesses: Annotated[
        list[str] | None,
        typer.Option(
            "--witness",
            help="A witness's cosigner verifier key (name+keyid+base64, type 0x04): each kept "
            "checkpoint must carry valid cosignatures from --quorum of them. Repeatable.",
        ),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option("--quorum", min=1, help="Cosignatures required (default: every --witness given)."),
    ] = None,
) -> None:
    """Recompute every leaf, subtree and checkpoint; exit 1 naming the first bad index.

    Indices are 0-based. Reads the store as one snapshot and streams it. With
    --checkpoint, also proves the stored log extends each kept checkpoint.
    """
    from pars.audit import load_keys
    from pars.audit.extends import kept_checkpoint

    if (witnesses or quorum) and not checkpoints:
        raise fail("--witness/--quorum: they check a kept checkpoint; give --checkpoint FILE")
    vkey = key or load_keys().verifier_key
    kept = []
    for path in checkpoints or []:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail(f"--checkpoint {path}: cannot be read ({exc})") from None
        try:
            kept.append(kept_checkpoint(text, vkey, witnesses or [], quorum))
        except CheckpointError as exc:
            raise fail(f"--checkpoint {path}: {exc}") from None
    with _opened() as store:
        _verify(store, vkey, as_json, kept)


def _verify(store: Store, vkey: str, as_json: bool, kept: list[Kept]) -> None:
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
            result = verify_log(
                store, vkey, progress=lambda done, _n: bar.update(task, completed=done), kept=kept
            )
    else:
        result = verify_log(store, vkey, kept=kept)
    if as_json:
        print_json(result.to_json())
    elif result.ok:
        console.print(
            f"log verified: {result.size} entries, {result.checkpoints_checked} checkpoints, "
            f"root {result.root_hex}",
            highlight=False,
            soft_wrap=True,
        )
        for k in kept:
            by = f", cosigned by {', '.join(k.cosigned_by)}" if k.cosigned_by else ""
            console.print(
                f"extends the kept checkpoint of size {k.checkpoint.size} (root {k.checkpoint.root_hex}{by})",
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
                soft_wrap=True,
            )
        raise typer.Exit(1)


@app.command()
def checkpoint() -> None:
    """Print a signed checkpoint of the whole log (a C2SP signed note).

    The stored one at the head's size, or one signed now: checkpoints are stored at a
    cadence (PARS_CHECKPOINT_INTERVAL), so the newest entries may have none stored yet.
    """
    from pars.audit import AuditLog

    log = AuditLog.open()
    with _opened() as store, store.read() as conn:
        cp = log.head_checkpoint(conn)
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
    index: Annotated[int, typer.Option("--index", min=0, max=MAX_INDEX, help="0-based leaf index.")],
    size: Annotated[
        int | None, typer.Option("--size", min=1, max=MAX_INDEX, help="Tree size (default: the latest).")
    ] = None,
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
    old: Annotated[int, typer.Option("--old", min=1, max=MAX_INDEX, help="The older tree size.")],
    new: Annotated[
        int | None,
        typer.Option("--new", min=1, max=MAX_INDEX, help="The newer tree size (default: the latest)."),
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
def entry(index: Annotated[int, typer.Argument(min=0, max=MAX_INDEX, help="0-based leaf index.")]) -> None:
    """Print one stored entry as JSON: {index, entry, texts} (texts: what its commitments open)."""
    from pars.audit import get_entry
    from pars.audit.text_store import load_texts
    from pars.audit.texts import texts_json

    with _opened() as store, store.read() as conn:
        stored = get_entry(conn, index)
        texts = load_texts(conn, [index]).get(index, {})
    print_json({"index": stored.index, "entry": json.loads(stored.entry), "texts": texts_json(texts)})


@app.command()
def erase(
    index: Annotated[int, typer.Option("--index", min=0, max=MAX_INDEX, help="0-based leaf index.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (logged as a commitment; kept erasable).")],
    as_json: JsonFlag = False,
) -> None:
    """Erase the free texts of one entry (its leaf keeps their commitments; the log still
    verifies). The erasure is itself an admin entry of the log."""
    import getpass

    from pars.audit import AuditLog
    from pars.audit.text_store import erase_entry

    _bounded("--reason", reason)
    with _opened() as store:
        done = erase_entry(store, AuditLog.open(), index, reason, by=getpass.getuser())
    if as_json:
        print_json(done)
    else:
        console.print(
            f"erased {done['erased']} text(s) of entry {index}; logged as entry {done['logged_at']}",
            highlight=False,
        )


@app.command()
def retention(
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=365,
            max=100_000,
            help="Erase texts of entries older than this many days (default PARS_TEXT_RETENTION_DAYS, "
            "else 365; never less: CJIS audit retention).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Erase the free texts of entries older than the retention period; logged as an admin
    entry. Run it daily (cron or a systemd timer)."""
    import getpass

    from pars.audit import AuditLog
    from pars.audit.text_store import apply_retention
    from pars.audit.texts import retention_days

    keep = days if days is not None else retention_days()
    with _opened() as store:
        done = apply_retention(store, AuditLog.open(), keep, by=getpass.getuser())
    if as_json:
        print_json(done)
    else:
        console.print(
            f"erased {done['erased']} text(s) of entries before {done['before']}; "
            f"logged as entry {done['logged_at']}",
            highlight=False,
        )


def _bounded(option: str, text: str, most: int = 2000) -> None:
    from pars.errors import InvalidInput

    if len(text) > most:
        raise InvalidInput(f"{option}: at most {most} characters")


@app.command()
def bundle(
    indices: Annotated[
        list[int], typer.Option("--index", min=0, help="0-based index of an entry to include. Repeatable.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write (JSON).")],
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="PARS_VERIFIER_KEY",
            help="Log verifier key to check the entries with (default: the key in PARS_KEY_DIR).",
        ),
    ] = None,
) -> None:
    """Write an evidence bundle: each entry's exact bytes and its C2SP tlog-proof@v1 against
    the newest published checkpoint (with its cosignatures). Check it anywhere with
    pars audit check-bundle, or any C2SP tool, given only the public keys."""
    from pars.audit import load_keys
    from pars.audit.evidence import write_bundle

    vkey = key or load_keys().verifier_key
    with _opened() as store:
        text = write_bundle(store, indices, vkey)
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}: {len(set(indices))} entries", highlight=False, soft_wrap=True)


@app.command("check-bundle")
def check_bundle(
    file: Annotated[Path, typer.Argument(help="An evidence bundle (pars audit bundle).")],
    key: Annotated[
        str, typer.Option("--key", help="The log's verifier key (name+keyid+base64), as you obtained it.")
    ],
    witnesses: Annotated[
        list[str] | None,
        typer.Option("--witness", help="A witness's cosigner verifier key (type 0x04). Repeatable."),
    ] = None,
    quorum: Annotated[
        int | None,
        typer.Option("--quorum", min=0, help="Cosignatures required (default: every --witness given)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check a bundle with nothing but the keys: every entry's bytes, its inclusion proof, the
    log's signature and the witnesses' cosignatures. Needs no store; exits 1 naming the first
    entry that does not check."""
    from pars.audit.bundle import check_bundle as check

    try:
        text = file.read_bytes()
    except OSError as exc:
        raise fail(f"{file}: cannot be read ({exc})") from None
    try:
        checked = check(text, key, witness_keys=witnesses or [], quorum=quorum)
    except CheckpointError as exc:
        if as_json:
            print_json({"ok": False, "index": getattr(exc, "index", None), "error": str(exc)})
            raise typer.Exit(1) from None
        raise fail(f"{file}: {exc}") from None
    if as_json:
        print_json(
            {
                "ok": True,
                "size": checked[0].size,
                "root_hex": checked[0].root.hex(),
                "cosigned_by": sorted(checked[0].cosignatures),
                "indices": [c.index for c in checked],
            }
        )
        return
    first = checked[0]
    by = f", cosigned by {', '.join(sorted(first.cosignatures))}" if first.cosignatures else ""
    console.print(
        f"bundle verified: {len(checked)} entries in the log {first.origin} of size {first.size} "
        f"(root {first.root.hex()}{by})",
        highlight=False,
        soft_wrap=True,
    )
    for c in checked:
        console.print(f"  entry {c.index}: leaf {c.leaf_hash.hex()} proved", highlight=False)


@app.command("sign-checkpoint")
def sign_checkpoint(
    size: Annotated[int, typer.Option("--size", min=0, max=MAX_INDEX, help="Tree size to sign.")],
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


#: ``pars audit status`` exits with this when a witness refuses (a fork or a cut).
ALARM_EXIT = 3


@app.command()
def publish(as_json: JsonFlag = False) -> None:
    """Run one publishing round: send the newest stored checkpoint to every witness.

    Witnesses come from PARS_WITNESSES (comma-separated VERIFIER_KEY=URL) and
    PARS_WITNESS_QUORUM (default: all). Stores a checkpoint at a quiet log's head
    first. pars serve does this in the background; this is for cron or by hand, and
    sends nothing while another process (a pars serve) holds the publisher's lead.
    Exits 3 when a witness refuses (an alarm), 1 when the checkpoint is not published.
    """
    from pars.audit import AuditLog
    from pars.audit.publish import witness_config
    from pars.audit.publisher import Leadership, Publisher

    config = witness_config()
    log = AuditLog.open()
    with _opened() as store:
        # One publisher at a time: while a `pars serve` process publishes, this round would race it.
        lead = Leadership(store)
        try:
            if not lead.held():
                busy = "another process (pars serve) publishes this log; nothing sent"
                print_json({"skipped": busy}) if as_json else console.print(busy, highlight=False)
                return
            result = Publisher(store, log, config, clock=log.clock).round()
        finally:
            lead.release()
    refused = [o for o in result.outcomes if o.status == "refused"]
    if as_json:
        print_json(
            {
                "checkpoint_size": result.checkpoint_size,
                "published_size": result.published_size,
                "newly_published": result.newly_published,
                "witnesses": [
                    {"name": o.witness, "status": o.status, "message": o.message} for o in result.outcomes
                ],
            }
        )
    else:
        for o in result.outcomes:
            line = f"{o.witness}: {o.status}" + (f" ({o.message})" if o.message else "")
            if o.status == "refused":
                err_console.print(f"[bold red]ALARM[/] {styled(line)}", highlight=False, markup=True)
            else:
                console.print(line, highlight=False)
        console.print(
            f"newest checkpoint: {result.checkpoint_size or 0}; published: {result.published_size or 0}",
            highlight=False,
        )
    if refused:
        raise typer.Exit(ALARM_EXIT)
    if result.checkpoint_size and result.published_size != result.checkpoint_size:
        raise typer.Exit(1)


@app.command()
def status(as_json: JsonFlag = False) -> None:
    """Show the log's size, the published size, and each witness's cosigned size and lag.

    A witness that refused a checkpoint (the log forked or was cut under it) is an
    ALARM: it is printed in red and the command exits 3.
    """
    from pars.audit.publish import status as read_status

    with _opened() as store, store.read() as conn:
        data = read_status(conn)
    if as_json:
        print_json(data)
    else:
        for alarm in data["alarms"]:
            why = f"witness {alarm['witness']} refuses since {alarm['since']}: {alarm['reason']}"
            err_console.print(f"[bold white on red] ALARM [/] {styled(why)}", highlight=False, markup=True)
        console.print(
            f"log size {data['size']}; newest stored checkpoint {data['checkpoint_size']}; "
            f"published {data['published_size']}"
            + (f" (quorum {data['quorum']} of {len(data['witnesses'])} witnesses)" if data["witnesses"] else
               " (no witnesses configured: every stored checkpoint is published)"),
            highlight=False,
        )  # fmt: skip
        for w in data["witnesses"]:
            state = "REFUSING" if w["refusal"] else ("ok" if w["lag"] == 0 else f"lags {w['lag']}")
            size = "nothing" if w["cosigned_size"] is None else w["cosigned_size"]
            line = f"  {w['name']}: cosigned {size}, {state}"
            if w["last_error"] and not w["refusal"]:
                line += f"; last error: {w['last_error']}"
            console.print(line, highlight=False)
    if data["alarm"]:
        raise typer.Exit(ALARM_EXIT)
