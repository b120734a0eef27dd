"""A domain error reads in the request's language: its title and message, times in the deployment's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

import pytest

from api import i18n
from api.names import Names
from api.pages.forms import rejection_of
from api.web.errors import described
from domain import errors
from domain.application import Minqing
from domain.deployment import load

DEPLOYMENT = load("village_township")  # its zone: Asia/Shanghai


def refusal(action: Callable[[], object]) -> errors.DomainError:
    with pytest.raises(errors.DomainError) as raised:
        action()
    return raised.value


def test_a_closed_case_refuses_a_note_in_chinese_and_in_english(app: Minqing, resolved_repair: UUID) -> None:
    error = refusal(lambda: app.add_note(resolved_repair, actor="wang.worker", text="again"))
    assert isinstance(error, errors.CaseClosed)
    with i18n.speaking("zh_CN"):
        assert described(error, DEPLOYMENT) == ("案件已办结，如需继续办理请先重新办理。",
                                          f"案件 {resolved_repair} 已办结（已解决），请先重新办理")
    with i18n.speaking("en"):
        assert described(error, DEPLOYMENT) == ("The case is closed; reopen it before working on it again.",
                                          f"case {resolved_repair} is closed (resolved); reopen it first")
    assert error.message == f"case {resolved_repair} is closed (resolved); reopen it first"


def test_a_time_in_a_message_reads_in_the_deployment_zone_and_the_locale() -> None:
    error = errors.OccurredInFuture("{at} is in the future", at=datetime(2026, 11, 30, 4, 45, tzinfo=UTC))
    assert error.message == "2026-11-30T04:45:00+00:00 is in the future"
    with i18n.speaking("zh_CN"):
        assert described(error, DEPLOYMENT)[1] == "2026年11月30日 12:45 尚未到来"
    with i18n.speaking("en"):
        assert described(error, DEPLOYMENT)[1] == "30 Nov 2026, 12:45 is in the future"


def test_a_refused_form_shows_the_translated_message_beside_its_field(app: Minqing,
                                                                      repair_in_progress: UUID) -> None:
    error = refusal(lambda: app.assign(repair_in_progress, actor="wang.worker", assignee="nobody"))
    with i18n.speaking("zh_CN"):
        rejection = rejection_of(error, {"assignee": "nobody"}, DEPLOYMENT)
    assert rejection.fields == {"assignee": "nobody 不是 东村一组 的网格员或督办负责人"}
    assert (rejection.message, rejection.status, rejection.values) == (
        rejection.fields["assignee"], 422, {"assignee": "nobody"})


def test_a_time_at_the_end_of_the_calendar_is_shown_as_sent() -> None:
    end = datetime.fromisoformat("9999-12-31T23:59:59-14:00")
    error = errors.OccurredInFuture("{at} is in the future", at=end)
    with i18n.speaking("zh_CN"):
        assert described(error, DEPLOYMENT)[1] == "9999-12-31T23:59:59-14:00 尚未到来"


def test_words_of_the_vocabulary_in_a_message_are_named_in_the_locale() -> None:
    error = errors.VoteBodyNotAllowed("step {step} is voted by {bodies}, not {body}",
                                      step="resolution_vote", bodies=("representatives", "assembly"),
                                      body="residents_representatives")
    assert error.message == ("step resolution_vote is voted by representatives, assembly, "
                             "not residents_representatives")
    with i18n.speaking("en"):
        english = described(error, DEPLOYMENT)[1]
    with i18n.speaking("zh_CN"):
        chinese = described(error, DEPLOYMENT)[1]
    assert "resolution_vote" not in english + chinese and "assembly" not in chinese
    assert "villagers' resolution" in english and " or " in english
    assert "村民代表会议或村民会议决议" in chinese and "或" in chinese
    missing = errors.NotFound("no {kind} {id}", kind="Household", id="h-1")
    with i18n.speaking("zh_CN"):
        assert "住户" in described(missing, DEPLOYMENT)[1]
    with i18n.speaking("en"):
        assert described(missing, DEPLOYMENT)[1] == "no household h-1"


def test_several_words_of_a_vocabulary_read_as_one_phrase_in_each_language() -> None:
    names = Names(DEPLOYMENT)
    with i18n.speaking("zh_CN"):
        assert names.terms("notice_channel", ["notice_board", "loudspeaker", "sms"]) == "公开栏、广播和短信"
    with i18n.speaking("en"):
        assert names.terms("notice_channel", ["notice_board", "loudspeaker"]) == \
            "notice board and loudspeaker"
