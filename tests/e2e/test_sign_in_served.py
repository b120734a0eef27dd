"""Signing in to the demo against a real server: `minqing demo` prints each staff account with its
password, and each signs in with it to `minqing serve` over real HTTP. The session cookie is Secure
when a trusted proxy says the request came over HTTPS, and only then."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.cookies import SimpleCookie

import httpx2
import pytest

from api.pages.session import COOKIE
from tests.e2e import support as s

pytestmark = pytest.mark.timeout(300)

PRINTED = re.compile(r"^ +(\S+) +password (\S+) +(\w+) over (\S+)", re.MULTILINE)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def demo_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[tuple[str, ...]]]]:
    """`minqing demo`, then `minqing serve` behind a trusted proxy on 127.0.0.1: the base URL and the
    accounts the demo printed (user name, password, role, cell)."""
    folder = tmp_path_factory.mktemp("served")
    env = {**os.environ, "MINQING_DATABASE_URL": f"sqlite:///{folder / 'minqing.db'}",
           "MINQING_TRUSTED_PROXIES": "127.0.0.1"}
    env.pop("MINQING_DEPLOYMENT", None)
    loaded = subprocess.run([sys.executable, "-m", "api.cli", "demo"], env=env, cwd=s.ROOT,
                            capture_output=True, text=True, timeout=240, check=True)
    with s.serving(env, folder) as base:
        yield base, PRINTED.findall(loaded.stdout)


def set_cookies(response: httpx2.Response) -> dict[str, str]:
    """Each cookie the response sets, with its attributes as sent (lower case)."""
    found: dict[str, str] = {}
    for header in response.headers.get_list("set-cookie"):
        name = SimpleCookie(header).keys()
        found[next(iter(name))] = header.lower()
    return found


def test_every_account_the_demo_prints_signs_in_with_its_password(
        demo_served: tuple[str, list[tuple[str, ...]]]) -> None:
    base, printed = demo_served
    assert len(printed) == 9 and {role for _, _, role, _ in printed} == {"admin", "supervisor", "worker",
                                                                          "reviewer"}
    for username, password, _role, _cell in printed:
        with httpx2.Client(base_url=base, follow_redirects=False) as browser:
            assert browser.get("/").headers["location"] == "/login"
            token = CSRF.search(browser.get("/login").text)
            assert token is not None
            signed_in = browser.post("/login", data={"username": username, "password": password,
                                                     "csrf_token": token.group(1)})
            assert signed_in.status_code == 303 and signed_in.headers["location"] == "/queue"
            cookie = set_cookies(signed_in)[COOKIE]
            assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
            assert browser.get("/").headers["location"] == "/queue"
            mine = browser.get("/account")
            assert mine.status_code == 200 and username in mine.text
            token = CSRF.search(mine.text)
            assert token is not None
            out = browser.post("/logout", data={"csrf_token": token.group(1)})
            assert out.headers["location"] == "/login"
            assert browser.get("/account").headers["location"] == "/login?next=/account"


def test_the_session_cookie_is_secure_when_a_trusted_proxy_says_https(
        demo_served: tuple[str, list[tuple[str, ...]]]) -> None:
    base, printed = demo_served
    username, password = printed[0][:2]
    over_https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    with httpx2.Client(base_url=base, follow_redirects=False) as proxy:
        form = proxy.get("/login", headers=over_https)
        assert "secure" in set_cookies(form)["minqing_csrf"]
        found = CSRF.search(form.text)
        assert found is not None
        # a browser sends Secure cookies only over HTTPS; the proxy passes them on over plain HTTP
        token = found.group(1)
        signed_in = proxy.post("/login", headers={**over_https, "Cookie": f"minqing_csrf={token}"},
                               data={"username": username, "password": password, "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text
        cookie = set_cookies(signed_in)[COOKIE]
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
