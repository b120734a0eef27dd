"""What a command refers to — a visit, a merge target, an assignee, an escalation target — must exist
and lie within the actor's reach; one outside it answers as one that does not exist, naming the field."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases

XICUN_GROUP = "qingshui.xicun.g1"  # zhao.worker's village, not wang.worker's


def conducted_visit(app: Minqing, clock: Clock, *, cell_id: str, worker: str) -> UUID:
    household = app.register_household(actor=worker, cell_id=cell_id, address="1号",
                                        categories=["elderly_alone"]).id
    visit = app.schedule_visit(household, actor=worker, visitor=worker, purpose="welfare_call",
                               due_at=clock.now + timedelta(days=1)).id
    app.conduct_visit(visit, actor=worker, mode="in_home", needs_found=["roof leaks"])
    return visit


def refused_for(field: str, command: object) -> errors.UnknownReference:
    assert callable(command)
    with pytest.raises(errors.UnknownReference) as refused:
        command()
    assert refused.value.field == field
    return refused.value


def test_a_demand_is_not_raised_from_another_villages_visit(app: Minqing, clock: Clock) -> None:
    foreign = conducted_visit(app, clock, cell_id=XICUN_GROUP, worker="zhao.worker")
    refused_for("visit_id", lambda: app.raise_demand(actor="wang.worker", channel="visit", title="Roof leaks",
                                                     cell_id=cases.VILLAGE_GROUP, visit_id=foreign))
    assert app.visit(foreign).demand_ids == []  # the foreign visit got no NeedRaised


def test_a_case_is_not_merged_into_a_case_outside_the_actors_scope(app: Minqing) -> None:
    duplicate = cases.triaged_repair(app)
    elsewhere = cases.triaged_repair(app, cell_id=XICUN_GROUP, actor="zhao.worker")
    refused_for("merged_into", lambda: app.close_case(duplicate, actor="wang.worker", outcome="merged",
                                                      merged_into=elsewhere))
    assert app.demand(duplicate).is_open


def test_a_case_is_not_assigned_to_a_worker_whose_scope_does_not_cover_it(
        app: Minqing, repair_in_progress: UUID) -> None:
    refused_for("assignee", lambda: app.assign(repair_in_progress, actor="chen.supervisor",
                                               assignee="zhao.worker"))
    assert app.demand(repair_in_progress).assignee is None


def test_a_case_is_not_assigned_to_a_reviewer(app: Minqing, repair_in_progress: UUID) -> None:
    refused_for("assignee", lambda: app.assign(repair_in_progress, actor="wang.worker",
                                               assignee="sun.reviewer"))


def test_a_case_is_assigned_to_a_worker_or_supervisor_over_it(app: Minqing, repair_in_progress: UUID) -> None:
    app.assign(repair_in_progress, actor="wang.worker", assignee="wang.worker")
    app.assign(repair_in_progress, actor="chen.supervisor", assignee="chen.supervisor")
    assert app.demand(repair_in_progress).assignee == "chen.supervisor"


def test_an_escalation_names_a_cell_of_the_grid(app: Minqing, repair_in_progress: UUID) -> None:
    refused = refused_for("to_cell_id", lambda: app.escalate(repair_in_progress, actor="wang.worker",
                                                             to_cell_id="beijing", reason="?"))
    assert "beijing" in refused.message
