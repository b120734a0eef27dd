"""Names, not ids: what a page shows for a cell, a category, a step, a member of staff or a word of the
domain's vocabulary, in the page's language. Every page and template asks here (as `names` in templates).

Interim: the deployment's titles are one mixed string ("东村 Dongcun Village") and the vocabulary has no
names yet; the bilingual names replace these bodies when they land (issue 11, item 2).
"""

from __future__ import annotations

from domain.deployment import Deployment
from domain.templates import TEMPLATES


class Names:
    def __init__(self, deployment: Deployment, display_names: dict[str, str] | None = None) -> None:
        self.deployment = deployment
        self.display_names = display_names or {}

    def cell(self, cell_id: str | None) -> str:
        if not cell_id:
            return ""
        found = self.deployment.cells.get(cell_id)
        return found.title if found else cell_id

    def category(self, key: str | None) -> str:
        if not key:
            return ""
        found = self.deployment.categories.get(key)
        return found.title if found else key

    def template(self, key: str | None) -> str:
        found = TEMPLATES.get(key or "")
        return found.title if found else (key or "")

    def step(self, template_key: str | None, step_key: str | None) -> str:
        template = TEMPLATES.get(template_key or "")
        for step in template.steps if template else ():
            if step.key == step_key:
                return step.title
        return step_key or ""

    def staff(self, username: str | None) -> str:
        if not username:
            return ""
        return self.display_names.get(username) or username

    def term(self, kind: str, key: str | None) -> str:
        """A word of a closed vocabulary (kind: status, outcome, rating, channel, notice_kind, role, …)."""
        return key or ""
