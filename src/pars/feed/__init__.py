"""Change notifications for the feed: in-process on SQLite, LISTEN/NOTIFY on PostgreSQL.

Rule: a notification only wakes streams; what a stream delivers is always read
and decided again through the gate (``pars.gate.feed``).
"""

from pars.feed.notifier import Notifier, listen_postgres

__all__ = ["Notifier", "listen_postgres"]
