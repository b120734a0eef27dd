"""The tables of the views, the case list and the accountability trace, as the dashboards show them and
every export writes them (api.exports): which columns, headed with the glossary's words. Built per
request, so that the headings are in the reader's language; the rows are those the query functions of
`projections.queries` return (the trace's: `trace_rows`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from api.exports import COUNT, DAYS, HOURS, JOINED, SHARE, TEXT, TIME, Column, Table, escalation, step_name
from api.i18n import gettext as _
from api.names import TERMS, Names, display_names, named
from domain.application import Minqing


def grouping(by: str) -> Column:
    """The first column of a summary: what it is grouped by."""
    label, kind = {"category": (_("Category"), "category"), "cell": (_("Cell"), "cell"),
                   "worker": (_("Worker"), "staff"), "month": (_("Month"), TEXT),
                   "visitor": (_("Last visitor"), "staff"), "step": (_("Step"), "step")}[by]
    return Column(by, label, kind)


def household_category_grouping() -> Column:
    return Column("category", _("Household category"), "household_category")


def satisfaction(by: str) -> Table:
    return Table(f"satisfaction-by-{by}", (
        grouping(by),
        Column("asked", _("Feedback asked"), COUNT),
        Column("answered", _("Answered"), COUNT),
        *(Column(rating, named(TERMS["rating"][rating], rating), COUNT)
          for rating in ("satisfied", "basically_satisfied", "dissatisfied")),
        Column("expired", _("No answer in time"), COUNT),
        Column("reopens", _("Reopened"), COUNT),
        Column("satisfaction_rate", _("Satisfaction rate"), SHARE),
        Column("response_rate", _("Response rate"), SHARE),
    ))


def response_times(by: str) -> Table:
    return Table(f"response-times-by-{by}", (
        grouping(by),
        Column("count", _("Demands"), COUNT),
        Column("responded", _("Responded"), COUNT),
        Column("resolved", _("Resolved"), COUNT),
        Column("first_response_hours_median", _("First response, median (hours)"), HOURS),
        Column("first_response_hours_p90", _("First response, 90th percentile (hours)"), HOURS),
        Column("resolution_hours_median", _("Resolution, median (hours)"), HOURS),
        Column("resolution_hours_p90", _("Resolution, 90th percentile (hours)"), HOURS),
        Column("on_time_share", _("Resolved on time"), SHARE),
        Column("first_response_on_time_share", _("First response on time"), SHARE),
    ))


def step_times() -> Table:
    return Table("deliberation-steps", (
        grouping("step"),
        Column("count", _("Times held"), COUNT),
        Column("days_median", _("Days in the step, median"), DAYS),
        Column("days_p90", _("Days in the step, 90th percentile"), DAYS),
        Column("on_time_share", _("Held on time"), SHARE),
    ))


def unresolved() -> Table:
    return Table("unresolved", (
        Column("title", _("Title")),
        Column("category", _("Category"), "category"),
        Column("step", _("Step"), "step"),
        Column("responsible_cell_id", _("Responsible cell"), "cell"),
        Column("assignee", _("Assignee"), "staff"),
        Column("raised_at", _("Raised"), TIME),
        Column("age_days", _("Age (days)"), DAYS),
        Column("due_at", _("Due"), TIME),
        Column("deadlines_missed", _("Deadlines missed"), "missed_deadline"),
        Column("escalation_level", _("Escalation level"), COUNT),
        Column("escalations", _("Escalations"), "escalation"),
        Column("accountability_flags", _("Accountability flags"), "accountability_flag"),
        Column("cell_id", _("Raised in"), "cell"),
        Column("id", _("Case id")),
    ))


def visit_coverage(by: str) -> Table:
    first = household_category_grouping() if by == "category" else grouping(by)
    return Table(f"visit-coverage-by-{by}", (
        first,
        Column("households", _("Households"), COUNT),
        Column("with_cadence", _("With a visiting cadence"), COUNT),
        Column("overdue", _("Visit overdue"), COUNT),
        Column("covered_share", _("Visited in time"), SHARE),
        Column("visits_conducted", _("Visits done"), COUNT),
        Column("visits_missed", _("Visits missed"), COUNT),
    ))


def households() -> Table:
    return Table("households", (
        Column("address", _("Address")),
        Column("cell_id", _("Cell"), "cell"),
        Column("categories", _("Household category"), "household_category"),
        Column("last_visit_at", _("Last visit"), TIME),
        Column("last_visitor", _("Last visitor"), "staff"),
        Column("next_due_at", _("Next visit due"), TIME),
        Column("overdue", _("Visit overdue")),
        Column("id", _("Household id")),
    ))


def cases() -> Table:
    return Table("cases", (
        Column("receipt", _("Receipt code")),
        Column("title", _("Title")),
        Column("category", _("Category"), "category"),
        Column("cell_id", _("Raised in"), "cell"),
        Column("responsible_cell_id", _("Responsible cell"), "cell"),
        Column("channel", _("Channel"), "channel"),
        Column("status", _("Status"), "status"),
        Column("current_step", _("Step"), "step"),
        Column("assignee", _("Assignee"), "staff"),
        Column("raised_at", _("Raised"), TIME),
        Column("due_at", _("Due"), TIME),
        Column("overdue", _("Overdue")),
        Column("id", _("Case id")),
    ))


def trace(case: UUID) -> Table:
    return Table(f"trace-{case}", (
        Column("kind", _("What")),
        Column("holder", _("Who or what")),
        Column("from", _("From"), TIME),
        Column("to", _("Until"), TIME),
        Column("duration", _("Time held"), "duration"),
        Column("hours", _("Hours"), HOURS),
        Column("detail", _("Details")),
    ))


def trace_names(app: Minqing, found: dict[str, Any]) -> Names:
    """The names a trace's rows need: the deployment's, and those of the staff who held the case,
    escalated it or flagged it."""
    staff = {p["holder"] for p in found["periods"] if p["kind"] == "assignee"}
    staff |= {escalated["by"] for escalated in found["escalations"]}
    staff |= {flag["by"] for flag in found["accountability_flags"]}
    return Names(app.deployment, display_names(app, staff))


def named_trace(found: dict[str, Any], names: Names) -> dict[str, Any]:
    """The trace (domain.audit.trace) with the names of its holders, cells and staff beside their keys:
    `holder_name` of each period (a person's display name, a cell's name, a step's name), the cells and
    the escalating person of each escalation, who flagged."""
    def step(key: str) -> str:
        return step_name(names, key)

    holder: dict[str, Callable[[str], str]] = {"assignee": names.staff, "responsible_cell": names.cell,
                                               "step": step}
    return {
        **found,
        "periods": [{**p, "holder_name": holder[p["kind"]](p["holder"])} for p in found["periods"]],
        "escalations": [{**x, "from_name": names.cell(x["from"]), "to_name": names.cell(x["to"]),
                         "by_name": names.staff(x["by"])} for x in found["escalations"]],
        "accountability_flags": [{**flag, "by_name": names.staff(flag["by"])}
                                 for flag in found["accountability_flags"]],
    }


def trace_rows(found: dict[str, Any], names: Names) -> list[dict[str, Any]]:
    """The accountability trace (domain.audit.trace) as one table, in time order: who held the case,
    which cell was responsible and which step it was at, for how long; each deadline missed,
    escalation and flag."""
    kinds = {"assignee": _("Held by"), "responsible_cell": _("Responsible cell"), "step": _("At the step")}
    rows = []
    for period in named_trace(found, names)["periods"]:
        rows.append({"kind": kinds[period["kind"]], "holder": period["holder_name"], "from": period["from"],
                     "to": period["to"], "duration": period["hours"], "hours": period["hours"],
                     "detail": None})
    for missed in found["deadlines_missed"]:
        rows.append({"kind": _("Deadline missed"), "holder": names.term("deadline", missed["deadline"]),
                     "from": missed["due_at"], "to": missed["recorded_at"], "hours": missed["late_hours"],
                     "detail": None})
    for escalated in found["escalations"]:
        # an automatic escalation's reason is the watcher's own note; the deadline missed is a row of its own
        detail = None if escalated["automatic"] else JOINED.join(
            filter(None, [names.staff(escalated["by"]), escalated["reason"]]))
        rows.append({"kind": _("Escalation"), "holder": escalation(names, escalated),
                     "from": escalated["at"], "to": None, "hours": None, "detail": detail})
    for flag in found["accountability_flags"]:
        rows.append({"kind": _("Accountability flag"), "holder": flag["responsible"], "from": flag["at"],
                     "to": None, "hours": None, "detail": flag["finding"]})
    rows.sort(key=lambda row: row["from"])
    return rows
