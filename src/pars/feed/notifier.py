"""Wake waiting feed streams when records change.

``Notifier.poke()`` is thread-safe (ingestion runs in worker threads); streams
wait with ``await notifier.wait(generation, timeout)``, which returns at once if
anything was poked since they read ``generation``, so no change is missed
between a stream's last look and its wait. On PostgreSQL ``listen_postgres``
pokes on every NOTIFY on ``pars_records`` (sent by ingestion after each committed
batch, from any process); streams also poll, so a lost notification only delays.

Rule: never deliver from here; a poke only makes a stream ask the gate again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from sqlalchemy.engine import make_url

from pars.store.ingest import NOTIFY_CHANNEL

log = logging.getLogger("pars.feed")


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def poke(self) -> None:
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(event.set)

    async def wait(self, generation: int, timeout: float) -> None:
        """Return when poked after ``generation`` was read, or after ``timeout`` seconds."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._generation != generation:
                return
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), max(0.0, timeout))
        finally:
            with self._lock:
                self._waiters.discard(waiter)


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_postgres(url: str, notifier: Notifier, *, retry_seconds: float = 1.0) -> None:
    """LISTEN on ``pars_records`` and poke ``notifier`` on every notification, until cancelled."""
    import psycopg

    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(_conninfo(url), autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                notifier.poke()  # anything committed while we were away
                async for _ in conn.notifies():
                    notifier.poke()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a dropped connection: streams keep polling meanwhile
            log.warning("feed listener: %s; reconnecting", exc.__class__.__name__)
            await asyncio.sleep(retry_seconds)
