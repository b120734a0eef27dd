"""A random but lawful history: demands on both tracks through every step and outcome, with
reopenings, expiries, missed deadlines, escalations and flags, plus households and visits; titles and
descriptions in Chinese from the demo's phrase book (api/demo/content.py), with the grid's place names.

Stories are generators that yield the time of their next action; a scheduler interleaves them in
time order on one clock, so the log looks like a real deployment's; each fact is recorded some while
after it happened (`Clock`, `entry_lag`). The history is made through
the Application's use cases on an in-memory store (fast), then copied row by row into a real
store with `copy_events`.

`write_history` makes a history of any size in bounded memory: it plays it a chunk at a time (the
demands raised in one stretch of the period, and households registered then), each chunk in a fresh
in-memory application, optionally in several processes, and writes each chunk's events into the
target store in order. A chunk's stories play to their end, so its last events occur after the next
chunk's first ones: the log is in time order within a chunk, not across chunks.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import multiprocessing
import random
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from api.backup import recipher
from api.demo import content
from domain.application import SYSTEM, Minqing
from domain.deployment import Deployment, load
from domain.errors import DomainError

Story = Iterator[datetime]
SUPERVISOR = "history.supervisor"
WORKERS = [f"history.worker{n}" for n in range(1, 7)]


class Clock:
    """The stories' time, `now`: when each fact happens (the stories pass it as `occurred_at`). Called,
    the application's clock: when the fact is recorded, `entered`, which the scheduler sets before each
    step of a story some while after `now` (`entry_lag`)."""

    def __init__(self, now: datetime) -> None:
        self.now = self.entered = now

    def __call__(self) -> datetime:
        return self.entered


def entry_lag(rng: random.Random) -> timedelta:
    """How long after a fact it is entered: half within minutes, most of the rest within hours, some the
    next day (notes and minutes written up late)."""
    roll = rng.random()
    minutes = rng.uniform(0, 10) if roll < 0.5 else rng.uniform(10, 240) if roll < 0.85 else \
        rng.uniform(240, 1440)
    return timedelta(minutes=minutes)


@dataclass
class History:
    app: Minqing
    clock: Clock
    demands: list[UUID] = field(default_factory=list)
    households: list[UUID] = field(default_factory=list)
    staff_events: int = 0  # the first events of the log: the staff accounts' and their roles


def _hours(n: float) -> timedelta:
    return timedelta(hours=n)


def _leaf_cells(deployment: Deployment) -> list[str]:
    parents = {c.parent for c in deployment.cells.values()}
    return [c for c in deployment.cells if c not in parents]


URBAN_LEVELS = ("community", "patch_1", "patch_2", "building")


@dataclass(frozen=True)
class Place:
    """A leaf cell as its demands name it: the place (东村二组, 5号楼) and the village or community."""

    cell_id: str
    place: str
    area: str
    urban: bool


def _places(deployment: Deployment) -> list[Place]:
    found = []
    for cell_id in _leaf_cells(deployment):
        cell = deployment.cells[cell_id]
        area = cell
        while area.level not in ("village", "community") and area.parent is not None:
            area = deployment.cells[area.parent]
        found.append(Place(cell_id, cell.title.zh, area.title.zh, cell.level in URBAN_LEVELS))
    return found


class Stories:
    """The kinds of story, sharing one application, one clock and one random source."""

    def __init__(self, history: History, rng: random.Random) -> None:
        self.h, self.app, self.rng = history, history.app, rng
        deployment = self.app.deployment
        self.places = _places(deployment)
        self.direct = [c.key for c in deployment.categories.values() if c.track == "direct"]
        self.deliberation = {c.key: c.template for c in deployment.categories.values()
                             if c.track == "deliberation"}

    @property
    def now(self) -> datetime:
        return self.h.clock.now

    def watched(self, demand_id: UUID, until: datetime) -> Story:
        """Act as the deadline watcher would before `until`: record each deadline missed soon after it
        passes."""
        while pending := self.app.demand(demand_id).passed_deadlines(until):
            yield min(due for _, due in pending) + _hours(1)
            self.app.record_missed_deadlines(demand_id, occurred_at=self.now)
        yield until

    def after(self, demand_id: UUID, hours: float) -> Story:
        yield from self.watched(demand_id, self.now + _hours(hours))

    # ---------------------------------------------------------------- words
    def words(self, category: str, place: Place) -> tuple[str, str]:
        """A title and a description of a demand of `category` at `place`, from the demo's phrase book."""
        rng = self.rng
        if category in content.VILLAGE:
            phrases = content.COMMUNITY if place.urban else content.VILLAGE
            title, description, _ = rng.choice(phrases[category])
        elif category in content.VILLAGE_MATTERS:
            title, description = rng.choice(content.VILLAGE_MATTERS[category])
        else:
            title, description = rng.choice(content.COMMUNITY_MATTERS)
        names = {"place": place.place, "area": place.area, "unit": f"{rng.randint(1, 6)}单元"}
        return title.format(**names), description.format(**names)

    def resident(self) -> tuple[str, str]:
        rng = self.rng
        phone = rng.choice(content.PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        return rng.choice(content.SURNAMES) + rng.choice(content.GIVEN_NAMES), phone

    # ---------------------------------------------------------------- demands
    def demand(self, start: datetime) -> Story:
        rng, app = self.rng, self.app
        yield start
        deliberate = rng.random() < 0.2
        if deliberate:
            category = rng.choice(sorted(self.deliberation))
            urban = self.deliberation[category] == "six_step_deliberation"
            places = [p for p in self.places if p.urban == urban]
        else:
            category = rng.choice(self.direct)
            places = self.places
        channel = rng.choice(["visit", "phone", "online", "reception_day", "grid_patrol", "message_box",
                              "open311"])
        place = rng.choice(places)
        title, description = self.words(category, place)
        name, phone = self.resident()
        demand_id = app.raise_demand(occurred_at=self.now,
                                     actor=SYSTEM, channel=channel, title=title, description=description,
                                     cell_id=place.cell_id, resident_name=name, resident_phone=phone).id
        self.h.demands.append(demand_id)
        yield from self.handled(demand_id, category, deliberate)

    def handled(self, demand_id: UUID, category: str, deliberate: bool) -> Story:
        """A raised demand from then on: withdrawn, or triaged, assigned, deliberated when it is a major
        one, and worked on."""
        rng, app = self.rng, self.app
        if rng.random() < 0.03:
            yield from self.after(demand_id, rng.uniform(1, 20))
            app.close_case(demand_id, occurred_at=self.now,
                           actor=SYSTEM, outcome="withdrawn", explanation="resident withdrew")
            return
        yield from self.after(demand_id, rng.choice([rng.uniform(0.5, 20), rng.uniform(20, 60)]))
        app.triage(demand_id, occurred_at=self.now, actor=SYSTEM, category=category)
        if rng.random() < 0.9:
            yield from self.after(demand_id, rng.uniform(0.1, 5))
            app.assign(demand_id, occurred_at=self.now, actor=SYSTEM, assignee=rng.choice(WORKERS))
        if deliberate:
            finished = yield from self.deliberation_steps(demand_id)
            if not finished:
                return
        yield from self.work(demand_id, deliberate)

    def deliberation_steps(self, demand_id: UUID) -> Generator[datetime, None, bool]:
        """Every step of the case's template, with returns, invalid and rejected votes; False if it ends
        rejected."""
        rng, app = self.rng, self.app
        while True:
            demand = app.demand(demand_id)
            step = demand.awaited_step
            if step is None:
                return True
            notices = [n["ends_at"] for n in demand.notices.values() if not n["ended"]]
            yield from self.after(demand_id, rng.uniform(24, 24 * 20))
            if notices and self.now < max(notices):
                yield from self.watched(demand_id, max(notices) + _hours(2))
            for notice_id, notice in app.demand(demand_id).notices.items():
                if not notice["ended"] and notice["ends_at"] <= self.now:
                    app.end_notice(demand_id, occurred_at=self.now, notice_id=notice_id)
            if step.kind == "discussion":
                returned = step.may_return and rng.random() < 0.08
                app.discuss(demand_id, occurred_at=self.now, actor=SYSTEM, step=step.key,
                            outcome="returned" if returned else "endorsed",
                            attendees=["member"] * rng.randint(3, 9))
            elif step.kind == "vote":
                body = step.vote_bodies[0]
                members = rng.randint(20, 60)
                roll = rng.random()
                present = (rng.randint(0, members // 2) if roll < 0.08
                           else rng.randint(members * 3 // 4, members))
                in_favour = (rng.randint(0, present // 2) if roll > 0.9
                             else rng.randint(present * 3 // 4, present))
                app.vote(demand_id, occurred_at=self.now,
                         actor=SYSTEM, body=body, members=members, present=present,
                         in_favour=in_favour, against=present - in_favour, abstained=0)
                if app.demand(demand_id).just_rejected and rng.random() < 0.5:
                    yield from self.after(demand_id, rng.uniform(2, 48))
                    app.publicize(demand_id, occurred_at=self.now, actor=SYSTEM, kind="rejection",
                                  text="表决未通过 The vote rejected it")
                    yield from self.after(demand_id, rng.uniform(24, 24 * 10))
                    app.close_case(demand_id, occurred_at=self.now, actor=SYSTEM, outcome="rejected")
                    return False
            else:
                app.publicize(demand_id, occurred_at=self.now,
                              actor=SYSTEM, kind=step.notice_kind, text="公示 Notice text")
                yield from self.objections(demand_id)

    def objections(self, demand_id: UUID) -> Story:
        demand = self.app.demand(demand_id)
        notice_id, notice = list(demand.notices.items())[-1]
        if self.rng.random() < 0.2:
            yield from self.after(demand_id, self.rng.uniform(1, 72))
            objection = self.app.lodge_objection(demand_id, occurred_at=self.now,
                                                 actor=SYSTEM, notice_id=notice_id,
                                                 text="异议 objection")
            del objection
            yield from self.after(demand_id, self.rng.uniform(1, 48))
            objection_id = list(self.app.demand(demand_id).objections)[-1]
            self.app.answer_objection(demand_id, occurred_at=self.now,
                                      actor=SYSTEM, objection_id=objection_id,
                                      answer="已答复 answered")
        del notice

    def work(self, demand_id: UUID, deliberate: bool) -> Story:
        rng, app = self.rng, self.app
        roll = rng.random()
        if roll < 0.08:                                   # left open and overdue
            yield from self.after(demand_id, rng.uniform(24 * 10, 24 * 40))
            if rng.random() < 0.5 and app.demand(demand_id).is_unresolved(self.now):
                app.flag(demand_id, occurred_at=self.now, actor=SYSTEM,
                         responsible="责任单位 responsible unit", finding="久拖不决 left undone")
            return
        if roll < 0.12 and not deliberate:
            yield from self.after(demand_id, rng.uniform(24, 24 * 6))
            app.close_case(demand_id, occurred_at=self.now, actor=SYSTEM, outcome="not_resolvable",
                           explanation="超出职权 beyond our powers")
        elif roll < 0.15 and not deliberate and len(self.h.demands) > 1:
            yield from self.after(demand_id, rng.uniform(1, 48))
            survivor = next(d for d in self.h.demands if d != demand_id)
            app.close_case(demand_id, occurred_at=self.now,
                           actor=SYSTEM, outcome="merged", merged_into=survivor)
            return
        else:
            if rng.random() < 0.4:
                yield from self.after(demand_id, rng.uniform(4, 72))
                app.record_progress(demand_id, occurred_at=self.now, actor=SYSTEM, summary="进行中 under way",
                                    percent=rng.randint(10, 90))
            demand = app.demand(demand_id)
            notices = [n["ends_at"] for n in demand.notices.values()]
            yield from self.after(demand_id, rng.uniform(4, 24 * 12))
            if notices and self.now < max(notices):
                yield from self.watched(demand_id, max(notices) + _hours(1))
            app.resolve(demand_id, occurred_at=self.now, actor=SYSTEM, summary="已解决 done")
            template = app.demand(demand_id).template
            if deliberate and template is not None and template.result_notice and rng.random() < 0.9:
                yield from self.after(demand_id, rng.uniform(1, 48))
                app.publicize(demand_id, occurred_at=self.now,
                              actor=SYSTEM, kind="result", text="实施结果公开 result")
        yield from self.feedback(demand_id, deliberate)

    def feedback(self, demand_id: UUID, deliberate: bool) -> Story:
        rng, app = self.rng, self.app
        due = app.demand(demand_id).feedback_due
        assert due is not None  # resolved or closed, feedback is asked
        roll = rng.random()
        if roll < 0.15:
            yield due + _hours(2)
            app.expire_feedback(demand_id, occurred_at=self.now)
            return
        yield min(due, self.now + _hours(rng.uniform(1, 24 * 6)))
        rating = "satisfied" if roll < 0.6 else "basically_satisfied" if roll < 0.85 else "dissatisfied"
        app.give_feedback(demand_id, occurred_at=self.now, actor=SYSTEM, rating=rating)
        if rating == "dissatisfied" and rng.random() < 0.7:
            yield from self.after(demand_id, rng.uniform(2, 48))
            app.reopen(demand_id, occurred_at=self.now,
                       actor=SYSTEM, reason="回访复查不满意 recheck found it undone")
            yield from self.work(demand_id, deliberate)

    # ---------------------------------------------------------------- households
    def household(self, start: datetime, end: datetime) -> Story:
        rng, app = self.rng, self.app
        yield start
        categories = rng.choice([["ordinary"], ["minimum_living_allowance"], ["hardship"], ["elderly_alone"],
                                 ["elderly_alone", "disabled"], ["unemployed"], ["hospitalised"]])
        place = rng.choice(self.places)
        household_id = app.register_household(occurred_at=self.now, actor=SYSTEM, cell_id=place.cell_id,
                                              address=f"{place.area}{place.place}{rng.randint(1, 80)}号",
                                              categories=categories,
                                              members=rng.randint(1, 6)).id
        self.h.households.append(household_id)
        cadence = app.household(household_id).cadence_days or 60
        diligent = rng.random() < 0.8
        t = start
        while True:
            t += timedelta(days=cadence * (rng.uniform(0.6, 1.0) if diligent else rng.uniform(1.1, 2.5)))
            if t >= end:
                return
            yield t - timedelta(days=3)
            visit_id = app.schedule_visit(household_id, occurred_at=self.now,
                                          actor=SYSTEM, visitor=rng.choice(WORKERS),
                                          purpose=rng.choice(["routine", "welfare_call", "follow_up",
                                                              "mediation"]),
                                          due_at=t).id
            yield t
            if rng.random() < 0.1:
                app.miss_visit(visit_id, occurred_at=self.now, actor=SYSTEM, reason="不在家 nobody home")
                continue
            app.conduct_visit(visit_id, occurred_at=self.now,
                              actor=SYSTEM, mode=rng.choice(["in_home", "phone", "reception"]))
            if rng.random() < 0.05:
                category = rng.choice(self.direct)
                title, description = self.words(category, place)
                found = app.raise_demand(occurred_at=self.now,
                                         actor=SYSTEM, channel="visit", title=f"走访发现：{title}",
                                         description=description, cell_id=place.cell_id, visit_id=visit_id).id
                yield from self.handled(found, category, deliberate=False)  # the next visit waits for it


Window = tuple[datetime, datetime]


def generate(deployment: Deployment, *, demands: int, households: int = 0, seed: int = 1,
             days: int = 180, end: datetime | None = None) -> History:
    """Play a random history into a fresh in-memory Application; returns it with the ids made."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=days)
    return _play(deployment, demands=demands, households=households, seed=seed, end=end,
                 raised=(start, start + timedelta(days=days * 0.9)),
                 registered=(start, start + timedelta(days=30)))


def _play(deployment: Deployment, *, demands: int, households: int, seed: int, end: datetime, raised: Window,
          registered: Window) -> History:
    """Demands raised within `raised` and households registered within `registered`, their stories played
    to `end` in a fresh in-memory Application (after its staff accounts)."""
    clock = Clock(min(raised[0], registered[0]) - timedelta(days=1))
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "100000",
           "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}  # the stories never keep a failed command's aggregate
    app = Minqing(deployment, env=env, clock=clock)
    for username in [SUPERVISOR, *WORKERS]:
        app.open_account(actor=SYSTEM, username=username)
    for username in WORKERS:  # an assignee works over the case: these over the whole grid
        app.grant_role(actor=SYSTEM, username=username, role="worker", cell_id=deployment.root.id)
    history = History(app, clock, staff_events=app.recorder.max_notification_id() or 0)
    rng = random.Random(seed)
    stories = Stories(history, rng)
    queue: list[tuple[datetime, int, Story]] = []
    counter = itertools.count()

    def push(story: Story) -> None:
        with contextlib.suppress(StopIteration):  # a story with nothing more to do is done
            heapq.heappush(queue, (next(story), next(counter), story))

    def within(window: Window) -> datetime:
        return window[0] + (window[1] - window[0]) * rng.random()

    for _ in range(demands):
        push(stories.demand(within(raised)))
    for _ in range(households):
        push(stories.household(within(registered), end))
    # When each step is entered: after it happened, never after `end`, and never before the story's step
    # entered before it (so each aggregate's events are recorded in the order of their versions). A
    # random source of its own keeps the stories what they were before recording times were laid out.
    entries = random.Random(seed + 1)
    entered: dict[Story, datetime] = {}
    while queue:
        when, _, story = heapq.heappop(queue)
        if when > end:
            entered.pop(story, None)
            continue
        clock.now = max(clock.now, when)
        clock.entered = max(entered.get(story, clock.now), min(clock.now + entry_lag(entries), end))
        entered[story] = clock.entered
        try:
            nxt = next(story)
        except StopIteration:
            entered.pop(story, None)
            continue
        except DomainError as error:  # a story that asked for something unlawful is a bug in the story
            raise AssertionError(f"history story broke a rule at {clock.now}: {error}") from error
        heapq.heappush(queue, (max(nxt, clock.now), next(counter), story))
    return history


# ---------------------------------------------------------------- any size, in bounded memory
CHUNK = 2_000  # demands played together in one in-memory application
Stored = tuple[UUID, int, str, bytes]


@dataclass(frozen=True)
class Chunk:
    """One chunk's share of a history, made in a process of its own from these plain values."""

    deployment: str
    number: int
    demands: int
    households: int
    seed: int
    end: datetime
    window: Window


def write_history(target: Minqing, deployment: str, *, demands: int, households: int | None = None,
                  seed: int = 1, years: float = 4.0, end: datetime | None = None, processes: int = 1,
                  progress: Callable[[int], None] = lambda _: None) -> int:
    """Play a lawful history of `demands` demands (and `households` households: a tenth of the demands
    by default) over `years` years to `end` into `target`'s store, a chunk of CHUNK demands at a time in
    `processes` processes, each chunk's events written in order as it comes; `progress` is told the
    demands written. Returns the events written."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    households = demands // 10 if households is None else households
    start = end - timedelta(days=365.25 * years)
    last = end - timedelta(days=30)  # the last month's demands would mostly still be open: none raised then
    count = max(1, -(-demands // CHUNK))
    step = (last - start) / count
    chunks = [Chunk(deployment, k, demands // count + (k < demands % count),
                    households // count + (k < households % count), seed * 1_000_003 + k, end,
                    (start + step * k, start + step * (k + 1))) for k in range(count)]
    written = 0
    recode = recipher(None, target.mapper.cipher)  # played in memory, unencrypted; stored as the store does
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        for chunk, events in zip(chunks, pool.imap(_chunk_events, chunks), strict=True):
            for page in range(0, len(events), 2_000):
                target.recorder.insert_events([StoredEvent(uuid, version, topic, recode(state))
                                               for uuid, version, topic, state in events[page:page + 2_000]])
            written += len(events)
            progress(chunk.demands)
    return written


def _chunk_events(chunk: Chunk) -> list[Stored]:
    """The stored events of one chunk, in log order (the staff accounts' only in the first chunk)."""
    deployment = load(chunk.deployment)
    history = _play(deployment, demands=chunk.demands, households=chunk.households, seed=chunk.seed,
                    end=chunk.end, raised=chunk.window, registered=chunk.window)
    recorder = history.app.recorder
    first = 1 if chunk.number == 0 else history.staff_events + 1
    events: list[Stored] = []
    while notifications := recorder.select_notifications(first, 5_000):
        events += [(UUID(str(n.originator_id)), n.originator_version, n.topic, n.state)
                   for n in notifications]
        first = notifications[-1].id + 1
    return events


def copy_events(source: Minqing, target: Minqing, page: int = 2000) -> int:
    """Copy every stored event, in log order, into another store (decrypted with the source's cipher and
    encrypted with the target's); returns the count."""
    copied, start, recode = 0, 1, recipher(source.mapper.cipher, target.mapper.cipher)
    while True:
        notifications = source.recorder.select_notifications(start, page)
        if not notifications:
            return copied
        target.recorder.insert_events([StoredEvent(n.originator_id, n.originator_version, n.topic,
                                                   recode(n.state)) for n in notifications])
        copied += len(notifications)
        start = notifications[-1].id + 1
