"""A command run for a request that may be sent again (`Minqing.once`) is recorded at most once, on
SQLite and PostgreSQL: its record is saved with its events, and a second save of it conflicts."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine

from domain import errors
from domain.application import Minqing, Recorded, retried
from domain.demand import Demand
from domain.request import request_record_id
from projections import all_views
from projections.processor import Processor
from tests.conftest import STAFF
from tests.support.views import rows_of

WORKER = "wang.worker"
CELL = "qingshui.dongcun.g1"
REQUEST = request_record_id("a caller's digest", "note-1")


def raised(app: Minqing) -> UUID:
    return app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮 Street light out", cell_id=CELL).id


def note(app: Minqing, case: UUID) -> Callable[[], Recorded]:
    return lambda: app.add_note(case, actor=WORKER, text="已电话联系居民 Called the resident")


def notes(app: Minqing, case: UUID) -> int:
    return sum(1 for entry in app.history(case) if entry.type == "NoteAdded")


def test_a_command_run_twice_for_the_same_request_is_recorded_once(stored_app: Minqing) -> None:
    case = raised(stored_app)
    first = stored_app.once(REQUEST, note(stored_app, case))
    again = stored_app.once(REQUEST, note(stored_app, case))
    assert notes(stored_app, case) == 1
    assert (again.id, again.version) == (first.id, first.version) == (case, 2)
    assert again.position >= first.position


def test_what_a_request_recorded_is_known_by_its_record(stored_app: Minqing) -> None:
    case = raised(stored_app)
    assert stored_app.handled(REQUEST) is None
    done = stored_app.once(REQUEST, note(stored_app, case))
    found = stored_app.handled(REQUEST)
    assert found is not None
    assert (found.id, found.version) == (case, 2)
    assert found.position >= done.position


def test_two_runs_of_one_request_at_once_record_once_and_the_loser_is_not_retried(
        stored_app: Minqing, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both load the case before either saves; the second save conflicts on the request's record too."""
    case = raised(stored_app)
    both_loaded = threading.Barrier(2)
    loads = itertools.count()
    load = stored_app._load

    def load_together(cls: type, aggregate_id: UUID, expected_version: int | None = None) -> Any:
        aggregate = load(cls, aggregate_id, expected_version)
        if cls is Demand and next(loads) < 2:
            both_loaded.wait(timeout=10)
        return aggregate

    monkeypatch.setattr(stored_app, "_load", load_together)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: stored_app.once(REQUEST, lambda: retried(note(stored_app, case))),
                                range(2)))
    assert notes(stored_app, case) == 1
    assert next(loads) == 2  # no reload: the run that lost did not try again
    assert {(r.id, r.version) for r in results} == {(case, 2)}


def test_a_refused_command_records_nothing_under_its_request(stored_app: Minqing) -> None:
    case = raised(stored_app)
    with pytest.raises(errors.NotTriaged):
        stored_app.once(REQUEST, lambda: stored_app.resolve(case, actor=WORKER, summary="done"))
    assert stored_app.handled(REQUEST) is None
    stored_app.triage(case, actor=WORKER, category="repairs")
    resolved = stored_app.once(REQUEST, lambda: stored_app.resolve(case, actor=WORKER, summary="done"))
    assert resolved.version == 3


def test_a_conflict_on_the_case_alone_is_still_an_ordinary_conflict(stored_app: Minqing) -> None:
    case = raised(stored_app)
    stale = stored_app.demand(case)
    stored_app.add_note(case, actor=WORKER, text="someone else first")

    def save_stale() -> Recorded:
        stale.add_note(text="too late", actor=WORKER, occurred_at=stale.raised_at)
        return stored_app._save(stale)

    with pytest.raises(errors.ConcurrentUpdate):
        stored_app.once(REQUEST, save_stale)
    assert stored_app.handled(REQUEST) is None


def test_a_requests_record_is_in_no_case_history_no_view_and_verifies(stored_app: Minqing,
                                                                      views_engine: Engine) -> None:
    case = raised(stored_app)
    stored_app.once(REQUEST, note(stored_app, case))
    assert [entry.type for entry in stored_app.history(case)] == ["Raised", "NoteAdded"]
    processor = Processor(stored_app, views_engine)
    processor.catch_up()
    assert set(processor.positions().values()) == {stored_app.recorder.max_notification_id()}
    assert [row["id"] for row in rows_of(views_engine, all_views()["cases"])] == [str(case)]
    verification = stored_app.verify()
    assert verification.intact
    assert verification.aggregates == len(STAFF) + 2  # the accounts, the case and the request's record


def test_what_a_request_recorded_is_the_case_as_its_command_left_it_and_the_event_it_recorded(
        stored_app: Minqing) -> None:
    case = raised(stored_app)
    stored_app.triage(case, actor=WORKER, category="repairs")
    done = stored_app.once(REQUEST, lambda: stored_app.resolve(case, actor=WORKER, summary="灯已修好"))
    stored_app.give_feedback(case, actor=WORKER, rating="satisfied")  # the case moves on afterwards
    found = stored_app.handled(REQUEST)
    assert found is not None
    assert isinstance(found.state, Demand) and isinstance(done.state, Demand)
    assert (found.state.version, found.state.outcome, found.state.feedback_state) == (3, "resolved", "asked")
    assert found.state.feedback_due == done.state.feedback_due
    assert isinstance(found.event, Demand.Resolved)
    assert found.event.chain == done.event.chain
