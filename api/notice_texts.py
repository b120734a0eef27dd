"""The words of a notice proof's checks (domain/notice_proof.py), in the request's or the console's language:
one place for `minqing verify-notice` and the notice board's verify page (which hands them to its script)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api import i18n
from api.i18n import gettext as _
from api.names import Names
from domain.notice_proof import Check
from domain.templates import TEMPLATES
from domain.vocabulary import (
    CHANNELS,
    CLOSING_OUTCOMES,
    DISCUSSION_OUTCOMES,
    NOTICE_KINDS,
    RATINGS,
    TRACKS,
    VOTE_OUTCOMES,
)
from domain.votes import VOTE_RULES

# The order a fact's details are said in (handed to the page's script too).
ORDER = ("step", "round", "body", "kind", "outcome", "category", "track", "template", "channel", "to_cell_id",
         "rating", "percent", "summary", "text", "explanation", "ends_at")


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


def timeline_words(names: Names) -> dict[str, object]:
    """What the script needs to say a proved public fact (domain/public.py SHOWN) in words: each fact's
    name, the words of the vocabularies its details use, the deployment's time zone and the locale."""
    deployment = names.deployment
    steps = {step.key: names.step(template.key, step.key) for template in TEMPLATES.values()
             for step in template.steps}
    return {
        "whats": {"Raised": _("Demand registered"), "Triaged": _("Accepted and routed"),
                  "Escalated": _("Escalated"), "Discussed": _("Meeting held"), "Voted": _("Vote held"),
                  "Publicized": _("Made public"), "NoticeEnded": _("The notice period ended"),
                  "ImplementationProgressed": _("Implementation progress"), "Resolved": _("Demand resolved"),
                  "Closed": _("Case closed"), "FeedbackGiven": _("Feedback given"),
                  "FeedbackExpired": _("No feedback came in time"),
                  "Reopened": _("Reopened: the demand is being handled again")},
        "words": {
            "channel": {key: names.term("channel", key) for key in CHANNELS},
            "category": {key: names.category(key) for key in deployment.categories},
            "track": {key: names.term("track", key) for key in TRACKS},
            "template": {key: names.template(key) for key in TEMPLATES},
            "to_cell_id": {key: names.cell(key) for key in deployment.cells},
            "step": steps,
            "body": {key: names.term("vote_body", key) for key in VOTE_RULES},
            "kind": {key: names.term("notice_kind", key) for key in NOTICE_KINDS},
            "rating": {key: names.term("rating", key) for key in RATINGS},
            "outcome:Discussed": {key: names.term("discussion_outcome", key) for key in DISCUSSION_OUTCOMES},
            "outcome:Voted": {key: names.term("vote_outcome", key) for key in VOTE_OUTCOMES},
            "outcome:Closed": {key: names.term("outcome", key) for key in CLOSING_OUTCOMES},
        },
        "round": _("round {round}"), "until": _("until {ends}"), "order": ORDER,
        "zone": deployment.timezone, "locale": "zh-CN" if i18n.current.get() == "zh_CN" else "en-GB",
    }


def fact_said(step: dict[str, Any], words: dict[str, Any]) -> str:
    """A proved public fact (`{what, occurred_at, details}`) in words, as the verify page's script says it."""
    vocabularies: dict[str, dict[str, str]] = words["words"]
    parts = [words["whats"].get(step["what"], step["what"])]
    for key in ORDER:
        value = step["details"].get(key)
        if value is None or value == "":
            continue
        named = vocabularies.get(f"{key}:{step['what']}") or vocabularies.get(key)
        if key == "round":
            parts.append(words["round"].format(round=value))
        elif key == "percent":
            parts.append(f"{value}%")
        elif key == "ends_at":
            parts.append(words["until"].format(ends=moment(value, words["zone"])))
        else:
            parts.append(named.get(str(value), str(value)) if named else str(value))
    return " · ".join(parts)


def moment(iso: str, zone: str) -> str:
    """An ISO time of a proof as people read it, in the deployment's zone."""
    return i18n.when(datetime.fromisoformat(iso), zone)
