"""The rules of DOMAIN.md hold after every step of random command sequences (hypothesis, stateful).

A machine raises demands and household visits and then drives them with random commands, lawful and
not, on the in-memory store with a clock it moves. A refused command must record nothing; after every
step every case and visit must satisfy the rules below.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, initialize, invariant, rule

from domain import errors
from domain.application import Minqing
from domain.demand import CLOSED, DELIBERATING, IMPLEMENTING, Demand
from domain.deployment import load
from domain.templates import DISCUSSION, VOTE
from domain.visit import HouseholdVisit
from tests.conftest import START, Clock, add_staff
from tests.support.lawful import CATEGORIES, RATINGS, SUPERVISOR, WORKER, next_command, unlawful_steps

CELLS = ("qingshui.dongcun.g1", "qingshui.dongcun.g2")
# The events that move a case along its process: each happens no earlier than the one before it.
STEPS = ("Raised", "Triaged", "Discussed", "Voted", "Publicized", "ImplementationProgressed", "Resolved",
         "Closed", "FeedbackGiven", "FeedbackExpired", "Reopened")


class Cases(RuleBasedStateMachine):
    demands = Bundle("demands")
    visits = Bundle("visits")

    @initialize()
    def open(self) -> None:
        self.clock = Clock(START)
        self.app = Minqing(load("village_township"), env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                           clock=self.clock)
        add_staff(self.app)
        self.all_demands: list[UUID] = []
        self.all_visits: list[UUID] = []

    def attempt(self, aggregate: UUID, command: object) -> None:
        """Run a command; a refusal must leave the aggregate as it was."""
        assert callable(command)
        before = self.app.repository.get(aggregate).version
        try:
            command()
        except errors.DomainError:
            assert self.app.repository.get(aggregate).version == before, "a refused command recorded"

    # ------------------------------------------------------------------ rules
    @rule(target=demands, cell=st.sampled_from(CELLS))
    def raise_demand(self, cell: str) -> UUID:
        demand_id = self.app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮", cell_id=cell).id
        self.all_demands.append(demand_id)
        return demand_id

    @rule(demand=demands, picks=st.lists(st.integers(0, 99), min_size=1, max_size=8))
    def take_allowed_actions(self, demand: UUID, picks: list[int]) -> None:
        """Carry the case further: each pick chooses one of the actions its state allows next."""
        for pick in picks:
            command = next_command(self.app, self.clock, demand, pick)
            if command is None:
                return
            self.attempt(demand, command)

    @rule(demand=demands, category=st.sampled_from(CATEGORIES))
    def triage(self, demand: UUID, category: str) -> None:
        self.attempt(demand, lambda: self.app.triage(demand, actor=WORKER, category=category))

    @rule(demand=demands, returned=st.booleans())
    def discuss_the_awaited_step(self, demand: UUID, returned: bool) -> None:
        step = self.app.demand(demand).awaited_step
        key = step.key if step is not None and step.kind == DISCUSSION else "branch_proposal"
        self.attempt(demand, lambda: self.app.discuss(demand, actor=WORKER, step=key,
                                                      outcome="returned" if returned else "endorsed"))

    @rule(demand=demands, hours_ago=st.integers(0, 72))
    def record_a_meeting_or_progress_held_earlier(self, demand: UUID, hours_ago: int) -> None:
        """A worker records, after the fact, a meeting or progress dated some hours ago: lawful or not."""
        held = self.clock.now - timedelta(hours=hours_ago)
        step = self.app.demand(demand).awaited_step
        if step is not None and step.kind == DISCUSSION:
            key = step.key
            self.attempt(demand, lambda: self.app.discuss(demand, actor=WORKER, step=key, occurred_at=held))
        else:
            self.attempt(demand, lambda: self.app.record_progress(demand, actor=WORKER, summary="补记",
                                                                  percent=hours_ago, occurred_at=held))

    @rule(demand=demands, present=st.integers(0, 40), in_favour=st.integers(0, 40))
    def vote(self, demand: UUID, present: int, in_favour: int) -> None:
        step = self.app.demand(demand).awaited_step
        body = step.vote_bodies[0] if step is not None and step.kind == VOTE else "representatives"
        in_favour = min(in_favour, present)
        self.attempt(demand, lambda: self.app.vote(
            demand, actor=WORKER, body=body, members=30, present=present, in_favour=in_favour,
            against=present - in_favour, abstained=0, households=100, households_present=70))

    @rule(demand=demands, kind=st.sampled_from(("resolution", "draft", "rejection", "result")))
    def publicize(self, demand: UUID, kind: str) -> None:
        self.attempt(demand, lambda: self.app.publicize(demand, actor=WORKER, kind=kind, text="公示"))

    @rule(demand=demands)
    def object_to_the_latest_notice(self, demand: UUID) -> None:
        notices = list(self.app.demand(demand).notices)
        if notices:
            self.attempt(demand, lambda: self.app.lodge_objection(demand, actor=WORKER, notice_id=notices[-1],
                                                                  text="位置不合理"))

    @rule(demand=demands)
    def answer_the_objections(self, demand: UUID) -> None:
        for objection_id, objection in self.app.demand(demand).objections.items():
            if not objection["answered"]:
                self.attempt(demand, lambda o=objection_id: self.app.answer_objection(
                    demand, actor=SUPERVISOR, objection_id=o, answer="已答复"))

    @rule(demand=demands)
    def resolve(self, demand: UUID) -> None:
        self.attempt(demand, lambda: self.app.resolve(demand, actor=WORKER, summary="已修好"))

    @rule(demand=demands, outcome=st.sampled_from(("not_resolvable", "withdrawn", "rejected")))
    def close(self, demand: UUID, outcome: str) -> None:
        self.attempt(demand, lambda: self.app.close_case(demand, actor=SUPERVISOR, outcome=outcome,
                                                         explanation="说明"))

    @rule(demand=consumes(demands), into=demands)
    def merge(self, demand: UUID, into: UUID) -> None:
        self.attempt(demand, lambda: self.app.close_case(demand, actor=WORKER, outcome="merged",
                                                         merged_into=into))

    @rule(demand=demands, rating=st.sampled_from(RATINGS))
    def feedback(self, demand: UUID, rating: str) -> None:
        self.attempt(demand, lambda: self.app.give_feedback(demand, actor=WORKER, rating=rating))

    @rule(demand=demands)
    def reopen(self, demand: UUID) -> None:
        self.attempt(demand, lambda: self.app.reopen(demand, actor=SUPERVISOR, reason="回访复查"))

    @rule(demand=demands)
    def progress(self, demand: UUID) -> None:
        self.attempt(demand, lambda: self.app.record_progress(demand, actor=WORKER, summary="进行中",
                                                              percent=50))

    @rule(days=st.integers(1, 20))
    def time_passes_and_the_watcher_sweeps(self, days: int) -> None:
        self.clock.advance(days=days)
        for demand_id in self.all_demands:
            demand = self.app.demand(demand_id)
            self.attempt(demand_id, lambda d=demand_id: self.app.record_missed_deadlines(d))
            for notice_id, notice in demand.notices.items():
                if not notice["ended"]:
                    self.attempt(demand_id,
                                 lambda d=demand_id, n=notice_id: self.app.end_notice(d, notice_id=n))
            self.attempt(demand_id, lambda d=demand_id: self.app.expire_feedback(d))

    @rule(target=visits)
    def schedule_visit(self) -> UUID:
        household = self.app.register_household(actor=WORKER, cell_id=CELLS[0], address="1号",
                                                categories=["elderly_alone"]).id
        visit = self.app.schedule_visit(household, actor=WORKER, visitor=WORKER, purpose="welfare_call",
                                        due_at=self.clock.now + timedelta(days=3)).id
        self.all_visits.append(visit)
        return visit

    @rule(visit=visits, conducted=st.booleans())
    def visit_happens_or_not(self, visit: UUID, conducted: bool) -> None:
        if conducted:
            self.attempt(visit, lambda: self.app.conduct_visit(visit, actor=WORKER, mode="in_home",
                                                               needs_found=["屋顶漏雨"]))
        else:
            self.attempt(visit, lambda: self.app.miss_visit(visit, actor=WORKER, reason="家中无人"))

    @rule(visit=visits, cell=st.sampled_from(CELLS))
    def raise_a_need_found_on_a_visit(self, visit: UUID, cell: str) -> None:
        self.attempt(visit, lambda: self.app.raise_demand(actor=WORKER, channel="visit", title="屋顶漏雨",
                                                          cell_id=cell, visit_id=visit))

    # ------------------------------------------------------------------ the rules of DOMAIN.md
    @invariant()
    def every_history_is_intact_and_in_order(self) -> None:
        for aggregate in (*self.all_demands, *self.all_visits):
            assert self.app.verify(aggregate).intact
            history = self.app.history(aggregate)
            assert [e.version for e in history] == list(range(1, len(history) + 1))

    @invariant()
    def each_step_of_a_case_happened_no_earlier_than_the_one_before(self) -> None:
        for demand_id in self.all_demands:
            times = [e.occurred_at for e in self.app.history(demand_id) if e.type in STEPS]
            assert times == sorted(times), f"steps of {demand_id} dated out of order"

    @invariant()
    def a_visit_happened_no_earlier_than_it_was_scheduled(self) -> None:
        for visit_id in self.all_visits:
            times = [e.occurred_at for e in self.app.history(visit_id)]
            assert times == sorted(times), f"visit {visit_id} dated out of order"

    @invariant()
    def deliberation_steps_come_in_order_and_votes_follow_the_statute(self) -> None:
        for demand_id in self.all_demands:
            demand: Demand = self.app.demand(demand_id)
            if demand.template_key is not None:
                assert unlawful_steps(self.app.history(demand_id), demand.template_key) == [], demand_id

    @invariant()
    def closed_cases_are_never_overdue_and_ratings_go_with_given_feedback(self) -> None:
        for demand_id in self.all_demands:
            demand = self.app.demand(demand_id)
            if demand.status == CLOSED:
                assert demand.deadlines == {} and not demand.is_unresolved(self.clock.now)
            else:
                assert demand.outcome is None
            assert (demand.rating is not None) == (demand.feedback_state == "given")
            if demand.status == IMPLEMENTING:
                assert demand.awaited_step is None
            if demand.status == DELIBERATING:
                assert demand.awaited_step is not None

    @invariant()
    def a_visit_points_at_the_demands_raised_from_it(self) -> None:
        for visit_id in self.all_visits:
            visit: HouseholdVisit = self.app.visit(visit_id)
            for demand_id in visit.demand_ids:
                assert self.app.demand(demand_id).visit_id == visit_id


Cases.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])
test_the_rules_hold_after_every_step = Cases.TestCase
