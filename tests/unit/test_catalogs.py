"""Every message a person reads is translated: the zh_CN catalog holds a translation of every message id
marked in the code and the templates, and the compiled catalogs are those of the .po files.

Marked are: strings in `_`, `gettext` and `ngettext`; the templates of domain errors, i.e. the first string
argument (the second for `UnknownReference`) of a call of any `DomainError` class, in domain/, projections/
and api/; and every error class's title (domain/errors.py says why).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import api.web.app  # noqa: F401  # imports every module that defines an error class
from api import i18n
from domain import errors

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("domain", "projections", "api")
METHODS = [("api/**/templates/**.html", "jinja2.ext:babel_extract"),
           *((f"{source}/**.py", "python") for source in SOURCES)]
OPTIONS = {"api/**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true",
                                        "lstrip_blocks": "true"}}


def error_classes() -> list[type[errors.DomainError]]:
    found, unseen = [], [errors.DomainError]
    while unseen:
        cls = unseen.pop()
        found.append(cls)
        unseen.extend(cls.__subclasses__())
    return found


KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2),
            **{cls.__name__: (2,) if issubclass(cls, errors.UnknownReference) else None
               for cls in error_classes()}}


def marked_messages() -> dict[str, str]:
    """Each message id marked for translation, with the first place it is used."""
    found: dict[str, str] = {cls.title: f"{cls.__module__}.{cls.__name__}" for cls in error_classes()}
    for filename, line, message, _comments, _context in extract_from_dir(
            ROOT, METHODS, OPTIONS, KEYWORDS, callback=None, strip_comment_tags=True):
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault(msgid, f"{filename}:{line}")
    return found


def test_every_domain_error_is_raised_with_a_template_written_where_it_is_raised() -> None:
    """Extraction sees only string literals: a template built elsewhere, or an f-string, would be raised
    untranslated."""
    names = {cls.__name__: 1 if issubclass(cls, errors.UnknownReference) else 0 for cls in error_classes()}
    unmarked = []
    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                function = node.func
                called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
                if called not in names:
                    continue
                position = names[called]
                template = node.args[position] if len(node.args) > position else None
                if not (isinstance(template, ast.Constant) and isinstance(template.value, str)):
                    unmarked.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unmarked, f"domain errors raised without a literal template: {unmarked}"


def test_a_translation_fills_in_the_same_parameters_as_its_message_id() -> None:
    def fields(text: str) -> set[str]:
        return set(re.findall(r"{(\w*)", text))

    differing = [m.id for m in catalog("zh_CN") if m.id and not isinstance(m.id, tuple)
                 and fields(m.id) != fields(m.string)]
    assert not differing, f"translations that fill in other parameters than their message ids: {differing}"


def catalog(locale: str) -> Catalog:
    with (ROOT / "api" / "locale" / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def test_every_marked_message_has_a_chinese_translation() -> None:
    chinese = catalog("zh_CN")
    def translated(msgid: str) -> bool:
        message = chinese.get(msgid)
        strings = () if message is None else (
            message.string if isinstance(message.string, tuple) else (message.string,))
        return bool(strings) and all(strings)

    missing = {msgid: where for msgid, where in marked_messages().items() if not translated(msgid)}
    assert not missing, "not translated in api/locale/zh_CN/LC_MESSAGES/messages.po:\n" + "\n".join(
        f"  {where}: {msgid!r}" for msgid, where in sorted(missing.items(), key=lambda pair: pair[1]))


def test_no_translation_is_fuzzy_or_left_over() -> None:
    chinese, marked = catalog("zh_CN"), marked_messages()
    assert not [m.id for m in chinese if m.id and m.fuzzy]
    unused = [m.id for m in chinese if m.id and (m.id[0] if isinstance(m.id, tuple) else m.id) not in marked]
    assert not unused, f"translations of messages no code uses: {unused}"


def test_the_compiled_catalogs_are_those_of_the_po_files() -> None:
    i18n.translations.cache_clear()
    for locale in i18n.LOCALES:
        compiled = ROOT / "api" / "locale" / locale / "LC_MESSAGES" / "messages.mo"
        assert compiled.exists(), f"{compiled} is missing: `pip install -e .` compiles the catalogs"
        with i18n.speaking(locale):
            for message in catalog(locale):
                if message.id and not isinstance(message.id, tuple) and message.string:
                    assert i18n.gettext(message.id) == message.string, (
                        f"{compiled} is older than its .po file: `pip install -e .` compiles it again")


def test_chinese_is_the_default_and_english_is_chosen_by_cookie_or_header() -> None:
    assert i18n.negotiate(None, None) == "zh_CN"
    assert i18n.negotiate(None, "en-GB,en;q=0.9") == "en"
    assert i18n.negotiate(None, "fr, zh-CN;q=0.5") == "zh_CN"
    assert i18n.negotiate("en", "zh-CN") == "en"
    assert i18n.negotiate("xx", "en") == "en"
    with i18n.speaking("zh_CN"):
        assert i18n.gettext("Minqing") == "民情"
    with i18n.speaking("en"):
        assert i18n.gettext("Minqing") == "Minqing"


def test_times_read_in_the_deployment_zone_and_the_locale_format() -> None:
    from datetime import UTC, datetime, timedelta
    moment = datetime(2026, 11, 30, 4, 45, tzinfo=UTC)
    with i18n.speaking("zh_CN"):
        assert i18n.when(moment, "Asia/Shanghai") == "2026年11月30日 12:45"
        assert i18n.duration(timedelta(days=3, hours=5)) == "3天5小时"
        assert i18n.due(moment + timedelta(days=2, hours=1), moment) == "还剩 2 天"
        assert i18n.due(moment - timedelta(days=3, hours=1), moment) == "已超期 3 天"
    with i18n.speaking("en"):
        assert i18n.when(moment, "Asia/Shanghai") == "30 Nov 2026, 12:45"
        assert i18n.duration(timedelta(days=3, hours=5)) == "3 d 5 h"
        assert i18n.due(moment + timedelta(days=1, hours=1), moment) == "1 day left"
