"""The public rate limit counts the connection's address: an X-Forwarded-For header moves it only when
it comes from a proxy the operator named (MINQING_TRUSTED_PROXIES; none by default). The count is kept
in the database, so it holds across API processes."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

from tests.e2e import support as s

PUBLIC_DEMAND = {"title": "路灯不亮", "cell_id": s.CELL}


def post_public(base: str, forwarded_for: str) -> int:
    request = urllib.request.Request(f"{base}/api/v1/public/demands", json.dumps(PUBLIC_DEMAND).encode(),
                                     {"Content-Type": "application/json", "X-Forwarded-For": forwarded_for})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_forged_x_forwarded_for_does_not_escape_the_public_rate_limit(tmp_path: Path) -> None:
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{tmp_path / 'minqing.db'}",
           "MINQING_PUBLIC_REQUESTS_PER_MINUTE": "3"}
    with s.serving(env, tmp_path) as base:
        answers = [post_public(base, f"203.0.113.{n}") for n in range(6)]
    assert answers == [201, 201, 201, 429, 429, 429]


def test_a_trusted_proxy_names_the_client(tmp_path: Path) -> None:
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{tmp_path / 'minqing.db'}",
           "MINQING_PUBLIC_REQUESTS_PER_MINUTE": "3", "MINQING_TRUSTED_PROXIES": "127.0.0.1"}
    with s.serving(env, tmp_path) as base:
        answers = [post_public(base, f"203.0.113.{n}") for n in range(6)]
    assert answers == [201] * 6  # six clients behind the proxy, one request each


def test_the_public_rate_limit_holds_across_two_api_processes(tmp_path: Path) -> None:
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{tmp_path / 'minqing.db'}",
           "MINQING_PUBLIC_REQUESTS_PER_MINUTE": "3"}
    s.minqing(env, "db", "init")
    with s.serving(env, tmp_path, "api") as first, s.serving(env, tmp_path, "api") as second:
        answers = [post_public(base, "203.0.113.7") for base in (first, second) * 3]
    assert answers == [201, 201, 201, 429, 429, 429]
