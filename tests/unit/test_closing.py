"""Closing a demand: the outcomes other than resolved, and what a closed case refuses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from uuid import UUID

import pytest

from domain import errors
from domain.application import Minqing
from tests.unit import cases


def test_a_case_closed_as_not_resolvable_keeps_the_explanation_given_to_the_resident(
        app: Minqing, not_resolvable_repair: UUID) -> None:
    demand = app.demand(not_resolvable_repair)
    closed = app.history(not_resolvable_repair)[-1]
    assert (demand.status, demand.outcome) == ("closed", "not_resolvable")
    assert closed.data["explanation"] == "the road belongs to the county; we passed it on"


def test_closing_as_not_resolvable_needs_an_explanation(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(repair_in_progress, actor="chen.supervisor", outcome="not_resolvable", explanation=" ")


def test_only_a_supervisor_closes_a_case_as_not_resolvable(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="not_resolvable",
                       explanation="not ours to fix")


def test_a_worker_records_that_the_resident_withdrew_the_demand(
        app: Minqing, repair_in_progress: UUID) -> None:
    app.close_case(repair_in_progress, actor="wang.worker", outcome="withdrawn",
                   explanation="fixed it himself")
    assert app.demand(repair_in_progress).outcome == "withdrawn"


def test_an_untriaged_case_may_be_withdrawn(app: Minqing, raised_repair: UUID) -> None:
    app.close_case(raised_repair, actor="resident", outcome="withdrawn")
    assert app.demand(raised_repair).outcome == "withdrawn"


def test_a_duplicate_is_merged_into_the_surviving_case(app: Minqing, repair_in_progress: UUID) -> None:
    duplicate = cases.raise_repair(app)
    app.close_case(duplicate, actor="wang.worker", outcome="merged", merged_into=repair_in_progress)
    demand = app.demand(duplicate)
    assert (demand.outcome, demand.merged_into) == ("merged", repair_in_progress)


def test_a_merge_names_the_surviving_case(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="merged")


def test_a_case_is_not_merged_into_itself(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="merged",
                       merged_into=repair_in_progress)


def test_a_case_is_not_merged_into_a_case_that_does_not_exist(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.UnknownReference):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="merged", merged_into=uuid.uuid4())


def test_a_case_is_resolved_by_resolving_it_not_by_closing_it(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.ClosingNotAllowed):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="resolved")


def test_a_closing_outcome_is_one_the_domain_knows(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.close_case(repair_in_progress, actor="wang.worker", outcome="forgotten")


def test_a_direct_case_is_resolved_with_a_summary(app: Minqing, repair_in_progress: UUID) -> None:
    with pytest.raises(errors.InvalidInput):
        app.resolve(repair_in_progress, actor="wang.worker", summary="")


def test_an_untriaged_case_is_not_resolved(app: Minqing, raised_repair: UUID) -> None:
    with pytest.raises(errors.NotTriaged):
        app.resolve(raised_repair, actor="wang.worker", summary="done")


# ---------------------------------------------------------------- a closed case refuses work
COMMANDS_ON_A_CASE: dict[str, Callable[[Minqing, UUID], object]] = {
    "triage": lambda app, d: app.triage(d, actor="wang.worker", category="repairs"),
    "assign": lambda app, d: app.assign(d, actor="chen.supervisor", assignee="wang.worker"),
    "escalate": lambda app, d: app.escalate(d, actor="wang.worker", to_cell_id="qingshui", reason="stuck"),
    "note": lambda app, d: app.add_note(d, actor="wang.worker", text="called again"),
    "discuss": lambda app, d: app.discuss(d, actor="wang.worker", step="branch_proposal"),
    "vote": lambda app, d: app.vote(d, actor="wang.worker", body="representatives", members=30, present=20,
                                    in_favour=11, against=9, abstained=0),
    "publicize": lambda app, d: app.publicize(d, actor="wang.worker", kind="resolution", text="决议"),
    "progress": lambda app, d: app.record_progress(d, actor="wang.worker", summary="more", percent=50),
    "resolve": lambda app, d: app.resolve(d, actor="wang.worker", summary="done again"),
    "close": lambda app, d: app.close_case(d, actor="wang.worker", outcome="withdrawn"),
}


@pytest.mark.parametrize("command", COMMANDS_ON_A_CASE.values(), ids=COMMANDS_ON_A_CASE.keys())
def test_a_resolved_case_refuses_further_work_until_reopened(
        app: Minqing, resolved_repair: UUID, command: Callable[[Minqing, UUID], object]) -> None:
    with pytest.raises(errors.CaseClosed):
        command(app, resolved_repair)


@pytest.mark.parametrize("command", COMMANDS_ON_A_CASE.values(), ids=COMMANDS_ON_A_CASE.keys())
def test_a_withdrawn_case_refuses_further_work(
        app: Minqing, withdrawn_repair: UUID, command: Callable[[Minqing, UUID], object]) -> None:
    with pytest.raises(errors.CaseClosed):
        command(app, withdrawn_repair)


def test_a_refused_command_on_a_closed_case_records_nothing(app: Minqing, resolved_repair: UUID) -> None:
    before = app.demand(resolved_repair).version
    with pytest.raises(errors.CaseClosed):
        app.add_note(resolved_repair, actor="wang.worker", text="late note")
    assert app.demand(resolved_repair).version == before
