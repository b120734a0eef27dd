"""Masked personal data: at most the surname of a name, at most the last four digits of a number."""

from __future__ import annotations

import pytest

from domain.masking import mask_name, mask_number, mask_text, masked


@pytest.mark.parametrize(("name", "shown"), [("李秀英", "李**"), ("阿卜杜热合曼", "阿*****"), ("王五", "王*"),
                                             ("Li", "L*"), ("", ""), (None, None)])
def test_a_name_shows_at_most_its_first_character(name: str | None, shown: str | None) -> None:
    assert mask_name(name) == shown


@pytest.mark.parametrize(("number", "shown"), [("13812345678", "*******5678"), ("8123456", "***3456"),
                                               ("0571-88123456", "*********3456"), ("1234", "****")])
def test_a_phone_number_shows_at_most_its_last_four_digits(number: str, shown: str) -> None:
    assert mask_number(number) == shown


def test_mobile_and_id_card_numbers_in_free_text_are_masked_and_other_numbers_left() -> None:
    text = "张大爷电话13812345678，身份证号110105194912310021，住5号楼302室，2026年报修"
    assert mask_text(text) == "张大爷电话*******5678，身份证号**************0021，住5号楼302室，2026年报修"


def test_a_longer_run_of_digits_is_not_taken_for_a_phone_number() -> None:
    assert mask_text("订单号 138123456789") == "订单号 138123456789"


def test_a_record_is_masked_field_by_field_and_its_lists_too() -> None:
    record = {"resident_name": "李秀英", "resident_phone": "13812345678", "version": 3,
              "needs_found": ["回电13812345678"], "title": "路灯"}
    assert masked(record) == {"resident_name": "李**", "resident_phone": "*******5678", "version": 3,
                              "needs_found": ["回电*******5678"], "title": "路灯"}
