"""Raising a demand (诉求): what it records, and what it refuses."""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases


def test_a_raised_demand_records_its_channel_title_cell_and_resident(
        app: Minqing, raised_repair: UUID) -> None:
    demand = app.demand(raised_repair)
    assert (demand.channel, demand.title, demand.cell_id, demand.resident_name, demand.resident_phone) == (
        "reception_day", "A broken manhole cover", "qingshui.dongcun.g1", "张大爷", "13800000000")


def test_a_raised_demand_waits_for_triage_in_its_own_cell(app: Minqing, raised_repair: UUID) -> None:
    demand = app.demand(raised_repair)
    assert (demand.status, demand.responsible_cell_id, demand.track) == (
        "raised", "qingshui.dongcun.g1", None)


def test_the_app_returns_where_the_demand_was_recorded(app: Minqing) -> None:
    before = app.recorder.max_notification_id() or 0
    recorded = app.raise_demand(actor="wang.worker", channel="phone", title="Dog barking all night",
                                cell_id="qingshui.dongcun.g2")
    assert (recorded.version, recorded.position) == (1, before + 1)


def test_a_demand_has_a_title(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.raise_demand(actor="wang.worker", channel="phone", title="   ", cell_id="qingshui.dongcun.g2")


def test_a_demand_comes_through_a_known_channel(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.raise_demand(actor="wang.worker", channel="pigeon", title="Lights", cell_id="qingshui.dongcun.g2")


def test_a_demand_sits_in_a_cell_of_the_grid(app: Minqing) -> None:
    with pytest.raises(errors.UnknownReference) as refused:
        app.raise_demand(actor="wang.worker", channel="phone", title="Lights", cell_id="qingshui.dongcun.g7")
    assert refused.value.field == "cell_id"


def test_a_category_suggested_when_raising_is_one_the_deployment_knows(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.raise_demand(actor="wang.worker", channel="phone", title="Lights", cell_id="qingshui.dongcun.g2",
                         category="astrology")


def test_a_category_suggested_when_raising_is_kept_as_a_hint_until_triage(app: Minqing, clock: Clock) -> None:
    recorded = app.raise_demand(actor="wang.worker", channel="phone", title="Wages unpaid",
                                cell_id="qingshui.dongcun.g2", category="rights_protection")
    demand = app.demand(recorded.id)
    assert (demand.category_hint, demand.category) == ("rights_protection", None)
    assert demand.deadlines == {"first_response": clock.now + timedelta(hours=24)}


def test_triage_records_the_category_and_the_responsible_cell(app: Minqing, raised_repair: UUID) -> None:
    app.triage(raised_repair, actor="wang.worker", category="disputes",
               responsible_cell_id="qingshui.dongcun")
    demand = app.demand(raised_repair)
    assert (demand.category, demand.track, demand.responsible_cell_id, demand.status) == (
        "disputes", "direct", "qingshui.dongcun", "in_progress")


def test_triage_names_a_category_the_deployment_knows(app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.triage(raised_repair, actor="wang.worker", category="astrology")


def test_triage_names_a_known_track(app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.triage(raised_repair, actor="wang.worker", category="repairs", track="express")


def test_an_unknown_case_is_not_found(app: Minqing) -> None:
    with pytest.raises(errors.NotFound):
        app.demand(uuid.uuid4())


def test_a_command_on_an_old_version_of_the_case_is_refused(app: Minqing, raised_repair: UUID) -> None:
    app.add_note(raised_repair, actor="wang.worker", text="called the resident")
    with pytest.raises(errors.StaleVersion):
        app.triage(raised_repair, actor="wang.worker", category="repairs", expected_version=1)


def test_nothing_is_recorded_on_a_case_as_happening_before_it_was_raised(app: Minqing, clock: Clock) -> None:
    demand_id = cases.raise_repair(app)
    with pytest.raises(errors.OccurredBeforeCase):
        app.add_note(demand_id, actor="wang.worker", text="earlier",
                     occurred_at=clock.now - timedelta(hours=1))
