"""Every key the domain accepts or records has a name in Chinese and in English, and the names are
the glossary's words."""

from __future__ import annotations

import re

import pytest

from domain import demand, vocabulary
from domain.account import ROLES
from domain.deployment import CHANNELS, HOUSEHOLD_CATEGORIES, SAMPLES, TRACKS, load
from domain.templates import TEMPLATES
from domain.visit import CONDUCTED, MISSED, MODES, PURPOSES, SCHEDULED
from domain.vocabulary import Name
from domain.votes import ADOPTED, INVALID, REJECTED, VOTE_BODIES, VOTE_RULES

CJK = re.compile(r"[\u4e00-\u9fff]")

# What the domain knows, by the vocabulary that must name it.
DOMAIN_KEYS: dict[str, tuple[str, ...]] = {
    "statuses": (demand.RAISED, demand.IN_PROGRESS, demand.DELIBERATING, demand.IMPLEMENTING, demand.CLOSED),
    "tracks": TRACKS,
    "closing_outcomes": demand.OUTCOMES,
    "ratings": demand.RATINGS,
    "channels": CHANNELS,
    "discussion_outcomes": demand.DISCUSSION_OUTCOMES,
    "vote_outcomes": (ADOPTED, REJECTED, INVALID),
    "notice_kinds": demand.NOTICE_KINDS,
    "notice_channels": demand.NOTICE_CHANNELS,
    "household_categories": HOUSEHOLD_CATEGORIES,
    "visit_purposes": PURPOSES,
    "visit_modes": MODES,
    "visit_states": (SCHEDULED, CONDUCTED, MISSED),
    "roles": ROLES,
}


@pytest.mark.parametrize("name", sorted(DOMAIN_KEYS))
def test_each_key_of_the_domain_has_a_name_and_nothing_else_does(name: str) -> None:
    assert set(vocabulary.VOCABULARIES[name]) == set(DOMAIN_KEYS[name])


@pytest.mark.parametrize("vocabulary_name", sorted(vocabulary.VOCABULARIES))
def test_every_name_is_chinese_and_english(vocabulary_name: str) -> None:
    for key, name in vocabulary.VOCABULARIES[vocabulary_name].items():
        assert CJK.search(name.zh), (key, name)
        assert name.en.isascii() and name.en.strip(), (key, name)


def test_the_feedback_states_a_case_records_are_named() -> None:
    assert set(vocabulary.FEEDBACK_STATES) == {"asked", "given", "expired"}


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_level_of_each_sample_grid_is_named(sample: str) -> None:
    assert {cell.level for cell in load(sample).cells.values()} <= set(vocabulary.CELL_LEVELS)


def test_every_step_a_case_can_be_at_is_named_by_its_template_a_status_or_a_stage() -> None:
    steps = {step.key for template in TEMPLATES.values() for step in template.steps}
    named = steps | set(vocabulary.STATUSES) | set(vocabulary.STAGES)
    assert {"implementation", demand.RAISED, demand.IN_PROGRESS, demand.CLOSED} <= named


def test_every_template_and_step_is_named_in_both_languages() -> None:
    names = [n for t in TEMPLATES.values() for n in (t.title, *(s.title for s in t.steps))]
    assert all(CJK.search(n.zh) and n.en.isascii() for n in names)


def test_the_steps_of_four_deliberations_carry_the_glossarys_words() -> None:
    steps = {s.key: s.title for s in TEMPLATES["four_deliberations_two_disclosures"].steps}
    assert steps["branch_proposal"] == Name("党支部会提议", "party branch proposal")
    assert steps["resolution_vote"] == Name("村民代表会议或村民会议决议", "villagers' resolution")


def test_each_vote_body_is_named_with_its_quorum_and_majority_in_both_languages() -> None:
    assert set(VOTE_RULES) == set(VOTE_BODIES)
    assert VOTE_RULES["representatives"].name == Name("村民代表会议", "villagers' representative meeting")
    assert VOTE_RULES["assembly"].name == Name("村民会议", "villagers' assembly")
    assert VOTE_RULES["residents_representatives"].name == Name("居民代表会议",
                                                                "residents' representative meeting")
    for rule in VOTE_RULES.values():
        assert all(CJK.search(n.zh) and n.en.isascii() for n in (rule.quorum, rule.majority))


@pytest.mark.parametrize(("locale", "expected"), [("zh_CN", "已办结"), ("zh", "已办结"), ("en", "closed"),
                                                  ("en-GB", "closed"), ("fr", "已办结")])
def test_a_name_in_a_locale_is_english_for_english_and_chinese_otherwise(locale: str, expected: str) -> None:
    assert vocabulary.STATUSES["closed"].in_(locale) == expected
