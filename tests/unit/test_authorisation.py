"""Who may do what, over which cells; residents without accounts; when a fact may be dated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

import pytest

from domain import errors
from domain.application import RESIDENT, SYSTEM, Minqing
from tests.conftest import Clock
from tests.unit import cases


# ---------------------------------------------------------------- scope
def test_a_worker_raises_a_demand_anywhere_below_their_cell(app: Minqing) -> None:
    demand_id = cases.raise_repair(app, cell_id="qingshui.dongcun.g3", actor="wang.worker")
    assert app.demand(demand_id).cell_id == "qingshui.dongcun.g3"


def test_a_worker_does_not_raise_a_demand_in_another_village(app: Minqing) -> None:
    with pytest.raises(errors.OutsideScope):
        cases.raise_repair(app, cell_id="qingshui.dongcun.g1", actor="zhao.worker")


def test_a_worker_does_not_raise_a_demand_above_their_cell(app: Minqing) -> None:
    with pytest.raises(errors.OutsideScope):
        cases.raise_repair(app, cell_id="qingshui", actor="wang.worker")


def test_a_worker_does_not_work_on_a_case_outside_their_cell(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.NotFound):  # as if it were not there
        app.add_note(repair_in_progress, actor="zhao.worker", text="not my village")


def test_a_worker_does_not_triage_a_case_to_a_cell_outside_their_own(
        app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.OutsideScope):
        app.triage(raised_repair, actor="wang.worker", category="repairs",
                   responsible_cell_id="qingshui.xicun")


def test_a_supervisor_works_anywhere_below_their_cell(app: Minqing, repair_in_progress: UUID) -> None:
    app.add_note(repair_in_progress, actor="chen.supervisor", text="checked on site")
    assert app.history(repair_in_progress)[-1].actor == "chen.supervisor"


def test_a_refused_command_records_nothing(app: Minqing, repair_in_progress: UUID) -> None:
    before = app.demand(repair_in_progress).version
    with pytest.raises(errors.NotFound):
        app.add_note(repair_in_progress, actor="zhao.worker", text="not my village")
    assert app.demand(repair_in_progress).version == before


# ---------------------------------------------------------------- roles
REVIEWER_COMMANDS: dict[str, Callable[[Minqing, UUID], object]] = {
    "raise": lambda app, d: cases.raise_repair(app, actor="sun.reviewer"),
    "triage": lambda app, d: app.triage(d, actor="sun.reviewer", category="repairs"),
    "note": lambda app, d: app.add_note(d, actor="sun.reviewer", text="inspected"),
    "escalate": lambda app, d: app.escalate(d, actor="sun.reviewer", to_cell_id="qingshui", reason="?"),
    "close": lambda app, d: app.close_case(d, actor="sun.reviewer", outcome="withdrawn"),
}


@pytest.mark.parametrize("command", REVIEWER_COMMANDS.values(), ids=REVIEWER_COMMANDS.keys())
def test_a_reviewer_reads_but_does_not_command(
        app: Minqing, raised_repair: UUID, command: Callable[[Minqing, UUID], object]) -> None:
    with pytest.raises(errors.NotAuthorised):
        command(app, raised_repair)


def test_an_admin_manages_accounts_but_does_not_raise_demands(app: Minqing) -> None:
    with pytest.raises(errors.NotAuthorised):
        cases.raise_repair(app, actor="admin")


def test_a_worker_assigns_an_unassigned_case(app: Minqing, repair_in_progress: UUID) -> None:
    app.assign(repair_in_progress, actor="wang.worker", assignee="wang.worker")
    assert app.demand(repair_in_progress).assignee == "wang.worker"


def test_a_worker_does_not_reassign_a_case_that_is_already_assigned(
        app: Minqing, repair_in_progress: UUID) -> None:
    app.assign(repair_in_progress, actor="wang.worker", assignee="wang.worker")
    with pytest.raises(errors.NotAuthorised):
        app.assign(repair_in_progress, actor="wang.worker", assignee="chen.supervisor")


def test_a_supervisor_reassigns_a_case(app: Minqing, repair_in_progress: UUID) -> None:
    app.assign(repair_in_progress, actor="wang.worker", assignee="wang.worker")
    app.assign(repair_in_progress, actor="chen.supervisor", assignee="chen.supervisor")
    assert app.demand(repair_in_progress).assignee == "chen.supervisor"


def test_a_case_is_assigned_to_someone_with_an_account(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.UnknownReference):
        app.assign(repair_in_progress, actor="wang.worker", assignee="nobody")


def test_an_untriaged_case_is_not_assigned(app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.NotTriaged):
        app.assign(raised_repair, actor="wang.worker", assignee="wang.worker")


# ---------------------------------------------------------------- what may be done next
def test_a_worker_may_assign_an_unassigned_case_but_not_reassign_it(
        app: Minqing, repair_in_progress: UUID) -> None:
    assert "assign" in app.allowed_actions(app.demand(repair_in_progress), "wang.worker")
    app.assign(repair_in_progress, actor="wang.worker", assignee="wang.worker")
    assert "assign" not in app.allowed_actions(app.demand(repair_in_progress), "wang.worker")
    assert "assign" in app.allowed_actions(app.demand(repair_in_progress), "chen.supervisor")


def test_only_a_supervisor_may_reopen_a_resolved_case(
        app: Minqing, resolved_repair: UUID) -> None:
    demand = app.demand(resolved_repair)
    assert "reopen" in app.allowed_actions(demand, SYSTEM)
    assert "reopen" not in app.allowed_actions(demand, "wang.worker")
    assert "reopen" in app.allowed_actions(demand, "chen.supervisor")


def test_a_reviewer_may_take_no_action_on_a_case(app: Minqing, repair_in_progress: UUID) -> None:
    assert app.allowed_actions(app.demand(repair_in_progress), "sun.reviewer") == []


def test_a_resident_may_only_take_the_actions_open_to_residents(
        app: Minqing, repair_in_progress: UUID) -> None:
    assert app.allowed_actions(app.demand(repair_in_progress), RESIDENT) == ["close"]


def test_an_actor_without_an_account_is_refused(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.UnknownActor):
        app.add_note(repair_in_progress, actor="li.stranger", text="hello")


def test_a_revoked_role_takes_effect_at_once(app: Minqing, repair_in_progress: UUID) -> None:
    app.add_note(repair_in_progress, actor="wang.worker", text="before revocation")
    app.revoke_role(actor="admin", username="wang.worker", role="worker", cell_id="qingshui.dongcun")
    with pytest.raises(errors.NotAuthorised):
        app.add_note(repair_in_progress, actor="wang.worker", text="after revocation")


def test_a_granted_role_takes_effect_at_once(app: Minqing, repair_in_progress: UUID) -> None:
    app.grant_role(actor="admin", username="zhao.worker", role="worker", cell_id="qingshui.dongcun")
    app.add_note(repair_in_progress, actor="zhao.worker", text="covering for wang")
    assert app.history(repair_in_progress)[-1].actor == "zhao.worker"


def test_the_system_acts_everywhere(app: Minqing) -> None:
    demand_id = cases.raise_repair(app, actor=SYSTEM)
    assert app.demand(demand_id).raised_by == SYSTEM


# ---------------------------------------------------------------- residents without an account
@pytest.mark.parametrize("channel", ["online", "open311", "message_box"])
def test_a_resident_raises_a_demand_through_a_public_channel(app: Minqing, channel: str) -> None:
    recorded = app.raise_demand(actor=RESIDENT, channel=channel, title="Street light out",
                                cell_id="qingshui.dongcun.g2", resident_phone="13900000000")
    demand = app.demand(recorded.id)
    assert (demand.channel, demand.raised_by) == (channel, RESIDENT)


@pytest.mark.parametrize("channel", ["visit", "reception_day", "phone", "delegate", "grid_patrol"])
def test_a_resident_does_not_record_a_demand_through_a_staff_channel(app: Minqing, channel: str) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.raise_demand(actor=RESIDENT, channel=channel, title="Street light out",
                         cell_id="qingshui.dongcun.g2")


def test_a_resident_gets_a_receipt_code_to_follow_the_demand(app: Minqing) -> None:
    recorded = app.raise_demand(actor=RESIDENT, channel="online", title="Street light out",
                                cell_id="qingshui.dongcun.g2")
    receipt = app.demand(recorded.id).receipt
    assert len(receipt) == 10 and receipt.isalnum()


def test_a_resident_withdraws_a_demand(app: Minqing, raised_repair: UUID) -> None:
    app.close_case(raised_repair, actor=RESIDENT, outcome="withdrawn")
    assert app.demand(raised_repair).outcome == "withdrawn"


def test_a_resident_lodges_an_objection_to_a_notice(app: Minqing, resolution_notice_up: UUID) -> None:
    app.lodge_objection(resolution_notice_up, actor=RESIDENT, phone="13900001111",
                        notice_id=cases.notice_of(app, resolution_notice_up, "resolution"), text="异议")
    assert app.history(resolution_notice_up)[-1].actor == RESIDENT


def test_a_resident_gives_feedback(app: Minqing, resolved_repair: UUID) -> None:
    app.give_feedback(resolved_repair, actor=RESIDENT, rating="satisfied")
    assert app.demand(resolved_repair).rating == "satisfied"


RESIDENT_REFUSED: dict[str, Callable[[Minqing, UUID], object]] = {
    "triage": lambda app, d: app.triage(d, actor=RESIDENT, category="repairs"),
    "assign": lambda app, d: app.assign(d, actor=RESIDENT, assignee="wang.worker"),
    "escalate": lambda app, d: app.escalate(d, actor=RESIDENT, to_cell_id="qingshui", reason="faster"),
    "note": lambda app, d: app.add_note(d, actor=RESIDENT, text="hello"),
    "resolve": lambda app, d: app.resolve(d, actor=RESIDENT, summary="fixed it myself"),
    "close as not resolvable": lambda app, d: app.close_case(d, actor=RESIDENT, outcome="not_resolvable",
                                                             explanation="whatever"),
    "close as merged": lambda app, d: app.close_case(d, actor=RESIDENT, outcome="merged", merged_into=d),
    "reopen": lambda app, d: app.reopen(d, actor=RESIDENT, reason="again"),
    "flag": lambda app, d: app.flag(d, actor=RESIDENT, responsible="村委会", finding="slow"),
    "register household": lambda app, d: app.register_household(actor=RESIDENT, cell_id="qingshui.dongcun.g1",
                                                                 address="东村1号", categories=["ordinary"]),
    "open account": lambda app, d: app.open_account(actor=RESIDENT, username="me"),
}


@pytest.mark.parametrize("command", RESIDENT_REFUSED.values(), ids=RESIDENT_REFUSED.keys())
def test_a_resident_does_nothing_else(
        app: Minqing, repair_in_progress: UUID, command: Callable[[Minqing, UUID], object]) -> None:
    with pytest.raises(errors.NotAuthorised):
        command(app, repair_in_progress)


@pytest.mark.parametrize("step", ["discuss", "vote", "publicize"])
def test_a_resident_does_not_record_deliberation(app: Minqing, representatives_vote_pending: UUID,
                                                 step: str) -> None:
    commands: dict[str, Callable[[], object]] = {
        "discuss": lambda: app.discuss(representatives_vote_pending, actor=RESIDENT, step="branch_proposal"),
        "vote": lambda: app.vote(representatives_vote_pending, actor=RESIDENT, body="representatives",
                                 members=30, present=20, in_favour=20, against=0, abstained=0),
        "publicize": lambda: app.publicize(representatives_vote_pending, actor=RESIDENT, kind="rejection",
                                           text="未通过"),
    }
    with pytest.raises(errors.NotAuthorised):
        commands[step]()


# ---------------------------------------------------------------- when a fact happened
def test_a_time_without_a_time_zone_is_refused(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.add_note(repair_in_progress, actor="wang.worker", text="x",
                     occurred_at=datetime(2026, 3, 1, 9, 0))


def test_a_fact_dated_in_the_future_is_refused(app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.OccurredInFuture):
        app.add_note(repair_in_progress, actor="wang.worker", text="x",
                     occurred_at=clock.now + timedelta(hours=1))


def test_a_fact_dated_a_minute_ahead_of_the_server_clock_is_accepted(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    ahead = clock.now + timedelta(minutes=1)
    app.add_note(repair_in_progress, actor="wang.worker", text="x", occurred_at=ahead)
    assert app.history(repair_in_progress)[-1].occurred_at == ahead


def test_a_fact_dated_in_the_past_keeps_its_date(
        app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    clock.advance(days=3)  # the case was raised three days ago, the meeting held two days ago
    meeting = clock.now - timedelta(days=2)
    app.add_note(repair_in_progress, actor="wang.worker", text="x", occurred_at=meeting)
    assert app.history(repair_in_progress)[-1].occurred_at == meeting


def test_a_fact_without_a_date_happened_now(app: Minqing, clock: Clock, repair_in_progress: UUID) -> None:
    app.add_note(repair_in_progress, actor="wang.worker", text="x")
    assert app.history(repair_in_progress)[-1].occurred_at == clock.now
