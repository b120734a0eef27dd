"""A resident objects to a notice without an account and reads the answer by the objection's receipt; the
notice board's ended notices; the public timeline of a demand. Nothing public shows a name or a phone."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import httpx2

from domain.application import Minqing
from tests.e2e import support as s
from tests.e2e.support import Api
from tests.e2e.test_public import raise_online, shows_no_personal_data

OBJECTOR_PHONE = "13712345678"
OBJECTION = {"text": "路灯离我家窗户太近 The lamp is too close", "phone": OBJECTOR_PHONE}


def object_to(api: Api, case: UUID, body: dict[str, str] | None = None,
              notice_id: str = "resolution-1-1") -> httpx2.Response:
    return api.post(f"/api/v1/public/notices/{case}/{notice_id}/objections", body or OBJECTION, s.NO_TOKEN)


def notice_taken_down(app: Minqing, text: str = "决议 已结束的公示") -> UUID:
    """A case whose resolution notice ran from ten days ago to three days ago, and was taken down."""
    case = s.raised(app, occurred_at=s.ago(days=12))
    app.triage(case, actor=s.WORKER, category="public_works", occurred_at=s.ago(days=11))
    for step in s.DELIBERATION_STEPS:
        app.discuss(case, actor=s.WORKER, step=step, occurred_at=s.ago(days=11))
    app.vote(case, actor=s.WORKER, **s.ADOPTING_VOTE, occurred_at=s.ago(days=11))
    app.publicize(case, actor=s.WORKER, kind="resolution", text=text, occurred_at=s.ago(days=10))
    app.end_notice(case, notice_id="resolution-1-1")
    return case


def nothing_personal(response: httpx2.Response) -> bool:
    return shows_no_personal_data(response) and OBJECTOR_PHONE not in response.text \
        and "****5678" not in response.text


def test_a_resident_objects_to_a_notice_and_gets_a_receipt_and_no_personal_data_back(api: Api) -> None:
    case = s.notice_up(api.app)
    response = object_to(api, case)
    assert response.status_code == 201, response.text
    receipt = response.json()["receipt"]
    assert (len(receipt), response.headers["location"]) == (10, f"/api/v1/public/objections/{receipt}")
    assert nothing_personal(response)
    lodged = api.app.history(case)[-1]
    assert (lodged.type, lodged.actor, lodged.data["phone"], lodged.data["receipt"]) == (
        "ObjectionLodged", "resident", OBJECTOR_PHONE, receipt)


def test_staff_read_the_objectors_phone_and_reviewers_read_it_masked(api: Api) -> None:
    case = s.notice_up(api.app)
    object_to(api, case)
    seen_by = {who: api.get(f"/api/v1/demands/{case}/history", who).json()[-1]["data"]["phone"]
               for who in (s.WORKER, s.REVIEWER)}
    assert seen_by == {s.WORKER: OBJECTOR_PHONE, s.REVIEWER: "*******5678"}


def test_the_answer_is_read_by_the_objections_receipt_once_a_supervisor_gives_it(api: Api) -> None:
    case = s.notice_up(api.app)
    receipt = object_to(api, case).json()["receipt"]
    waiting = api.get(f"/api/v1/public/objections/{receipt.lower()}", s.NO_TOKEN)
    assert waiting.status_code == 200, waiting.text
    assert {k: waiting.json()[k] for k in ("receipt", "notice_kind", "cell_id", "answered", "answer")} == {
        "receipt": receipt, "notice_kind": "resolution", "cell_id": s.CELL, "answered": False, "answer": None}
    api.app.answer_objection(case, actor=s.SUPERVISOR, objection_id="objection-1",
                             answer="已与施工方商定，路灯移到路对面。请致电13800001234")
    api.runtime.wait_for_views(api.head(), ["objections"])
    answered = api.get(f"/api/v1/public/objections/{receipt}", s.NO_TOKEN)
    assert (answered.json()["answered"], answered.json()["answer"]) == (
        True, "已与施工方商定，路灯移到路对面。请致电*******1234")
    assert answered.json()["notice_text"] == "决议 安装路灯12盏 Twelve street lights"
    assert nothing_personal(waiting) and nothing_personal(answered)


def test_an_objection_needs_its_text_and_a_phone_that_is_a_number(api: Api) -> None:
    case = s.notice_up(api.app)
    refused = [object_to(api, case, body) for body in (
        {"text": "没有电话"}, {"text": "电话不对", "phone": "打我电话"},
        {"text": "", "phone": OBJECTOR_PHONE})]
    assert [(r.status_code, s.problem_type(r)) for r in refused] == [(422, "/problems/invalid-request")] * 3
    assert api.event_types(case)[-1] == "Publicized"


def test_a_phone_typed_with_spaces_and_hyphens_is_kept_as_its_digits(api: Api) -> None:
    case = s.notice_up(api.app)
    object_to(api, case, {"text": "有异议", "phone": "137 1234-5678"})
    assert api.app.history(case)[-1].data["phone"] == OBJECTOR_PHONE


def test_an_objection_to_a_notice_the_case_does_not_have_is_a_404(api: Api) -> None:
    case = s.notice_up(api.app)
    response = object_to(api, case, notice_id="resolution-9-9")
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")
    unknown = api.get("/api/v1/public/objections/NOSUCHCODE", s.NO_TOKEN)
    assert (unknown.status_code, s.problem_type(unknown)) == (404, "/problems/not-found")


def test_an_objection_after_the_notice_was_taken_down_is_refused(api: Api) -> None:
    case = notice_taken_down(api.app)
    response = object_to(api, case)
    assert (response.status_code, s.problem_type(response)) == (409, "/problems/notice-period-over")


def test_too_many_objections_from_one_phone_are_refused_in_the_residents_language(
        start_api: Callable[..., Api]) -> None:
    api = start_api(objections_per_phone_per_day=2)
    case = s.notice_up(api.app)
    statuses = [object_to(api, case).status_code for _ in range(2)]
    refused = api.post(f"/api/v1/public/notices/{case}/resolution-1-1/objections", OBJECTION, s.NO_TOKEN,
                       headers={"Accept-Language": "zh-CN"})
    assert statuses == [201, 201]
    assert (refused.status_code, s.problem_type(refused)) == (429, "/problems/rate-limited")
    assert refused.json()["detail"] == "同一电话号码每天最多提出 2 条异议"
    assert int(refused.headers["retry-after"]) >= 1
    assert object_to(api, case, OBJECTION | {"phone": "13700000000"}).status_code == 201  # another phone may


def test_too_many_objections_from_one_address_are_refused_whatever_the_phone(
        start_api: Callable[..., Api]) -> None:
    api = start_api(objections_per_address_per_hour=2)
    case = s.notice_up(api.app)
    statuses = [object_to(api, case, OBJECTION | {"phone": f"1370000000{n}"}).status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    assert api.event_types(case).count("ObjectionLodged") == 2


def test_ended_notices_are_listed_apart_from_those_still_up(api: Api) -> None:
    ended = notice_taken_down(api.app)
    up = s.notice_up(api.app)
    api.runtime.wait_for_views(api.head(), ["notice_board"])
    listed = {flag: [n["case_id"] for n in api.get("/api/v1/notices", s.NO_TOKEN, ended=flag).json()["items"]]
              for flag in ("false", "true")}
    assert listed == {"false": [str(up)], "true": [str(ended)]}


def test_the_public_timeline_says_what_happened_and_when_never_who(api: Api) -> None:
    receipt, case = raise_online(api)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    api.app.assign(case, actor=s.WORKER, assignee=s.WORKER)
    api.app.add_note(case, actor=s.WORKER, text=f"给{s.RESIDENT_NAME}打了电话")
    api.app.resolve(case, actor=s.WORKER, summary="灯已修好，有问题请打13800001234")
    response = api.get(f"/api/v1/public/demands/{receipt}", s.NO_TOKEN)
    timeline = response.json()["timeline"]
    assert [step["what"] for step in timeline] == ["Raised", "Triaged", "Resolved", "FeedbackAsked"]
    assert timeline[2]["summary"] == "灯已修好，有问题请打*******1234"
    assert s.WORKER not in response.text and "actor" not in response.text
    assert shows_no_personal_data(response)
