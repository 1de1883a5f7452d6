"""``pars serve``: the HTTP API on uvicorn.

Rule: the server opens the store and the log's keys once, at start; a missing
key or an uninitialised store stops it before it listens.
"""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option("--host", envvar="PARS_HOST", help="Address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="PARS_PORT", help="Port to listen on.")] = 8000,
) -> None:
    """Serve the HTTP API (CONTRACT section 4) and the public log (/log/); keys from PARS_KEY_DIR.

    In the background it stores a checkpoint at most every PARS_CHECKPOINT_INTERVAL
    seconds (default 1) and publishes it to the witnesses in PARS_WITNESSES
    (VERIFIER_KEY=URL,...; PARS_WITNESS_QUORUM of them must cosign, default all).
    """
    import logging

    import uvicorn

    from pars.cli.common import ready_store
    from pars.web.app import create_app

    store = ready_store()
    app = create_app(store, publish=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        # Feed streams never end on their own: give them 5 s to go on shutdown.
        uvicorn.run(
            app, host=host, port=port, access_log=False, log_level="info", timeout_graceful_shutdown=5
        )
    finally:
        store.dispose()


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
