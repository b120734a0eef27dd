"""The demo data set, loaded through the use cases on SQLite and PostgreSQL, and `minqing demo`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from api import auth
from api.cli import main
from api.demo.content import DEMO_PASSWORD, STAFF
from api.demo.load import DEMO_UNITS, DemoSummary, already_loaded, load_demo
from api.settings import Settings
from domain import errors
from domain.application import Minqing
from domain.audit import HistoryEntry
from domain.demand import Demand
from domain.deployment import CHANNELS, HOUSEHOLD_CATEGORIES, Deployment
from domain.templates import TEMPLATES
from projections.processor import Processor
from tests.conftest import Clock
from workers import deadlines

CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Demo:
    app: Minqing
    summary: DemoSummary
    units: int
    histories: dict[UUID, list[HistoryEntry]]

    @property
    def now(self) -> datetime:
        return self.app.clock()

    def events(self, kind: str) -> list[tuple[UUID, HistoryEntry]]:
        return [(i, e) for i, history in self.histories.items() for e in history if e.type == kind]

    def roles(self, actor: str) -> set[str]:
        return {role for role, _ in self.app.account(actor).grants}


def loaded(app: Minqing, seed: int = 2026) -> Demo:
    units: list[int] = []
    summary = load_demo(app, seed=seed, progress=units.append)
    return Demo(app, summary, sum(units), {i: app.history(i) for i in summary.demands})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, deployment: Deployment) -> Iterator[Demo]:
    """The demo loaded once, on SQLite, for the tests of what it contains: loading takes seconds,
    and the content is the same on every store (see the determinism test)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path_factory.mktemp('demo') / 'minqing.db'}")
    Minqing(deployment, env=settings.event_store_env(create_tables=True)).close()
    app = Minqing(deployment, env=settings.event_store_env(), clock=Clock())
    yield loaded(app)
    app.close()


def test_the_demo_loads_whole_and_intact_on_each_store_leaving_nothing_for_the_watcher(
        open_app: Callable[[], Minqing], views_engine: Engine) -> None:
    demo = loaded(open_app())
    app, s = demo.app, demo.summary
    demands = [app.demand(i) for i in s.demands]
    assert len(demands) >= 300 and len(s.households) >= 150 and len(s.visits) >= 500
    assert s.by_track == Counter(d.track or "untriaged" for d in demands)
    assert s.by_status == Counter(d.status for d in demands)
    assert demo.units == DEMO_UNITS
    assert app.verify().intact
    assert already_loaded(app)
    # as a deployment would have recorded it: in order, in the past, every deadline already watched
    for history in demo.histories.values():
        occurred = [e.occurred_at for e in history]
        assert occurred == sorted(occurred) and occurred[-1] <= demo.now
    Processor(app, views_engine).catch_up()
    assert sum(deadlines.sweep(app, views_engine).values()) == 0


def test_the_same_seed_gives_the_same_demo(deployment: Deployment) -> None:
    def content(seed: int) -> tuple[list[tuple[str, str, str | None]], DemoSummary]:
        app = Minqing(deployment, env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, clock=Clock())
        summary = load_demo(app, seed=seed)
        return [(d.title, d.status, d.outcome) for d in map(app.demand, summary.demands)], summary

    (first, a), (second, b) = content(7), content(7)
    assert first == second
    assert (a.by_status, a.by_outcome, a.visits_by_status, a.households_by_category) == \
        (b.by_status, b.by_outcome, b.visits_by_status, b.households_by_category)


def test_the_demo_has_varied_demands_in_chinese_from_every_channel_on_both_tracks(demo: Demo) -> None:
    demands = [demo.app.demand(i) for i in demo.summary.demands]
    tracks = Counter(d.track for d in demands)
    assert tracks["deliberation"] >= 25 and tracks["direct"] > len(demands) // 2
    assert {d.template_key for d in demands if d.template_key} == set(TEMPLATES)
    assert {d.channel for d in demands} == set(CHANNELS)
    assert all(CJK.search(d.title) and CJK.search(d.description) for d in demands)
    assert len({d.title for d in demands}) > 100
    phones = [d.resident_phone for d in demands if d.resident_name and d.resident_phone]
    assert len(phones) > 250 and all(re.fullmatch(r"1[3-9]\d{9}", phone) for phone in phones)
    households = [demo.app.household(i) for i in demo.summary.households]
    assert {c for h in households for c in h.categories} == set(HOUSEHOLD_CATEGORIES)
    assert len({h.cell_id for h in households}) >= 10


