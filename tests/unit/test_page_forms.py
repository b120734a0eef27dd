"""A page form's fields become the API's model: lists from repeated fields, empty fields left out."""

from __future__ import annotations

from api.pages.forms import form_values
from api.rest.schemas import ConductVisit, RegisterHousehold


def test_a_group_of_checkboxes_gives_a_list_and_a_single_box_a_list_of_one() -> None:
    sent = {"cell_id": ["qingshui.dongcun.g1"], "address": ["东村一组1号"],
            "categories": ["hardship", "elderly_alone"]}
    assert RegisterHousehold.model_validate(form_values(RegisterHousehold, sent)).categories == \
        ["hardship", "elderly_alone"]
    one = form_values(RegisterHousehold, {**sent, "categories": ["hardship"]})
    assert RegisterHousehold.model_validate(one).categories == ["hardship"]


def test_an_optional_field_left_empty_takes_the_models_default() -> None:
    sent = {"cell_id": ["qingshui.dongcun.g1"], "address": ["东村一组1号"], "categories": ["hardship"],
            "head_name": ["  "], "phone": [""]}
    household = RegisterHousehold.model_validate(form_values(RegisterHousehold, sent))
    assert (household.head_name, household.phone) == (None, None)


def test_a_field_sent_twice_keeps_its_last_value_and_empty_list_items_are_dropped() -> None:
    values = form_values(ConductVisit, {"mode": ["phone", "in_home"], "needs_found": ["屋顶漏雨", " "]})
    assert values == {"mode": "in_home", "needs_found": ["屋顶漏雨"]}
