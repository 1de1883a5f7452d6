"""``pars serve``: the HTTP API on uvicorn, in one process or ``--workers N``.

Every worker is a whole gate over the same store: it opens the store and the
log's keys itself (``asgi``, the factory uvicorn and gunicorn call), decides,
logs and receipts on its own. The store coordinates them: the log's writer lock
orders every process's appends, rate counts are rows written under the
(agreement, user) lock, agreement changes and token revocations are read from
the store on every request, and exactly one process publishes checkpoints
(``pars.audit.publisher.Leadership``). docs/deploy.md runs it behind a load
balancer, under systemd and in a container.

Rule: the server opens the store and the log's keys once, at start; a missing
key or an uninitialised store stops it before it listens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fastapi import FastAPI

    from pars.store.db import Store

#: Most worker processes one ``pars serve`` starts.
MAX_WORKERS = 64
#: What uvicorn imports in each worker (also the gunicorn target, see docs/deploy.md).
FACTORY = "pars.cli.serve:asgi"


def _log_setup() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")


def _ready() -> Store:
    """The initialised store, checked against the key directory: a process (on another
    machine, say) given another signing key would answer 503 at its first append, so it
    stops here instead, before it listens."""
    from pars.audit.keys import load_keys
    from pars.audit.proofs import read_head
    from pars.cli.common import ready_store
    from pars.errors import ConfigError

    store = ready_store()
    try:
        keys = load_keys()
        with store.read() as conn:
            head = read_head(conn)
        if head is not None and head.verifier_key != keys.verifier_key:
            raise ConfigError(
                f"PARS_KEY_DIR holds the key {keys.verifier_key}, not this log's ({head.verifier_key}): "
                "every process serving one store needs the same log-signing.key and log-hmac.key"
            )
    except BaseException:
        store.dispose()
        raise
    return store


def asgi() -> FastAPI:
    """The app one worker serves: store from ``PARS_DATABASE_URL``, keys from ``PARS_KEY_DIR``,
    publishing on (only the process that holds the publisher's leadership publishes).

    ``uvicorn --factory pars.cli.serve:asgi`` and ``gunicorn -k uvicorn_worker.UvicornWorker
    'pars.cli.serve:asgi()'`` both call this once per worker process.
    """
    from pars.web.app import create_app

    _log_setup()
    store = _ready()
    try:
        return create_app(store, publish=True)
    except BaseException:
        store.dispose()
        raise


def serve(
    host: Annotated[str, typer.Option("--host", envvar="PARS_HOST", help="Address.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", envvar="PARS_PORT", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            envvar="PARS_WORKERS",
            min=1,
            max=MAX_WORKERS,
            help="Worker processes sharing the port, each a whole gate over the same store.",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API (CONTRACT section 4) and the public log (/log/); keys from PARS_KEY_DIR.

    In the background it stores a checkpoint at most every PARS_CHECKPOINT_INTERVAL
    seconds (default 1) and publishes it to the witnesses in PARS_WITNESSES
    (VERIFIER_KEY=URL,...; PARS_WITNESS_QUORUM of them must cosign, default all).
    With --workers N uvicorn starts N worker processes on the port and restarts one
    that dies; one of them publishes (PostgreSQL; SQLite on one machine's local disk).
    """
    import uvicorn

    from pars.web.app import create_app

    _log_setup()
    store = _ready()
    if workers == 1:
        app = create_app(store, publish=True)
        try:
            # Feed streams never end on their own: give them 5 s to go on shutdown.
            uvicorn.run(app, host=host, port=port, access_log=False, log_level="info",
                        timeout_graceful_shutdown=5)  # fmt: skip
        finally:
            store.dispose()
        return
    try:
        create_app(store, publish=True)  # the keys and witness list, checked before any worker starts
    finally:
        store.dispose()
    uvicorn.run(FACTORY, factory=True, workers=workers, host=host, port=port, access_log=False,
                log_level="info", timeout_graceful_shutdown=5)  # fmt: skip


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
