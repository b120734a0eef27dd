"""Case commands are served by a lean path (api/lean.py) in front of their FastAPI routes; whatever the
request, the answer must be the one the route gives. Each request here goes to the API as it runs and
to the same API without the lean path, on the same database, each on a case of its own in the same
state; the answers must match but for the case's id, the log position and the request id."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

import httpx2
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.lean import CommandPosts
from api.settings import Settings
from domain.application import Minqing
from tests.e2e import support as s
from tests.e2e.support import Api

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def route_only(module_api: Api) -> Iterator[TestClient]:
    """The same API on the same database, with every command answered by its FastAPI route."""
    app = create_app(Settings(database_url=module_api.runtime.settings.database_url))
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CommandPosts]
    with TestClient(app) as client:
        yield client


def send(api: Api, client: TestClient, case: UUID | str, command: str, content: bytes, who: str,
         headers: dict[str, str]) -> httpx2.Response:
    return client.post(f"/api/v1/demands/{case}/{command}", content=content,
                       headers=api.headers(who, **headers))


def seen(response: httpx2.Response, case: UUID | str) -> tuple[int, dict[str, str], str]:
    """Status, headers and body as sent, with what differs between two cases in the same state taken out."""
    headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")}
    text = response.text.replace(str(case), "{case}").replace(str(case).lower(), "{case}")
    return response.status_code, headers, re.sub(r'"position":\d+', '"position":0', text)


def body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


NOTE = body({"text": "called the resident back"})
CHARSET, TEXT, PROBLEM = ({"Content-Type": t} for t in ("application/json; charset=utf-8", "text/plain",
                                                         "application/problem+json"))
LATER, NO_ZONE = ({"text": "x", "occurred_at": at} for at in ("2999-01-01T00:00:00+00:00",
                                                               "2026-03-01T10:00:00"))
REQUESTS: dict[str, tuple[Callable[[Minqing], UUID], str, bytes, str, dict[str, str]]] = {
    "a note": (s.raised, "note", NOTE, s.WORKER, JSON),
    "a note with If-Match": (s.raised, "note", NOTE, s.WORKER, JSON | {"If-Match": '"1"'}),
    "a note with a weak If-Match": (s.raised, "note", NOTE, s.WORKER, JSON | {"If-Match": 'W/"1"'}),
    "a note with a stale If-Match": (s.raised, "note", NOTE, s.WORKER, JSON | {"If-Match": "7"}),
    "a note with an If-Match not a version": (s.raised, "note", NOTE, s.WORKER, JSON | {"If-Match": "x"}),
    "a note with a charset": (s.raised, "note", NOTE, s.WORKER, CHARSET),
    "a note as text/plain": (s.raised, "note", NOTE, s.WORKER, TEXT),
    "a note without a content type": (s.raised, "note", NOTE, s.WORKER, {}),
    "a note as problem+json": (s.raised, "note", NOTE, s.WORKER, PROBLEM),
    "an empty body": (s.raised, "note", b"", s.WORKER, JSON),
    "a body that is not JSON": (s.raised, "note", b"{not json", s.WORKER, JSON),
    "a body that is not UTF-8": (s.raised, "note", b'{"text": "\xff"}', s.WORKER, JSON),
    "a list for a body": (s.raised, "note", b"[]", s.WORKER, JSON),
    "a body without its field": (s.raised, "note", b"{}", s.WORKER, JSON),
    "an unknown field": (s.raised, "note", body({"text": "x", "colour": "red"}), s.WORKER, JSON),
    "an empty note": (s.raised, "note", body({"text": ""}), s.WORKER, JSON),
    "a NUL character": (s.raised, "note", body({"text": "路\u0000灯"}), s.WORKER, JSON),
    "a time without a zone": (s.raised, "note", body(NO_ZONE), s.WORKER, JSON),
    "a time in the future": (s.raised, "note", body(LATER), s.WORKER, JSON),
    "no token": (s.raised, "note", NOTE, s.NO_TOKEN, JSON),
    "a bad token": (s.raised, "note", NOTE, s.BAD_TOKEN, JSON),
    "a role that may not": (s.raised, "note", NOTE, s.REVIEWER, JSON),
    "a worker of another village": (s.raised, "note", NOTE, s.OUTSIDER, JSON),
    "a closed case": (s.resolved, "note", NOTE, s.WORKER, JSON),
    "a triage": (s.raised, "triage", body({"category": "repairs"}), s.WORKER, JSON),
    "a step out of order": (s.deliberating, "discuss", body({"step": "members_assembly"}), s.WORKER, JSON),
    "impossible vote counts": (s.awaiting_vote, "vote", body(s.ADOPTING_VOTE | {"against": 10}), s.WORKER,
                               JSON),
    "an adopting vote": (s.awaiting_vote, "vote", body(s.ADOPTING_VOTE), s.WORKER, JSON),
    "a reopening by a supervisor": (s.resolved, "reopen", body({"reason": "不亮了"}), s.SUPERVISOR, JSON),
}


@pytest.mark.parametrize("name", REQUESTS)
def test_the_lean_path_answers_a_command_as_its_route_does(module_api: Api, route_only: TestClient,
                                                           name: str) -> None:
    state, command, content, who, headers = REQUESTS[name]
    lean_case, route_case = state(module_api.app), state(module_api.app)
    lean = send(module_api, module_api.client, lean_case, command, content, who, headers)
    route = send(module_api, route_only, route_case, command, content, who, headers)
    assert seen(lean, lean_case) == seen(route, route_case)


@pytest.mark.parametrize("path", [lambda app: uuid.uuid4(), lambda app: str(s.raised(app)).upper(),
                                  lambda app: "42"], ids=["an unknown case", "an id in upper case", "no id"])
def test_the_lean_path_answers_for_any_case_id_as_the_route_does(module_api: Api, route_only: TestClient,
                                                                 path: Callable[[Minqing], Any]) -> None:
    lean_case, route_case = path(module_api.app), path(module_api.app)
    lean = send(module_api, module_api.client, lean_case, "note", NOTE, s.WORKER, JSON)
    route = send(module_api, route_only, route_case, "note", NOTE, s.WORKER, JSON)
    assert seen(lean, lean_case) == seen(route, route_case)


def test_a_keyed_command_is_replayed_alike_by_either(module_api: Api, route_only: TestClient) -> None:
    answers = []
    for client in (module_api.client, route_only):
        case, key = s.raised(module_api.app), {"Idempotency-Key": uuid.uuid4().hex}
        first = send(module_api, client, case, "note", NOTE, s.WORKER, JSON | key)
        again = send(module_api, client, case, "note", NOTE, s.WORKER, JSON | key)
        answers.append((seen(first, case), seen(again, case), module_api.event_types(case)))
    assert answers[0] == answers[1]


def test_the_lean_path_takes_a_plain_command_and_leaves_anything_else_to_the_route(
        module_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[bool] = []
    plain = CommandPosts._plain

    def spy(self: CommandPosts, *args: Any) -> Any:
        found = plain(self, *args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(CommandPosts, "_plain", spy)
    module_api.command(s.raised(module_api.app), "note", {"text": "called back"})
    module_api.command(s.raised(module_api.app), "note", {"text": "called back"}, s.NO_TOKEN)
    module_api.command(s.raised(module_api.app), "note", {"text": ""})
    assert taken == [True, False, False]
