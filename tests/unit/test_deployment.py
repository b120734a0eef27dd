"""A deployment's configuration: the grid, categories, periods and cadences, checked as it loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from domain import errors
from domain.deployment import SAMPLES, Deployment, load, parse
from domain.vocabulary import Name

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def both(title: str) -> dict[str, str]:
    """A title in both languages, as a deployment file gives it."""
    return {"zh": f"{title}（中文）", "en": title}


def config(**overrides: Any) -> dict[str, Any]:
    """A small valid deployment: a township with one village of two groups, one category of each track."""
    data: dict[str, Any] = {
        "title": both("Test Township"),
        "cells": [
            {"id": "t", "title": both("Township"), "level": "township"},
            {"id": "t.v", "parent": "t", "title": both("Village"), "level": "village"},
            {"id": "t.v.g1", "parent": "t.v", "title": both("Group 1"), "level": "villager_group"},
            {"id": "t.v.g2", "parent": "t.v", "title": both("Group 2"), "level": "villager_group"},
        ],
        "categories": [
            {"key": "repairs", "title": both("Repairs"), "track": "direct"},
            {"key": "works", "title": both("Works"), "track": "deliberation",
             "template": "four_deliberations_two_disclosures"},
        ],
    }
    data.update(overrides)
    return data


@pytest.fixture
def township() -> Deployment:
    return parse(config())


# ---------------------------------------------------------------- what parse refuses
def test_a_category_on_an_unknown_track_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="track"):
        parse(config(categories=[{"key": "x", "title": both("X"), "track": "fast"}]))


def test_a_category_with_an_unknown_template_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="template"):
        parse(config(categories=[{"key": "x", "title": both("X"), "track": "deliberation",
                                  "template": "referendum"}]))


def test_a_cell_listed_before_its_parent_is_refused() -> None:
    cells = [{"id": "t.v", "parent": "t", "title": both("Village"), "level": "village"},
             {"id": "t", "title": both("Township"), "level": "township"}]
    with pytest.raises(errors.InvalidInput, match="listed before"):
        parse(config(cells=cells))


def test_a_cell_whose_parent_is_not_in_the_grid_is_refused() -> None:
    cells = [{"id": "t", "title": both("Township"), "level": "township"},
             {"id": "t.v", "parent": "elsewhere", "title": both("Village"), "level": "village"}]
    with pytest.raises(errors.InvalidInput):
        parse(config(cells=cells))


def test_a_cell_listed_twice_is_refused() -> None:
    cells = [{"id": "t", "title": both("Township"), "level": "township"},
             {"id": "t.v", "parent": "t", "title": both("Village"), "level": "village"},
             {"id": "t.v", "parent": "t", "title": both("Village again"), "level": "village"}]
    with pytest.raises(errors.InvalidInput, match="twice"):
        parse(config(cells=cells))


def test_a_visiting_cadence_for_an_unknown_household_category_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="household categories"):
        parse(config(visit_cadence_days={"elderly_alone": 7, "billionaire": 365}))


def test_a_deadline_policy_with_an_unknown_setting_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="deadline"):
        parse(config(deadlines={"first_respnse_hours": 12}))


def test_a_categorys_deadline_with_an_unknown_setting_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="deadline"):
        parse(config(categories=[{"key": "x", "title": both("X"), "deadlines": {"resolution_days": 3}}]))


# ---------------------------------------------------------------- defaults and overrides
def test_a_category_is_direct_by_default(township: Deployment) -> None:
    assert parse(config(categories=[{"key": "x", "title": both("X")}])).category("x").track == "direct"


def test_deadlines_default_to_the_statutory_policy(township: Deployment) -> None:
    policy = township.category("repairs").deadlines
    assert (policy.first_response_hours, policy.direct_resolution_days, policy.deliberation_step_days,
            policy.deliberation_total_days) == (24, 7, 15, 90)


def test_a_category_overrides_one_deadline_and_keeps_the_others() -> None:
    category = {"key": "x", "title": both("X"), "deadlines": {"first_response_hours": 4}}
    deployment = parse(config(deadlines={"direct_resolution_days": 6}, categories=[category]))
    policy = deployment.category("x").deadlines
    assert (policy.first_response_hours, policy.direct_resolution_days) == (4, 6)


def test_notices_and_feedback_run_seven_days_by_default(township: Deployment) -> None:
    assert (township.notice_days, township.feedback_days) == (7, 7)


def test_visiting_cadences_default_to_the_documented_ones(township: Deployment) -> None:
    assert township.visit_cadence_days == {
        "minimum_living_allowance": 30, "hardship": 30, "elderly_alone": 14}


def test_an_unknown_category_is_refused_by_name(township: Deployment) -> None:
    with pytest.raises(errors.InvalidInput):
        township.category("astrology")


# ---------------------------------------------------------------- the grid
def test_the_cells_above_a_villager_group_are_its_village_then_the_township(township: Deployment) -> None:
    assert township.ancestors("t.v.g1") == ["t.v", "t"]


def test_the_top_of_the_grid_has_nothing_above_it(township: Deployment) -> None:
    assert township.ancestors("t") == []


def test_a_cell_is_within_itself(township: Deployment) -> None:
    assert township.within("t.v", "t.v")


def test_a_cell_is_within_every_cell_above_it(township: Deployment) -> None:
    assert township.within("t.v.g1", "t.v") and township.within("t.v.g1", "t")


def test_a_cell_is_not_within_the_cells_below_it(township: Deployment) -> None:
    assert not township.within("t.v", "t.v.g1")


def test_a_cell_is_not_within_its_sibling(township: Deployment) -> None:
    assert not township.within("t.v.g1", "t.v.g2")


def test_an_unknown_cell_is_refused_by_name(township: Deployment) -> None:
    with pytest.raises(errors.InvalidInput):
        township.ancestors("t.v.g9")


# ---------------------------------------------------------------- the shipped samples
def test_the_township_sample_routes_village_works_to_four_deliberations_two_disclosures() -> None:
    deployment = load("village_township")
    works = deployment.category("public_works")
    assert (works.track, works.template, works.deadlines.deliberation_total_days) == (
        "deliberation", "four_deliberations_two_disclosures", 120)


def test_the_township_sample_routes_community_compacts_to_the_six_steps() -> None:
    assert load("village_township").category("community_rules").template == "six_step_deliberation"


def test_the_township_sample_gives_repairs_five_days(deployment: Deployment) -> None:
    assert deployment.category("repairs").deadlines.direct_resolution_days == 5


def test_the_township_sample_visits_hospitalised_households_every_14_days(deployment: Deployment) -> None:
    assert deployment.cadence(["hospitalised", "disabled"]) == 14


def test_the_urban_sample_decides_community_matters_by_the_six_steps() -> None:
    deployment = load("urban_community")
    assert {c.template for c in deployment.categories.values() if c.track == "deliberation"} == {
        "six_step_deliberation"}


def test_a_deployment_is_loaded_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.toml"
    path.write_text('title = { zh = "小镇", en = "Tiny" }\n[[cells]]\nid = "x"\n'
                    'title = { zh = "社区", en = "X" }\nlevel = "community"\n'
                    '[[categories]]\nkey = "repairs"\ntitle = { zh = "设施报修", en = "Repairs" }\n', "utf-8")
    tiny = load(str(path))
    assert tiny.ancestors("x") == []
    assert (tiny.title, tiny.cell("x").title) == (Name("小镇", "Tiny"), Name("社区", "X"))
    assert tiny.timezone == "Asia/Shanghai"


# ---------------------------------------------------------------- names in both languages, the time zone
def test_a_cell_whose_title_is_one_mixed_string_is_refused() -> None:
    cells = [{"id": "t", "title": "清水镇 Qingshui Township", "level": "township"}]
    with pytest.raises(errors.InvalidInput, match="zh ="):
        parse(config(cells=cells))


def test_a_category_without_its_english_title_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="category 'x'"):
        parse(config(categories=[{"key": "x", "title": {"zh": "维修"}}]))


def test_a_deployment_with_an_empty_title_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="deployment"):
        parse(config(title={"zh": "", "en": "Nowhere"}))


def test_a_cell_of_a_level_with_no_name_is_refused() -> None:
    cells = [{"id": "t", "title": both("Township"), "level": "county"}]
    with pytest.raises(errors.InvalidInput, match="level"):
        parse(config(cells=cells))


def test_a_time_zone_that_does_not_exist_is_refused() -> None:
    with pytest.raises(errors.InvalidInput, match="time zone"):
        parse(config(timezone="Asia/Atlantis"))


def test_a_deployment_names_its_own_time_zone() -> None:
    assert parse(config(timezone="Asia/Urumqi")).timezone == "Asia/Urumqi"


@pytest.mark.parametrize("sample", SAMPLES)
def test_every_sample_names_each_cell_and_category_in_chinese_and_in_english(sample: str) -> None:
    deployment = load(sample)
    names = [deployment.title, *(c.title for c in deployment.cells.values()),
             *(c.title for c in deployment.categories.values())]
    assert all(CJK.search(n.zh) and not LATIN_WORD.search(n.zh) for n in names)
    assert all(n.en.isascii() and LATIN_WORD.search(n.en) for n in names)
    assert deployment.timezone == "Asia/Shanghai"


def test_the_township_sample_names_dongcun_in_both_languages(deployment: Deployment) -> None:
    assert deployment.cell("qingshui.dongcun").title == Name("东村", "Dongcun Village")
    assert deployment.cell("qingshui.dongcun").title.in_("en") == "Dongcun Village"
