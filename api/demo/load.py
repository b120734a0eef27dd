"""The demo data set: 清水镇, three villages and the community at the township seat, six months of it.

Everything is recorded through the Application's use cases, as a real deployment would have
recorded it: staff accounts, households and their visits, demands on both tracks with their
meetings, votes, notices, objections, feedback, missed deadlines, escalations and accountability
flags. Given a seed, the content and the counts are always the same; only ids and receipt codes
differ.

Time is laid out on a day grid that ends at 18:00 Beijing time *yesterday*: every fact falls in
office hours and in the past, and a deadline meant to be still running is still running whatever
the time of day the demo is loaded. Each case is first planned as actions with gaps in days
(`_Plan`), so the gaps can respect the rules' windows (a notice runs seven days, feedback comes
within seven, a deliberation step within fifteen), and only then dated and recorded.

Each fact is recorded some while after it happened, as a real deployment records it (`_Recording`, the
application's clock while the demo loads): what a resident sends online and what the system itself
records at once, what a worker was told within hours, meeting minutes and visit notes often the next
day. So the demo answers differently as of a time (what had happened by then) and as known at a time
(what had been recorded by then).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import partial
from uuid import UUID

from api import auth
from api.demo import content as words
from api.demo.content import (
    AREAS,
    DEMO_PASSWORD,
    MARKER,
    PLACES,
    SCOPES,
    STAFF,
    STAFF_NAMES,
    TOWNSHIP,
    TOWNSHIP_SUPERVISOR,
    Area,
)
from domain import errors
from domain.application import RESIDENT, SYSTEM, Minqing
from domain.votes import VOTE_RULES

BEIJING = timezone(timedelta(hours=8))
HISTORY_DAYS = 178                      # the oldest case starts this many days before the grid's end
OFFICE_MINUTES = range(8 * 60 + 30, 17 * 60 + 45, 5)
ONLINE = ("online", "open311")          # the channels a resident uses without a worker


HOUSEHOLDS_PER_CELL = {
    "qingshui.dongcun.g1": 16, "qingshui.dongcun.g2": 16, "qingshui.dongcun.g3": 16,
    "qingshui.xicun.g1": 16, "qingshui.xicun.g2": 16, "qingshui.nanling.g1": 16, "qingshui.nanling.g2": 16,
    "qingshui.community.p1.a.b3": 16, "qingshui.community.p1.a.b5": 16, "qingshui.community.p2.a.b8": 14,
    "qingshui.community.p2": 10,
}
HOUSEHOLD_WEIGHTS = {"ordinary": 44, "minimum_living_allowance": 14, "hardship": 10, "elderly_alone": 13,
                     "disabled": 7, "hospitalised": 5, "unemployed": 7}
SECOND_CATEGORY = {"elderly_alone": "minimum_living_allowance", "disabled": "hardship",
                   "hospitalised": "hardship", "unemployed": "minimum_living_allowance",
                   "hardship": "disabled", "minimum_living_allowance": "elderly_alone"}
OVERDUE_HOUSEHOLDS = 14

# How many direct cases of each kind: what happens to them, decided before any is recorded.
DIRECT_KINDS = (
    ("satisfied", 90), ("basically_satisfied", 40), ("dissatisfied", 8), ("reopened", 8),
    ("reopened_open", 3), ("expired", 22), ("awaiting", 14), ("late", 10), ("not_resolvable", 8),
    ("withdrawn", 10), ("open", 25), ("escalated_open", 6), ("overdue", 12), ("overdue_escalated", 5),
    ("overdue_flagged", 6), ("untriaged_overdue", 2),
)
MERGED_CASES = 8
FRESH_CASES = 6                         # raised in the last hours, nobody has looked at them yet
CHANNEL_WEIGHTS = {"visit": 12, "reception_day": 12, "phone": 20, "online": 13, "open311": 6, "delegate": 6,
                   "message_box": 9, "grid_patrol": 14}
PATROLLED = ("repairs", "environment")  # what a grid patrol finds by itself

# Deliberation scripts. Tokens: T triage; D discussion (step, outcome); V vote (body, outcome);
# N notice (kind, objection: "" none, "answered", "open"); E end the notices whose period is over;
# G progress %; R resolve; RN result notice; F feedback; X feedback expired; RJ rejection notice;
# CL close as rejected; MISS the watcher records the missed step; FLAG accountability.
# The tail says where the last action falls: "past" anywhere in the history; "recent" in the last
# three days (a step still within its deadline, a notice still up, feedback still awaited);
# "overdue" early enough for the missed step to be recorded, late enough for the whole
# deliberation's deadline still to be running.
Token = tuple[str, ...]
_P, _C, _M = ("D", "branch_proposal", "endorsed"), ("D", "two_committees", "endorsed"), \
    ("D", "members_assembly", "endorsed")
_REP, _ASM = ("V", "representatives", "adopted"), ("V", "assembly", "adopted")
_RES, _DONE = ("N", "resolution", ""), (("R",), ("RN",))
_TR, _CF, _PD = ("D", "topic_raised", "endorsed"), ("D", "consultation_forum", "endorsed"), \
    ("D", "plan_drafted", "endorsed")
_DRAFT, _ER, _RRV = ("N", "draft", ""), ("D", "expert_review", "endorsed"), \
    ("V", "residents_representatives", "adopted")
_G = ("G",)
_FOUR = (("T",), _P, _C, _M)
_SIX = (("T",), _TR, _CF, _PD)
VILLAGE_SCRIPTS: tuple[tuple[str, str, tuple[Token, ...]], ...] = (
    ("public_works", "past", (*_FOUR, _REP, _RES, ("E",), _G, _G, _G, *_DONE, ("F", "satisfied"), ("E",))),
    ("public_works", "past", (*_FOUR, _REP, ("N", "resolution", "answered"), ("E",), _G, _G, *_DONE,
                              ("F", "basically_satisfied"), ("E",))),
    ("village_affairs", "past", (*_FOUR, _ASM, _RES, ("E",), _G, *_DONE, ("F", "satisfied"), ("E",))),
    ("public_works", "past", (*_FOUR, _REP, _RES, ("E",), _G, _G, *_DONE, ("E",), ("X",))),
    ("public_works", "recent", (*_FOUR, _REP, _RES, ("E",), _G, _G, *_DONE)),
    ("public_works", "past", (*_FOUR[:2], ("D", "two_committees", "returned"), _P, _C, _M, _REP, _RES, ("E",),
                              _G, _G, *_DONE, ("F", "satisfied"), ("E",))),
    ("village_affairs", "past", (*_FOUR[:2], ("D", "two_committees", "returned"), _P, _C, _M, _REP,
                                 ("N", "resolution", "answered"), ("E",), _G, *_DONE,
                                 ("F", "basically_satisfied"), ("E",))),
    ("public_works", "past", (*_FOUR[:3], ("D", "members_assembly", "returned"), _P, _C, _M, _REP, _RES,
                              ("E",), _G, _G, *_DONE, ("F", "satisfied"), ("E",))),
    ("public_works", "past", (*_FOUR, ("V", "representatives", "rejected"), ("RJ",), ("E",), ("CL",))),
    ("village_affairs", "past", (*_FOUR, ("V", "assembly", "rejected"), ("RJ",), ("E",), ("CL",))),
    ("public_works", "recent", (*_FOUR, ("V", "representatives", "rejected"), _P, _C, _M, _REP, _RES, ("E",),
                                _G)),
    ("public_works", "past", (*_FOUR, ("V", "representatives", "invalid"), _REP, _RES, ("E",), _G, _G,
                              *_DONE, ("F", "satisfied"), ("E",))),
    ("village_affairs", "past", (*_FOUR, ("V", "assembly", "invalid"), _ASM, _RES, ("E",), _G, *_DONE,
                                 ("F", "dissatisfied"), ("E",))),
    ("public_works", "recent", _FOUR[:1]),
    ("village_affairs", "recent", _FOUR[:2]),
    ("public_works", "recent", _FOUR[:3]),
    ("public_works", "recent", _FOUR),
    ("public_works", "recent", (*_FOUR, _REP, ("N", "resolution", "open"))),
    ("public_works", "overdue", (*_FOUR[:2], ("MISS",), ("FLAG",))),
)
COMMUNITY_SCRIPTS: tuple[tuple[str, str, tuple[Token, ...]], ...] = (
    ("community_rules", "past", (*_SIX, _DRAFT, ("E",), _ER, _RRV, _G, _G, ("R",), ("F", "satisfied"))),
    ("community_rules", "past", (*_SIX, ("N", "draft", "answered"), ("E",), _ER, _RRV, _G, _G, ("R",),
                                 ("F", "basically_satisfied"))),
    ("community_rules", "recent", (*_SIX, _DRAFT, ("E",), _ER, _RRV, _G, _G, ("R",))),
    ("community_rules", "past", (*_SIX[:2], ("D", "consultation_forum", "returned"), _TR, _CF, _PD, _DRAFT,
                                 ("E",), _ER, _RRV, _G, ("R",), ("F", "satisfied"))),
    ("community_rules", "recent", (*_SIX, _DRAFT, ("E",), ("D", "expert_review", "returned"), _TR, _CF, _PD)),
    ("community_rules", "past", (*_SIX, _DRAFT, ("E",), _ER, ("V", "residents_representatives", "rejected"),
                                 ("RJ",), ("E",), ("CL",))),
    ("community_rules", "recent", (*_SIX, _DRAFT, ("E",), _ER, ("V", "residents_representatives", "invalid"),
                                   _RRV, _G)),
    ("community_rules", "recent", _SIX[:1]),
    ("community_rules", "recent", _SIX[:3]),
    ("community_rules", "recent", (*_SIX, ("N", "draft", "answered"))),
    ("community_rules", "overdue", (*_SIX[:2], ("MISS",))),
)
WORKED = ("manhole_cover", "parking_compact", "street_lights", "wage_arrears", "neighbour_dispute")

# One unit of progress per household, per case, and one for the staff accounts.
DEMO_UNITS = (1 + sum(HOUSEHOLDS_PER_CELL.values()) + sum(n for _, n in DIRECT_KINDS) + MERGED_CASES
              + FRESH_CASES + len(VILLAGE_SCRIPTS) + len(COMMUNITY_SCRIPTS) + len(WORKED))


# How long after a fact happened it is entered into the system, in minutes (from, to), by the case's
# action (`_Case`'s method) or the record; never later than the moment the demo is loaded.
ENTERED_WITHIN: dict[str, tuple[float, float]] = {
    "online": (0, 1),                               # a resident's own demand, online or by Open311
    "raise_": (5, 240),                             # what a resident told a worker, entered that day
    "triage": (2, 120), "assign": (1, 60), "escalate": (5, 180), "flag": (10, 240),
    "note": (30, 1320), "progress": (60, 1320),     # notes written up late, often the next morning
    "discuss": (60, 1440), "vote": (30, 1440),      # a meeting's minutes typed up afterwards
    "notice": (10, 240), "object": (0, 30), "answer": (30, 720),
    "end_notices": (0, 2), "miss": (0, 2), "expire": (0, 2),    # the system's own records
    "resolve": (10, 480), "feedback": (1, 240), "reopen": (10, 240), "not_resolvable": (10, 240),
    "withdraw": (1, 120), "merge": (10, 240), "reject": (10, 240),
    "staff": (5, 60), "register": (10, 600), "schedule_visit": (5, 120), "visited": (30, 1320),
}


class _Recording:
    """The demo's clock: when each fact is entered, some while after it happened (`ENTERED_WITHIN`).

    Never before the fact, never after `now` (the real time the demo is loaded), and, within one
    case file (a case, a household, a visit: `new_file`), never before what was entered before it, so
    that each aggregate's events are recorded in the order of their versions. Its own random source
    keeps the demo's content what it was before recording times were laid out."""

    def __init__(self, now: datetime, rng: random.Random) -> None:
        self.now, self.rng = now, rng
        self.at = self.floor = now

    def __call__(self) -> datetime:
        return self.at

    def new_file(self) -> None:
        self.floor = datetime.min.replace(tzinfo=UTC)

    def enter(self, happened: datetime, what: str) -> None:
        low, high = ENTERED_WITHIN[what]
        entered = happened + timedelta(minutes=self.rng.uniform(low, high))
        self.at = self.floor = max(self.floor, happened, min(entered, self.now))


