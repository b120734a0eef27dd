"""Escalation (上报) goes to any higher cell of the grid, never sideways or down."""

from __future__ import annotations

from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.unit import cases


def test_a_villager_group_escalates_straight_to_the_township(app: Minqing, repair_in_progress: UUID) -> None:
    app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui", reason="needs funds")
    demand = app.demand(repair_in_progress)
    assert demand.responsible_cell_id == "qingshui"
    assert demand.escalations == [{"from": "qingshui.dongcun.g1", "to": "qingshui", "automatic": False}]


def test_a_villager_group_escalates_to_its_village(app: Minqing, repair_in_progress: UUID) -> None:
    app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui.dongcun", reason="village job")
    assert app.demand(repair_in_progress).responsible_cell_id == "qingshui.dongcun"


def test_a_building_escalates_past_every_patch_to_the_community(app: Minqing) -> None:
    demand_id = cases.triaged_repair(app, cell_id=cases.BUILDING, actor="liu.community")
    app.escalate(demand_id, actor="liu.community", to_cell_id="qingshui.community", reason="两级管片都管不了")
    assert app.demand(demand_id).responsible_cell_id == "qingshui.community"


def test_an_untriaged_case_may_be_escalated(app: Minqing, raised_repair: UUID) -> None:
    app.escalate(raised_repair, actor="wang.worker", to_cell_id="qingshui", reason="urgent")
    assert app.demand(raised_repair).responsible_cell_id == "qingshui"


def test_escalation_never_goes_sideways_to_another_group(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui.dongcun.g2", reason="?")


def test_escalation_never_goes_to_another_village(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(repair_in_progress, actor="chen.supervisor", to_cell_id="qingshui.xicun", reason="?")


def test_escalation_never_goes_down(app: Minqing) -> None:
    demand_id = cases.triaged_repair(app, cell_id=cases.VILLAGE)
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(demand_id, actor="wang.worker", to_cell_id="qingshui.dongcun.g1", reason="?")


def test_an_escalated_case_does_not_go_back_down(app: Minqing, repair_in_progress: UUID) -> None:
    app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui", reason="needs funds")
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(repair_in_progress, actor="chen.supervisor", to_cell_id="qingshui.dongcun", reason="?")


def test_a_case_is_not_escalated_to_the_cell_that_holds_it(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui.dongcun.g1", reason="?")


def test_escalation_names_a_cell_of_the_grid(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.UnknownReference):
        app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="beijing", reason="?")


def test_a_refused_escalation_records_nothing(app: Minqing, repair_in_progress: UUID) -> None:
    before = app.demand(repair_in_progress).version
    with pytest.raises(errors.EscalationNotUpward):
        app.escalate(repair_in_progress, actor="wang.worker", to_cell_id="qingshui.dongcun.g2", reason="?")
    assert app.demand(repair_in_progress).version == before
