"""The names people read, in Chinese and English, for the closed vocabularies of the domain: each key
the domain accepts or records (a status, a channel, a rating...) with its `Name`. The words are
those of the glossary (/work/shared/GLOSSARY.md); pages pick `.zh` or `.en` by their locale.

Plain data: this module imports nothing of the domain, so every other module may use `Name`.
`tests/unit/test_vocabulary.py` checks that each key the domain knows has its names here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    """What a person reads for a thing, in Simplified Chinese (the default) and English."""

    zh: str
    en: str

    def in_(self, locale: str) -> str:
        """The name in `locale` ("zh_CN", "en", "en-GB"...): English for an English locale, else Chinese."""
        return self.en if locale.lower().startswith("en") else self.zh


def _names(**pairs: tuple[str, str]) -> dict[str, Name]:
    return {key: Name(zh, en) for key, (zh, en) in pairs.items()}


# A demand's status (domain.demand RAISED … CLOSED).
STATUSES = _names(
    raised=("已登记", "raised"),
    in_progress=("办理中", "in progress"),
    deliberating=("议事中", "in deliberation"),
    implementing=("实施中", "being carried out"),
    closed=("已办结", "closed"),
)

# A deliberation's stages after its template's steps: the step an implementing case is at, and the
# result notice of a template that makes the result public (四议两公开).
STAGES = _names(
    implementation=("组织实施", "implementation"),
    result_notice=("实施结果公开", "result made public"),
)

TRACKS = _names(
    direct=("直接办理", "direct handling"),
    deliberation=("民主议事（重大事项）", "deliberation (major matter)"),
)

# How a case was closed (domain.demand.ClosingOutcome).
CLOSING_OUTCOMES = _names(
    resolved=("已解决", "resolved"),
    not_resolvable=("暂不能解决（已说明）", "cannot be resolved (explained)"),
    withdrawn=("居民撤回", "withdrawn by the resident"),
    rejected=("表决未通过", "rejected by vote"),
    merged=("已合并", "merged into another case"),
)

# A case's deadlines (办理时限): to respond, to resolve (direct track), for the step awaited and for the
# whole deliberation.
DEADLINES = _names(
    first_response=("首次响应时限", "first response"),
    resolution=("办结时限", "resolution"),
    step=("本步骤时限", "current step"),
    deliberation=("议事总时限", "whole deliberation"),
)

RATINGS = _names(
    satisfied=("满意", "satisfied"),
    basically_satisfied=("基本满意", "basically satisfied"),
    dissatisfied=("不满意", "dissatisfied"),
)

# Where feedback on a closed case stands (Demand.feedback_state).
FEEDBACK_STATES = _names(
    asked=("征求评价", "feedback asked"),
    given=("已评价", "feedback given"),
    expired=("逾期未评价", "no answer in time"),
)

# How a demand reached the office (domain.deployment.Channel).
CHANNELS = _names(
    visit=("入户走访", "household visit"),
    reception_day=("接待日", "reception day"),
    phone=("电话", "phone"),
    online=("网上", "online"),
    open311=("第三方应用", "third-party app (Open311)"),
    delegate=("党代表", "party delegate"),
    message_box=("意见箱", "suggestion box"),
    grid_patrol=("网格巡查", "grid patrol"),
)

DISCUSSION_OUTCOMES = _names(
    endorsed=("同意", "endorsed"),
    returned=("退回重议", "returned"),
)

VOTE_OUTCOMES = _names(
    adopted=("通过", "adopted"),
    rejected=("未通过", "rejected"),
    invalid=("不足法定人数，表决无效", "invalid: no quorum"),
)

# The kind of a deliberation step (domain.templates DISCUSSION, VOTE, NOTICE).
STEP_KINDS = _names(
    discussion=("商议", "discussion"),
    vote=("表决", "vote"),
    notice=("公开", "public notice"),
)

# The kinds of record a command refers to (the aggregates), as an error names them.
RECORD_KINDS = _names(
    demand=("诉求", "demand"),
    household=("住户", "household"),
    visit=("走访", "household visit"),
    account=("账户", "account"),
)

NOTICE_KINDS = _names(
    draft=("方案公示", "draft notice"),
    resolution=("决议公开", "resolution notice"),
    result=("结果公开", "result notice"),
    rejection=("未通过公告", "rejection notice"),
)

NOTICE_CHANNELS = _names(
    notice_board=("公开栏", "notice board"),
    loudspeaker=("广播", "loudspeaker"),
    online=("网上", "online"),
    sms=("短信", "SMS"),
    wechat_group=("微信群", "WeChat group"),
)

HOUSEHOLD_CATEGORIES = _names(
    ordinary=("一般户", "ordinary"),
    minimum_living_allowance=("低保户", "minimum living allowance"),
    hardship=("困难户", "hardship"),
    elderly_alone=("孤寡老人", "elderly living alone"),
    disabled=("残疾人家庭", "household with a disabled member"),
    hospitalised=("住院", "hospitalised"),
    unemployed=("失业人员", "unemployed"),
)

VISIT_PURPOSES = _names(
    routine=("例行走访", "routine"),
    welfare_call=("慰问", "welfare call"),
    mediation=("调解", "mediation"),
    follow_up=("回访", "follow-up"),
)

VISIT_MODES = _names(
    in_home=("入户", "in the home"),
    phone=("电话", "by phone"),
    reception=("来访", "at reception"),
)

VISIT_STATES = _names(
    scheduled=("已安排", "scheduled"),
    conducted=("已走访", "done"),
    missed=("未走访", "missed"),
)

ROLES = _names(
    worker=("社区工作者 / 网格员", "community worker / grid worker"),
    supervisor=("督办负责人", "supervisor"),
    reviewer=("督查（问责审查）", "reviewer (accountability review)"),
    admin=("系统管理员", "administrator"),
)

# The levels of the grid (网格) that the deployments use, from the top down.
CELL_LEVELS = _names(
    district=("区（县）", "district"),
    township=("乡镇", "township"),
    street=("街道", "street office"),
    village=("行政村", "village"),
    villager_group=("村民小组", "villager group"),
    community=("社区", "community"),
    patch_1=("一级管片", "first-level patch"),
    patch_2=("二级管片", "second-level patch"),
    building=("楼栋", "building"),
)

VOCABULARIES: dict[str, dict[str, Name]] = {
    "statuses": STATUSES, "stages": STAGES, "tracks": TRACKS, "closing_outcomes": CLOSING_OUTCOMES,
    "ratings": RATINGS, "feedback_states": FEEDBACK_STATES, "channels": CHANNELS,
    "discussion_outcomes": DISCUSSION_OUTCOMES, "vote_outcomes": VOTE_OUTCOMES, "notice_kinds": NOTICE_KINDS,
    "notice_channels": NOTICE_CHANNELS, "household_categories": HOUSEHOLD_CATEGORIES,
    "visit_purposes": VISIT_PURPOSES, "visit_modes": VISIT_MODES, "visit_states": VISIT_STATES,
    "roles": ROLES, "cell_levels": CELL_LEVELS, "deadlines": DEADLINES, "step_kinds": STEP_KINDS,
    "record_kinds": RECORD_KINDS,
}
