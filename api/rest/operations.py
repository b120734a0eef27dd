"""What an operator's monitoring asks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.web.deps import RuntimeDep

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/health")
def health(rt: RuntimeDep) -> dict[str, Any]:
    """Liveness, and how far the views have got."""
    return {"status": "ok", "head": rt.app.recorder.max_notification_id() or 0, "views": rt.positions()}