def test_the_demo_visits_households_on_their_cadence_and_some_fall_overdue(demo: Demo) -> None:
    app = demo.app
    visits = [app.visit(i) for i in demo.summary.visits]
    last_visit: dict[UUID, datetime] = {}
    for v in visits:
        if v.status == "conducted":
            last_visit[v.household_id] = max(v.conducted_at, last_visit.get(v.household_id, v.conducted_at))
    households = [app.household(i) for i in demo.summary.households]
    with_cadence = [h for h in households if h.cadence_days]
    overdue = {h.id for h in with_cadence
               if h.id not in last_visit or (demo.now - last_visit[h.id]).days > h.cadence_days}
    assert len(overdue) >= 5                             # last visited longer ago than their cadence
    assert len(with_cadence) - len(overdue) > 50         # the others visited on time
    assert {v.purpose for v in visits} == {"routine", "welfare_call", "mediation", "follow_up"}
    from_visits = [app.demand(i) for i in demo.summary.demands if app.demand(i).visit_id is not None]
    assert len(from_visits) >= 10
    assert all(d.id in app.visit(d.visit_id).demand_ids for d in from_visits)


def test_the_demo_reaches_every_step_and_vote_outcome_of_both_templates(demo: Demo) -> None:
    reached = {e.data["step"] for kind in ("Discussed", "Voted", "Publicized") for _, e in demo.events(kind)}
    assert {step.key for t in TEMPLATES.values() for step in t.steps} <= reached
    assert {e.data["outcome"] for _, e in demo.events("Voted")} == {"adopted", "rejected", "invalid"}
    assert {e.data["body"] for _, e in demo.events("Voted")} == {"representatives", "assembly",
                                                                 "residents_representatives"}
    assert {e.data["kind"] for _, e in demo.events("Publicized")} == {"resolution", "result", "draft",
                                                                       "rejection"}

    def follows(first: Callable[[HistoryEntry], bool],
                then: Callable[[HistoryEntry, HistoryEntry], bool]) -> bool:
        return any(first(a) and then(a, b) for history in demo.histories.values()
                   for n, a in enumerate(history) for b in history[n + 1:])

    new_round = lambda a, b: b.type == "Discussed" and b.data["round"] == a.data["round"] + 1  # noqa: E731
    assert follows(lambda e: e.type == "Voted" and e.data["outcome"] == "rejected", new_round)
    assert follows(lambda e: e.type == "Discussed" and e.data["outcome"] == "returned", new_round)
    assert follows(lambda e: e.type == "Voted" and e.data["outcome"] == "invalid",
                   lambda a, b: b.type == "Voted" and b.data["round"] == a.data["round"]
                   and b.data["outcome"] == "adopted")
    lodged = {(i, e.data["objection_id"]) for i, e in demo.events("ObjectionLodged")}
    answered = {(i, e.data["objection_id"]) for i, e in demo.events("ObjectionAnswered")}
    assert answered and lodged > answered           # one is still waiting for its answer
    assert all(demo.roles(e.actor) == {"supervisor"} for _, e in demo.events("ObjectionAnswered"))
    assert demo.events("NoticeEnded") and demo.events("ImplementationProgressed")
    assert any(d.awaited_step is not None for d in map(demo.app.demand, demo.histories))


def test_the_demo_closes_cases_every_way_and_hears_every_kind_of_feedback(demo: Demo) -> None:
    app = demo.app
    closed = {e.data["outcome"]: (i, e) for i, e in demo.events("Closed")}
    assert set(closed) == {"not_resolvable", "withdrawn", "rejected", "merged"}
    assert demo.events("Resolved")
    for i, e in demo.events("Closed"):
        if e.data["outcome"] == "not_resolvable":
            assert e.data["explanation"] and demo.roles(e.actor) == {"supervisor"}
        if e.data["outcome"] == "rejected":
            assert any(p.data["kind"] == "rejection" for p in demo.histories[i] if p.type == "Publicized")
        if e.data["outcome"] == "merged":
            survivor = app.demand(e.data["merged_into"])
            assert survivor.id in demo.histories and survivor.outcome != "merged" and survivor.id != i

    assert {e.data["rating"] for _, e in demo.events("FeedbackGiven")} == {
        "satisfied", "basically_satisfied", "dissatisfied"}
    assert demo.events("FeedbackExpired")
    reopened = demo.events("Reopened")
    assert reopened and all(demo.roles(e.actor) == {"supervisor"} for _, e in reopened)
    assert all(any(f.type == "FeedbackGiven" and f.data["rating"] == "dissatisfied"
                   for f in demo.histories[i]) for i, _ in reopened)
    awaiting = [d for d in map(app.demand, demo.histories) if d.feedback_state == "asked"]
    assert awaiting and all(d.feedback_due > demo.now for d in awaiting)


