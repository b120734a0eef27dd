"""What an operator's monitoring asks. /healthz and /readyz answer anyone and say nothing more than
alive and ready; /api/v1/health tells staff how far the log and the views have got."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.i18n import gettext
from api.web.deps import RuntimeDep, Staff
from api.web.errors import Problem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def alive() -> dict[str, str]:
    """The process answers (it reads nothing)."""
    return {"status": "alive"}


@router.get("/readyz")
async def ready(rt: RuntimeDep) -> dict[str, str]:
    """The database answers, every view is stored as this version of the code keeps it (else `minqing db
    init` is due), and every view is within the configured lag (MINQING_READY_LAG_SECONDS)."""
    if await run_in_threadpool(rt.outdated_views):
        raise Problem(503, "not-ready", gettext("Not ready"),
                      gettext("the views were stored by another version: run minqing db init"),
                      {"Retry-After": "5"})
    if await run_in_threadpool(rt.lagging_views):
        raise Problem(503, "not-ready", gettext("Not ready"), gettext("the views are behind the log"),
                      {"Retry-After": "5"})
    return {"status": "ready"}


@router.get("/api/v1/health")
def health(rt: RuntimeDep, _: Staff) -> dict[str, Any]:
    """How far the log (head) and each view have got: for staff of any role. Anyone may ask /healthz and
    /readyz, which say nothing more than alive and ready."""
    return {"status": "ok", "head": rt.app.recorder.max_notification_id() or 0, "views": rt.positions()}
