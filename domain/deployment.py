"""A deployment's configuration: the grid (网格) tree, categories with their track, template and
deadline policy, notice and feedback periods, and household visiting cadences. Loaded from TOML."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.deployments import district
from domain.errors import InvalidInput
from domain.templates import TEMPLATES
from domain.vocabulary import CELL_LEVELS, Name

Track = Literal["direct", "deliberation"]
TRACKS: tuple[Track, ...] = get_args(Track)
Channel = Literal["visit", "reception_day", "phone", "online", "open311", "delegate", "message_box",
                  "grid_patrol"]
CHANNELS: tuple[Channel, ...] = get_args(Channel)
HouseholdCategory = Literal["ordinary", "minimum_living_allowance", "hardship", "elderly_alone",
                            "disabled", "hospitalised", "unemployed"]
HOUSEHOLD_CATEGORIES: tuple[HouseholdCategory, ...] = get_args(HouseholdCategory)
SAMPLES = ("village_township", "urban_community", "district")
DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class DeadlinePolicy:
    first_response_hours: int = 24
    direct_resolution_days: int = 7
    deliberation_step_days: int = 15
    deliberation_total_days: int = 90

    @property
    def first_response(self) -> timedelta:
        return timedelta(hours=self.first_response_hours)

    @property
    def direct_resolution(self) -> timedelta:
        return timedelta(days=self.direct_resolution_days)

    @property
    def deliberation_step(self) -> timedelta:
        return timedelta(days=self.deliberation_step_days)

    @property
    def deliberation_total(self) -> timedelta:
        return timedelta(days=self.deliberation_total_days)


@dataclass(frozen=True)
class Category:
    key: str
    title: Name
    track: str
    template: str
    deadlines: DeadlinePolicy


@dataclass(frozen=True)
class Cell:
    id: str
    title: Name
    level: str                      # a key of domain.vocabulary.CELL_LEVELS
    parent: str | None


@dataclass(frozen=True)
class Deployment:
    title: Name
    cells: dict[str, Cell]
    categories: dict[str, Category]
    notice_days: int = 7
    feedback_days: int = 7
    visit_cadence_days: dict[str, int] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"   # the zone people read times in (pages, exports)

    # --- the grid ---
    @property
    def grid(self) -> dict[str, str | None]:
        """Each cell's parent (None at the top)."""
        return {cell.id: cell.parent for cell in self.cells.values()}

    def cell(self, cell_id: str) -> Cell:
        try:
            return self.cells[cell_id]
        except KeyError:
            raise InvalidInput("no grid cell {cell} in this deployment", cell=cell_id) from None

    def ancestors(self, cell_id: str) -> list[str]:
        """The cells above `cell_id`, nearest first."""
        chain, parent = [], self.cell(cell_id).parent
        while parent is not None:
            chain.append(parent)
            parent = self.cells[parent].parent
        return chain

    def within(self, cell_id: str, scope_id: str) -> bool:
        """Is `cell_id` the cell `scope_id` or below it?"""
        return cell_id == scope_id or scope_id in self.ancestors(cell_id)

    def subtree(self, cell_id: str) -> list[str]:
        """`cell_id` and every cell below it."""
        self.cell(cell_id)
        return [c for c in self.cells if self.within(c, cell_id)]

    def category(self, key: str) -> Category:
        try:
            return self.categories[key]
        except KeyError:
            raise InvalidInput("no category {category} in this deployment", category=key) from None

    def cadence(self, household_categories: list[str]) -> int | None:
        """Days between visits a household is due: the shortest of its categories' cadences."""
        days = [self.visit_cadence_days[c] for c in household_categories
                if self.visit_cadence_days.get(c)]
        return min(days) if days else None

    @property
    def root(self) -> Cell:
        """The top of the grid (the first, should a deployment have several)."""
        return next(cell for cell in self.cells.values() if cell.parent is None)

    @property
    def notice_period(self) -> timedelta:
        return timedelta(days=self.notice_days)

    @property
    def feedback_period(self) -> timedelta:
        return timedelta(days=self.feedback_days)


