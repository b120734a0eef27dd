"""What the pages and API clients need to know to show names, not ids: the deployment's grid tree,
categories, deliberation templates, vote bodies and the closed vocabularies, each named in Chinese and
in English — readable without an account (they hold nothing personal), rate-limited like the other
public routes — and the staff directory, for signed-in staff only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.rest.common import After
from api.rest.public import Public
from api.web.deps import RuntimeDep, Staff
from domain.account import Account
from domain.deployment import Cell, Deployment
from domain.templates import TEMPLATES, Step, Template
from domain.vocabulary import CELL_LEVELS, ROLES, STAGES, TRACKS, VOCABULARIES, Name
from domain.votes import VOTE_RULES, VoteRule
from projections import queries

PREFIX = "/api/v1/deployment"
router = APIRouter(prefix=PREFIX, tags=["deployment"])
# The routes readable without an account are tagged "public" too: documented as rate-limited (429).


class Names(BaseModel):
    """A name in Simplified Chinese (the default) and in English: show the one of the page's language."""

    zh: str = Field(examples=["东村"])
    en: str = Field(examples=["Dongcun Village"])

    @classmethod
    def of(cls, name: Name) -> Names:
        return cls(zh=name.zh, en=name.en)


class Links(BaseModel):
    cells: str
    categories: str
    templates: str
    vote_bodies: str
    vocabulary: str
    staff: str


class DeploymentInfo(BaseModel):
    """The deployment: its name, time zone (times people read are shown in it) and periods."""

    title: Names
    timezone: str = Field(examples=["Asia/Shanghai"], description="IANA time zone name")
    notice_days: int = Field(description="公示期: days a public notice stays up")
    feedback_days: int = Field(description="days a resident has to give feedback on a closed case")
    visit_cadence_days: dict[str, int] = Field(description="household category → days between visits")
    root_cell: str
    links: Links


class GridCell(BaseModel):
    """A grid cell (网格) and the cells below it."""

    id: str = Field(examples=["qingshui.dongcun"])
    title: Names
    level: str = Field(examples=["village"])
    level_name: Names
    parent: str | None
    children: list[GridCell]


class Deadlines(BaseModel):
    first_response_hours: int
    direct_resolution_days: int
    deliberation_step_days: int
    deliberation_total_days: int


class CategoryInfo(BaseModel):
    """A category of demand: its track, and for the deliberation track the template it follows."""

    key: str = Field(examples=["public_works"])
    title: Names
    track: str = Field(examples=["deliberation"])
    track_name: Names
    template: str | None = Field(description="the deliberation template; null on the direct track")
    deadlines: Deadlines


class StepInfo(BaseModel):
    key: str = Field(examples=["branch_proposal"])
    kind: str = Field(description="discussion, vote or notice")
    title: Names
    may_return: bool = Field(description="a discussion that may send the matter back (a new round)")
    vote_bodies: list[str] = Field(description="who may decide a vote step")
    notice_kind: str | None = Field(description="what a notice step makes public")


class TemplateInfo(BaseModel):
    """A deliberation template (议事规则): its steps in order; after them the case is carried out
    (`implementation`), and some templates then make the result public."""

    key: str = Field(examples=["four_deliberations_two_disclosures"])
    title: Names
    steps: list[StepInfo]
    implementation: Names
    result_notice: Names | None = Field(description="the result notice after implementation, if the "
                                                    "template has one")


class VoteBodyInfo(BaseModel):
    """A voting body and its statute rule in words (the domain computes every outcome by it)."""

    key: str = Field(examples=["representatives"])
    name: Names
    quorum: Names
    majority: Names


class Grant(BaseModel):
    role: str
    role_name: Names
    cell_id: str
    cell: Names


class StaffMember(BaseModel):
    username: str
    display_name: str
    active: bool = Field(description="holds a role (an account whose roles were all revoked can do nothing)")
    grants: list[Grant]


def _tree(cell: Cell, below: dict[str | None, list[Cell]]) -> GridCell:
    return GridCell(id=cell.id, title=Names.of(cell.title), level=cell.level,
                    level_name=Names.of(CELL_LEVELS[cell.level]), parent=cell.parent,
                    children=[_tree(child, below) for child in below.get(cell.id, [])])


def _step(step: Step) -> StepInfo:
    return StepInfo(key=step.key, kind=step.kind, title=Names.of(step.title), may_return=step.may_return,
                    vote_bodies=list(step.vote_bodies), notice_kind=step.notice_kind or None)


def _template(template: Template) -> TemplateInfo:
    return TemplateInfo(key=template.key, title=Names.of(template.title),
                        steps=[_step(s) for s in template.steps],
                        implementation=Names.of(STAGES["implementation"]),
                        result_notice=Names.of(STAGES["result_notice"]) if template.result_notice else None)


