"""The event store on real SQLite and PostgreSQL: same behaviour on both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from domain import errors
from domain.application import Minqing
from domain.demand import Demand
from tests.conftest import POSTGRES_URL, Clock, add_staff


def raise_street_lights(app: Minqing) -> Demand:
    recorded = app.raise_demand(actor="wang.worker", channel="reception_day",
                                title="Street lights on the east road", cell_id="qingshui.dongcun.g1",
                                resident_name="张大爷", resident_phone="13800000000")
    return app.demand(recorded.id)


def test_a_case_saved_by_one_process_is_read_back_whole_by_another(
        open_app: Callable[[], Minqing], clock: Clock) -> None:
    writer = open_app()
    add_staff(writer)
    demand = raise_street_lights(writer)
    writer.triage(demand.id, actor="wang.worker", category="public_works")
    reader = open_app()
    copy = reader.demand(demand.id)
    assert copy.title == "Street lights on the east road"
    assert copy.resident_phone == "13800000000"
    assert copy.current_step == "branch_proposal"
    assert copy.deadlines["deliberation"] == clock.now + timedelta(days=120)


def test_two_writers_on_one_case_one_succeeds_and_the_other_gets_a_conflict(
        open_app: Callable[[], Minqing]) -> None:
    first, second = open_app(), open_app()
    add_staff(first)
    demand_id = raise_street_lights(first).id
    a = first.demand(demand_id)
    b = second.demand(demand_id)
    a.add_note(text="first writer", actor="wang.worker", occurred_at=a.raised_at)
    b.add_note(text="second writer", actor="wang.worker", occurred_at=b.raised_at)
    first._save(a)
    with pytest.raises(errors.ConcurrentUpdate):
        second._save(b)
    history = first.history(demand_id)
    assert [e.data.get("text") for e in history if e.type == "NoteAdded"] == ["first writer"]
    assert first.verify(demand_id).intact


def test_a_command_against_an_old_version_is_refused_as_stale(stored_app: Minqing) -> None:
    demand = raise_street_lights(stored_app)
    stored_app.add_note(demand.id, actor="wang.worker", text="called the resident")
    with pytest.raises(errors.StaleVersion):
        stored_app.add_note(demand.id, actor="wang.worker", text="late", expected_version=1)


def test_a_long_case_is_snapshotted_every_hundred_events_and_loads_the_same(
        open_app: Callable[[], Minqing]) -> None:
    app = open_app()
    add_staff(app)
    demand_id = raise_street_lights(app).id
    for n in range(250):
        app.add_note(demand_id, actor="wang.worker", text=f"note {n}")
    snapshots = list(app.snapshots.get(demand_id))
    assert [s.originator_version for s in snapshots] == [100, 200]
    fresh = open_app().demand(demand_id)
    assert fresh.version == 251
    assert fresh.chain_head == app.history(demand_id)[-1].chain
    assert app.verify(demand_id).intact


def test_a_case_can_be_rebuilt_as_it_stood_at_any_time(stored_app: Minqing, clock: Clock) -> None:
    demand = raise_street_lights(stored_app)
    triaged_at = clock.advance(hours=2)
    stored_app.triage(demand.id, actor="wang.worker", category="public_works")
    clock.advance(days=1)
    stored_app.discuss(demand.id, actor="wang.worker", step="branch_proposal")
    recorded = {e.version: e.recorded_at for e in stored_app.history(demand.id)}
    with pytest.raises(errors.NotYetRecorded):
        stored_app.as_of(demand.id, known_at=recorded[1] - timedelta(microseconds=1))
    at_raise = stored_app.as_of(demand.id, known_at=recorded[1]).aggregate
    at_triage = stored_app.as_of(demand.id, known_at=recorded[2]).aggregate
    assert isinstance(at_raise, Demand) and isinstance(at_triage, Demand)
    assert at_raise.status == "raised"
    assert at_triage.status == "deliberating" and at_triage.current_step == "branch_proposal"
    assert at_triage.triaged_at == triaged_at
    latest = stored_app.as_of(demand.id, known_at=recorded[3]).aggregate
    assert isinstance(latest, Demand) and latest.current_step == "two_committees"


def test_every_event_records_who_when_it_was_recorded_and_when_it_happened(stored_app: Minqing,
                                                                          clock: Clock) -> None:
    demand = raise_street_lights(stored_app)
    clock.advance(days=2)  # the meeting, a day ago, came after the case was raised
    meeting = clock.now - timedelta(days=1)
    stored_app.triage(demand.id, actor="chen.supervisor", category="public_works", occurred_at=meeting)
    stored_app.discuss(demand.id, actor="wang.worker", step="branch_proposal", attendees=["李书记", "王委员"],
                       occurred_at=meeting + timedelta(hours=1))
    last = stored_app.history(demand.id)[-1]
    assert (last.type, last.actor) == ("Discussed", "wang.worker")
    assert last.occurred_at == meeting + timedelta(hours=1)
    assert last.recorded_at > last.occurred_at
    assert last.data["attendees"] == ["李书记", "王委员"]


def test_servers_do_not_create_tables_and_say_to_run_db_init(tmp_path) -> None:
    from api.settings import NotInitialised, Settings

    with pytest.raises(NotInitialised, match="minqing db init"):
        Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}").open_application()


def test_a_database_password_is_never_printed_in_a_message(postgres_schema: str) -> None:
    from api.settings import NotInitialised, Settings

    user_and_host = POSTGRES_URL.removeprefix("postgresql://").split("@")[-1]
    url = f"postgresql://postgres:s3cret-pw@{user_and_host}?schema={postgres_schema}"
    with pytest.raises(NotInitialised) as refused:  # the schema has no tables
        Settings(database_url=url).open_application()
    assert "s3cret-pw" not in str(refused.value) and "postgres:***@" in str(refused.value)
