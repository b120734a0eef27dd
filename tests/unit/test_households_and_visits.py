"""Households (住户), their visiting cadence, and visits (走访) whose needs become demands."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.conftest import Clock


def register(app: Minqing, categories: list[str], *, cell_id: str = "qingshui.dongcun.g1",
             actor: str = "wang.worker") -> UUID:
    return app.register_household(actor=actor, cell_id=cell_id, address="东村一组3号", categories=categories,
                                  members=1, head_name="李奶奶", phone="13700000000").id


@pytest.fixture
def elderly_household(app: Minqing) -> UUID:
    """An old woman living alone in Dongcun group 1."""
    return register(app, ["elderly_alone"])


@pytest.fixture
def visit_scheduled(app: Minqing, clock: Clock, elderly_household: UUID) -> UUID:
    return app.schedule_visit(elderly_household, actor="wang.worker", visitor="wang.worker",
                              purpose="welfare_call", due_at=clock.now + timedelta(days=3)).id


@pytest.fixture
def visit_conducted(app: Minqing, clock: Clock, visit_scheduled: UUID) -> UUID:
    clock.advance(days=2)
    app.conduct_visit(visit_scheduled, actor="wang.worker", mode="in_home", notes="屋顶漏雨",
                      needs_found=["roof leaks"])
    return visit_scheduled


@pytest.fixture
def visit_missed(app: Minqing, clock: Clock, visit_scheduled: UUID) -> UUID:
    clock.advance(days=4)
    app.miss_visit(visit_scheduled, actor="wang.worker", reason="nobody home")
    return visit_scheduled


# ---------------------------------------------------------------- households
def test_a_household_is_registered_in_a_cell_with_its_categories(
        app: Minqing, elderly_household: UUID) -> None:
    household = app.household(elderly_household)
    assert (household.cell_id, household.categories, household.head_name) == (
        "qingshui.dongcun.g1", ["elderly_alone"], "李奶奶")


def test_a_household_category_is_one_the_domain_knows(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        register(app, ["wealthy"])


def test_a_household_has_at_least_one_category(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        register(app, [])


def test_a_household_has_an_address(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.register_household(actor="wang.worker", cell_id="qingshui.dongcun.g1", address=" ",
                               categories=["ordinary"])


def test_a_household_has_at_least_one_member(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.register_household(actor="wang.worker", cell_id="qingshui.dongcun.g1", address="东村1号",
                               categories=["ordinary"], members=0)


def test_a_household_is_registered_in_a_cell_of_the_grid(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        register(app, ["ordinary"], cell_id="qingshui.dongcun.g9")


def test_a_worker_registers_households_only_in_their_own_cells(app: Minqing) -> None:
    with pytest.raises(errors.OutsideScope):
        register(app, ["ordinary"], actor="zhao.worker")


@pytest.mark.parametrize(("categories", "days"), [
    (["elderly_alone"], 14),
    (["minimum_living_allowance"], 30),
    (["hardship"], 30),
    (["ordinary"], None),
    (["unemployed"], None),
    (["minimum_living_allowance", "elderly_alone"], 14),
    (["ordinary", "hardship"], 30),
])
def test_a_household_is_visited_as_often_as_its_most_frequent_category_asks(
        app: Minqing, categories: list[str], days: int | None) -> None:
    assert app.household(register(app, categories)).cadence_days == days


def test_recategorising_a_household_changes_how_often_it_is_visited(
        app: Minqing, elderly_household: UUID) -> None:
    app.recategorise_household(elderly_household, actor="wang.worker",
                               categories=["minimum_living_allowance"])
    household = app.household(elderly_household)
    assert (household.categories, household.cadence_days) == (["minimum_living_allowance"], 30)


def test_a_household_no_longer_in_need_is_not_visited_on_a_cadence(
        app: Minqing, elderly_household: UUID) -> None:
    app.recategorise_household(elderly_household, actor="wang.worker", categories=["ordinary"])
    assert app.household(elderly_household).cadence_days is None


def test_recategorising_takes_known_categories_only(app: Minqing, elderly_household: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.recategorise_household(elderly_household, actor="wang.worker", categories=["vip"])


def test_a_worker_recategorises_households_only_in_their_own_cells(
        app: Minqing, elderly_household: UUID) -> None:
    with pytest.raises(errors.NotFound):
        app.recategorise_household(elderly_household, actor="zhao.worker", categories=["ordinary"])


def test_an_unknown_household_is_not_found(app: Minqing) -> None:
    with pytest.raises(errors.NotFound):
        app.household(uuid.uuid4())


# ---------------------------------------------------------------- visits
def test_a_visit_is_scheduled_for_a_visitor_purpose_and_date(
        app: Minqing, clock: Clock, visit_scheduled: UUID, elderly_household: UUID) -> None:
    visit = app.visit(visit_scheduled)
    assert (visit.status, visit.household_id, visit.cell_id, visit.purpose, visit.due_at) == (
        "scheduled", elderly_household, "qingshui.dongcun.g1", "welfare_call", clock.now + timedelta(days=3))


def test_a_visit_has_a_known_purpose(app: Minqing, clock: Clock, elderly_household: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.schedule_visit(elderly_household, actor="wang.worker", visitor="wang.worker",
                           purpose="sightseeing", due_at=clock.now + timedelta(days=3))


def test_a_visit_is_due_at_a_time_with_a_time_zone(
        app: Minqing, clock: Clock, elderly_household: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.schedule_visit(elderly_household, actor="wang.worker", visitor="wang.worker", purpose="routine",
                           due_at=(clock.now + timedelta(days=3)).replace(tzinfo=None))


def test_a_worker_schedules_visits_only_in_their_own_cells(
        app: Minqing, clock: Clock, elderly_household: UUID) -> None:
    with pytest.raises(errors.NotFound):
        app.schedule_visit(elderly_household, actor="zhao.worker", visitor="zhao.worker", purpose="routine",
                           due_at=clock.now + timedelta(days=3))


def test_a_visit_is_conducted_with_its_mode_and_the_needs_found(app: Minqing, visit_conducted: UUID) -> None:
    visit = app.visit(visit_conducted)
    conducted = app.history(visit_conducted)[-1]
    assert visit.status == "conducted"
    assert (conducted.data["mode"], conducted.data["needs_found"]) == ("in_home", ["roof leaks"])


def test_a_visit_mode_is_in_home_phone_or_reception(app: Minqing, visit_scheduled: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.conduct_visit(visit_scheduled, actor="wang.worker", mode="telepathy")


def test_a_visit_is_conducted_once(app: Minqing, visit_conducted: UUID) -> None:
    with pytest.raises(errors.VisitNotScheduled):
        app.conduct_visit(visit_conducted, actor="wang.worker", mode="phone")


def test_a_visit_that_did_not_happen_is_recorded_as_missed(app: Minqing, visit_missed: UUID) -> None:
    assert app.visit(visit_missed).status == "missed"


def test_a_missed_visit_is_not_conducted_afterwards(app: Minqing, visit_missed: UUID) -> None:
    with pytest.raises(errors.VisitNotScheduled):
        app.conduct_visit(visit_missed, actor="wang.worker", mode="in_home")


def test_a_conducted_visit_is_not_missed_afterwards(app: Minqing, visit_conducted: UUID) -> None:
    with pytest.raises(errors.VisitNotScheduled):
        app.miss_visit(visit_conducted, actor="wang.worker", reason="?")


def test_a_worker_conducts_visits_only_in_their_own_cells(app: Minqing, visit_scheduled: UUID) -> None:
    with pytest.raises(errors.NotFound):
        app.conduct_visit(visit_scheduled, actor="zhao.worker", mode="in_home")


# ---------------------------------------------------------------- a need found becomes a demand
def raise_from_visit(app: Minqing, visit_id: UUID) -> UUID:
    return app.raise_demand(actor="wang.worker", channel="visit", title="Roof leaks",
                            cell_id="qingshui.dongcun.g1", category="repairs", visit_id=visit_id).id


def test_a_need_found_on_a_visit_becomes_a_demand_pointing_at_the_visit(
        app: Minqing, visit_conducted: UUID) -> None:
    demand_id = raise_from_visit(app, visit_conducted)
    assert app.demand(demand_id).visit_id == visit_conducted


def test_the_visit_points_at_the_demands_raised_from_it(app: Minqing, visit_conducted: UUID) -> None:
    first = raise_from_visit(app, visit_conducted)
    second = raise_from_visit(app, visit_conducted)
    assert app.visit(visit_conducted).demand_ids == [first, second]


def test_the_demand_and_the_visits_link_are_recorded_together(app: Minqing, visit_conducted: UUID) -> None:
    recorded = app.raise_demand(actor="wang.worker", channel="visit", title="Roof leaks",
                                cell_id="qingshui.dongcun.g1", visit_id=visit_conducted)
    notifications = app.notification_log.select(start=recorded.position - 1, limit=2)
    assert [(n.originator_id, n.topic.rsplit(".", 1)[-1]) for n in notifications] == [
        (recorded.id, "Raised"), (visit_conducted, "NeedRaised")]


def test_a_demand_is_not_raised_from_a_visit_that_has_not_taken_place(
        app: Minqing, visit_scheduled: UUID) -> None:
    with pytest.raises(errors.VisitNotScheduled):
        raise_from_visit(app, visit_scheduled)


def test_a_demand_refused_for_its_visit_leaves_nothing_recorded(app: Minqing, visit_missed: UUID) -> None:
    last = app.recorder.max_notification_id()
    with pytest.raises(errors.VisitNotScheduled):
        raise_from_visit(app, visit_missed)
    assert app.recorder.max_notification_id() == last


def test_a_demand_is_not_raised_from_a_visit_that_does_not_exist(app: Minqing) -> None:
    with pytest.raises(errors.UnknownReference):
        raise_from_visit(app, uuid.uuid4())
