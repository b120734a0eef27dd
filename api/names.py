"""Names, not ids: what a page shows for a cell, a category, a step, a member of staff or a word of the
domain's vocabulary, in the page's language. Every page and template asks here (as `names` in templates),
and so does the wording of a domain error's parameters (`Names.parameter`).
The names themselves are data of the domain (`domain.vocabulary`, the deployment's titles)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from api import i18n
from domain import errors
from domain.application import RESIDENT, SYSTEM, Minqing
from domain.deployment import Deployment
from domain.templates import TEMPLATES
from domain.vocabulary import (
    CELL_LEVELS,
    CHANNELS,
    CLOSING_OUTCOMES,
    DEADLINES,
    DISCUSSION_OUTCOMES,
    FEEDBACK_STATES,
    HOUSEHOLD_CATEGORIES,
    NOTICE_CHANNELS,
    NOTICE_KINDS,
    RATINGS,
    RECORD_KINDS,
    ROLES,
    STAGES,
    STATUSES,
    STEP_KINDS,
    TRACKS,
    VISIT_MODES,
    VISIT_PURPOSES,
    VISIT_STATES,
    VOTE_OUTCOMES,
    Name,
)
from domain.votes import VOTE_RULES

# The kinds of word a page asks for (`Names.term`), each a vocabulary of the domain.
TERMS: dict[str, dict[str, Name]] = {
    "status": STATUSES, "stage": STAGES, "track": TRACKS, "outcome": CLOSING_OUTCOMES, "rating": RATINGS,
    "feedback_state": FEEDBACK_STATES, "channel": CHANNELS, "discussion_outcome": DISCUSSION_OUTCOMES,
    "vote_outcome": VOTE_OUTCOMES, "notice_kind": NOTICE_KINDS, "notice_channel": NOTICE_CHANNELS,
    "household_category": HOUSEHOLD_CATEGORIES, "visit_purpose": VISIT_PURPOSES, "visit_mode": VISIT_MODES,
    "visit_state": VISIT_STATES, "role": ROLES, "cell_level": CELL_LEVELS, "deadline": DEADLINES,
    "vote_body": {key: rule.name for key, rule in VOTE_RULES.items()},
}


def display_names(app: Minqing, usernames: Iterable[str]) -> dict[str, str]:
    """The display names of the staff a page shows (one read of each account)."""
    found = {}
    for username in set(usernames) - {SYSTEM, RESIDENT, ""}:
        try:
            found[username] = app.account(username).display_name or username
        except errors.UnknownActor:
            continue
    return found


def named(name: Name | None, fallback: str) -> str:
    return name.in_(i18n.current.get()) if name is not None else fallback


class Names:
    def __init__(self, deployment: Deployment, display_names: dict[str, str] | None = None) -> None:
        self.deployment = deployment
        self.display_names = display_names or {}

    def cell(self, cell_id: str | None) -> str:
        found = self.deployment.cells.get(cell_id or "")
        return named(found.title if found else None, cell_id or "")

    def category(self, key: str | None) -> str:
        found = self.deployment.categories.get(key or "")
        return named(found.title if found else None, key or "")

    def template(self, key: str | None) -> str:
        found = TEMPLATES.get(key or "")
        return named(found.title if found else None, key or "")

    def step(self, template_key: str | None, step_key: str | None) -> str:
        template = TEMPLATES.get(template_key or "")
        titles = {step.key: step.title for step in template.steps} if template else {}
        return named(titles.get(step_key or ""), step_key or "")

    def staff(self, username: str | None) -> str:
        if username == SYSTEM:
            return i18n.gettext("the system")
        if username == RESIDENT:
            return i18n.gettext("a resident")
        if not username:
            return ""
        return self.display_names.get(username) or username

    def cell_options(self, cells: Iterable[str]) -> list[tuple[str, str]]:
        """Cells as a select's options, in the grid's order, indented by their depth in it."""
        inside = set(cells)
        return [(cell, "\u00a0\u00a0" * len(self.deployment.ancestors(cell)) + self.cell(cell))
                for cell in self.deployment.cells if cell in inside]

    def term(self, kind: str, key: str | None) -> str:
        """A word of a closed vocabulary (a kind of `TERMS`: status, outcome, rating, channel, …)."""
        return named(TERMS[kind].get(key or ""), key or "")

    def terms(self, kind: str, keys: Iterable[str]) -> str:
        """Several words of one vocabulary in one phrase, joined as the locale joins them (公开栏和广播)."""
        return i18n.listed(self.term(kind, key) for key in keys)

    def step_anywhere(self, key: str) -> str:
        """A step named by its key alone: the first template holding a step of that key names it."""
        template = next((t.key for t in TEMPLATES.values() if any(step.key == key for step in t.steps)), None)
        return self.step(template, key)

    def parameter(self, name: str, value: object) -> str:
        """A domain error's parameter as a person reads it: a word of the vocabulary by its name (a step,
        an outcome, a cell, a vote body...; `PARAMETERS` says which parameters are words), several joined
        as the locale joins them; anything else, an id or a typed value, as it is."""
        if isinstance(value, tuple):
            items = (self.parameter(name, item) for item in value)
            return i18n.listed(items, alternatives=name in ALTERNATIVES)
        word = str(value)
        naming = PARAMETERS.get(name)
        return naming(self, word) if naming else word


def _word(*vocabularies: dict[str, Name]) -> Callable[[Names, str], str]:
    """The name of a key in the first of `vocabularies` that holds it (a key none holds, as it is)."""
    def naming(_names: Names, key: str) -> str:
        return named(next((v[key] for v in vocabularies if key in v), None), key)
    return naming


_step_kind, _record_or_step_kind = _word(STEP_KINDS), _word(RECORD_KINDS, STEP_KINDS)

# The parameters of domain errors (domain/errors.py) that are words, and how each is named.
PARAMETERS: dict[str, Callable[[Names, str], str]] = {
    "step": Names.step_anywhere,
    "wanted": lambda names, key: _step_kind(names, key) if key in STEP_KINDS else names.step_anywhere(key),
    # a record's kind arrives as its class's name (Demand), a step's as its key (vote)
    "kind": lambda names, key: _record_or_step_kind(names, key.lower()),
    "outcome": _word(CLOSING_OUTCOMES, DISCUSSION_OUTCOMES),
    "channel": _word(CHANNELS),
    "deadline": _word(DEADLINES),
    "body": _word(TERMS["vote_body"]),
    "bodies": _word(TERMS["vote_body"]),
    "roles": _word(ROLES),
    "cell": Names.cell,
    "cells": Names.cell,
    "to": Names.cell,
}
ALTERNATIVES = {"bodies"}  # "voted by A or B"
