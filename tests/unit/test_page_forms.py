"""A page form's fields become the API's model: lists from repeated fields, empty fields left out."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from api.pages.forms import Rejection, form_values
from api.pages.render import environment
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



class StartTags(HTMLParser):
    """Each start tag's attributes, by tag name (the last one of each name)."""

    def __init__(self) -> None:
        super().__init__()
        self.attributes: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes[tag] = dict(attrs)


def test_a_refused_required_control_keeps_its_attributes_apart_and_points_at_its_error() -> None:
    macros: Any = environment().get_template("forms.html").module
    refused = Rejection(message="", fields={"title": "必填"}, values={"title": "路灯"})
    for control, html in (("input", macros.input(refused, "title", "标题", required=True)),
                          ("textarea", macros.textarea(refused, "title", "标题", required=True)),
                          ("select", macros.select(refused, "title", "标题", [("a", "甲")], required=True))):
        tags = StartTags()
        tags.feed(str(html))
        attributes = tags.attributes[control]
        assert "required" in attributes and attributes["aria-invalid"] == "true", (control, attributes)
        assert attributes["aria-describedby"] == "title-error"
        assert 'id="title-error"' in str(html) and "必填" in str(html)
