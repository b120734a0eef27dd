"""What the public reads of a case (DOMAIN.md: residents follow a demand by its receipt code): the steps of
its process in order, its notices with their text, how it closed and whether feedback is asked — never who
did them, and nobody's name or phone.

Facts a resident has no use for, or that carry a person (an assignment, a working note, an objection and its
answer, a missed deadline, an accountability flag), are left out; texts meant for the public (a notice, the
resolution, the explanation of a case that cannot be resolved, progress) keep their words, with any phone or
ID-card number written into them masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.audit import HistoryEntry
from domain.masking import mask_text


@dataclass(frozen=True)
class PublicStep:
    """One fact of a case as the public reads it: what happened (the event's name, or `FeedbackAsked`), when
    it happened, and the details that say it in words (keys of the domain's vocabularies, masked texts)."""

    what: str
    occurred_at: datetime
    details: dict[str, Any]


def _text(data: dict[str, Any], name: str) -> str:
    return mask_text(str(data.get(name) or ""))


# For each fact the public reads, the details it shows (`data` is the event's data).
SHOWN: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "Raised": lambda d: {"channel": d["channel"]},
    "Triaged": lambda d: {"category": d["category"], "track": d["track"], "template": d["template"]},
    "Escalated": lambda d: {"to_cell_id": d["to_cell_id"]},
    "Discussed": lambda d: {"step": d["step"], "round": d["round"], "outcome": d["outcome"]},
    "Voted": lambda d: {"step": d["step"], "round": d["round"], "body": d["body"], "outcome": d["outcome"]},
    "Publicized": lambda d: {"notice_id": d["notice_id"], "kind": d["kind"], "text": _text(d, "text"),
                             "ends_at": d["ends_at"]},
    "NoticeEnded": lambda d: {"notice_id": d["notice_id"]},
    "ImplementationProgressed": lambda d: {"percent": d["percent"], "summary": _text(d, "summary")},
    "Resolved": lambda d: {"summary": _text(d, "summary")},
    "Closed": lambda d: {"outcome": d["outcome"], "explanation": _text(d, "explanation")},
    "FeedbackGiven": lambda d: {"rating": d["rating"]},
    "FeedbackExpired": lambda d: {},
    "Reopened": lambda d: {},
}


def public_step(entry: HistoryEntry) -> PublicStep | None:
    """One event of a case as the public reads it, or None for a fact the public does not read."""
    shown = SHOWN.get(entry.type)
    return None if shown is None else PublicStep(entry.type, entry.occurred_at, shown(entry.data))


def public_timeline(entries: Sequence[HistoryEntry]) -> list[PublicStep]:
    """A case's history as the public reads it, in the order it happened; closing with a feedback window
    adds the fact that feedback is asked, until when."""
    steps: list[PublicStep] = []
    for entry in entries:
        step = public_step(entry)
        if step is None:
            continue
        steps.append(step)
        due = entry.data.get("feedback_due") if entry.type in ("Resolved", "Closed") else None
        if due is not None:
            steps.append(PublicStep("FeedbackAsked", entry.occurred_at, {"until": due}))
    return steps