def _policy(where: str, settings: dict[str, int], base: DeadlinePolicy) -> DeadlinePolicy:
    unknown = set(settings) - set(base.__dict__)
    if unknown:
        raise InvalidInput("{where}: unknown deadline settings {settings}", where=where,
                           settings=", ".join(sorted(unknown)))
    return DeadlinePolicy(**{**base.__dict__, **settings})


def _name(where: str, raw: Any) -> Name:
    """A title in both languages: `{ zh = "东村", en = "Dongcun Village" }`."""
    if not isinstance(raw, dict) or set(raw) != {"zh", "en"} or not all(
            isinstance(text, str) and text.strip() for text in raw.values()):
        raise InvalidInput('{where}: a title is {{ zh = "…", en = "…" }}, both given, not {raw}', where=where,
                           raw=repr(raw))
    return Name(raw["zh"], raw["en"])


def _check_timezone(raw: Any) -> None:
    """The deployment's `timezone` is an IANA name the system knows."""
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidInput("timezone {zone} is not a time zone name such as {example}", zone=repr(raw),
                           example=DEFAULT_TIMEZONE) from None


def parse(data: dict[str, Any]) -> Deployment:
    defaults = _policy("deadlines", data.get("deadlines", {}), DeadlinePolicy())
    cells: dict[str, Cell] = {}
    for raw in data["cells"]:
        parent = raw.get("parent")
        if parent is not None and parent not in cells:
            raise InvalidInput("cell {cell}: parent {parent} must be listed before it", cell=raw["id"],
                               parent=parent)
        if raw["id"] in cells:
            raise InvalidInput("cell {cell} is listed twice", cell=raw["id"])
        where = f"cell {raw['id']!r}"
        if raw["level"] not in CELL_LEVELS:
            raise InvalidInput("{where}: unknown level {level}; one of {choices}", where=where,
                               level=raw["level"], choices=", ".join(sorted(CELL_LEVELS)))
        cells[raw["id"]] = Cell(raw["id"], _name(where, raw.get("title")), raw["level"], parent)
    categories: dict[str, Category] = {}
    for raw in data["categories"]:
        track = raw.get("track", "direct")
        template = raw.get("template", "four_deliberations_two_disclosures")
        if track not in TRACKS:
            raise InvalidInput("category {category}: unknown track {track}", category=raw["key"], track=track)
        if template not in TEMPLATES:
            raise InvalidInput("category {category}: unknown template {template}", category=raw["key"],
                               template=template)
        policy = _policy(f"category {raw['key']!r}", raw.get("deadlines", {}), defaults)
        title = _name(f"category {raw['key']!r}", raw.get("title"))
        categories[raw["key"]] = Category(raw["key"], title, track, template, policy)
    cadence = {"minimum_living_allowance": 30, "hardship": 30, "elderly_alone": 14,
               **data.get("visit_cadence_days", {})}
    unknown = set(cadence) - set(HOUSEHOLD_CATEGORIES)
    if unknown:
        raise InvalidInput("visit cadence for unknown household categories {categories}",
                           categories=", ".join(sorted(unknown)))
    periods = data.get("periods", {})
    _check_timezone(data.get("timezone", DEFAULT_TIMEZONE))
    return Deployment(
        title=_name("deployment", data.get("title")), cells=cells, categories=categories,
        notice_days=periods.get("notice_days", 7), feedback_days=periods.get("feedback_days", 7),
        visit_cadence_days=cadence, timezone=data.get("timezone", "Asia/Shanghai"),
    )


def load(path_or_sample: str) -> Deployment:
    """Load a deployment from a TOML file, or one of the shipped samples by name."""
    if path_or_sample == "district":  # built, not written out: see domain/deployments/district.py
        return parse(district.raw())
    if path_or_sample in SAMPLES:
        text = resources.files("domain.deployments").joinpath(f"{path_or_sample}.toml").read_text("utf-8")
    else:
        text = Path(path_or_sample).read_text("utf-8")
    return parse(tomllib.loads(text))
