"""A case's history read against its template: the rules of DOMAIN.md that a whole history must keep."""

from __future__ import annotations

from collections.abc import Sequence

from domain.audit import HistoryEntry
from domain.templates import TEMPLATES
from domain.votes import VOTE_RULES, Tally


def unlawful_steps(history: Sequence[HistoryEntry], template_key: str) -> list[str]:
    """Where the history breaks its template: a deliberation step, vote or notice out of the template's
    order (a returned discussion or a rejected vote starts the round again; an inquorate vote leaves the
    case where it was), or a vote whose outcome is not the statute's. Empty for a lawful history."""
    steps = [s.key for s in TEMPLATES[template_key].steps]
    found: list[str] = []
    expected = 0  # the index of the step each new round must start again from
    for e in history:
        data = e.data
        if e.type == "Voted":
            tally = Tally(data["members"], data["present"], data["in_favour"], data["against"],
                          data["abstained"], data["households"], data["households_present"])
            if data["outcome"] != VOTE_RULES[data["body"]].outcome(tally):
                found.append(f"v{e.version}: vote outcome {data['outcome']} is not the statute's")
        step = data.get("step") if e.type in ("Discussed", "Voted", "Publicized") else None
        if step is None:
            continue
        if expected >= len(steps) or step != steps[expected]:
            found.append(f"v{e.version}: {step} out of order (expected "
                         f"{steps[expected] if expected < len(steps) else 'no further step'})")
            continue
        if data.get("outcome") in ("returned", "rejected"):
            expected = 0
        elif data.get("outcome") != "invalid":
            expected += 1
    return found
