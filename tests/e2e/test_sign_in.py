"""Signing in to the pages, on each store: a session cookie that scripts cannot read and other sites
cannot use, sign-out and password changes that end sessions for good, revoked roles that end them on
the next request, a back-off after repeated failures, and CSRF on every form of it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient

from api import auth
from api.pages.session import COOKIE
from api.settings import Settings
from api.web import backoff
from api.web.app import create_app
from domain.application import SYSTEM
from tests.conftest import Clock
from tests.e2e import support as s
from tests.e2e.support import Api

PASSWORD = "东村一组-路灯2026"     # 13 characters: passwords may be Chinese
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A person at a browser: the TestClient's cookies, forms sent with the token of the page they were
    on, redirects not followed (to see where they lead)."""

    def __init__(self, api: Api) -> None:
        self.api, self.client = api, api.client

    def get(self, path: str, **headers: str) -> httpx2.Response:
        return self.client.get(path, headers=headers, follow_redirects=False)

    def token(self, page: str) -> str:
        found = CSRF.search(self.get(page).text)
        assert found, f"no CSRF field on {page}"
        return found.group(1)

    def post(self, path: str, fields: dict[str, str], *, from_page: str | None = None,
             **headers: str) -> httpx2.Response:
        token = {"csrf_token": self.token(from_page)} if from_page else {}
        return self.client.post(path, data=fields | token, headers=headers, follow_redirects=False)

    def sign_in(self, username: str = s.WORKER, password: str = PASSWORD, next: str = "") -> httpx2.Response:
        return self.post("/login", {"username": username, "password": password, "next": next},
                         from_page="/login")

    def with_session(self, session_id: str | None, path: str = "/account") -> httpx2.Response:
        """A page asked for with this session's cookie alone (as another browser holding it would)."""
        return self.client.get(path, headers={"Cookie": f"{COOKIE}={session_id}"}, follow_redirects=False)

    @property
    def session(self) -> str | None:
        return self.client.cookies.get(COOKIE)


@pytest.fixture
def browser(start_api: Callable[..., Api]) -> Browser:
    """The API and pages (no workers: sign-in needs no view), the worker of 东村 with a password."""
    api = start_api(embedded_workers=False)
    auth.set_password(api.app, actor=SYSTEM, username=s.WORKER, password=PASSWORD)
    return Browser(api)


@pytest.fixture
def second_process(browser: Browser, database_url: str) -> Iterator[Browser]:
    """Another API on the same database with its own runtime, as a second process has, and another
    browser at it."""
    with TestClient(create_app(Settings(database_url=database_url), embedded_workers=False)) as client:
        yield Browser(Api(client, client.app.state.runtime.app, {}))  # type: ignore[attr-defined]


def signed_out(response: httpx2.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def test_home_sends_a_signed_out_person_to_sign_in_and_a_signed_in_one_to_the_queue(browser: Browser) -> None:
    assert browser.get("/").headers["location"] == "/login"
    browser.sign_in()
    assert browser.get("/").headers["location"] == "/queue"


def test_signing_in_leads_on_to_the_page_asked_for_and_never_to_another_site(browser: Browser) -> None:
    asked = browser.get("/account")
    assert asked.headers["location"] == "/login?next=/account"
    assert browser.sign_in(next="/account").headers["location"] == "/account"
    page = browser.get("/account")
    assert page.status_code == 200 and s.WORKER in page.text and "qingshui.dongcun" not in page.text
    assert "我的账户" in page.text and "东村" in page.text        # Chinese first; cells by name
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "/\t/evil.example/"):
        browser.client.cookies.clear()
        assert browser.sign_in(next=elsewhere).headers["location"] == "/queue"


def test_a_wrong_password_and_an_unknown_user_read_the_same_and_sign_nobody_in(browser: Browser) -> None:
    wrong = browser.sign_in(password="not-the-password")
    unknown = browser.sign_in(username="nobody.here")
    assert wrong.status_code == unknown.status_code == 422
    assert "用户名或密码错误。" in wrong.text and "用户名或密码错误。" in unknown.text
    assert 'value="nobody.here"' in unknown.text and "not-the-password" not in wrong.text
    assert browser.session is None


def test_the_session_cookie_is_http_only_same_site_and_secure_over_https(browser: Browser) -> None:
    cookie = browser.sign_in().headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert "max-age" not in cookie and "expires" not in cookie   # gone when the browser closes
    browser.client.cookies.clear()
    browser.client.base_url = httpx2.URL("https://testserver")
    cookie = browser.sign_in().headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie


