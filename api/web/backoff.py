"""The back-off after failed sign-ins, counted in the database so that every API process shares it.

Failures are counted per user name and per client address (as the trusted-proxy setting gives it,
`MINQING_TRUSTED_PROXIES`). When one of them reaches its limit within a quarter of an hour of quiet,
sign-in is refused for a wait that doubles with each further failure: one minute, two, four, … up to an
hour. A sign-in during the wait is refused before its password is checked (whether it was right is not
told), and counts nothing more. The count starts again after a quarter of an hour without a failure
(measured from the end of any wait), and a user name's count is cleared when its person signs in.

A client address has a higher limit than a user name: the staff of one office often share one address
(NAT), and one person's typing mistakes should not lock out their colleagues. A success does not clear
an address's count, so someone with one working account cannot wipe the count of their guesses at
others'. Rows are keyed by a SHA-256 of the name or address, never the name or address itself, and
deleted once their count has lapsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Column, Engine, Float, Integer, MetaData, String, Table, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from api.web.idempotency import digest

USER_LIMIT = 5          # failures for one user name before a wait
ADDRESS_LIMIT = 20      # failures from one client address before a wait
QUIET = 15 * 60         # seconds without a failure after which the count starts again
FIRST_WAIT = 60         # seconds; doubles with each failure past the limit
LONGEST_WAIT = 60 * 60

metadata = MetaData()

failures = Table(
    "sign_in_failures", metadata,
    Column("who", String(64), primary_key=True),     # SHA-256 of "user:<name>" or "address:<address>"
    Column("failures", Integer, nullable=False),
    Column("counted_until", Float, nullable=False),  # after this moment the count starts again
    Column("waiting_until", Float, nullable=False),  # no sign-in before this moment (0: none)
)


def _user(username: str) -> str:
    return digest("user:", username)


def _address(address: str) -> str:
    return digest("address:", address)


class SignInBackoff:
    """Failed sign-ins, per user name and per client address, across every API process."""

    def __init__(self, writer: Engine, reader: Engine, clock: Callable[[], float] = time.time) -> None:
        self.writer, self.reader, self.clock = writer, reader, clock
        self.insert = postgresql.insert if writer.dialect.name == "postgresql" else sqlite.insert

    def wait(self, username: str, address: str) -> float:
        """Seconds before this user name may sign in from this address (0: now)."""
        with self.reader.connect() as conn:
            until = conn.execute(select(failures.c.waiting_until).where(
                failures.c.who.in_([_user(username), _address(address)]))).scalars().all()
        return max([0.0, *(float(moment) - self.clock() for moment in until)])

    def failed(self, username: str, address: str) -> float:
        """Count a failed sign-in; the seconds to wait now (0: none yet)."""
        now = self.clock()
        with self.writer.begin() as conn:
            conn.execute(delete(failures).where(failures.c.counted_until < now))
        return max(self._count(_user(username), USER_LIMIT, now),
                   self._count(_address(address), ADDRESS_LIMIT, now))

    def succeeded(self, username: str) -> None:
        with self.writer.begin() as conn:
            conn.execute(delete(failures).where(failures.c.who == _user(username)))

    def _count(self, who: str, limit: int, now: float) -> float:
        """Add a failure to `who`'s count in one upsert (so two processes never lose one), then set the
        wait it has earned."""
        upsert = self.insert(failures).values(who=who, failures=1, counted_until=now + QUIET,
                                              waiting_until=0.0)
        upsert = upsert.on_conflict_do_update(index_elements=[failures.c.who], set_={
            "failures": case((failures.c.counted_until <= now, 1), else_=failures.c.failures + 1),
            "counted_until": now + QUIET})
        with self.writer.begin() as conn:
            counted = conn.execute(upsert.returning(failures.c.failures)).scalar_one()
            if counted < limit:
                return 0.0
            wait = float(min(LONGEST_WAIT, FIRST_WAIT * 2 ** min(counted - limit, 12)))
            conn.execute(update(failures).where(failures.c.who == who).values(
                waiting_until=now + wait, counted_until=now + wait + QUIET))
        return wait
