"""Every answer tells the browser not to guess its type, not to be framed, and to keep its address to us."""

from __future__ import annotations

import pytest

from tests.e2e import support as s
from tests.e2e.support import Api


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/demands", "/static/minqing.css", "/lang/en"])
def test_every_answer_carries_the_security_headers(api: Api, path: str) -> None:
    response = api.client.get(path, headers=api.headers(s.WORKER), follow_redirects=False)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
