"""Exports are opened in spreadsheets: no cell may run as a formula there."""

from __future__ import annotations

import pytest

from api.exports import spreadsheet_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_text_that_would_run_as_a_formula_is_kept_as_text(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


def test_plain_text_numbers_and_times_are_left_as_they_are() -> None:
    assert spreadsheet_cell("东村一组路灯不亮") == "东村一组路灯不亮"
    assert spreadsheet_cell(-2.5) == -2.5
