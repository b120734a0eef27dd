"""A case's history read against its template: the rules of DOMAIN.md that a whole history must keep."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from domain.application import SYSTEM, Minqing
from domain.audit import HistoryEntry
from domain.templates import TEMPLATES
from domain.votes import VOTE_RULES, Tally
from tests.conftest import Clock

WORKER, SUPERVISOR = "wang.worker", "chen.supervisor"
CATEGORIES = ("repairs", "disputes", "public_works", "village_affairs")
RATINGS = ("satisfied", "basically_satisfied", "dissatisfied")
# The actions that carry a case forward, which a random history prefers.
FORWARD = ("triage", "discuss", "vote", "publicize", "answer_objection", "progress", "resolve", "feedback")


def unlawful_steps(history: Sequence[HistoryEntry], template_key: str) -> list[str]:
    """Where the history breaks its template: a deliberation step, vote or notice out of the template's
    order (a returned discussion or a rejected vote starts the round again; an inquorate vote leaves the
    case where it was), or a vote whose outcome is not the statute's. Empty for a lawful history."""
    steps = [s.key for s in TEMPLATES[template_key].steps]
    found: list[str] = []
    expected = 0  # the index of the step each new round must start again from
    for e in history:
        data = e.data
        if e.type == "Voted":
            tally = Tally(data["members"], data["present"], data["in_favour"], data["against"],
                          data["abstained"], data["households"], data["households_present"])
            if data["outcome"] != VOTE_RULES[data["body"]].outcome(tally):
                found.append(f"v{e.version}: vote outcome {data['outcome']} is not the statute's")
        step = data.get("step") if e.type in ("Discussed", "Voted", "Publicized") else None
        if step is None:
            continue
        if expected >= len(steps) or step != steps[expected]:
            found.append(f"v{e.version}: {step} out of order (expected "
                         f"{steps[expected] if expected < len(steps) else 'no further step'})")
            continue
        if data.get("outcome") in ("returned", "rejected"):
            expected = 0
        elif data.get("outcome") != "invalid":
            expected += 1
    return found


def command_for(app: Minqing, demand_id: UUID, action: str, pick: int) -> Callable[[], object]:
    """The command that takes `action` (one the case allows) on the case, its choices made by `pick`."""
    demand = app.demand(demand_id)
    step = demand.awaited_step
    notices = [n for n, notice in demand.notices.items() if not notice["ended"]]
    unanswered = [o for o, objection in demand.objections.items() if not objection["answered"]]
    commands = {
        "triage": lambda: app.triage(demand_id, actor=WORKER,
                                     category=CATEGORIES[pick % len(CATEGORIES)]),
        "assign": lambda: app.assign(demand_id, actor=SUPERVISOR, assignee=(WORKER, SUPERVISOR)[pick % 2]),
        "escalate": lambda: app.escalate(demand_id, actor=WORKER, to_cell_id="qingshui", reason="协调"),
        "note": lambda: app.add_note(demand_id, actor=WORKER, text="电话回访"),
        "discuss": lambda: app.discuss(demand_id, actor=WORKER, step=step.key if step else "",
                                       outcome="returned" if pick < 10 else "endorsed"),
        "vote": lambda: app.vote(demand_id, actor=WORKER, body=step.vote_bodies[0] if step else "",
                                 members=30, present=15 + pick % 16, in_favour=pick % 31 // 2 + 8,
                                 against=0, abstained=0, households=100, households_present=70),
        "publicize": lambda: app.publicize(
            demand_id, actor=WORKER, text="公示",
            kind=step.notice_kind if step else ("rejection" if demand.is_open else "result")),
        "object": lambda: app.lodge_objection(demand_id, actor=WORKER, notice_id=notices[-1] if notices
                                              else "", text="异议"),
        "answer_objection": lambda: app.answer_objection(demand_id, actor=SUPERVISOR,
                                                         objection_id=unanswered[0] if unanswered else "",
                                                         answer="已答复"),
        "progress": lambda: app.record_progress(demand_id, actor=WORKER, summary="进行中", percent=pick),
        "resolve": lambda: app.resolve(demand_id, actor=WORKER, summary="已办结"),
        "close": lambda: app.close_case(demand_id, actor=WORKER, outcome="withdrawn"),
        "feedback": lambda: app.give_feedback(demand_id, actor=WORKER, rating=RATINGS[pick % 3]),
        "reopen": lambda: app.reopen(demand_id, actor=SUPERVISOR, reason="回访复查"),
        "flag": lambda: app.flag(demand_id, actor=SUPERVISOR, responsible="村委会", finding="超时"),
    }
    return commands[action]


def next_command(app: Minqing, clock: Clock, demand_id: UUID, pick: int) -> Callable[[], object] | None:
    """A command the case's state allows next (chosen by `pick`, mostly one carrying it forward), the clock
    moved on some hours (a week for a notice); None when the case allows nothing."""
    allowed = app.allowed_actions(app.demand(demand_id), SYSTEM)
    if not allowed:
        return None
    forward = [action for action in allowed if action in FORWARD]
    action = forward[pick % len(forward)] if forward and pick < 85 else allowed[pick % len(allowed)]
    clock.advance(hours=pick % 5, days=7 if action == "publicize" else 0)
    return command_for(app, demand_id, action, pick)
