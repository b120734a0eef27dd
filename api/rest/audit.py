"""Audit of the whole store."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.web.deps import App, Staff
from domain import errors
from domain.chain import plain

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("/verify")
def verify(app: App, actor: Staff) -> Any:
    """Check every hash chain in the store (reviewers, supervisors and admins)."""
    if not {role for role, _ in actor.grants} & {"reviewer", "supervisor", "admin"}:
        raise errors.NotAuthorised("verifying the store is for reviewers, supervisors and admins")
    result = app.verify()
    return plain({"intact": result.intact, "aggregates": result.aggregates, "events": result.events,
                  "breaks": [{"aggregate_id": b.aggregate_id, "version": b.version, "problem": b.problem}
                             for b in result.breaks]})
