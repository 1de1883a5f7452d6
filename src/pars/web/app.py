"""The HTTP API (CONTRACT section 4) as a FastAPI app.

    app = create_app(store)                       # keys from PARS_KEY_DIR, the system clock
    app = create_app(store, clock=FixedClock(t), key_dir=tmp)   # tests

Routes and console pages get ``pars.services.Services``, never the store: partner
routes call the gate and nothing else; custodian routes call the agreements and
bookings services (audited); audit routes read the log through ``Services.audit``. Errors become the
contract's body in ``web.errors``; every response passes ``web.hardening``.

Rule: a 401 (no or bad token) is not logged: there is no agreement to attribute
it to. Every other answer on a partner route is logged by the gate first.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI

from pars.audit import AuditLog
from pars.audit.publish import witness_config
from pars.audit.publisher import Publisher
from pars.audit.publisher import start as start_publisher
from pars.clock import SYSTEM_CLOCK, Clock
from pars.console import install as install_console
from pars.feed import Notifier, listen_postgres
from pars.services import Store, open_services
from pars.web import audit_routes, custodian, errors, log_routes, partner
from pars.web.deps import note_route
from pars.web.hardening import Hardening

#: Largest request body taken (bookings are sent in batches below this).
MAX_BODY = 8 * 1024 * 1024
#: Seconds between a feed stream's checks when nothing pokes it.
FEED_POLL = 0.5
#: Seconds between publishing rounds (read-only when nothing is new), and how long
#: shutdown waits for a round to end.
PUBLISH_POLL = 0.25
PUBLISH_STOP_WAIT = 10.0


def create_app(
    store: Store,
    clock: Clock = SYSTEM_CLOCK,
    key_dir: str | None = None,
    *,
    audit_log: AuditLog | None = None,
    max_body: int = MAX_BODY,
    feed_poll: float = FEED_POLL,
    publish: bool = False,
) -> FastAPI:
    """The app; with ``publish`` (``pars serve``) a background thread publishes the log
    to the witnesses of ``PARS_WITNESSES`` (read now: a bad list stops the app here)."""
    log = audit_log or AuditLog.open(key_dir, clock)
    notifier = Notifier()
    config = witness_config()
    publisher = Publisher(store, log, config, clock=clock) if publish else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = None if store.is_sqlite else asyncio.create_task(listen_postgres(store.url, notifier))
        # Never on a request's path: the thread reads the log, and stores a checkpoint or a
        # cosignature only when there is one to store.
        running = None if publisher is None else start_publisher(publisher, PUBLISH_POLL)
        try:
            yield
        finally:
            if running is not None:
                running[1].set()
                await asyncio.to_thread(running[0].join, PUBLISH_STOP_WAIT)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(
        title="PARS",
        version="1",
        description="Arrest records shared under written agreements; every access logged.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        dependencies=[Depends(note_route)],
    )
    app.state.pars = open_services(store, log, clock, notifier, feed_poll)
    app.state.witnesses = config  # /log/ serves what these witnesses published
    for router in (partner.router, custodian.router, audit_routes.router, log_routes.router):
        app.include_router(router)
    errors.install(app)
    install_console(app)
    app.add_middleware(Hardening, max_body=max_body)
    return app
