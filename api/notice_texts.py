"""The words of a notice proof's checks (domain/notice_proof.py), in the request's or the console's language:
one place for `minqing verify-notice` and the notice board's verify page (which hands them to its script)."""

from __future__ import annotations

from api.i18n import gettext as _
from domain.notice_proof import Check


def check_titles() -> dict[str, str]:
    """What each check establishes when it holds."""
    return {
        "key": _("The head was signed with this public key"),
        "signature": _("The signature of the tree head is valid"),
        "leaves": _("Every event is included in the signed tree"),
        "complete": _("No event of the case is left out"),
        "notice": _("The notice's text is in a proved event of its case"),
        "older": _("The older head bears a valid signature"),
        "newer": _("The newer head bears a valid signature"),
        "consistent": _("The log only grew from the older head to the newer one"),
    }


def problems() -> dict[str, str]:
    """Why a check does not hold, by the problem's code."""
    return {
        "other-key": _("the proof carries another public key than the one given"),
        "wrong-key": _("the head was signed with another key ({key_id})"),
        "bad-signature": _("the signature is not valid for this key"),
        "not-proved": _("events {versions} are not proved in the signed tree"),
        "empty": _("the proof holds no event"),
        "missing": _("some of the case's events are missing"),
        "notice-absent": _("the notice's text is not in a proved event of its case"),
        "not-grown": _("the log did not only grow between the two heads"),
    }


def said(check: Check) -> str:
    """A check in words: what it establishes, and why not when it does not hold."""
    title = check_titles()[check.name]
    if check.ok or check.problem is None:
        return title
    return f"{title}: {problems()[check.problem].format(**check.params)}"
