"""Domain errors: each names the rule that was broken.

Every error has a stable `code` (used by the HTTP API as the problem `type`), a `title` (the first line
of its class docstring) and a message a community worker can act on.

The domain speaks no language of its own: it imports no Babel. A message is raised as an English
template with named parameters, `raise errors.CaseClosed("case {case} is closed ({outcome}); reopen it
first", case=demand.id, outcome=demand.outcome)`; the error keeps `template` and `params`, and `message`
is the template filled in, in English, for logs and the CLI. A parameter that is a word of the vocabulary
(a step, an outcome, a cell) is passed as its key, several as a tuple of keys. The edge translates:
the title and the template are message ids of the Babel catalogs, and the parameters are named in the
request's language (`api.web.errors.described`).

Marking for translation is the raising itself: the catalogs' check (tests/unit/test_catalogs.py) extracts
the first string argument of every call of an error class named here (the second for `UnknownReference`,
after the field) from domain/, projections/ and api/, and every class's title, and fails on a template
without a Chinese translation or one that is not a string literal. So: write the template as a literal at
the raise site, never a message built elsewhere, and never an f-string (its values are parameters).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar


class DomainError(Exception):
    """A rule of the domain was broken; nothing was recorded."""

    code = "domain-error"
    title: ClassVar[str]  # the docstring's first line: a message id of the catalogs
    fields: tuple[str, ...] = ()  # the fields of the command the error is about, when it is about some

    def __init__(self, template: str, /, *, fields: tuple[str, ...] | None = None, **params: object) -> None:
        self.template, self.params = template, params
        if fields is not None:
            self.fields = fields
        self.message = template.format(**{name: plain(value) for name, value in params.items()})
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.title = title_of(cls)


def plain(value: object) -> object:
    """A parameter as the English message shows it: times in ISO 8601, a tuple (several cells, roles,
    vote bodies) as its items separated by commas."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return ", ".join(str(item) for item in value)
    return value


def title_of(cls: type[DomainError]) -> str:
    return " ".join((cls.__doc__ or cls.code).strip().split("\n\n")[0].split())


DomainError.title = title_of(DomainError)


class UnknownReference(DomainError):
    """A case, visit, account or grid cell the command refers to does not exist, or may not be used here.

    One outside the actor's scope answers as one that does not exist."""

    code = "unknown-reference"

    def __init__(self, field: str, template: str, /, **params: object) -> None:
        super().__init__(template, fields=(field,), **params)
        self.field = field


class NotFound(DomainError):
    """The case, household, visit or account does not exist."""

    code = "not-found"


class NotYetExisting(NotFound):
    """Nothing about the case, household, visit or account had happened yet at that time."""

    code = "not-yet-existing"


class NotYetRecorded(NotFound):
    """Nothing about the case, household, visit or account had been recorded yet at that time."""

    code = "not-yet-recorded"


class ConcurrentUpdate(DomainError):
    """Somebody else changed the record first; reload and try again."""

    code = "concurrent-update"


class StaleVersion(DomainError):
    """The caller acted on an older version of the record than the stored one."""

    code = "stale-version"


class InvalidInput(DomainError):
    """A value is not one the deployment or the domain knows."""

    code = "invalid-input"


class StepOutOfOrder(DomainError):
    """Deliberation steps happen in the template's order; none is skipped."""

    code = "step-out-of-order"


class WrongTrack(DomainError):
    """The command belongs to the other handling track."""

    code = "wrong-track"


class ImpossibleVoteCounts(DomainError):
    """Vote counts that cannot be: more present than members, more votes than present, …"""

    code = "impossible-vote-counts"


class VoteBodyNotAllowed(DomainError):
    """The template's vote step is taken by another body."""

    code = "vote-body-not-allowed"


class NoticePeriodNotOver(DomainError):
    """A public notice must run its full period before the case moves on."""

    code = "notice-period-not-over"


class NoticePeriodOver(DomainError):
    """Objections are lodged while the notice is up, not after."""

    code = "notice-period-over"


class ObjectionsUnanswered(DomainError):
    """Every objection to a notice is answered before the case moves on."""

    code = "objections-unanswered"


class FeedbackNotExpected(DomainError):
    """Feedback is asked only after a case is resolved or closed as not resolvable, once."""

    code = "feedback-not-expected"


class FeedbackWindowOver(DomainError):
    """The feedback window has ended; silence was recorded as expiry."""

    code = "feedback-window-over"


class CaseClosed(DomainError):
    """The case is closed; reopen it before working on it again."""

    code = "case-closed"


class CaseNotClosed(DomainError):
    """Only a closed case can be reopened."""

    code = "case-not-closed"


class NotTriaged(DomainError):
    """The case must be triaged (category, track, responsible cell) first."""

    code = "not-triaged"


class AlreadyTriaged(DomainError):
    """A case is triaged once; reassign or escalate to change who handles it."""

    code = "already-triaged"


class ClosingNotAllowed(DomainError):
    """This closing outcome needs conditions the case does not meet."""

    code = "closing-not-allowed"


class EscalationNotUpward(DomainError):
    """Escalation goes to a higher cell of the same grid, never sideways or down."""

    code = "escalation-not-upward"


class DeadlineNotPassed(DomainError):
    """A deadline is recorded as missed only once it has passed."""

    code = "deadline-not-passed"


class NotOverdue(DomainError):
    """Only an open case past one of its deadlines is flagged for accountability."""

    code = "not-overdue"


class OccurredBeforeCase(DomainError):
    """A fact about a case cannot have happened before the case was raised."""

    code = "occurred-before-case"
    fields = ("occurred_at",)


class OccurredOutOfOrder(DomainError):
    """A fact cannot have happened before the step it follows (a case's previous step, a visit's booking)."""

    code = "occurred-out-of-order"
    fields = ("occurred_at",)


class OccurredInFuture(DomainError):
    """A fact cannot be recorded as having happened in the future."""

    code = "occurred-in-future"
    fields = ("occurred_at",)


class NotAuthorised(DomainError):
    """The actor's role does not allow this action."""

    code = "not-authorised"


class OutsideScope(DomainError):
    """The case, household or cell lies outside the actor's grid cells."""

    code = "outside-scope"


class UnknownActor(DomainError):
    """No active account has this name."""

    code = "unknown-actor"


class AccountExists(DomainError):
    """An account with this user name already exists."""

    code = "account-exists"


class VisitNotScheduled(DomainError):
    """A visit is conducted or missed once, after it was scheduled."""

    code = "visit-not-scheduled"