def test_forms_without_their_token_are_refused(browser: Browser) -> None:
    first_visit = browser.post("/login", {"username": s.WORKER, "password": PASSWORD})
    assert first_visit.status_code == 403 and browser.session is None
    browser.sign_in()
    assert browser.post("/logout", {}).status_code == 403
    assert browser.post("/account/password", {"current_password": PASSWORD, "new_password": "x" * 12,
                                               "new_password_again": "x" * 12}).status_code == 403
    assert browser.get("/account").status_code == 200            # still signed in, password unchanged
    assert auth.password_matches(browser.api.app.account(s.WORKER), PASSWORD)


def test_signing_in_and_out_give_the_browser_a_new_form_token(browser: Browser) -> None:
    before = browser.token("/login")
    browser.sign_in()
    after = browser.token("/account")
    assert after != before
    assert browser.post("/logout", {"csrf_token": before}).status_code == 403   # the old one counts no more
    assert browser.post("/logout", {"csrf_token": after}).status_code == 303
    assert browser.token("/login") != after


def test_signing_out_ends_the_session_for_good(browser: Browser) -> None:
    browser.sign_in()
    kept = browser.session
    assert kept is not None
    assert browser.with_session(kept).status_code == 200
    out = browser.post("/logout", {}, from_page="/account")
    assert out.headers["location"] == "/login" and browser.session is None
    assert signed_out(browser.with_session(kept))                 # the old cookie, replayed


def test_changing_the_password_ends_every_other_session_and_keeps_this_one(browser: Browser) -> None:
    browser.sign_in()
    other = browser.session
    browser.client.cookies.clear()
    browser.sign_in()
    assert browser.with_session(other).status_code == 200
    new = "新的密码-2026-冬"
    changed = browser.post("/account/password", {"current_password": PASSWORD, "new_password": new,
                                                 "new_password_again": new}, from_page="/account")
    assert changed.headers["location"] == "/account?changed=true"
    assert "密码已修改" in browser.get("/account?changed=true").text
    assert signed_out(browser.with_session(other))
    assert browser.with_session(browser.session).status_code == 200
    browser.client.cookies.clear()
    assert browser.sign_in().status_code == 422
    assert browser.sign_in(password=new).status_code == 303
    history = browser.api.app.history(browser.api.app.account(s.WORKER).id)
    assert [(e.type, e.actor, e.data) for e in history if e.type == "PasswordSet"] == [
        ("PasswordSet", SYSTEM, {}), ("PasswordSet", s.WORKER, {})]  # who and when, never the hash


def test_a_password_set_at_the_console_ends_the_sessions_signed_in_with_the_old_one(browser: Browser) -> None:
    browser.sign_in()
    auth.set_password(browser.api.app, actor=SYSTEM, username=s.WORKER, password="重新设置的密码-0001")
    assert signed_out(browser.get("/account"))


def test_a_new_password_is_refused_beside_its_field_when_short_or_typed_differently(browser: Browser) -> None:
    browser.sign_in()
    short = browser.post("/account/password", {"current_password": PASSWORD, "new_password": "短密码123",
                                               "new_password_again": "短密码123"}, from_page="/account")
    assert short.status_code == 422 and "密码至少需要 10 个字符。" in short.text
    assert 'id="new_password-error"' in short.text and "短密码123" not in short.text
    differs = browser.post("/account/password", {"current_password": PASSWORD, "new_password": "a" * 12,
                                                 "new_password_again": "b" * 12}, from_page="/account")
    assert differs.status_code == 422 and 'id="new_password_again-error"' in differs.text
    wrong = browser.post("/account/password", {"current_password": "guess-guess", "new_password": "a" * 12,
                                               "new_password_again": "a" * 12}, from_page="/account")
    assert wrong.status_code == 422 and 'id="current_password-error"' in wrong.text
    assert auth.password_matches(browser.api.app.account(s.WORKER), PASSWORD)


def test_a_revoked_role_ends_the_session_on_the_next_request(browser: Browser) -> None:
    browser.sign_in()
    assert browser.get("/account").status_code == 200
    browser.api.app.revoke_role(actor=SYSTEM, username=s.WORKER, role="worker", cell_id="qingshui.dongcun")
    assert signed_out(browser.get("/account"))
    browser.api.app.grant_role(actor=SYSTEM, username=s.WORKER, role="worker", cell_id="qingshui.dongcun")
    assert browser.get("/account").status_code != 200        # ended for good, not suspended


def test_an_account_without_a_role_does_not_sign_in(browser: Browser) -> None:
    browser.api.app.revoke_role(actor=SYSTEM, username=s.WORKER, role="worker", cell_id="qingshui.dongcun")
    refused = browser.sign_in()
    assert refused.status_code == 403 and "尚未分配角色" in refused.text and browser.session is None


