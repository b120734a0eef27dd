"""What residents reach without an account; none of it ever shows a name or a phone number."""

from __future__ import annotations

from uuid import UUID

import httpx2

from tests.e2e import support as s
from tests.e2e.support import Api

PUBLIC_DEMAND = {"title": "东村一组路灯不亮 Street lights out", "cell_id": s.CELL, "description": "晚上很黑",
                 "resident_name": s.RESIDENT_NAME, "resident_phone": s.RESIDENT_PHONE}


def shows_no_personal_data(response: httpx2.Response) -> bool:
    text = response.text + "".join(f"{k}: {v}" for k, v in response.headers.items())
    return s.RESIDENT_NAME not in text and s.RESIDENT_PHONE not in text and "138****" not in text


def raise_online(api: Api) -> tuple[str, UUID]:
    """(receipt, case id) of a demand raised through the public form."""
    raised = api.post("/api/v1/public/demands", PUBLIC_DEMAND, s.NO_TOKEN).json()
    found = api.get("/api/v1/demands", after=raised["position"]).json()["items"]
    return raised["receipt"], UUID(found[0]["id"])


def test_a_resident_raising_a_demand_online_gets_a_receipt_and_no_personal_data_back(api: Api) -> None:
    response = api.post("/api/v1/public/demands", PUBLIC_DEMAND, s.NO_TOKEN)
    assert response.status_code == 201
    receipt = response.json()["receipt"]
    # where it stands, and no case id
    assert set(response.json()) == {"receipt", "position", "status", "current_step", "raised_at"}
    assert len(receipt) == 10
    assert response.headers["location"] == f"/api/v1/public/demands/{receipt}"
    assert shows_no_personal_data(response)


def test_a_demand_raised_online_is_recorded_as_the_residents_with_their_contact_details(api: Api) -> None:
    _, case = raise_online(api)
    demand = api.app.demand(case)
    assert (demand.channel, demand.raised_by) == ("online", "resident")
    assert (demand.resident_name, demand.resident_phone) == (s.RESIDENT_NAME, s.RESIDENT_PHONE)


def test_a_resident_follows_a_demand_by_its_receipt_without_seeing_personal_data(api: Api) -> None:
    receipt, case = raise_online(api)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    response = api.get(f"/api/v1/public/demands/{receipt}", s.NO_TOKEN)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in ("receipt", "category", "status")} == {
        "receipt": receipt, "category": "repairs", "status": "in_progress"}
    assert shows_no_personal_data(response)


def test_a_receipt_is_found_whatever_its_letter_case(api: Api) -> None:
    receipt, _ = raise_online(api)
    assert api.get(f"/api/v1/public/demands/{receipt.lower()}", s.NO_TOKEN).status_code == 200


def test_an_unknown_receipt_is_a_404(api: Api) -> None:
    response = api.get("/api/v1/public/demands/NOSUCHCODE", s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (404, "/problems/not-found")


def test_a_resident_gives_feedback_by_receipt_once_the_demand_is_resolved(api: Api) -> None:
    receipt, case = raise_online(api)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    api.app.resolve(case, actor=s.WORKER, summary="灯已修好")
    response = api.post(f"/api/v1/public/demands/{receipt}/feedback",
                        {"rating": "satisfied", "comment": "谢谢"}, s.NO_TOKEN)
    assert response.status_code == 200, response.text
    assert shows_no_personal_data(response)
    given = api.app.history(case)[-1]
    assert (given.type, given.actor, given.data["rating"]) == ("FeedbackGiven", "resident", "satisfied")


def test_feedback_on_a_demand_not_yet_resolved_is_refused(api: Api) -> None:
    receipt, _ = raise_online(api)
    response = api.post(f"/api/v1/public/demands/{receipt}/feedback", {"rating": "satisfied"}, s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (409, "/problems/feedback-not-expected")
    assert shows_no_personal_data(response)


def test_the_notice_board_shows_notices_still_up_without_personal_data(api: Api) -> None:
    case = s.notice_up(api.app)
    api.runtime.wait_for_views(api.head(), ["notice_board"])
    response = api.get("/api/v1/notices", s.NO_TOKEN)
    assert response.status_code == 200
    notices = response.json()["items"]
    assert [(n["case_id"], n["notice_id"], n["kind"], n["text"]) for n in notices] == [
        (str(case), "resolution-1-1", "resolution", "决议 安装路灯12盏 Twelve street lights")]
    assert "history_digest" not in notices[0]  # a digest over personal data nobody outside could check
    assert shows_no_personal_data(response)


def test_no_public_response_ever_shows_a_name_or_phone_number(api: Api) -> None:
    receipt, case = raise_online(api)
    s.notice_up(api.app)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    api.app.resolve(case, actor=s.WORKER, summary="灯已修好")
    api.runtime.wait_for_views(api.head())
    responses = [
        api.get("/api/v1/notices", s.NO_TOKEN),
        api.get(f"/api/v1/public/demands/{receipt}", s.NO_TOKEN),
        api.post(f"/api/v1/public/demands/{receipt}/feedback", {"rating": "dissatisfied"}, s.NO_TOKEN),
        api.post(f"/api/v1/public/demands/{receipt}/feedback", {"rating": "dissatisfied"}, s.NO_TOKEN),
        api.post("/api/v1/public/demands", PUBLIC_DEMAND | {"cell_id": "nowhere"}, s.NO_TOKEN),
        api.post("/api/v1/public/demands", PUBLIC_DEMAND | {"resident_phone": "1" * 31}, s.NO_TOKEN),
    ]
    assert [r.status_code for r in responses] == [200, 200, 200, 409, 422, 422]
    assert [r for r in responses if not shows_no_personal_data(r)] == []


def test_a_resident_may_not_raise_a_demand_in_a_closed_channel(api: Api) -> None:
    response = api.post("/api/v1/public/demands", PUBLIC_DEMAND | {"channel": "visit"}, s.NO_TOKEN)
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-request")


def test_too_many_public_requests_from_one_client_are_refused_for_a_while(start_api) -> None:
    api = start_api(public_requests_per_minute=5)
    statuses = [api.get("/api/v1/notices", s.NO_TOKEN).status_code for _ in range(5)]
    refused = api.post("/api/v1/public/demands", PUBLIC_DEMAND, s.NO_TOKEN)
    assert statuses == [200] * 5
    assert (refused.status_code, s.problem_type(refused)) == (429, "/problems/rate-limited")
    # a full minute weighs on the next one too (the limit counts the last 60 s): at most two minutes
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    assert api.get("/api/v1/demands", s.WORKER).status_code == 200   # staff routes are not limited


def test_a_residents_progress_page_links_each_notice_of_the_case_to_its_verify_page(api: Api) -> None:
    case = s.notice_up(api.app)
    receipt = api.app.demand(case).receipt
    page = api.get(f"/track/{receipt}", s.NO_TOKEN, headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert f'href="/notices/{case}/resolution-1-1/verify">校验</a>' in page.text
