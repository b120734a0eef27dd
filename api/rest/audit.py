"""Verifying the hash chains: reviewers and supervisors within their cells, admins the whole store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.i18n import gettext
from api.rest.common import After
from api.web.deps import RuntimeDep, Staff
from api.web.errors import Problem
from domain import errors
from domain.chain import plain
from projections import queries

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
SCOPED = ("reviewer", "supervisor")
VERIFY_RETRY_SECONDS = 2   # about how long the verify being run may take (docs/reliability.md)


@router.get("/verify")
def verify(rt: RuntimeDep, actor: Staff, after: After = None) -> Any:
    """Check the hash chains within your grid cells: for reviewers and supervisors the cases, households
    and visits there; for admins every chain and snapshot in the store, staff accounts included, and the
    sealed log (`log`: every event against its leaf, every signed head against the leaves). One verify runs
    at a time in a process; another meanwhile is refused (503, Retry-After)."""
    roles = {role for role, _ in actor.grants}
    if not roles & {*SCOPED, "admin"}:
        raise errors.NotAuthorised("verifying the record is for reviewers, supervisors and admins")
    whole_store = "admin" in roles
    if not whole_store:
        rt.wait_for_views(after, ["cases", "visit_coverage"])
    if not rt.verifying.acquire(blocking=False):
        raise Problem(503, "verify-in-progress", gettext("Another verify is running"),
                      gettext("another verify is running in this process; try again shortly"),
                      {"Retry-After": str(VERIFY_RETRY_SECONDS)})
    try:
        if whole_store:
            scope: list[str] | None = None
            result = rt.app.verify(sealed=rt.sealed)
        else:
            scope = sorted({cell for role, granted in actor.grants if role in SCOPED
                            for cell in rt.app.deployment.subtree(granted)})
            with rt.reader.connect() as conn:
                listed = queries.aggregates_within(conn, scope)
            result = rt.app.verify_within(scope, listed)
    finally:
        rt.verifying.release()
    sealed = None if scope is not None or rt.sealed is None else {
        "sealed": result.sealed, "not_yet_sealed": result.unsealed, "tree_size": result.tree_size,
        "snapshots": result.snapshots}
    return plain({"intact": result.intact, "aggregates": result.aggregates, "events": result.events,
                  "scope": "everything" if scope is None else scope, "log": sealed,
                  "breaks": [{"aggregate_id": b.aggregate_id, "version": b.version, "problem": b.problem}
                             for b in result.breaks]})