class WrongDeployment(ValueError):
    """The demo is written for the village_township deployment's grid and categories."""


@dataclass
class DemoSummary:
    """What the demo recorded: ids to look at, and counts read back from the aggregates."""

    seed: int
    demands: list[UUID] = field(default_factory=list)
    households: list[UUID] = field(default_factory=list)
    visits: list[UUID] = field(default_factory=list)
    worked: dict[str, UUID] = field(default_factory=dict)
    accounts_opened: list[str] = field(default_factory=list)
    accounts_reused: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # user name → the demo password set now
    by_track: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    households_by_category: Counter[str] = field(default_factory=Counter)
    visits_by_status: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        def counts(counter: Counter[str]) -> str:
            return ", ".join(f"{key} {n}" for key, n in counter.most_common())

        return [
            f"demands 件: {len(self.demands)}",
            f"  by track: {counts(self.by_track)}",
            f"  by status: {counts(self.by_status)}",
            f"  closed, by outcome: {counts(self.by_outcome)}",
            f"  by channel: {counts(self.by_channel)}",
            f"households 户: {len(self.households)} ({counts(self.households_by_category)})",
            f"visits 户次: {len(self.visits)} ({counts(self.visits_by_status)})",
            f"staff accounts: {len(self.accounts_opened)} opened, {len(self.accounts_reused)} reused; "
            "sign in at /login as",
            *(f"  {m.username:<15} password {self.passwords.get(m.username, '(as set before)'):<16} "
              f"{m.role} over {m.cell_id}  {m.display_name}" for m in STAFF),
            "worked examples (minqing history ID):",
            *(f"  {name:<18} {demand_id}" for name, demand_id in self.worked.items()),
        ]


def already_loaded(app: Minqing) -> bool:
    """Is the demo's township supervisor already on the staff?"""
    try:
        app.account(MARKER)
    except errors.UnknownActor:
        return False
    return True


def load_demo(app: Minqing, *, seed: int = 2026,
              progress: Callable[[int], None] | None = None) -> DemoSummary:
    """Record the demo through the Application's use cases; `progress(n)` is told of each n units done
    (DEMO_UNITS in all)."""
    missing = [cell for cell in (*PLACES, *(a.cell_id for a in AREAS)) if cell not in app.deployment.cells]
    if missing or "community_rules" not in app.deployment.categories:
        raise WrongDeployment("the demo is written for the village_township deployment "
                              "(MINQING_DEPLOYMENT=village_township)")
    loader = _Loader(app, seed, progress or (lambda n: None))
    # The application records at the demo's clock while it loads (so it must serve nobody else meanwhile).
    wall_clock, app.clock = app.clock, loader.recording
    try:
        loader.load()
    finally:
        app.clock = wall_clock
    return loader.summary


# ------------------------------------------------------------------------------------------ planning
Action = Callable[[datetime], object]


