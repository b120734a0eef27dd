"""Personal data as those who may not see it get it (DOMAIN.md, "Who sees what"): a name shows at
most its first character (the surname), a phone number its last four digits, and mobile and ID-card
numbers written into free text are masked the same way."""

from __future__ import annotations

import re
from typing import Any

NAME_FIELDS = ("resident_name", "head_name")
PHONE_FIELDS = ("resident_phone", "phone")
# An 11-digit mainland mobile number, or an 18-character resident ID number (身份证号, its last
# character a digit or X), standing apart from other digits and letters.
NUMBER_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])(?:1[3-9]\d{9}|\d{17}[\dXx])(?![0-9A-Za-z])")


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张**; 阿卜杜热合曼 → 阿*****."""
    return name[0] + "*" * (len(name) - 1) if name else name


def mask_number(number: str | None) -> str | None:
    """13812345678 → *******5678: the last four characters at most (none of a short number)."""
    if not number:
        return number
    shown = 4 if len(number) > 4 else 0
    return "*" * (len(number) - shown) + number[len(number) - shown:]


def mask_text(text: str) -> str:
    """Free text with every mobile and ID-card number in it masked."""
    return NUMBER_IN_TEXT.sub(lambda found: mask_number(found.group()) or "", text)


def masked(value: Any) -> Any:
    """A record, an event's data or a list of them, masked: the name and phone fields by their rules,
    every other piece of text for the numbers written into it."""
    if isinstance(value, dict):
        return {k: mask_name(v) if k in NAME_FIELDS else mask_number(v) if k in PHONE_FIELDS else masked(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value
