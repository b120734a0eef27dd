"""A revoked token or role is refused on the very next request, whichever API process serves it: each
process checks the account it keeps against the store on every request."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from api.settings import Settings
from api.web.app import create_app
from domain.application import SYSTEM
from tests.e2e import support as s
from tests.e2e.support import Api

CASES = "/api/v1/demands"


@pytest.fixture
def two_processes(start_api: Callable[..., Api], database_url: str) -> Iterator[tuple[Api, Api]]:
    """Two APIs on one database, each with its own runtime (as two processes have), the same staff and
    tokens; the second has just served the worker, so it keeps the worker's account."""
    first = start_api()
    with TestClient(create_app(Settings(database_url=database_url), embedded_workers=False)) as client:
        second = Api(client, client.app.state.runtime.app, first.tokens)  # type: ignore[attr-defined]
        assert second.get(CASES).status_code == 200
        yield first, second


def test_a_token_revoked_in_one_process_is_refused_on_the_next_request_to_another(
        two_processes: tuple[Api, Api]) -> None:
    first, second = two_processes
    token_id = first.tokens[s.WORKER].split(".")[-2]
    first.app.revoke_token(actor=SYSTEM, username=s.WORKER, token_id=token_id)
    refused = second.get(CASES)
    assert refused.status_code == 401
    assert s.problem_type(refused) == "/problems/unknown-actor"


def test_a_role_revoked_in_one_process_is_refused_on_the_next_request_to_another(
        two_processes: tuple[Api, Api]) -> None:
    first, second = two_processes
    first.app.revoke_role(actor=SYSTEM, username=s.WORKER, role="worker", cell_id="qingshui.dongcun")
    refused = second.command(s.raised(first.app, actor=s.SUPERVISOR), "note", {"text": "已联系"})
    assert refused.status_code == 403
    assert s.problem_type(refused) == "/problems/not-authorised"