def test_the_demo_leaves_overdue_cases_escalated_to_any_level_and_flagged(demo: Demo) -> None:
    app = demo.app
    unresolved = [d for d in map(app.demand, demo.histories) if d.is_unresolved(demo.now)]
    assert len(unresolved) >= 10 and all(d.missed for d in unresolved)
    automatic = [e for _, e in demo.events("Escalated") if e.data["automatic"]]
    assert automatic and all(e.actor == "system" for e in automatic)
    skipping = [e for _, e in demo.events("Escalated") if not e.data["automatic"]
                and app.deployment.cell(e.data["from_cell_id"]).parent != e.data["to_cell_id"]]
    assert skipping                 # escalated to a level above the next one up
    flagged = demo.events("AccountabilityFlagged")
    assert len(flagged) >= 5 and all(demo.roles(e.actor) == {"supervisor"} for _, e in flagged)
    assert all(app.demand(i).is_open for i, _ in flagged)


def test_the_demo_tells_the_seeds_worked_examples(demo: Demo) -> None:
    app, worked = demo.app, demo.summary.worked

    def types(name: str) -> list[str]:
        return [e.type for e in demo.histories[worked[name]]]

    manhole = app.demand(worked["manhole_cover"])
    assert "阴井盖" in manhole.title and manhole.is_unresolved(demo.now) and manhole.flags
    assert {"DeadlineMissed", "Escalated", "AccountabilityFlagged"} <= set(types("manhole_cover"))
    assert {e["automatic"] for e in manhole.escalations} == {True, False}

    compact = app.demand(worked["parking_compact"])
    assert "停车" in compact.title and "宠物" in compact.title
    assert (compact.category, compact.template_key, compact.cell_id) == (
        "community_rules", "six_step_deliberation", "qingshui.community")
    vote = next(e for e in demo.histories[compact.id] if e.type == "Voted")
    assert vote.data["outcome"] == "adopted" and vote.data["in_favour"] * 3 >= vote.data["present"] * 2
    assert compact.outcome == "resolved"

    lights = app.demand(worked["street_lights"])
    assert "路灯" in lights.title and lights.category == "public_works"
    assert lights.template_key == "four_deliberations_two_disclosures"
    assert app.deployment.cell(lights.cell_id).level == "village"
    steps = [e.data["step"] for e in demo.histories[lights.id] if e.data.get("step")]
    assert steps == [s.key for s in TEMPLATES[lights.template_key].steps]
    assert lights.outcome == "resolved" and lights.result_published

    wages = app.demand(worked["wage_arrears"])
    assert "工资" in wages.title and wages.category == "rights_protection" and wages.outcome == "resolved"

    dispute = app.demand(worked["neighbour_dispute"])
    visit = app.visit(dispute.visit_id)
    assert "邻里纠纷" in dispute.title and dispute.category == "disputes"
    assert (visit.purpose, visit.status, visit.demand_ids) == ("mediation", "conducted", [dispute.id])
    assert dispute.resolved_at.date() == dispute.raised_at.date() and dispute.rating == "satisfied"


def test_the_demo_records_each_fact_some_while_after_it_happened_and_never_in_the_future(demo: Demo) -> None:
    app, s = demo.app, demo.summary
    histories = [*demo.histories.values(), *map(app.history, s.households), *map(app.history, s.visits)]
    lags = []
    for history in histories:
        recorded = [e.recorded_at for e in history]
        assert recorded == sorted(recorded)                # each aggregate's events in the order of versions
        for e in history:
            assert e.occurred_at <= e.recorded_at <= demo.now
            lags.append(e.recorded_at - e.occurred_at)
    assert max(lags) <= timedelta(days=1)
    assert sum(lag > timedelta(hours=1) for lag in lags) > len(lags) // 4   # many entered hours later
    assert sum(lag > timedelta(hours=12) for lag in lags) > 100              # notes and minutes next day
    online = [h[0] for h in demo.histories.values() if h[0].data["channel"] in ("online", "open311")]
    assert online and all(e.recorded_at - e.occurred_at <= timedelta(minutes=1) for e in online)


def test_the_parking_compact_as_of_the_day_of_its_forum_and_as_known_that_day(demo: Demo) -> None:
    """The 六步议事 parking case (§7.4 case 3): as of the evening of its consultation forum, the forum had
    been held; as known that evening, its minutes were not yet entered."""
    case = demo.summary.worked["parking_compact"]
    history = demo.histories[case]
    forum = next(e for e in history if e.type == "Discussed" and e.data["step"] == "consultation_forum")
    assert forum.recorded_at > forum.occurred_at
    evening = forum.occurred_at + (forum.recorded_at - forum.occurred_at) / 2
    happened = demo.app.as_of(case, evening).aggregate
    known = demo.app.as_of(case, known_at=evening).aggregate
    both = demo.app.as_of(case, evening, known_at=evening).aggregate
    assert isinstance(happened, Demand) and isinstance(known, Demand) and isinstance(both, Demand)
    assert (happened.version, happened.current_step) == (forum.version, "plan_drafted")
    assert (known.version, known.current_step) == (forum.version - 1, "consultation_forum")
    assert both.version == forum.version - 1
    assert demo.app.as_of(case, forum.recorded_at).left_out == []
    with pytest.raises(errors.NotYetExisting):
        demo.app.as_of(case, history[0].occurred_at - timedelta(days=1))


