"""Writes over HTTP: If-Match, Idempotency-Key, and commands racing each other."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

import pytest

from domain.demand import Demand
from tests.e2e import support as s
from tests.e2e.support import Api

NOTE = {"text": "已电话联系居民 Called the resident"}


def test_a_command_with_the_current_version_in_if_match_is_recorded(api: Api) -> None:
    case = s.raised(api.app)
    etag = api.get(f"/api/v1/demands/{case}").headers["etag"]
    response = api.command(case, "note", NOTE, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_a_command_with_a_stale_if_match_is_refused_and_records_nothing(api: Api) -> None:
    case = s.raised(api.app)
    api.app.add_note(case, actor=s.WORKER, text="someone else got there first")
    response = api.command(case, "triage", {"category": "repairs"}, headers={"If-Match": '"1"'})
    assert (response.status_code, s.problem_type(response)) == (409, "/problems/stale-version")
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_an_if_match_that_is_not_a_version_number_is_refused(api: Api) -> None:
    case = s.raised(api.app)
    response = api.command(case, "note", NOTE, headers={"If-Match": "yesterday"})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-input")
    assert api.event_types(case) == ["Raised"]


def test_a_retried_post_with_the_same_idempotency_key_returns_the_first_response_and_records_once(
        api: Api) -> None:
    case = s.raised(api.app)
    key = {"Idempotency-Key": "note-7f3a"}
    first = api.command(case, "note", NOTE, headers=key)
    retried = api.command(case, "note", NOTE, headers=key)
    assert (first.status_code, retried.status_code) == (200, 200)
    assert retried.content == first.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_a_retried_raise_returns_the_same_case_and_location(api: Api) -> None:
    body = {"channel": "phone", "title": "井盖丢失 Manhole cover missing", "cell_id": s.CELL}
    key = {"Idempotency-Key": "raise-1"}
    first = api.post("/api/v1/demands", body, headers=key)
    retried = api.post("/api/v1/demands", body, headers=key)
    assert (first.status_code, retried.status_code) == (201, 201)
    assert retried.json() == first.json()
    assert retried.headers["location"] == first.headers["location"] == f"/api/v1/demands/{first.json()['id']}"
    listed = api.get("/api/v1/demands", after=retried.json()["position"]).json()
    assert listed["total"] == 1


def test_the_same_idempotency_key_with_another_body_is_refused(api: Api) -> None:
    case = s.raised(api.app)
    key = {"Idempotency-Key": "note-1"}
    api.command(case, "note", NOTE, headers=key)
    response = api.command(case, "note", {"text": "a different note"}, headers=key)
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/idempotency-key-reused")
    assert api.event_types(case) == ["Raised", "NoteAdded"]


def test_an_idempotency_key_is_kept_per_caller(api: Api) -> None:
    case = s.raised(api.app)
    key = {"Idempotency-Key": "note-1"}
    mine = api.command(case, "note", NOTE, s.WORKER, key)
    theirs = api.command(case, "note", NOTE, s.SUPERVISOR, key)
    assert (mine.status_code, theirs.status_code) == (200, 200)
    assert "idempotent-replayed" not in theirs.headers
    assert api.event_types(case) == ["Raised", "NoteAdded", "NoteAdded"]


def test_a_refused_command_leaves_its_key_free_for_a_retry(api: Api) -> None:
    case = s.raised(api.app)
    key = {"Idempotency-Key": "resolve-1"}
    refused = api.command(case, "resolve", {"summary": "done"}, headers=key)
    api.app.triage(case, actor=s.WORKER, category="repairs")
    retried = api.command(case, "resolve", {"summary": "done"}, headers=key)
    assert (refused.status_code, s.problem_type(refused)) == (409, "/problems/not-triaged")
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert api.event_types(case) == ["Raised", "Triaged", "Resolved"]


def test_a_request_without_a_valid_token_leaves_no_trace_under_its_key(api: Api) -> None:
    case = s.raised(api.app)
    key = {"Idempotency-Key": "note-1"}
    anonymous = [api.command(case, "note", {"text": text}, s.NO_TOKEN, key) for text in ("甲", "乙")]
    assert [(r.status_code, s.problem_type(r)) for r in anonymous] == [(401, "/problems/unknown-actor")] * 2
    assert api.command(case, "note", NOTE, headers=key).status_code == 200


@pytest.mark.parametrize("key", ["", " ", "k" * 201])
def test_an_idempotency_key_must_be_1_to_200_characters(api: Api, key: str) -> None:
    case = s.raised(api.app)
    response = api.command(case, "note", NOTE, headers={"Idempotency-Key": key})
    assert (response.status_code, s.problem_type(response)) == (422, "/problems/invalid-idempotency-key")
    assert api.event_types(case) == ["Raised"]


def test_the_same_keyed_post_sent_by_several_threads_at_once_records_one_event(api: Api) -> None:
    case = s.raised(api.app)
    threads = 8
    start = threading.Barrier(threads)

    def send(_: int) -> Any:
        start.wait(timeout=10)
        return api.command(case, "note", NOTE, headers={"Idempotency-Key": "together"})

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(send, range(threads)))
    assert api.event_types(case) == ["Raised", "NoteAdded"]
    recorded = [r for r in responses if r.status_code == 200]
    waiting = [r for r in responses if r.status_code == 409]
    assert len(recorded) + len(waiting) == threads, [r.text for r in responses]
    assert {r.content for r in recorded} == {recorded[0].content}
    assert {s.problem_type(r) for r in waiting} <= {"/problems/request-in-progress"}


def test_two_notes_added_at_once_without_if_match_are_both_recorded_once(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both commands load the same version before either saves, so one loses and is retried."""
    case = s.raised(api.app)
    both_loaded = threading.Barrier(2)
    loads = itertools.count()
    load = api.app._load

    def load_together(cls: type, aggregate_id: UUID, expected_version: int | None = None) -> Any:
        aggregate = load(cls, aggregate_id, expected_version)
        if cls is Demand and next(loads) < 2:
            both_loaded.wait(timeout=10)
        return aggregate

    monkeypatch.setattr(api.app, "_load", load_together)
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda text: api.command(case, "note", {"text": text}), ["甲", "乙"]))
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    assert next(loads) == 3  # two loads that raced, and the loser's reload
    notes = [e.data["text"] for e in api.app.history(case) if e.type == "NoteAdded"]
    assert sorted(notes) == ["乙", "甲"]
    assert sorted(r.json()["version"] for r in responses) == [2, 3]


def test_a_conflict_with_if_match_goes_back_to_the_caller(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case = s.raised(api.app)
    both_loaded = threading.Barrier(2)
    load = api.app._load

    def load_together(cls: type, aggregate_id: UUID, expected_version: int | None = None) -> Any:
        aggregate = load(cls, aggregate_id, expected_version)
        both_loaded.wait(timeout=10)
        return aggregate

    monkeypatch.setattr(api.app, "_load", load_together)
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda text: api.command(case, "note", {"text": text},
                                                           headers={"If-Match": "1"}), ["甲", "乙"]))
    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert s.problem_type(refused) == "/problems/concurrent-update"
    assert api.event_types(case) == ["Raised", "NoteAdded"]