def test_a_session_ends_after_its_idle_time_and_its_lifetime(browser: Browser, clock: Clock) -> None:
    sessions = browser.api.runtime.sessions
    sessions.clock = lambda: clock.now.timestamp()
    browser.sign_in()
    clock.advance(hours=11, minutes=59)
    assert browser.get("/account").status_code == 200
    clock.advance(hours=11, minutes=59)                          # each request keeps it alive
    assert browser.get("/account").status_code == 200
    clock.advance(hours=12)
    assert signed_out(browser.get("/account"))
    browser.sign_in()
    for _ in range(15):                                          # used every 11 hours: 165 hours
        clock.advance(hours=11)
        assert browser.get("/account").status_code == 200
    clock.advance(hours=11)                                      # 176 hours: past its 7 days
    assert signed_out(browser.get("/account"))


def test_repeated_failures_earn_a_doubling_wait_told_in_the_page_language(browser: Browser,
                                                                          clock: Clock) -> None:
    browser.api.runtime.sign_ins.clock = lambda: clock.now.timestamp()
    answers = [browser.sign_in(password=f"guess-{n:04}") for n in range(backoff.USER_LIMIT)]
    assert [a.status_code for a in answers] == [422] * (backoff.USER_LIMIT - 1) + [429]
    assert "失败次数过多，请 1分钟 后再试。" in answers[-1].text
    assert answers[-1].headers["retry-after"] == "60"
    during = browser.sign_in()                                   # the right password, during the wait
    assert during.status_code == 429 and "用户名或密码错误" not in during.text and browser.session is None
    english = browser.post("/login", {"username": s.WORKER, "password": PASSWORD},
                           from_page="/login", **{"Accept-Language": "en"})
    assert "Too many failed attempts: try again in 1 min." in english.text
    clock.advance(seconds=61)
    again = browser.sign_in(password="guess-more")
    assert again.status_code == 429 and again.headers["retry-after"] == "120"   # the wait doubles
    clock.advance(seconds=121)
    assert browser.sign_in().status_code == 303                  # the right password clears the count
    browser.client.cookies.delete(COOKIE)
    assert browser.sign_in(password="one-more-typo").status_code == 422


def test_the_back_off_counts_per_user_name_and_per_address_in_the_database(browser: Browser) -> None:
    runtime = browser.api.runtime
    for n in range(backoff.USER_LIMIT - 1):
        assert runtime.sign_ins.failed(s.WORKER, f"203.0.113.{n}") == 0
    assert runtime.sign_ins.failed(s.WORKER, "203.0.113.99") == backoff.FIRST_WAIT
    assert runtime.sign_ins.wait(s.WORKER, "198.51.100.1") > 0        # the user name waits, from anywhere
    assert runtime.sign_ins.wait(s.OUTSIDER, "203.0.113.99") == 0       # a colleague at that address does not
    for n in range(backoff.ADDRESS_LIMIT):
        runtime.sign_ins.failed(f"guessed.{n}", "198.51.100.7")
    assert runtime.sign_ins.wait(s.OUTSIDER, "198.51.100.7") > 0        # too many guesses from one address


def test_every_api_process_knows_a_session_and_its_end(browser: Browser, second_process: Browser) -> None:
    browser.sign_in()
    assert second_process.with_session(browser.session).status_code == 200
    kept = browser.session
    browser.post("/logout", {}, from_page="/account")
    assert signed_out(second_process.with_session(kept))


def test_failures_at_every_api_process_count_towards_one_back_off(browser: Browser,
                                                                   second_process: Browser) -> None:
    answers = [(browser if n % 2 else second_process).sign_in(password=f"guess-{n:04}")
               for n in range(backoff.USER_LIMIT)]
    assert [a.status_code for a in answers] == [422] * (backoff.USER_LIMIT - 1) + [429]
    assert second_process.sign_in().status_code == browser.sign_in().status_code == 429


def test_guessing_the_current_password_on_my_account_earns_the_same_back_off(browser: Browser) -> None:
    browser.sign_in()
    new = {"new_password": "a" * 12, "new_password_again": "a" * 12}
    answers = [browser.post("/account/password", {"current_password": f"guess-{n:04}"} | new,
                            from_page="/account") for n in range(backoff.USER_LIMIT)]
    assert [a.status_code for a in answers] == [422] * (backoff.USER_LIMIT - 1) + [429]
    assert "当前密码不正确。失败次数过多，请 1分钟 后再试。" in answers[-1].text
    assert auth.password_matches(browser.api.app.account(s.WORKER), PASSWORD)
