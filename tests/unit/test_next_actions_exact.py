"""What a case offers next is exact (issue 11): over random lawful histories of every track and template,
at the times they reach, for every kind of actor, each action offered succeeds with each of its choices, and
every other action, or other choice, is refused whatever input is tried.

The histories come from the machine of test_invariants (random commands, lawful and not; time passing and
the watcher sweeping), extended here: it also takes the actions a case offers, with their choices (either
template, returned steps, adopted, rejected and inquorate votes, rejection notices, objections and answers,
resolution, feedback, reopening), and lets time pass unwatched, so that notice periods and feedback windows
run out with nobody recording it. At random points it checks one case's offer, at that moment: an offered
action is tried on a copy of the application (so the history goes on unchanged), a refused one on the
application itself (a refusal records nothing: test_invariants).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import product
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, rule

from domain import errors
from domain.application import RESIDENT, SYSTEM, Minqing
from domain.demand import CLOSED_AS, DISCUSSION_OUTCOMES, NOTICE_KINDS, RATINGS, Demand
from domain.templates import TEMPLATES
from domain.votes import VOTE_BODIES
from tests.conftest import Clock
from tests.support.lawful import FORWARD, SUPERVISOR, WORKER
from tests.unit.test_invariants import Cases

# Every kind of actor: a worker and a supervisor over the case, a resident, the system, a reviewer, and a
# worker of another village (to whom the case answers as missing).
ACTORS = (WORKER, SUPERVISOR, RESIDENT, SYSTEM, "sun.reviewer", "zhao.worker")
CATEGORIES = ("repairs", "public_works", "community_rules")   # direct, 四议两公开, 六步议事
# members, present, in favour, against: adopted, rejected, and inquorate by every body's rule
TALLIES = ((30, 20, 15, 5), (30, 20, 8, 12), (30, 10, 10, 0))
STEPS = tuple(dict.fromkeys(step.key for template in TEMPLATES.values() for step in template.steps))
INFORMATIONAL = {"vote": "step"}   # a choice the command does not take: the step a vote records


def run(app: Minqing, demand_id: UUID, actor: str, action: str, choice: Mapping[str, str], variant: int,
        survivor: UUID) -> None:
    """Give `action` on the case with the chosen values and valid free input (`variant` picks the
    category of a triage and the tally of a vote)."""
    members, present, in_favour, against = TALLIES[variant % len(TALLIES)]
    commands = {
        "triage": lambda: app.triage(demand_id, actor=actor, category=CATEGORIES[variant % len(CATEGORIES)],
                                     responsible_cell_id=app.demand(demand_id).cell_id),
        "assign": lambda: app.assign(demand_id, actor=actor, assignee=WORKER),
        "escalate": lambda: app.escalate(demand_id, actor=actor, to_cell_id=choice["to_cell_id"],
                                         reason="协调"),
        "note": lambda: app.add_note(demand_id, actor=actor, text="电话回访"),
        "discuss": lambda: app.discuss(demand_id, actor=actor, step=choice["step"], outcome=choice["outcome"],
                                       attendees=["李书记"], summary="会议纪要"),
        "vote": lambda: app.vote(demand_id, actor=actor, body=choice["body"], members=members,
                                 present=present, in_favour=in_favour, against=against, abstained=0),
        "publicize": lambda: app.publicize(demand_id, actor=actor, kind=choice["kind"], text="公示"),
        "object": lambda: app.lodge_objection(demand_id, actor=actor, phone="13900001111",
                                              notice_id=choice["notice_id"],
                                              text="位置不合理"),
        "answer_objection": lambda: app.answer_objection(
            demand_id, actor=actor, objection_id=choice["objection_id"], answer="已答复"),
        "progress": lambda: app.record_progress(demand_id, actor=actor, summary="进行中", percent=50),
        "resolve": lambda: app.resolve(demand_id, actor=actor, summary="已办结"),
        "close": lambda: app.close_case(demand_id, actor=actor, outcome=choice["outcome"], explanation="说明",
                                        merged_into=survivor if choice["outcome"] == "merged" else None),
        "feedback": lambda: app.give_feedback(demand_id, actor=actor, rating=choice["rating"]),
        "reopen": lambda: app.reopen(demand_id, actor=actor, reason="回访复查"),
        "flag": lambda: app.flag(demand_id, actor=actor, responsible="村委会", finding="超时"),
    }
    commands[action]()


def every_input(app: Minqing, demand: Demand) -> Iterator[tuple[str, dict[str, str], int]]:
    """Every action of the full set, with each value its choices could take whatever the case's state
    (each step of either template, every notice kind, every outcome…), and each variant of free input."""
    cells = [demand.cell_id, *app.deployment.ancestors(demand.cell_id), "qingshui.xicun"]
    candidates: dict[str, dict[str, tuple[str, ...]]] = {
        "triage": {}, "assign": {}, "note": {}, "progress": {}, "resolve": {}, "reopen": {}, "flag": {},
        "escalate": {"to_cell_id": tuple(cells)},
        "discuss": {"step": STEPS, "outcome": DISCUSSION_OUTCOMES},
        "vote": {"body": VOTE_BODIES},
        "publicize": {"kind": NOTICE_KINDS},
        "object": {"notice_id": (*demand.notices, "resolution-9-9")},
        "answer_objection": {"objection_id": (*demand.objections, "objection-99")},
        "close": {"outcome": CLOSED_AS},
        "feedback": {"rating": RATINGS},
    }
    for action, fields in candidates.items():
        for values in product(*fields.values()):
            for variant in range(len(CATEGORIES) if action == "triage" else 1):
                yield action, dict(zip(fields, values, strict=True)), variant


def offered_inputs(offered: Mapping[str, Mapping[str, tuple[str, ...]]]
                   ) -> Iterator[tuple[str, dict[str, str], int]]:
    """Each offered action with every combination of its listed choices (and every tally of a vote)."""
    for action, choices in offered.items():
        fields = {name: values for name, values in choices.items() if INFORMATIONAL.get(action) != name}
        for values in product(*fields.values()):
            for variant in range(len(TALLIES) if action == "vote" else 1):
                yield action, dict(zip(fields, values, strict=True)), variant


def copy_of(app: Minqing, clock: Clock) -> Minqing:
    """A second in-memory application holding everything `app` has recorded."""
    copy = Minqing(app.deployment, env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=clock)
    everything = app.recorder.select_notifications(None, limit=app.recorder.max_notification_id() or 1)
    copy.recorder.insert_events(everything)
    return copy


class OfferedCases(Cases):
    @initialize(target=Cases.demands, category=st.sampled_from(CATEGORIES),
                picks=st.lists(st.integers(0, 999), min_size=10, max_size=60))
    def open(self, category: str, picks: list[int]) -> UUID:
        """Open as test_invariants does, with a case to merge others into, and a first case of the
        category's track and template carried a long way along what it offers."""
        super().open()
        self.survivor = self.app.raise_demand(actor=WORKER, channel="phone", title="路灯不亮",
                                              cell_id="qingshui.dongcun.g1").id
        demand = self.raise_demand("qingshui.dongcun.g1")
        self.app.triage(demand, actor=WORKER, category=category)
        self.take_offered_actions(demand, picks)
        return demand

    def offer(self, demand_id: UUID, actor: str) -> dict[str, dict[str, tuple[str, ...]]]:
        actions = self.app.next_actions(self.app.demand(demand_id), actor)
        return {action.name: action.choices for action in actions}

    @rule(demand=Cases.demands, picks=st.lists(st.integers(0, 999), min_size=1, max_size=30))
    def take_offered_actions(self, demand: UUID, picks: list[int]) -> None:
        """Carry the case along what it offers, mostly forward, with chosen values and tallies, hours or
        days apart; check what it offers at some of the moments on the way."""
        for pick in picks:
            self.clock.advance(days=pick // 10 % 10 if pick % 5 == 0 else 0, hours=pick % 13)
            if pick % 2 == 0:
                self.what_is_offered_is_exact(demand, ACTORS[pick // 2 % len(ACTORS)])
            offered = self.offer(demand, SYSTEM)
            if not offered:
                return
            forward = [action for action in offered if action in FORWARD]
            names = forward if forward and pick % 10 < 9 else list(offered)
            action = names[pick % len(names)]
            # mostly the first choice (an endorsement, satisfied), now and then another; any vote outcome
            other = pick % 4 == 0
            choice = {name: values[pick // 7 % len(values) if other else 0]
                      for name, values in offered[action].items()}
            run(self.app, demand, SYSTEM, action, choice, pick // 3, self.survivor)

    @rule(hours=st.integers(1, 240))
    def time_passes_unwatched(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @rule(demand=Cases.demands, actor=st.sampled_from(ACTORS))
    def check_what_is_offered(self, demand: UUID, actor: str) -> None:
        self.what_is_offered_is_exact(demand, actor)

    def what_is_offered_is_exact(self, demand: UUID, actor: str) -> None:
        """Each action offered to `actor`, with each of its choices, succeeds on a copy and records; every
        other action and choice is refused and records nothing."""
        offered = self.offer(demand, actor)
        assert list(offered) == self.app.allowed_actions(self.app.demand(demand), actor)
        for action, choice, variant in offered_inputs(offered):
            copy = copy_of(self.app, self.clock)
            before = copy.demand(demand).version
            try:
                run(copy, demand, actor, action, choice, variant, self.survivor)
            except errors.DomainError as refused:
                raise AssertionError(f"{actor} was offered {action} {choice} but was refused: "
                                     f"{refused!r}") from refused
            assert copy.demand(demand).version > before, f"{actor}'s {action} {choice} recorded nothing"
        before = self.app.demand(demand)
        for action, choice, variant in every_input(self.app, before):
            listed = offered.get(action)
            if listed is not None and all(value in listed[name] for name, value in choice.items()):
                continue
            try:
                run(self.app, demand, actor, action, choice, variant, self.survivor)
            except errors.DomainError:
                continue
            raise AssertionError(f"{actor} was not offered {action} {choice}, yet it succeeded")
        assert self.app.demand(demand).version == before.version, "a refused command recorded"


OfferedCases.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                          derandomize=True, suppress_health_check=[HealthCheck.too_slow])
test_what_a_case_offers_next_is_exact = OfferedCases.TestCase