class _Plan:
    """A case's actions in order, `day` days after its first one; dated only once complete."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.day = 0
        self.items: list[tuple[int, Action]] = []
        self.marks: dict[str, int] = {}

    def then(self, action: Action, days: int | tuple[int, int] = 0, *,
             not_before: tuple[str, int] | None = None, within: tuple[str, int] | None = None,
             mark: str | Sequence[str] = ()) -> None:
        day = self.day + (days if isinstance(days, int) else self.rng.randint(*days))
        if not_before is not None:
            day = max(day, self.marks[not_before[0]] + not_before[1])
        if within is not None:
            day = min(day, self.marks[within[0]] + within[1])
            if day < self.day:
                raise AssertionError(f"demo plan cannot keep within {within}")
        self.day = day
        self.items.append((day, action))
        for name in [mark] if isinstance(mark, str) else mark:
            self.marks[name] = day


@dataclass
class _Household:
    id: UUID
    cell_id: str
    head_name: str
    phone: str
    categories: list[str]
    overdue: bool


@dataclass
class _Raised:
    id: UUID
    cell_id: str
    category: str
    title: str
    description: str
    location: str | None
    age: int


# ------------------------------------------------------------------------------------------ loading
TAILS = {"recent": (0, 2), "overdue": (0, 30)}
ESCALATING = ("escalated_open", "overdue_escalated", "overdue_flagged")


class _Loader:
    def __init__(self, app: Minqing, seed: int, progress: Callable[[int], None]) -> None:
        self.app, self.rng, self.progress = app, random.Random(seed), progress
        # Objectors' contact phones come from a sequence of their own, so that the demo's other content
        # stays what it was before objections carried a phone.
        self.objector_rng = random.Random(seed + 1)
        self.now = app.clock()
        self.recording = _Recording(self.now, random.Random(seed + 2))
        self.end: date = (self.now.astimezone(BEIJING) - timedelta(days=1)).date()
        self.summary = DemoSummary(seed=seed)
        self.households: dict[str, list[_Household]] = {}
        self.raised: list[_Raised] = []

    def load(self) -> None:
        self.staff()
        self.register_households()
        for name in WORKED:
            getattr(self, name)()
            self.progress(1)
        kinds = [kind for kind, n in DIRECT_KINDS for _ in range(n)]
        self.rng.shuffle(kinds)
        for i, kind in enumerate(kinds):
            self.direct(kind, i)
            self.progress(1)
        for _ in range(MERGED_CASES):
            self.merged()
            self.progress(1)
        for i, (category, tail, tokens) in enumerate(VILLAGE_SCRIPTS):
            self.deliberation(AREAS[i % 3], category, tail, tokens)
            self.progress(1)
        for category, tail, tokens in COMMUNITY_SCRIPTS:
            self.deliberation(AREAS[3], category, tail, tokens)
            self.progress(1)
        for _ in range(FRESH_CASES):
            self.fresh()
            self.progress(1)
        self.count()

    # --- time
    def dated(self, ages: Sequence[int]) -> list[datetime]:
        """Office-hour times, in order, on the days `ages` days before the grid's end (never increasing)."""
        times: list[datetime] = []
        i = 0
        while i < len(ages):
            j = i
            while j < len(ages) and ages[j] == ages[i]:
                j += 1
            if ages[i] < 0:
                raise AssertionError(f"the demo planned a fact {-ages[i]} days in the future")
            day = self.end - timedelta(days=ages[i])
            for minute in sorted(self.rng.sample(OFFICE_MINUTES, j - i)):
                local = datetime.combine(day, time(minute // 60, minute % 60), BEIJING)
                times.append(local.astimezone(UTC))
            i = j
        return times

    def run(self, plan: _Plan, start: tuple[int, int]) -> None:
        """Date the plan, its first action `start[0]` to `start[1]` days before the end (never so
        few that its last would fall after the end), and record it."""
        lo, hi = max(start[0], plan.day), min(start[1], HISTORY_DAYS)
        if lo > hi:
            raise AssertionError(f"a demo case of {plan.day} days does not fit in {start}")
        first = self.rng.randint(lo, hi)
        self.recording.new_file()
        for when, (_, action) in zip(self.dated([first - d for d, _ in plan.items]), plan.items, strict=True):
            self.enter(when, action)
            action(when)

    def enter(self, when: datetime, action: Action) -> None:
        """Set the clock to when the action, which happened at `when`, is entered into the system."""
        method = getattr(action, "func", action)            # a partial, or a case's method itself
        case, what = getattr(method, "__self__", None), getattr(method, "__name__", "")
        if what == "raise_" and isinstance(case, _Case) and case.channel in ONLINE:
            what = "online"
        self.recording.enter(when, what)

    # --- people and places
    def name(self) -> str:
        return self.rng.choice(words.SURNAMES) + self.rng.choice(words.GIVEN_NAMES)

    def phone(self, rng: random.Random | None = None) -> str:
        rng = rng or self.rng
        return rng.choice(words.PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"

    def area_of(self, cell_id: str) -> Area:
        return next(a for a in AREAS if self.app.deployment.within(cell_id, a.cell_id))

    def pick_area(self) -> Area:
        return self.rng.choices(AREAS, weights=(20, 17, 17, 46))[0]

    def fill(self, text: str, area: Area, cell_id: str) -> str:
        return text.format(place=PLACES.get(cell_id, area.name), area=area.name,
                           unit=f"{self.rng.randint(1, 3)}单元")

    def worker_for(self, cell_id: str) -> str:
        """Who works the cell: the second patch's grid worker for most of it, else the area's worker."""
        if self.app.deployment.within(cell_id, SCOPES["song.yu"]) and self.rng.random() < 0.6:
            return "song.yu"
        return self.area_of(cell_id).worker

    # --- staff
    def staff(self) -> None:
        when = self.dated([HISTORY_DAYS + 30])[0]
        # Hashed once for all: Argon2 takes a good fraction of a second, and this password is public.
        password_hash = auth.password_hash(DEMO_PASSWORD)
        for member in STAFF:
            self.recording.new_file()
            self.recording.enter(when, "staff")
            try:
                account = self.app.account(member.username)
                self.recording.enter(self.now, "staff")  # what a kept account records is recorded now
            except errors.UnknownActor:
                try:
                    self.app.open_account(actor=SYSTEM, username=member.username,
                                          display_name=member.display_name, occurred_at=when)
                    self.summary.accounts_opened.append(member.username)
                except errors.AccountExists:  # opened by someone else meanwhile
                    self.summary.accounts_reused.append(member.username)
                account = self.app.account(member.username)
            else:
                self.summary.accounts_reused.append(member.username)
            if [member.role, member.cell_id] not in account.grants:
                self.app.grant_role(actor=SYSTEM, username=member.username, role=member.role,
                                    cell_id=member.cell_id, occurred_at=when)
            if account.password_version is None:  # a password chosen since is kept on `demo --force`
                self.app.set_password(actor=SYSTEM, username=member.username, password_hash=password_hash,
                                      occurred_at=when)
                self.summary.passwords[member.username] = DEMO_PASSWORD
        self.progress(1)

    # --- households and visits
    def register_households(self) -> None:
        specs: list[tuple[str, list[str]]] = []
        for cell_id, n in HOUSEHOLDS_PER_CELL.items():
            for _ in range(n):
                specs.append((cell_id, self.household_categories(len(specs))))
        with_cadence = [i for i, (_, cats) in enumerate(specs) if self.app.deployment.cadence(cats)]
        overdue = set(self.rng.sample(with_cadence, OVERDUE_HOUSEHOLDS))
        numbers: Counter[str] = Counter()
        for i, (cell_id, categories) in enumerate(specs):
            numbers[cell_id] += 1
            self.household(cell_id, categories, numbers[cell_id], overdue=i in overdue)
            self.progress(1)

    def household_categories(self, index: int) -> list[str]:
        keys = list(HOUSEHOLD_WEIGHTS)
        first = keys[index] if index < len(keys) else \
            self.rng.choices(keys, weights=list(HOUSEHOLD_WEIGHTS.values()))[0]
        if first != "ordinary" and self.rng.random() < 0.25:
            return [first, SECOND_CATEGORY[first]]
        return [first]

    def address(self, cell_id: str, number: int) -> str:
        place = PLACES[cell_id]
        if cell_id == "qingshui.community.p2":
            return f"清水社区老街{number * 2 + 1}号"
        if place.endswith("号楼"):
            unit, rest = divmod(number - 1, 8)
            return f"清水社区{place}{unit + 1}单元{rest // 2 + 1}0{rest % 2 + 1}室"
        return f"{place}{number * 3 + self.rng.randint(0, 2)}号"

    def register(self, cell_id: str, address: str, categories: list[str], members: int, age: int,
                 head_name: str | None = None, overdue: bool = False) -> _Household:
        head_name, phone = head_name or self.name(), self.phone()
        registered = self.dated([age])[0]
        self.recording.new_file()
        self.recording.enter(registered, "register")
        recorded = self.app.register_household(
            actor=self.area_of(cell_id).worker, cell_id=cell_id, address=address, categories=categories,
            members=members, head_name=head_name, phone=phone, occurred_at=registered)
        household = _Household(recorded.id, cell_id, head_name, phone, categories, overdue)
        self.households.setdefault(cell_id, []).append(household)
        self.summary.households.append(household.id)
        self.summary.households_by_category.update(categories)
        return household

    def household(self, cell_id: str, categories: list[str], number: int, *, overdue: bool) -> None:
        """Register a household and lay out its visits: on its cadence, a few missed and made up, the
        next one scheduled; an overdue household drops off the rota some weeks before the end."""
        rng = self.rng
        registered = rng.randint(HISTORY_DAYS + 4, HISTORY_DAYS + 22)
        members = 1 if "elderly_alone" in categories else rng.randint(1, 5)
        household = self.register(cell_id, self.address(cell_id, number), categories, members, registered,
                                  overdue=overdue)
        cadence = self.app.deployment.cadence(categories)
        if cadence is None and "unemployed" in categories:
            cadence = 45                    # an employment follow-up plan, though no cadence is required
        if cadence is None:
            for age in sorted(rng.sample(range(5, HISTORY_DAYS), rng.randint(0, 2)), reverse=True):
                self.visit(household, "routine", scheduled=age + rng.randint(2, 6), due=age,
                           result="conducted", on=age)
            return
        stop = rng.randint(cadence + 5, cadence + 40) if overdue else 0
        due = registered - rng.randint(3, cadence)
        while True:
            scheduled = min(registered - 1, due + rng.randint(2, 6))
            if scheduled < 0:
                return
            purpose = self.purpose(categories)
            if overdue and due < stop:
                # the last visit on the rota was missed, or never recorded at all
                result = "missed" if rng.random() < 0.5 else "scheduled"
                self.visit(household, purpose, scheduled=scheduled, due=due, result=result, on=due)
                return
            if due < 1:                     # the next visit, still to come
                self.visit(household, purpose, scheduled=scheduled, due=due, result="scheduled", on=due)
                return
            roll = rng.random()
            if roll < 0.08:
                self.visit(household, purpose, scheduled=scheduled, due=due, result="missed", on=due)
                again = due - rng.randint(2, 5)
                self.visit(household, "follow_up", scheduled=due - 1, due=again,
                           result="conducted" if again >= 1 else "scheduled", on=again)
            elif roll < 0.14:
                self.visit(household, purpose, scheduled=scheduled, due=due, result="conducted",
                           on=max(0, due - rng.randint(1, 3)))
            else:
                self.visit(household, purpose, scheduled=scheduled, due=due, result="conducted",
                           on=min(scheduled, due + rng.randint(0, 1)))
            due -= cadence - rng.randint(3, 5)

    def purpose(self, categories: list[str]) -> str:
        if "unemployed" in categories:
            return "follow_up"
        return "welfare_call" if self.rng.random() < 0.25 else "routine"

    def visit(self, household: _Household, purpose: str, *, scheduled: int, due: int, result: str,
              on: int) -> None:
        """A visit scheduled `scheduled` days before the end and due `due` days before it, then
        conducted or missed `on` days before it, or left scheduled."""
        rng, app = self.rng, self.app
        visitor = self.worker_for(household.cell_id)
        times = self.dated([scheduled] if result == "scheduled" else [scheduled, on])
        due_at = datetime.combine(self.end - timedelta(days=due), time(17, 0), BEIJING).astimezone(UTC)
        self.recording.new_file()
        self.recording.enter(times[0], "schedule_visit")
        visit_id = app.schedule_visit(household.id, actor=visitor, visitor=visitor, purpose=purpose,
                                      due_at=due_at, occurred_at=times[0]).id
        self.summary.visits.append(visit_id)
        if result != "scheduled":
            self.recording.enter(times[1], "visited")
        if result == "missed":
            app.miss_visit(visit_id, actor=visitor, reason=rng.choice(words.MISSED_REASONS),
                           occurred_at=times[1])
        elif result == "conducted":
            mode, notes = self.visit_mode(household.categories)
            needs = [] if rng.random() < 0.93 else [rng.choice(words.NEEDS_MET_ON_THE_SPOT)]
            if needs:
                notes += f"发现需求：{needs[0]}，已现场协助办理。"
            app.conduct_visit(visit_id, actor=visitor, mode=mode, notes=notes, needs_found=needs,
                              occurred_at=times[1])

    def visit_mode(self, categories: list[str]) -> tuple[str, str]:
        rng, first = self.rng, categories[0]
        phone_share = {"elderly_alone": 0.35, "hospitalised": 0.6}.get(first, 0.08)
        roll = rng.random()
        if roll < phone_share:
            return "phone", rng.choice(words.PHONE_NOTES)
        if roll < phone_share + 0.04:
            return "reception", "居民到社区服务站来访。" + rng.choice(words.VISIT_NOTES[first])
        return "in_home", rng.choice(words.VISIT_NOTES[first])

    def pick_household(self, cell_id: str) -> _Household:
        candidates = [h for h in self.households.get(cell_id, []) if not h.overdue]
        return self.rng.choice(candidates)

    # --- direct cases
    def random_case(self, area: Area, *, leaf: bool = False, channel: str | None = None) -> _Case:
        rng = self.rng
        category = rng.choices(list(words.CATEGORY_WEIGHTS), weights=list(words.CATEGORY_WEIGHTS.values()))[0]
        channels = [c for c in CHANNEL_WEIGHTS if c != "grid_patrol" or category in PATROLLED]
        channel = channel or rng.choices(channels, weights=[CHANNEL_WEIGHTS[c] for c in channels])[0]
        leaf = leaf or channel == "visit" or rng.random() < 0.85
        cell_id = rng.choice(area.leaves) if leaf else area.cell_id
        table = words.VILLAGE if area.village else words.COMMUNITY
        text = rng.choice(table[category])
        title, description, location = (self.fill(t, area, cell_id) for t in text)
        household = self.pick_household(cell_id) if channel == "visit" else None
        return _Case(self, area, cell_id, category, channel, title, description, location,
                     household=household)

    def direct(self, kind: str, index: int) -> None:
        """One everyday case (direct track), taken as far as its kind says."""
        rng = self.rng
        channel = "message_box" if kind == "untriaged_overdue" else None
        case = self.random_case(self.pick_area(), leaf=kind in ESCALATING, channel=channel)
        days = self.app.deployment.category(case.category).deadlines.direct_resolution_days
        plan = _Plan(rng)
        plan.then(case.raise_)
        if kind == "untriaged_overdue":     # nobody emptied the message box in time
            plan.then(case.miss, (2, 3))
            self.run(plan, (0, 3))
            return
        responsible = case.cell_id if kind in ESCALATING or rng.random() < 0.5 else case.area.cell_id
        if case.category == "rights_protection" and kind not in ESCALATING and rng.random() < 0.6:
            responsible = TOWNSHIP          # the township's labour and social security office
        plan.then(partial(case.triage, responsible=responsible), mark="triage")
        if rng.random() < 0.85:
            plan.then(case.assign)
        if kind in ("open", "escalated_open"):
            if kind == "escalated_open":
                plan.then(partial(case.escalate, to=TOWNSHIP, reasons=words.ESCALATIONS), 1)
            if kind == "escalated_open" or rng.random() < 0.5:
                plan.then(case.note, (0, 1))
            if case.category == "employment" and rng.random() < 0.6:
                plan.then(partial(case.progress, percent=rng.choice((20, 40, 60))), (1, 3))
            self.run(plan, (0, days - 2))   # triaged recently enough for the deadline still to run
            return
        if kind in ("overdue", "overdue_escalated", "overdue_flagged"):
            if rng.random() < 0.6:
                plan.then(case.note, (1, days - 1))
            plan.then(case.miss, (1, 3), not_before=("triage", days + 1))
            if kind == "overdue_escalated" or (kind == "overdue_flagged" and rng.random() < 0.5):
                plan.then(partial(case.escalate, to=TOWNSHIP, reasons=words.OVERDUE_ESCALATIONS), (1, 4))
            if kind == "overdue_flagged":
                if case.worker == "song.yu":
                    plan.then(partial(case.assign, to="ma.jing"), (0, 2))   # the supervisor hands it on
                plan.then(case.flag, (2, 6))
            self.run(plan, (0, 40))
            return
        if kind == "withdrawn":
            if case.channel in ("online", "open311") and rng.random() < 0.5:
                plan.items.pop()            # withdrawn before anyone triaged it
                plan.then(case.withdraw)
            else:
                plan.then(case.withdraw, (1, days - 1))
            self.run(plan, (0, HISTORY_DAYS))
            return
        if kind == "not_resolvable":
            plan.then(case.note, (0, 2))
            plan.then(case.not_resolvable, (1, days - 3), mark="closed")
            feedback = ("basically_satisfied", "dissatisfied", "expired", "awaiting")[index % 4]
            self.after_closing(case, plan, feedback)
            return
        if kind == "late":
            plan.then(case.miss, (1, 3), not_before=("triage", days + 1))
            plan.then(case.resolve, (1, 6), mark="closed")
            self.after_closing(case, plan, rng.choice(("satisfied", "basically_satisfied", "dissatisfied")))
            return
        if rng.random() < 0.3:
            plan.then(case.note, (0, 2))
        plan.then(case.resolve, (0, days - 1 - plan.day), mark="closed")
        if kind in ("reopened", "reopened_open"):
            plan.then(partial(case.feedback, rating="dissatisfied"), (1, 5))
            plan.then(case.reopen, (0, 3), mark="reopened")
            if kind == "reopened_open":
                plan.then(case.note, (0, 1))
                self.run(plan, (0, plan.marks["reopened"] + days - 2))
                return
            plan.then(case.note, (0, 2))
            plan.then(case.resolve, (1, days - 3), mark="closed")
            self.after_closing(case, plan, ("satisfied", "basically_satisfied")[index % 2])
            return
        self.after_closing(case, plan, kind)

    def after_closing(self, case: _Case, plan: _Plan, feedback: str) -> None:
        """The resident's feedback after a case is resolved or closed as not resolvable."""
        if feedback == "awaiting":
            self.run(plan, (0, plan.day + 4))
            return
        if feedback == "expired":
            plan.then(case.expire, not_before=("closed", 8))
        else:
            plan.then(partial(case.feedback, rating=feedback), (0, 5))
        self.run(plan, (0, HISTORY_DAYS))

    def merged(self) -> None:
        """The same problem raised again by a neighbour the next day, closed as merged into the first."""
        survivor = self.rng.choice([r for r in self.raised if r.age >= 1])
        area = self.area_of(survivor.cell_id)
        channel = self.rng.choice(("phone", "online", "message_box", "reception_day"))
        case = _Case(self, area, survivor.cell_id, survivor.category, channel, survivor.title,
                     "又有居民反映：" + survivor.description, survivor.location)
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.merge, into=survivor.id))
        self.run(plan, (survivor.age - 1, survivor.age - 1))

    def fresh(self) -> None:
        """Raised online in the last hours; its first response is not due yet."""
        case = self.random_case(self.pick_area(), channel=self.rng.choice(ONLINE))
        raised = self.now - timedelta(minutes=self.rng.randint(15, 600))
        self.recording.new_file()
        self.recording.enter(raised, "online")
        case.raise_(raised)

    # --- deliberation
    def deliberation(self, area: Area, category: str, tail: str, tokens: Sequence[Token]) -> None:
        """A major matter through its template, as far as the script goes."""
        rng = self.rng
        if area.village:
            title, description = rng.choice(words.VILLAGE_MATTERS[category])
            cell_id = rng.choice((area.cell_id, *area.leaves))
        else:
            title, description = rng.choice(words.COMMUNITY_MATTERS)
            cell_id = rng.choice((area.cell_id, *area.leaves[:3]))
        channel = rng.choice(("reception_day", "delegate", "phone", "message_box", "online"))
        case = _Case(self, area, cell_id, category, channel, self.fill(title, area, cell_id),
                     self.fill(description, area, cell_id), None)
        if category == "public_works":
            case.money = rng.choice((8, 12, 15, 18, 24, 32, 45, 60))
            case.source = rng.choice(words.SOURCES_OF_FUNDS)
        plan = _Plan(rng)
        plan.then(case.raise_)
        self.script(case, plan, tokens)
        lo, hi = TAILS.get(tail, (0, HISTORY_DAYS))
        self.run(plan, (plan.day + lo, plan.day + hi))

    def script(self, case: _Case, plan: _Plan, tokens: Sequence[Token]) -> None:
        """Turn a deliberation script into a plan whose gaps keep every step within its deadline."""
        rng, step = self.rng, ("step", 14)      # every step within its fifteen days
        shares = sorted(rng.sample(range(10, 100, 10), sum(1 for t in tokens if t[0] == "G")))
        if shares and ("R",) in tokens:
            shares[-1] = 100
        percents = iter(shares)
        for token in tokens:
            kind = token[0]
            if kind == "T":
                plan.then(partial(case.triage, responsible=case.area.cell_id), mark="step")
            elif kind == "D":
                plan.then(partial(case.discuss, step=token[1], outcome=token[2]), (3, 9), within=step,
                          mark="step")
            elif kind == "V":
                # an invalid vote (no quorum) leaves the step's deadline running
                marks = "step" if token[2] != "invalid" else ()
                plan.then(partial(case.vote, body=token[1], outcome=token[2]), (3, 6), within=step,
                          mark=marks)
            elif kind == "N":
                plan.then(partial(case.notice, kind=token[1]), (1, 3), within=step, mark=("step", "notice"))
                if token[2]:
                    plan.then(case.object, (1, 2))
                if token[2] == "answered":
                    plan.then(case.answer, (0, 1))
            elif kind == "E":
                plan.then(case.end_notices, 1, not_before=("notice", 8))
            elif kind == "G":
                plan.then(partial(case.progress, percent=next(percents)), (4, 14))
            elif kind == "R":
                plan.then(case.resolve, (2, 10), mark="closed")
            elif kind == "RN":
                plan.then(partial(case.notice, kind="result"), (0, 2), mark="notice")
            elif kind == "F":
                plan.then(partial(case.feedback, rating=token[1]), (1, 3))
            elif kind == "X":
                plan.then(case.expire, 1, not_before=("closed", 8))
            elif kind == "RJ":
                plan.then(partial(case.notice, kind="rejection"), (1, 3), mark="notice")
            elif kind == "CL":
                plan.then(case.reject, 1, not_before=("notice", 8))
            elif kind == "MISS":
                plan.then(case.miss, (1, 3), not_before=("step", 16))
            elif kind == "FLAG":
                plan.then(case.flag, (2, 5))
            else:
                raise AssertionError(f"unknown demo script token {token}")

    # --- the seeds' worked examples (seeds-brief §7.4)
    def manhole_cover(self) -> None:
        """A broken manhole cover left unfixed: deadline missed, escalated, flagged (§7.4 case 1)."""
        case = _Case(self, AREAS[3], "qingshui.community.p1.a.b3", "repairs", "phone",
                     "3号楼前下水道阴井盖损坏，多次反映没人修",
                     "3号楼前人行道上的下水道阴井盖碎了一半，只用一块木板盖着，晚上看不清，"
                     "已经有老人踩空崴了脚。两周前就跟物业说过，一直没人来修。",
                     "3号楼前人行道", resident=("冯桂香", self.phone()))
        case.worker = "ma.jing"
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.triage, responsible=case.cell_id))
        plan.then(case.assign)
        plan.then(partial(case.note, text="已报物业服务中心，物业称井盖需定制，要等一周。"), 2)
        plan.then(case.miss, 4)
        plan.then(partial(case.note, text="居民再次来电：夜里又有人险些踩空，井盖仍未修复。"), 2)
        plan.then(partial(case.escalate, to=TOWNSHIP, actor="gu.hongmei",
                          reasons=("物业与市政相互推诿，社区协调不动，越级上报镇城建办。",)), 2)
        plan.then(partial(case.flag, actor=TOWNSHIP_SUPERVISOR, responsible="镇城建办；清水社区物业服务中心",
                          finding="下水道阴井盖损坏，居民多次反映，超过办理时限仍未修复，"
                                  "属应予解决而未解决，责任单位相互推诿。"), 10)
        plan.then(partial(case.note, actor=TOWNSHIP_SUPERVISOR,
                          text="镇党委召开全镇干部大会，就此事通报警示，责令城建办三日内整改。"), 1)
        self.run(plan, (40, 40))
        self.summary.worked["manhole_cover"] = case.demand_id

    def parking_compact(self) -> None:
        """Parking and pets: a community compact through 六步议事, two thirds in favour (§7.4 case 3)."""
        community = AREAS[3]
        case = _Case(self, community, community.cell_id, "community_rules", "reception_day",
                     "小区停车难、宠物扰民，建议制定居民公约",
                     "小区车位少，车辆乱停堵住消防通道；不少住户遛狗不拴绳，狗粪随处可见，夜里狗叫扰民。"
                     "在居民接待日提出，希望大家一起商量定个规矩。", None, resident=("韩立群", self.phone()))
        case.worker = "ma.jing"
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.triage, responsible=community.cell_id))
        plan.then(partial(case.discuss, step="topic_raised",
                          summary="社区党委对近期收集的停车、养犬议题分类梳理，列入议事议题。"), 3)
        plan.then(partial(case.discuss, step="consultation_forum",
                          summary="党支部召集车主、养犬户、物业和居民代表42人召开民主恳谈会，收集意见37条，"
                                  "提出划线停车、错时共享车位、文明养犬的初步建议。"), 6)
        plan.then(partial(case.discuss, step="plan_drafted",
                          summary="居民议事会根据恳谈会意见拟定《停车与文明养犬公约（草案）》。"), 7)
        plan.then(partial(case.notice, kind="draft", channels=["notice_board", "wechat_group", "online"],
                          text="《清水社区停车与文明养犬公约（草案）》张榜公示，公示期7天，欢迎居民提出意见建议。"),
                  2, mark="notice")
        plan.then(partial(case.object, text="草案规定每户只能申请一个车位，家里有两辆车的怎么办？"), 2)
        plan.then(partial(case.answer, text="已采纳：第二辆车可申请夜间错时共享车位，已写入公约第五条。"), 1)
        plan.then(case.end_notices, 1, not_before=("notice", 8))
        plan.then(partial(case.discuss, step="expert_review",
                          summary="聘请律师、派出所民警和物业经理审查，公约条款合法可行，定稿。"), 1)
        plan.then(partial(case.vote, body="residents_representatives", outcome="adopted",
                          tally=(45, 33, 22, 8, 3)), 6)
        plan.then(partial(case.progress, percent=40,
                          summary="公约印发到户，施划停车位126个，错时共享车位40个。"), 5)
        plan.then(partial(case.progress, percent=80, summary="成立文明养犬志愿巡查队，每晚巡查两次。"), 12)
        plan.then(partial(case.resolve,
                          summary="公约实施一个月，消防通道不再被占，犬只扰民投诉明显减少。"), 14)
        plan.then(partial(case.feedback, rating="satisfied", comment="现在停车有规矩了，晚上也清静了。"), 3)
        self.run(plan, (120, 120))
        self.summary.worked["parking_compact"] = case.demand_id

    def street_lights(self) -> None:
        """Street lights for 东村 through 四议两公开, the result made public (§7.4 case 10)."""
        dongcun = AREAS[0]
        case = _Case(self, dongcun, dongcun.cell_id, "public_works", "delegate", "东村主干道安装路灯",
                     "村里主干道从村口到村部两公里多，晚上一片漆黑，去年冬天有两位老人夜里摔伤。"
                     "村民托党代表反映，希望安装路灯。", "东村村口至村部主干道",
                     resident=("王桂兰", self.phone()))
        case.money, case.source = 18, "镇财政奖补资金和村集体经济收入"
        channels = ["notice_board", "loudspeaker"]
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.triage, responsible=dongcun.cell_id))
        plan.then(partial(case.discuss, step="branch_proposal",
                          summary="村党支部会议研究，提议在主干道安装太阳能路灯42盏，估算投资18万元。"), 4)
        plan.then(partial(case.discuss, step="two_committees",
                          summary="村“两委”会商议，确定由镇里协调奖补资金、村集体出资补足，"
                                  "同意提交党员大会审议。"), 5)
        plan.then(partial(case.discuss, step="members_assembly",
                          summary="党员大会审议，应到党员38人，实到33人，一致同意提交村民代表会议表决。"), 6)
        plan.then(partial(case.vote, body="representatives", outcome="adopted", tally=(39, 33, 30, 2, 1)), 5)
        plan.then(partial(case.notice, kind="resolution", channels=channels,
                          text="经村民代表会议表决通过：东村主干道安装太阳能路灯42盏，投资约18万元，"
                               "由镇财政奖补资金和村集体经济收入解决。公示期7天，如有异议请向村务监督委员会反映。"),
                  2, mark="notice")
        plan.then(partial(case.object, text="路灯方案没有覆盖二组那段路，希望一并安装。"), 2)
        plan.then(partial(case.answer, text="二组路段已列入明年二期计划，已向提出异议的村民当面说明。"), 1)
        plan.then(case.end_notices, 1, not_before=("notice", 8))
        plan.then(partial(case.progress, percent=30,
                          summary="镇里协调的奖补资金到位，按程序采购路灯42盏。"), 5)
        plan.then(partial(case.progress, percent=70, summary="完成立杆和线路安装。"), 15)
        plan.then(partial(case.progress, percent=100, summary="全部亮灯调试完成。"), 10)
        plan.then(partial(case.resolve, summary="路灯工程通过镇、村联合验收，交付使用。"), 2)
        plan.then(partial(case.notice, kind="result", channels=channels,
                          text="东村主干道路灯工程实施结果公开：安装太阳能路灯42盏，实际支出17.6万元，"
                               "明细见村务公开栏。"), 1, mark="notice")
        plan.then(partial(case.feedback, rating="satisfied", comment="晚上出门亮堂了，谢谢村里和镇里。"), 2)
        plan.then(case.end_notices, 1, not_before=("notice", 8))
        self.run(plan, (150, 150))
        self.summary.worked["street_lights"] = case.demand_id

    def wage_arrears(self) -> None:
        """A migrant worker's unpaid wages, a rights-protection case (§7.4 case 8)."""
        case = _Case(self, AREAS[2], "qingshui.nanling.g1", "rights_protection", "reception_day",
                     "外出务工被拖欠工资两万三千余元",
                     "本人在外省一建筑工地做钢筋工八个月，包工头拖欠工资23600元，春节前说好结清，"
                     "至今电话不接。家里老人看病等着用钱，希望镇里帮忙讨薪。", None,
                     resident=("罗德胜", self.phone()))
        case.worker = TOWNSHIP_SUPERVISOR      # the township's labour office takes it on
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.triage, responsible=TOWNSHIP))
        plan.then(case.assign)
        plan.then(partial(case.note,
                          text="已联系县人社局劳动监察大队，向工地所在地劳动监察部门发函协查。"), 2)
        plan.then(partial(case.note, text="劳动监察部门约谈项目总包单位，总包单位承诺先行垫付。"), 6)
        plan.then(partial(case.resolve, summary="在劳动监察部门协调下，总包单位垫付拖欠工资23600元，"
                                                "已全额打到本人银行卡上。"), 4)
        plan.then(partial(case.feedback, rating="satisfied", comment="钱拿到了，感谢镇里帮忙。"), 1)
        self.run(plan, (75, 75))
        self.summary.worked["wage_arrears"] = case.demand_id

    def neighbour_dispute(self) -> None:
        """A neighbour dispute mediated at home on a visit, resolved the same day (§7.4 case 5)."""
        xicun, cell_id = AREAS[1], "qingshui.xicun.g2"
        household = self.register(cell_id, "西村二组8号", ["ordinary"], 4, HISTORY_DAYS + 10,
                                  head_name="郭永福")
        case = _Case(self, xicun, cell_id, "disputes", "visit", "邻里纠纷：修房改了排水沟，雨水流进邻居院子",
                     "郭家修房时把排水沟改了道，雨水全流进隔壁杨家院子，两家为此吵了几回，"
                     "网格员上门调解时双方都在场。", "西村二组8号、10号之间", household=household)
        case.visit_purpose = "mediation"
        case.visit_notes = ("与郭、杨两家当面调解，双方同意郭家出工、杨家出料，"
                            "三天内把排水沟改回原位，签订调解协议。")
        plan = _Plan(self.rng)
        plan.then(case.raise_)
        plan.then(partial(case.triage, responsible=cell_id))
        plan.then(partial(case.resolve, summary="上门调解成功，双方签订调解协议，排水沟按协议改回原位。"))
        plan.then(partial(case.feedback, rating="satisfied", comment="网格员上门一说就通了，两家和好了。"), 1)
        self.run(plan, (30, 30))
        self.summary.worked["neighbour_dispute"] = case.demand_id

    # --- reading back
    def count(self) -> None:
        s = self.summary
        for demand_id in s.demands:
            d = self.app.demand(demand_id)
            s.by_track[d.track or "untriaged"] += 1
            s.by_status[d.status] += 1
            s.by_channel[d.channel] += 1
            if d.outcome is not None:
                s.by_outcome[d.outcome] += 1
        for visit_id in s.visits:
            s.visits_by_status[self.app.visit(visit_id).status] += 1