def test_every_demo_account_signs_in_with_the_demo_password(demo: Demo) -> None:
    assert demo.summary.passwords == {member.username: DEMO_PASSWORD for member in STAFF}
    for member in STAFF:
        assert auth.password_matches(demo.app.account(member.username), DEMO_PASSWORD)


def test_the_demo_command_loads_once_refuses_a_second_time_and_loads_again_when_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINQING_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.delenv("MINQING_DEPLOYMENT", raising=False)
    runner = CliRunner()

    first = runner.invoke(main, ["demo"])
    assert first.exit_code == 0, first.output
    assert "9 opened, 0 reused" in first.output
    assert re.search(r"li\.xiaohong +password qingshui-demo +worker over qingshui\.dongcun", first.output)
    again = runner.invoke(main, ["demo"])
    assert again.exit_code != 0 and "already loaded" in again.output and "--force" in again.output
    forced = runner.invoke(main, ["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    assert "0 opened, 9 reused" in forced.output
    assert re.search(r"li\.xiaohong +password \(as set before\)", forced.output)  # not set again

    assert runner.invoke(main, ["verify"]).exit_code == 0
    manhole = re.search(r"manhole_cover\s+([0-9a-f-]{36})", forced.output)
    assert manhole is not None
    history = runner.invoke(main, ["history", manhole.group(1)])
    assert history.exit_code == 0
    assert "Raised" in history.output and "AccountabilityFlagged" in history.output
    assert not re.search(r"resident_phone=1\d{10}", history.output)       # masked by default
    unmasked = runner.invoke(main, ["history", manhole.group(1), "--personal-data"])
    assert re.search(r"resident_phone=1\d{10}", unmasked.output)


def test_the_history_command_reads_the_parking_compact_as_of_a_time_and_as_known_at_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deployment: Deployment) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    monkeypatch.setenv("MINQING_DATABASE_URL", url)
    monkeypatch.delenv("MINQING_DEPLOYMENT", raising=False)
    runner = CliRunner()
    loaded = runner.invoke(main, ["demo"])
    parking = re.search(r"parking_compact\s+([0-9a-f-]{36})", loaded.output)
    assert parking is not None
    case = parking.group(1)
    app = Minqing(deployment, env=Settings(database_url=url).event_store_env())
    history = app.history(UUID(case))
    app.close()
    forum = next(e for e in history if e.type == "Discussed" and e.data["step"] == "consultation_forum")
    evening = (forum.occurred_at + (forum.recorded_at - forum.occurred_at) / 2).isoformat()
    forum_line = re.compile(rf"^v{forum.version} .*Discussed", re.MULTILINE)

    happened = runner.invoke(main, ["history", case, "--as-of", evening])
    assert happened.exit_code == 0, happened.output
    assert "(occurred time)" in happened.output and forum_line.search(happened.output)
    local = forum.occurred_at.astimezone(ZoneInfo(deployment.timezone))  # as a reader there reads it
    assert f"times in {deployment.timezone}" in happened.output and f"{local:%Y-%m-%d %H:%M}  Discussed" in \
        happened.output
    assert f"v{forum.version + 1} " not in happened.output                 # the draft came days later
    known = runner.invoke(main, ["history", case, "--known-at", evening])
    assert known.exit_code == 0 and "(recorded time)" in known.output
    assert not forum_line.search(known.output) and f"v{forum.version - 1} " in known.output
    both = runner.invoke(main, ["history", case, "--as-of", evening, "--known-at", evening])
    assert both.output.count("\nv") == known.output.count("\nv")
    that_day = forum.occurred_at.astimezone(ZoneInfo(deployment.timezone)).date().isoformat()  # to its end
    assert forum_line.search(runner.invoke(main, ["history", case, "--as-of", that_day]).output)

    before = (history[0].occurred_at - timedelta(days=2)).date().isoformat()
    too_early = runner.invoke(main, ["history", case, "--as-of", before])
    assert too_early.exit_code == 1 and "had happened yet" in too_early.output
    unknown = runner.invoke(main, ["history", case, "--known-at", "1 September"])
    assert unknown.exit_code == 2 and "not an ISO date" in unknown.output


def test_the_demo_command_refuses_another_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINQING_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.db'}")
    monkeypatch.setenv("MINQING_DEPLOYMENT", "urban_community")
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code != 0 and "village_township" in result.output
