"""The views' datetime column type on both databases: instants in, the same instants out in UTC,
ordered and compared as instants (on SQLite they are kept as microseconds since 1970)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select, text

from projections.core import UTCDateTime
from projections.db import make_engine

BEIJING = timezone(timedelta(hours=8))

metadata = MetaData()
moments = Table("test_moments", metadata, Column("n", Integer, primary_key=True), Column("at", UTCDateTime))


def test_instants_come_back_in_utc_and_compare_as_instants(views_engine: Engine) -> None:
    written = [datetime(2026, 3, 2, 17, 30, 0, 120, tzinfo=BEIJING),        # 09:30 UTC
               datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
               datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
               None]
    with views_engine.begin() as conn:
        metadata.drop_all(conn)
        metadata.create_all(conn)
        conn.execute(insert(moments), [{"n": n, "at": at} for n, at in enumerate(written)])
    with views_engine.connect() as conn:
        read = dict(conn.execute(select(moments.c.n, moments.c.at)).all())
        known = select(moments.c.n).where(moments.c.at.is_not(None))
        ordered = conn.execute(known.order_by(moments.c.at)).scalars().all()
        after_nine = conn.execute(select(moments.c.n).where(
            moments.c.at > datetime(2026, 3, 2, 17, 0, tzinfo=BEIJING))).scalars().all()
    assert [read[n] for n in range(4)] == written
    assert all(at.tzinfo is UTC for at in read.values() if at is not None)
    assert ordered == [2, 1, 0]
    assert after_nine == [0]


def test_sqlite_text_written_by_an_earlier_release_still_reads(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'older.db'}")  # PostgreSQL always kept timestamptz
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(text("INSERT INTO test_moments (n, at) VALUES (1, '2026-03-02 09:30:00.000120')"))
    with engine.connect() as conn:
        read = conn.execute(select(moments.c.at)).scalar()
    assert read == datetime(2026, 3, 2, 9, 30, 0, 120, tzinfo=UTC)
    engine.dispose()
