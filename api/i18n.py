"""Languages: Simplified Chinese by default, English on request.

Message ids are English; the zh_CN catalog translates every one (tests/unit/test_catalogs.py checks it),
the en catalog needs none. Catalogs are `api/locale/<locale>/LC_MESSAGES/messages.po`, compiled to `.mo`
when the project is installed or built (setup.py). The language of a request is the `minqing_lang`
cookie (the page's language switch) or else the best match of Accept-Language; it is kept in a context
variable for the request, so pages, problem+json errors and exports all read the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, negotiate_locale, support
from babel.dates import format_datetime
from babel.lists import format_list
from babel.numbers import format_decimal, format_percent

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
COOKIE = "minqing_lang"
CATALOGS = Path(__file__).parent / "locale"
# Dates as the glossary writes them: 2026年11月30日 12:45 / 30 Nov 2026, 12:45.
DATE_TIME = {"zh_CN": "yyyy年M月d日 HH:mm", "en": "d MMM yyyy, HH:mm"}
DATE = {"zh_CN": "yyyy年M月d日", "en": "d MMM yyyy"}

current: ContextVar[str] = ContextVar("minqing_locale", default=DEFAULT_LOCALE)


@cache
def translations(locale: str) -> support.NullTranslations:
    """The compiled catalog of a locale (read once per process)."""
    return support.Translations.load(str(CATALOGS), [locale], domain="messages")


def gettext(message: str) -> str:
    return translations(current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current.get()).ngettext(singular, plural, n)


_ = gettext


def negotiate(cookie: str | None, accept_language: str | None) -> str:
    """The locale of a request: the remembered choice, else the best of Accept-Language, else Chinese."""
    if cookie in LOCALES:
        return cookie
    wanted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((quality, tag.replace("-", "_")))
    preferred = [tag for _q, tag in sorted(wanted, key=lambda pair: -pair[0])]
    # "zh", "zh-CN", "zh-Hans" all mean the Chinese catalog; "en-GB" the English one.
    aliases = {"zh": "zh_CN", "zh_Hans": "zh_CN", "zh_Hans_CN": "zh_CN", "en": "en"}
    return negotiate_locale(preferred, list(LOCALES), sep="_", aliases=aliases) or DEFAULT_LOCALE


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    """Run a block in a locale (the CLI, tests, a worker writing an export)."""
    token = current.set(locale if locale in LOCALES else DEFAULT_LOCALE)
    try:
        yield
    finally:
        current.reset(token)


def babel_locale() -> Locale:
    return Locale.parse(current.get())


def when(moment: datetime | None, zone: str, *, date_only: bool = False) -> str:
    """A moment as people read it, in the deployment's time zone and the current locale."""
    if moment is None:
        return ""
    patterns = DATE if date_only else DATE_TIME
    return format_datetime(moment, patterns[current.get()], tzinfo=ZoneInfo(zone), locale=babel_locale())


def number(value: int) -> str:
    """A count written the locale's way (1,000)."""
    return format_decimal(value, locale=babel_locale())


def percent(share: float) -> str:
    """A share as a percentage to a tenth of a percent: 83.3%."""
    return format_percent(share, "#,##0.0%", locale=babel_locale())


def figure(value: float) -> str:
    """A measured amount (hours, days) to one decimal place, written the locale's way: 1,234.5."""
    return format_decimal(value, "#,##0.0", locale=babel_locale())


def listed(items: Iterable[str], *, alternatives: bool = False) -> str:
    """Several things in one phrase, as the locale joins them: "a、b和c", "a, b, and c"; with
    `alternatives`, "a或b", "a or b"."""
    return format_list(list(items), style="or" if alternatives else "standard", locale=babel_locale())


def duration(span: timedelta) -> str:
    """A length of time: 3天5小时 / 3 d 5 h (days and hours; minutes under an hour)."""
    minutes = max(0, int(span.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return gettext("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return gettext("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    return gettext("{minutes} min").format(minutes=minutes)


def due(deadline: datetime, now: datetime) -> str:
    """还剩 2 天 / 已超期 3 天: a deadline as the time left or the time overdue (whole days, else hours)."""
    left = deadline - now
    span = abs(left)
    days = span.days
    if left >= timedelta(0):
        if days:
            return ngettext("{n} day left", "{n} days left", days).format(n=days)
        hours = span.seconds // 3600
        return ngettext("{n} hour left", "{n} hours left", hours).format(n=hours)
    if days:
        return ngettext("{n} day overdue", "{n} days overdue", days).format(n=days)
    hours = span.seconds // 3600
    return ngettext("{n} hour overdue", "{n} hours overdue", hours).format(n=hours)