class _Case:
    """One demand being recorded: its words, who handles it, and each use case it goes through."""

    def __init__(self, loader: _Loader, area: Area, cell_id: str, category: str, channel: str, title: str,
                 description: str, location: str | None, *, household: _Household | None = None,
                 resident: tuple[str, str] | None = None) -> None:
        self.loader, self.app, self.rng = loader, loader.app, loader.rng
        self.area, self.cell_id, self.category, self.channel = area, cell_id, category, channel
        self.title, self.description, self.location = title, description, location
        self.household = household
        self.resident_name: str | None
        self.resident_phone: str | None
        if household is not None:
            self.resident_name, self.resident_phone = household.head_name, household.phone
        elif resident is not None:
            self.resident_name, self.resident_phone = resident
        elif channel == "grid_patrol" or (channel in ("message_box", "open311") and self.rng.random() < 0.3):
            self.resident_name = self.resident_phone = None     # found on patrol, or an anonymous note
        else:
            self.resident_name, self.resident_phone = loader.name(), loader.phone()
        self.worker = loader.worker_for(cell_id)
        self.visit_purpose, self.visit_notes = "", ""
        self.money, self.source, self.body = 0, "", ""
        self.id: UUID | None = None

    @property
    def demand_id(self) -> UUID:
        assert self.id is not None, "raise the demand first"
        return self.id

    def over(self, cell_id: str, actor: str | None = None) -> str:
        """`actor`, or whoever's scope covers the cell: this case's worker, the area's, the township."""
        if actor is not None:
            return actor
        for candidate in (self.worker, self.area.worker):
            if self.app.deployment.within(cell_id, SCOPES[candidate]):
                return candidate
        return TOWNSHIP_SUPERVISOR

    # --- raising and handling
    def raise_(self, at: datetime) -> None:
        visit_id = self.visit(at) if self.household is not None else None
        actor = RESIDENT if self.channel in ("online", "open311") else self.worker
        self.id = self.app.raise_demand(
            actor=actor, channel=self.channel, title=self.title, cell_id=self.cell_id,
            description=self.description, category=self.category, location=self.location,
            resident_name=self.resident_name, resident_phone=self.resident_phone, visit_id=visit_id,
            occurred_at=at).id
        self.loader.summary.demands.append(self.id)
        if self.app.deployment.category(self.category).track == "direct":
            age = (self.loader.end - at.astimezone(BEIJING).date()).days
            self.loader.raised.append(_Raised(self.id, self.cell_id, self.category, self.title,
                                              self.description, self.location, age))

    def visit(self, at: datetime) -> UUID:
        """The visit on which the need was found: scheduled a few days before, conducted just now."""
        assert self.household is not None
        purpose = self.visit_purpose or self.rng.choice(("routine", "routine", "welfare_call", "follow_up"))
        scheduled = at - timedelta(days=self.rng.randint(1, 5), hours=2)
        conducted = at - timedelta(minutes=30)
        recording = self.loader.recording       # the visit is a file of its own, entered as it went
        recording.new_file()
        recording.enter(scheduled, "schedule_visit")
        visit_id = self.app.schedule_visit(
            self.household.id, actor=self.worker, visitor=self.worker, purpose=purpose,
            due_at=at + timedelta(hours=4), occurred_at=scheduled).id
        notes = self.visit_notes or f"走访中居民反映：{self.title}。已登记为诉求，转入办理。"
        recording.enter(conducted, "visited")
        self.app.conduct_visit(visit_id, actor=self.worker, mode="in_home", notes=notes,
                               needs_found=[self.title], occurred_at=conducted)
        self.loader.summary.visits.append(visit_id)
        recording.enter(at, "raise_")           # the demand, entered after the visit's notes
        return visit_id

    def triage(self, at: datetime, *, responsible: str) -> None:
        self.app.triage(self.demand_id, actor=self.over(responsible), category=self.category,
                        responsible_cell_id=responsible, occurred_at=at)

    def assign(self, at: datetime, *, to: str | None = None) -> None:
        actor = self.worker
        if self.app.demand(self.demand_id).assignee:
            actor = self.area.supervisor        # changing who holds a case is a supervisor's call
        self.worker = to or self.worker
        self.app.assign(self.demand_id, actor=actor, assignee=self.worker, occurred_at=at)

    def note(self, at: datetime, *, text: str | None = None, actor: str | None = None) -> None:
        self.app.add_note(self.demand_id, actor=actor or self.worker,
                          text=text or self.rng.choice(words.NOTES), occurred_at=at)

    def escalate(self, at: datetime, *, to: str, reasons: Sequence[str], actor: str | None = None) -> None:
        self.app.escalate(self.demand_id, actor=actor or self.worker, to_cell_id=to,
                          reason=self.rng.choice(reasons), occurred_at=at)

    def miss(self, at: datetime) -> None:
        """The deadline watcher's run after a deadline passed."""
        self.app.record_missed_deadlines(self.demand_id, occurred_at=at)

    def flag(self, at: datetime, *, actor: str | None = None, responsible: str | None = None,
             finding: str | None = None) -> None:
        self.app.flag(self.demand_id, actor=actor or self.area.supervisor,
                      responsible=responsible or f"{self.area.name}承办人 {STAFF_NAMES[self.worker]}",
                      finding=finding or self.rng.choice(words.FLAG_FINDINGS), occurred_at=at)

    def progress(self, at: datetime, *, percent: int, summary: str | None = None) -> None:
        if summary is None:
            summary = "实施完毕，等待验收。" if percent == 100 else f"按计划推进，已完成约{percent}%。"
            if self.category == "employment":
                summary = f"就业帮扶计划推进中（约{percent}%）：已推荐岗位，跟进面试情况。"
        self.app.record_progress(self.demand_id, actor=self.worker, summary=summary, percent=percent,
                                 occurred_at=at)

    def resolve(self, at: datetime, *, summary: str | None = None) -> None:
        if summary is None:
            summary = words.DELIBERATION_RESOLUTIONS.get(self.category) or \
                self.rng.choice(words.RESOLUTIONS[self.category])
        self.app.resolve(self.demand_id, actor=self.worker, summary=summary, occurred_at=at)

    def feedback(self, at: datetime, *, rating: str, comment: str | None = None) -> None:
        # half the residents rate online, the others answer the worker's return call (回访)
        actor = RESIDENT if self.rng.random() < 0.5 else self.worker
        if comment is None:
            comment = self.rng.choice(words.FEEDBACK[rating])
        self.app.give_feedback(self.demand_id, actor=actor, rating=rating, comment=comment, occurred_at=at)

    def expire(self, at: datetime) -> None:
        self.app.expire_feedback(self.demand_id, occurred_at=at)

    def reopen(self, at: datetime) -> None:
        self.app.reopen(self.demand_id, actor=self.area.supervisor,
                        reason=self.rng.choice(words.REOPEN_REASONS), occurred_at=at)

    def not_resolvable(self, at: datetime) -> None:
        self.app.close_case(self.demand_id, actor=self.area.supervisor, outcome="not_resolvable",
                            explanation=self.rng.choice(words.NOT_RESOLVABLE[self.category]), occurred_at=at)

    def withdraw(self, at: datetime) -> None:
        self.app.close_case(self.demand_id, actor=RESIDENT, outcome="withdrawn",
                            explanation=self.rng.choice(words.WITHDRAWALS), occurred_at=at)

    def merge(self, at: datetime, *, into: UUID) -> None:
        self.app.close_case(self.demand_id, actor=self.worker, outcome="merged", explanation=words.MERGED,
                            merged_into=into, occurred_at=at)

    def reject(self, at: datetime) -> None:
        self.app.close_case(self.demand_id, actor=self.worker, outcome="rejected",
                            explanation="表决未获通过，结果已公开，本议题终止。", occurred_at=at)

    # --- deliberation
    def discuss(self, at: datetime, *, step: str, outcome: str = "endorsed",
                summary: str | None = None) -> None:
        members = self.rng.randint(30, 48)
        present = self.rng.randint(members * 3 // 4, members)
        proposal = f"，估算投资约{self.money}万元，资金来源为{self.source}" if self.money else ""
        texts = {
            ("branch_proposal", "endorsed"): f"村党支部会议研究“{self.title}”，提出初步方案{proposal}。",
            ("two_committees", "endorsed"): "村“两委”联席会议商议，完善了实施方案，同意提交党员大会审议。",
            ("two_committees", "returned"): "“两委”会商议认为方案不够成熟、资金来源不落实，退回重新提议。",
            ("members_assembly", "endorsed"):
                f"党员大会审议，应到党员{members}人，实到{present}人，同意提交表决。",
            ("members_assembly", "returned"): "党员大会审议时部分党员有不同意见，退回重新研究。",
            ("topic_raised", "endorsed"): f"社区党委审核居民提出的议题“{self.title}”，列入议事议题。",
            ("consultation_forum", "endorsed"):
                f"党支部召集利害关系人、物业和居民代表{present}人召开民主恳谈会，提出解决问题的初步建议。",
            ("consultation_forum", "returned"): "恳谈会上各方分歧较大，议题需重新梳理后再议。",
            ("plan_drafted", "endorsed"): "居民议事会根据恳谈会的初步建议拟定方案草案。",
            ("expert_review", "endorsed"): "聘请律师和物业、城管专业人员审查，方案合法可行，定稿。",
            ("expert_review", "returned"): "专家审查认为部分条款与物业管理条例不符，退回重新拟定。",
        }
        size = {"branch_proposal": 3, "two_committees": 5, "topic_raised": 3, "plan_drafted": 5}.get(step, 6)
        attendees = list(self.area.cast[:size])
        if step in ("members_assembly", "consultation_forum"):
            attendees.append(f"到会{present}人")
        self.app.discuss(self.demand_id, actor=self.worker, step=step, outcome=outcome, attendees=attendees,
                         summary=summary or texts[(step, outcome)], occurred_at=at)

    def vote(self, at: datetime, *, body: str, outcome: str,
             tally: tuple[int, int, int, int, int] | None = None) -> None:
        members, present, in_favour, against, abstained = tally or self.tally(body, outcome)
        households = households_present = 0
        if body == "assembly":
            # fewer than half the adult villagers came, but two thirds of households or more were represented
            households = self.rng.randint(260, 420)
            households_present = (2 * households + 2) // 3 + self.rng.randint(0, 20) if outcome != "invalid" \
                else households // 2
        self.body = VOTE_RULES[body].name.zh
        self.app.vote(self.demand_id, actor=self.worker, body=body, members=members, present=present,
                      in_favour=in_favour, against=against, abstained=abstained, households=households,
                      households_present=households_present,
                      attendees=[*self.area.cast[:2], f"到会{present}人"], occurred_at=at)

    def tally(self, body: str, outcome: str) -> tuple[int, int, int, int, int]:
        """Counts that give `outcome` under the statute's rule for `body`."""
        rng = self.rng
        if body == "assembly":
            members = rng.randint(640, 1100)
            present = rng.randint(members // 3, members // 2 - 1)
        else:
            members = rng.randint(31, 45) if body == "representatives" else rng.randint(40, 60)
            quorum = (2 * members + 2) // 3 if body == "representatives" else members // 2 + 1
            present = rng.randint(quorum, members) if outcome != "invalid" else \
                rng.randint(members // 3, quorum - 1)
        need = (2 * present + 2) // 3 if body == "residents_representatives" else present // 2 + 1
        if outcome == "adopted":
            in_favour = rng.randint(need, present)
        elif outcome == "rejected":         # for a residents' meeting: a majority, short of two thirds
            in_favour = rng.randint(min(present // 2 + 1, need - 1) if body == "residents_representatives"
                                    else present // 3, need - 1)
        else:
            in_favour = rng.randint(present // 2, present)
        against = rng.randint((present - in_favour) // 2, present - in_favour)
        return members, present, in_favour, against, present - in_favour - against

    def notice(self, at: datetime, *, kind: str, text: str | None = None, channels: list[str] | None = None
               ) -> None:
        if text is None:
            cost = f"投资约{self.money}万元，资金来源为{self.source}。" if self.money else \
                "具体方案见村务公开栏。"
            spent = f"实际支出{self.money * 0.95:.1f}万元，明细见村务公开栏。" if self.money else \
                "执行情况见村务公开栏。"
            text = {
                "resolution": f"经{self.body}表决通过：{self.title}。{cost}"
                              "公示期7天，如有异议请向村务监督委员会反映。",
                "result": f"“{self.title}”实施结果公开：已按决议实施完毕。{spent}",
                "draft": f"关于“{self.title}”的方案（征求意见稿）张榜公示，公示期7天，欢迎居民提出意见建议。",
                "rejection": f"“{self.title}”经{self.body}表决未获通过，现予公开。",
            }[kind]
        if channels is None:
            channels = ["notice_board", "loudspeaker" if self.area.village else "wechat_group"]
        self.app.publicize(self.demand_id, actor=self.worker, kind=kind, text=text, channels=channels,
                           occurred_at=at)

    def object(self, at: datetime, *, text: str | None = None) -> None:
        notice_id = list(self.app.demand(self.demand_id).notices)[-1]
        self.app.lodge_objection(self.demand_id, actor=RESIDENT, notice_id=notice_id,
                                 text=text or self.rng.choice(words.OBJECTIONS),
                                 phone=self.loader.phone(self.loader.objector_rng), occurred_at=at)

    def answer(self, at: datetime, *, text: str | None = None) -> None:
        objection_id = list(self.app.demand(self.demand_id).objections)[-1]
        self.app.answer_objection(self.demand_id, actor=self.area.supervisor, objection_id=objection_id,
                                  answer=text or self.rng.choice(words.OBJECTION_ANSWERS), occurred_at=at)

    def end_notices(self, at: datetime) -> None:
        """The watcher takes down every notice whose period is over."""
        for notice_id, notice in self.app.demand(self.demand_id).notices.items():
            if not notice["ended"] and notice["ends_at"] <= at:
                self.app.end_notice(self.demand_id, notice_id=notice_id, occurred_at=at)
