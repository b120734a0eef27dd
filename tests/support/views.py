"""Helpers for view tests: a view's rows, and the rows a fresh rebuild gives."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from domain.application import Minqing
from projections.core import View, positions
from projections.processor import Processor, shadow_of


def rows_of(engine: Engine, view: View) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(view.table).order_by(view.key_column)).mappings()]


def fresh_rebuild(app: Minqing, engine: Engine, view: View) -> list[dict[str, Any]]:
    """The view's rows built from scratch into a shadow table (the live table is left alone)."""
    shadow = shadow_of(view)
    with engine.begin() as conn:
        shadow.table.drop(conn, checkfirst=True)
        shadow.table.create(conn)
        conn.execute(positions.delete().where(positions.c.view == shadow.name))
    Processor(app, engine, [shadow], batch_size=5000).catch_up()
    return rows_of(engine, shadow)


def rollup_rows(engine: Engine, view: View) -> dict[str, list[tuple[Any, ...]]]:
    """Each rollup of the view as its table holds it, groups with nothing counted left out."""
    with engine.connect() as conn:
        found = {}
        for rollup in view.rollups:
            rows = conn.execute(select(rollup.table).order_by(*rollup.table.primary_key.columns)).mappings()
            found[rollup.table.name] = [tuple(r.values()) for r in rows if any(r[c] for c in rollup.counts)]
        return found
