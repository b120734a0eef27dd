# ruff: noqa: E501 — the pinned forms are kept whole, one a line, to be read against the code
"""The public form of a case's facts is sealed into the log's leaves (domain/seal.py): `minqing verify` and every
resident's proof recompute it from the stored events. Changing what the public reads of a fact (domain/public.py
SHOWN) or how texts are masked (domain/masking.py) would make every leaf sealed before stop matching — so this
test pins the form byte for byte. If it fails, do not update the literals: give the leaf a new form version
that new leaves carry, and keep the old form for the leaves sealed under it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.audit import HistoryEntry
from domain.public import SHOWN, public_step
from domain.seal import canonical

AT = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)
DATA = {"channel": "phone", "category": "public_works", "track": "deliberation", "template": "four_deliberations",
        "to_cell_id": "qingshui", "step": "proposal", "round": 1, "outcome": "endorsed", "body": "party_branch",
        "notice_id": "resolution-1-1", "kind": "resolution", "text": "决议：安装路灯12盏，联系13912345678",
        "ends_at": AT, "percent": 50, "summary": "已完工 13912345678", "explanation": "无法解决",
        "rating": "satisfied"}
SEALED_FORM = {
    "Raised": '{"details":{"channel":"phone"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Raised"}',
    "Triaged": '{"details":{"category":"public_works","template":"four_deliberations","track":"deliberation"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Triaged"}',
    "Escalated": '{"details":{"to_cell_id":"qingshui"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Escalated"}',
    "Discussed": '{"details":{"outcome":"endorsed","round":1,"step":"proposal"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Discussed"}',
    "Voted": '{"details":{"body":"party_branch","outcome":"endorsed","round":1,"step":"proposal"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Voted"}',
    "Publicized": '{"details":{"ends_at":"2026-09-01T10:00:00+00:00","kind":"resolution","notice_id":"resolution-1-1","text":"决议：安装路灯12盏，联系*******5678"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Publicized"}',
    "NoticeEnded": '{"details":{"notice_id":"resolution-1-1"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"NoticeEnded"}',
    "ImplementationProgressed": '{"details":{"percent":50,"summary":"已完工 *******5678"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"ImplementationProgressed"}',
    "Resolved": '{"details":{"summary":"已完工 *******5678"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Resolved"}',
    "Closed": '{"details":{"explanation":"无法解决","outcome":"endorsed"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Closed"}',
    "FeedbackGiven": '{"details":{"rating":"satisfied"},"occurred_at":"2026-09-01T10:00:00+00:00","what":"FeedbackGiven"}',
    "FeedbackExpired": '{"details":{},"occurred_at":"2026-09-01T10:00:00+00:00","what":"FeedbackExpired"}',
    "Reopened": '{"details":{},"occurred_at":"2026-09-01T10:00:00+00:00","what":"Reopened"}',
}


def test_every_fact_the_public_reads_has_its_sealed_form_pinned() -> None:
    assert SHOWN.keys() == SEALED_FORM.keys()


@pytest.mark.parametrize("what", sorted(SHOWN))
def test_the_public_form_sealed_into_a_leaf_stays_byte_for_byte_what_it_was(what: str) -> None:
    step = public_step(HistoryEntry(1, what, "someone", AT, AT, DATA, ""))
    assert step is not None
    form = {"what": step.what, "occurred_at": step.occurred_at, "details": step.details}
    assert canonical(form).decode() == SEALED_FORM[what]
