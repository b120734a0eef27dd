"""Shared route helpers: running commands safely, scope checks, CSV output."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.schemas import Recorded
from domain import errors
from domain.application import Recorded as Done

RETRIES = 3


def run(command: Callable[[], Done], expected_version: int | None) -> Recorded:
    """Run a command; without If-Match a conflict is retried on a fresh load (nothing was saved by the
    attempt that lost, so nothing is recorded twice). With If-Match the conflict goes to the caller."""
    for attempt in range(RETRIES):
        try:
            done = command()
            return Recorded(id=done.id, version=done.version, position=done.position)
        except errors.ConcurrentUpdate:
            if expected_version is not None or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


async def run_off_loop(command: Callable[[], Done], expected_version: int | None) -> Recorded:
    """`run` in the thread pool, for an `async def` endpoint. FastAPI runs a plain `def` endpoint in
    the pool and then validates its response model in the pool again, two hand-offs between threads
    per command; this is one (docs/performance.md, "HTTP API")."""
    return await run_in_threadpool(run, command, expected_version)


def require_in_scope(cells: Iterable[str], scope: list[str], what: str) -> None:
    if not set(cells) & set(scope):
        raise errors.OutsideScope(f"{what} lies outside your grid cells")


def narrowed(scope: list[str], subtree: list[str] | None) -> list[str]:
    return scope if subtree is None else [c for c in subtree if c in set(scope)]


def plain(value: Any) -> Any:
    if value is None or type(value) in (str, int, bool, float):  # most values: return them at once
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def csv_response(rows: list[dict[str, Any]], filename: str, columns: Iterable[str] = ()) -> Response:
    """Rows as CSV; `columns` head the file even when there are no rows (more found in rows follow)."""
    out = io.StringIO()
    header = list(dict.fromkeys([*columns, *(k for row in rows for k in row)]))
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: plain(v) if isinstance(v, datetime) else
                         (v if not isinstance(v, (list, dict)) else str(plain(v))) for k, v in row.items()})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'})