def _vote_body(rule: VoteRule) -> VoteBodyInfo:
    return VoteBodyInfo(key=rule.body, name=Names.of(rule.name), quorum=Names.of(rule.quorum),
                        majority=Names.of(rule.majority))


@router.get("", tags=["public"])
def deployment(rt: Public) -> DeploymentInfo:
    """The deployment's name in both languages, its time zone and periods, and where to read the rest."""
    d = rt.app.deployment
    return DeploymentInfo(
        title=Names.of(d.title), timezone=d.timezone, notice_days=d.notice_days,
        feedback_days=d.feedback_days, visit_cadence_days=d.visit_cadence_days, root_cell=d.root.id,
        links=Links(cells=f"{PREFIX}/cells", categories=f"{PREFIX}/categories",
                    templates=f"{PREFIX}/templates", vote_bodies=f"{PREFIX}/vote-bodies",
                    vocabulary=f"{PREFIX}/vocabulary", staff=f"{PREFIX}/staff"))


@router.get("/cells", tags=["public"])
def cells(rt: Public) -> list[GridCell]:
    """The grid tree: each cell with its name, level and the cells below it (the top cells here)."""
    below: dict[str | None, list[Cell]] = {}
    for cell in rt.app.deployment.cells.values():
        below.setdefault(cell.parent, []).append(cell)
    return [_tree(top, below) for top in below.get(None, [])]


@router.get("/categories", tags=["public"])
def categories(rt: Public) -> list[CategoryInfo]:
    """The categories of demand: names, track, template and deadline policy."""
    return [CategoryInfo(key=c.key, title=Names.of(c.title), track=c.track,
                         track_name=Names.of(TRACKS[c.track]),
                         template=c.template if c.track == "deliberation" else None,
                         deadlines=Deadlines(**c.deadlines.__dict__))
            for c in rt.app.deployment.categories.values()]


@router.get("/templates", tags=["public"])
def templates(rt: Public) -> list[TemplateInfo]:
    """The deliberation templates (四议两公开, 六步议事): their steps in order, named in both languages."""
    return [_template(t) for t in TEMPLATES.values()]


@router.get("/vote-bodies", tags=["public"])
def vote_bodies(rt: Public) -> list[VoteBodyInfo]:
    """The voting bodies and the statute rule of each: who must be present, and how many in favour."""
    return [_vote_body(rule) for rule in VOTE_RULES.values()]


@router.get("/vocabulary", tags=["public"])
def vocabulary(rt: Public) -> dict[str, dict[str, Names]]:
    """The names of every closed vocabulary (statuses, closing outcomes, ratings, channels, notice kinds,
    vote outcomes, household categories, visit purposes, roles, cell levels...): key → names."""
    return {name: {key: Names.of(n) for key, n in words.items()} for name, words in VOCABULARIES.items()}


def directory_cells(deployment: Deployment, account: Account) -> set[str] | None:
    """The cells whose staff `account` sees in the directory: those it may read (below its grants) and
    those above its grants (a worker sees her supervisor); None for an administrator, who sees everyone
    (accounts with no role too)."""
    if any(role == "admin" for role, _ in account.grants):
        return None
    cells: set[str] = set()
    for _, cell in account.grants:
        cells.update(deployment.subtree(cell), deployment.ancestors(cell))
    return cells


def _cell_name(deployment: Deployment, cell_id: str) -> Names:
    cell = deployment.cells.get(cell_id)  # a grant over a cell the deployment file no longer has: its id
    return Names.of(cell.title) if cell else Names(zh=cell_id, en=cell_id)


def _member(deployment: Deployment, member: dict[str, Any]) -> StaffMember:
    return StaffMember(username=member["username"], display_name=member["display_name"],
                       active=member["active"],
                       grants=[Grant(role=role, role_name=Names.of(ROLES[role]), cell_id=cell,
                                     cell=_cell_name(deployment, cell)) for role, cell in member["grants"]])


@router.get("/staff")
def staff(rt: RuntimeDep, actor: Staff, after: After = None,
          covering: Annotated[str | None, Query(max_length=100, description=(
              "only those who may work on a case in this cell (hold a worker's or supervisor's role over it "
              "or above it): whom such a case may be assigned to"))] = None) -> list[StaffMember]:
    """The staff directory: user name, display name, roles over cells. Staff see the accounts holding a role
    in their cells or above them; administrators see every account."""
    rt.wait_for_views(after, ["staff"])
    d = rt.app.deployment
    with rt.reader.connect() as conn:
        found = queries.staff_directory(conn, cells=directory_cells(d, actor))
        if covering is not None:
            may_work = {m["username"] for m in queries.staff_covering(conn, d, [d.cell(covering).id])}
            found = [m for m in found if m["username"] in may_work]
    return [_member(d, m) for m in found]
