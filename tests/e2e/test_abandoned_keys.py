"""An Idempotency-Key claimed by a request that died (the process was killed mid-request) is taken
over by a retry once its lease has run out, and the command is recorded exactly once in the end.

The claim is left as a killed process leaves it: a row with no response, claimed a while ago. Whether
the dead request had recorded its command is decided here by recording it (or not) under the key
through the Application, as the dead request would have."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx2
import orjson
from sqlalchemy import insert

from api.rest.written import VoteRecorded
from api.rest.written import answer as answer_of
from api.web.idempotency import digest, requests
from domain.request import request_record_id
from tests.e2e import support as s
from tests.e2e.support import Api

LEASE_SECONDS = 30
NOTE = orjson.dumps({"text": "已电话联系居民 Called the resident"})
KEY = "note-after-crash"


def note_path(case: UUID) -> str:
    return f"/api/v1/demands/{case}/note"


def staff_scope(api: Api, who: str = s.WORKER) -> str:
    """The scope a member of staff's keys are kept under: their token."""
    return digest(api.headers(who)["Authorization"])


def public_scope(path: str) -> str:
    """The scope of a token-less request's keys: its client (the test client's is "testclient") and route."""
    return digest(f"public:testclient:{path}")


def abandon_claim(api: Api, path: str, body: bytes, *, claimed_ago: timedelta, scope: str | None = None,
                  key: str = KEY) -> None:
    """Leave the claim a request killed mid-flight leaves: claimed `claimed_ago`, no response stored."""
    with api.runtime.writer.begin() as conn:
        conn.execute(insert(requests).values(
            scope=scope or staff_scope(api), key=key, fingerprint=digest("POST", path, body),
            created_at=datetime.now(UTC) - claimed_ago))


def send(api: Api, path: str, body: bytes, who: str = s.WORKER, key: str = KEY) -> httpx2.Response:
    return api.client.post(path, content=body, headers=api.headers(
        who, **{"Content-Type": "application/json", "Idempotency-Key": key}))


def test_a_retry_takes_over_a_dead_requests_claim_and_records_the_command_once(api: Api) -> None:
    case = s.raised(api.app)
    abandon_claim(api, note_path(case), NOTE, claimed_ago=timedelta(seconds=LEASE_SECONDS + 5))
    retried = send(api, note_path(case), NOTE)
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert api.event_types(case) == ["Raised", "NoteAdded"]
    again = send(api, note_path(case), NOTE)
    assert (again.status_code, again.content) == (200, retried.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_a_retry_of_a_dead_request_that_had_recorded_its_command_records_nothing_new(api: Api) -> None:
    case = s.raised(api.app)
    dead = api.app.once(request_record_id(staff_scope(api), KEY),
                        lambda: api.app.add_note(case, actor=s.WORKER, **orjson.loads(NOTE)))
    abandon_claim(api, note_path(case), NOTE, claimed_ago=timedelta(seconds=LEASE_SECONDS + 5))
    retried = send(api, note_path(case), NOTE)
    assert retried.status_code == 200, retried.text
    assert retried.headers["idempotent-replayed"] == "true"
    answer = retried.json()
    assert (answer["id"], answer["version"]) == (str(case), dead.version)
    assert answer["position"] >= dead.position  # reading ?after= it shows the note
    assert api.event_types(case) == ["Raised", "NoteAdded"]
    assert send(api, note_path(case), NOTE).content == retried.content


def test_a_dead_public_raise_taken_over_answers_with_the_receipt_of_the_one_demand_recorded(api: Api) -> None:
    path = "/api/v1/public/demands"
    body = orjson.dumps({"title": "路灯不亮 Street light out", "cell_id": s.CELL})
    abandon_claim(api, path, body, claimed_ago=timedelta(seconds=LEASE_SECONDS + 5), scope=public_scope(path))
    taken_over = send(api, path, body, who=s.NO_TOKEN)
    assert taken_over.status_code == 201, taken_over.text
    listed = api.get("/api/v1/demands", after=taken_over.json()["position"]).json()
    assert [item["receipt"] for item in listed["items"]] == [taken_over.json()["receipt"]]


def test_a_claim_younger_than_its_lease_still_answers_request_in_progress(api: Api) -> None:
    case = s.raised(api.app)
    abandon_claim(api, note_path(case), NOTE, claimed_ago=timedelta(seconds=1))
    response = send(api, note_path(case), NOTE)
    assert (response.status_code, s.problem_type(response)) == (409, "/problems/request-in-progress")
    assert int(response.headers["retry-after"]) >= 1
    assert api.event_types(case) == ["Raised"]


def test_a_claim_is_taken_over_after_the_lease_the_settings_give(start_api: Callable[..., Api]) -> None:
    api = start_api(idempotency_lease_seconds=2)
    case = s.raised(api.app)
    abandon_claim(api, note_path(case), NOTE, claimed_ago=timedelta(seconds=3))
    assert send(api, note_path(case), NOTE).status_code == 200
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_of_several_retries_taking_over_the_same_dead_claim_at_once_one_wins_and_one_event_is_recorded(
        api: Api) -> None:
    case = s.raised(api.app)
    abandon_claim(api, note_path(case), NOTE, claimed_ago=timedelta(seconds=LEASE_SECONDS + 5))
    threads = 6
    start = threading.Barrier(threads)

    def retry(_: int) -> httpx2.Response:
        start.wait(timeout=10)
        return send(api, note_path(case), NOTE)

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(retry, range(threads)))
    assert api.event_types(case) == ["Raised", "NoteAdded"]
    winners = [r for r in responses if r.status_code == 200 and "idempotent-replayed" not in r.headers]
    assert len(winners) == 1, [(r.status_code, r.headers.get("idempotent-replayed")) for r in responses]
    others = [r for r in responses if r is not winners[0]]
    assert all(r.status_code == 409 or r.content == winners[0].content for r in others)


def test_the_record_of_a_keyed_command_is_in_no_case_history_and_the_log_still_verifies(api: Api) -> None:
    case = s.raised(api.app)
    done = send(api, note_path(case), NOTE, key="note-1").json()
    assert api.event_types(case) == ["Raised", "NoteAdded"]
    listed = api.get("/api/v1/demands", after=done["position"]).json()  # the views passed the record by
    assert [item["id"] for item in listed["items"]] == [str(case)]
    record = request_record_id(staff_scope(api), "note-1")
    assert api.get(f"/api/v1/demands/{record}/history").status_code == 404
    assert api.app.verify().intact


def test_a_retry_of_a_dead_vote_answers_what_that_vote_left_though_the_case_moved_on(api: Api) -> None:
    case = s.awaiting_vote(api.app)
    path = f"/api/v1/demands/{case}/vote"
    body = orjson.dumps(s.ADOPTING_VOTE | {"in_favour": 10, "against": 12})
    dead = api.app.once(request_record_id(staff_scope(api), KEY),
                        lambda: api.app.vote(case, actor=s.WORKER, **orjson.loads(body)))
    api.app.add_note(case, actor=s.WORKER, text="表决未通过，下一轮重新提议")  # the case moved on meanwhile
    abandon_claim(api, path, body, claimed_ago=timedelta(seconds=LEASE_SECONDS + 5))
    retried = send(api, path, body)
    assert retried.status_code == 200, retried.text
    answer = retried.json()
    assert (answer["version"], answer["vote"]["outcome"]) == (dead.version, "rejected")
    assert answer | {"position": dead.position} == orjson.loads(answer_of(VoteRecorded.of(dead)).body)
    assert api.event_types(case).count("Voted") == 1
