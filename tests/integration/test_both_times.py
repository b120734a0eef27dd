"""Both times on real SQLite and PostgreSQL: when a fact happened (`occurred_at`, given by the caller) and
when it was recorded (`timestamp`, the application's clock), and the state as of either or both."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest

from domain import errors
from domain.application import Minqing
from domain.demand import Demand
from tests.conftest import Clock

WORKER = "wang.worker"


def raised_a_day_late(app: Minqing, clock: Clock) -> Demand:
    """A demand raised at a reception day and entered into the system the next morning."""
    happened = clock.now
    clock.advance(hours=20)
    recorded = app.raise_demand(actor=WORKER, channel="reception_day", title="东村一组路灯不亮",
                                cell_id="qingshui.dongcun.g1", occurred_at=happened)
    return app.demand(recorded.id)


def test_an_event_is_recorded_at_the_applications_clock_and_happened_when_the_caller_says(
        stored_app: Minqing, clock: Clock) -> None:
    happened = clock.now
    demand = raised_a_day_late(stored_app, clock)
    [raised] = stored_app.history(demand.id)
    assert (raised.occurred_at, raised.recorded_at) == (happened, happened + timedelta(hours=20))
    assert stored_app.verify(demand.id).intact          # the chain covers the recording time as stored


def test_as_of_an_occurred_time_the_case_holds_what_had_happened_even_if_recorded_later(
        stored_app: Minqing, clock: Clock) -> None:
    happened = clock.now
    demand = raised_a_day_late(stored_app, clock)          # recorded 20 hours after it happened
    then = stored_app.as_of(demand.id, happened + timedelta(hours=1))
    assert isinstance(then.aggregate, Demand) and then.aggregate.status == "raised"
    with pytest.raises(errors.NotYetRecorded):             # but the system did not know of it yet
        stored_app.as_of(demand.id, known_at=happened + timedelta(hours=1))
    with pytest.raises(errors.NotYetRecorded):             # both: happened by then, not recorded by then
        stored_app.as_of(demand.id, happened + timedelta(hours=1), known_at=happened + timedelta(hours=1))
    with pytest.raises(errors.NotYetExisting):             # before it happened, it did not exist
        stored_app.as_of(demand.id, happened - timedelta(minutes=1))


def test_both_times_together_give_what_had_happened_by_one_and_been_recorded_by_the_other(
        stored_app: Minqing, clock: Clock) -> None:
    start = clock.now
    demand = raised_a_day_late(stored_app, clock)          # happened at start, recorded at +20 h
    triaged = clock.advance(hours=4)                       # +24 h, recorded at once
    stored_app.triage(demand.id, actor=WORKER, category="repairs")
    clock.advance(hours=30)
    stored_app.assign(demand.id, actor=WORKER, assignee=WORKER, occurred_at=triaged + timedelta(hours=2))
    # occurred +26 h, recorded +54 h: by +30 h it had happened, but was known only from +54 h
    happened_by = start + timedelta(hours=30)
    now_known = stored_app.as_of(demand.id, happened_by).aggregate
    then_known = stored_app.as_of(demand.id, happened_by, known_at=start + timedelta(hours=30)).aggregate
    assert isinstance(now_known, Demand) and isinstance(then_known, Demand)
    assert (now_known.status, now_known.assignee) == ("in_progress", WORKER)
    assert (then_known.status, then_known.assignee) == ("in_progress", None)
    assert [e.type for e in stored_app.history(demand.id, as_of=happened_by,
                                               known_at=start + timedelta(hours=30))] == ["Raised", "Triaged"]


def test_a_fact_recorded_after_a_later_one_is_listed_but_left_out_of_the_state_as_of_its_time(
        stored_app: Minqing, clock: Clock) -> None:
    """The state as of an occurred time replays the longest run of events, in version order, that had
    all happened by then: a state the case really passed through. A note of a visit made before the
    triage but entered after it is not replayed before the triage; it is listed as left out."""
    raised = clock.now
    demand = raised_a_day_late(stored_app, clock)
    visited = raised + timedelta(hours=2)
    triaged = clock.advance(hours=2)                                   # raised + 22 h
    stored_app.triage(demand.id, actor=WORKER, category="repairs")
    clock.advance(hours=3)
    stored_app.add_note(demand.id, actor=WORKER, text="上门查看：三盏灯不亮", occurred_at=visited)
    between = visited + timedelta(hours=1)                             # after the visit, before the triage
    then = stored_app.as_of(demand.id, between)
    assert isinstance(then.aggregate, Demand)
    assert (then.aggregate.version, then.aggregate.status) == (1, "raised")
    assert [(e.version, e.type, e.occurred_at) for e in then.left_out] == [(3, "NoteAdded", visited)]
    listed = stored_app.history(demand.id, as_of=between)
    assert [(e.version, e.type) for e in listed] == [(1, "Raised"), (3, "NoteAdded")]
    after = stored_app.as_of(demand.id, triaged)                       # every fact by then, in order
    assert isinstance(after.aggregate, Demand) and after.aggregate.version == 3 and after.left_out == []


def test_the_state_as_of_a_time_is_replayed_from_events_past_a_snapshot(stored_app: Minqing,
                                                                        clock: Clock) -> None:
    demand = raised_a_day_late(stored_app, clock)
    for n in range(110):                                   # a snapshot is taken at version 100
        clock.advance(minutes=10)
        stored_app.add_note(demand.id, actor=WORKER, text=f"note {n}")
    assert [s.originator_version for s in stored_app.snapshots.get(demand.id)] == [100]
    notes = stored_app.history(demand.id)
    for version in (2, 50, 100, 105):
        then = stored_app.as_of(demand.id, notes[version - 1].occurred_at).aggregate
        assert then is not None and then.version == version
        assert then.chain_head == notes[version - 1].chain


def test_an_unknown_id_is_not_found_and_a_time_must_say_its_zone(stored_app: Minqing, clock: Clock) -> None:
    with pytest.raises(errors.NotFound) as unknown:
        stored_app.as_of(uuid4(), clock.now)
    assert type(unknown.value) is errors.NotFound
    demand = raised_a_day_late(stored_app, clock)
    with pytest.raises(errors.InvalidInput):
        stored_app.as_of(demand.id, clock.now.replace(tzinfo=None))
    with pytest.raises(errors.InvalidInput):
        stored_app.history(demand.id, known_at=clock.now.replace(tzinfo=None))
