"""Staff accounts: opened and given roles by an admin, and answerable as of any time."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from api import auth, i18n
from api.web.errors import described
from domain import errors
from domain.account import Account, account_id
from domain.application import Minqing
from tests.conftest import Clock
from tests.unit import cases


@pytest.fixture
def new_worker(app: Minqing) -> str:
    """An account opened by the admin and made a worker over Nanling village."""
    app.open_account(actor="admin", username="he.worker", display_name="何网格员")
    app.grant_role(actor="admin", username="he.worker", role="worker", cell_id="qingshui.nanling")
    return "he.worker"


def test_an_admin_opens_an_account_and_grants_it_a_role(app: Minqing, new_worker: str) -> None:
    account = app.account(new_worker)
    assert (account.display_name, account.grants) == ("何网格员", [["worker", "qingshui.nanling"]])


def test_a_new_account_acts_within_its_granted_cell(app: Minqing, new_worker: str) -> None:
    demand_id = cases.raise_repair(app, cell_id="qingshui.nanling.g2", actor=new_worker)
    assert app.demand(demand_id).raised_by == new_worker


def test_an_account_without_a_role_may_do_nothing(app: Minqing) -> None:
    app.open_account(actor="admin", username="qian.new")
    with pytest.raises(errors.NotAuthorised):
        cases.raise_repair(app, actor="qian.new")


def test_opening_an_account_under_a_name_already_taken_is_refused(app: Minqing) -> None:
    with pytest.raises(errors.AccountExists):
        app.open_account(actor="admin", username="wang.worker")


def test_a_user_name_is_one_word(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.open_account(actor="admin", username="wang worker")


@pytest.mark.parametrize("actor", ["wang.worker", "chen.supervisor", "sun.reviewer"])
def test_only_an_admin_opens_accounts(app: Minqing, actor: str) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.open_account(actor=actor, username="qian.new")


@pytest.mark.parametrize("actor", ["wang.worker", "chen.supervisor", "sun.reviewer"])
def test_only_an_admin_grants_roles(app: Minqing, actor: str) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.grant_role(actor=actor, username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")


def test_only_an_admin_revokes_roles(app: Minqing) -> None:
    with pytest.raises(errors.NotAuthorised):
        app.revoke_role(actor="chen.supervisor", username="wang.worker", role="worker",
                        cell_id="qingshui.dongcun")


def test_a_role_is_one_the_domain_knows(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.grant_role(actor="admin", username="wang.worker", role="mayor", cell_id="qingshui.dongcun")


def test_a_role_is_granted_over_a_cell_of_the_grid(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.grant_role(actor="admin", username="wang.worker", role="worker", cell_id="qingshui.beicun")


def test_a_role_already_held_is_not_granted_twice(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.grant_role(actor="admin", username="wang.worker", role="worker", cell_id="qingshui.dongcun")


def test_a_role_not_held_is_not_revoked(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.revoke_role(actor="admin", username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")


def test_a_role_is_granted_to_an_existing_account(app: Minqing) -> None:
    with pytest.raises(errors.NotFound):
        app.grant_role(actor="admin", username="nobody", role="worker", cell_id="qingshui.dongcun")


# ---------------------------------------------------------------- as of a time
def test_an_audit_tells_which_roles_an_account_held_before_a_revocation(app: Minqing, clock: Clock) -> None:
    app.grant_role(actor="admin", username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")
    clock.advance(hours=1)
    app.revoke_role(actor="admin", username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")
    granted, revoked = [e.recorded_at for e in app.history(account_id("wang.worker"))[-2:]]
    assert granted < revoked
    held = app.as_of(account_id("wang.worker"), known_at=revoked - timedelta(microseconds=1)).aggregate
    assert isinstance(held, Account) and ["supervisor", "qingshui.dongcun"] in held.grants


def test_an_audit_tells_which_roles_an_account_held_after_a_revocation(app: Minqing, clock: Clock) -> None:
    app.grant_role(actor="admin", username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")
    clock.advance(hours=1)
    app.revoke_role(actor="admin", username="wang.worker", role="supervisor", cell_id="qingshui.dongcun")
    revoked = app.history(account_id("wang.worker"))[-1].recorded_at
    after = app.as_of(account_id("wang.worker"), known_at=revoked).aggregate
    assert isinstance(after, Account) and after.grants == [["worker", "qingshui.dongcun"]]


def test_an_audit_finds_no_account_before_it_was_opened(app: Minqing) -> None:
    opened = app.history(account_id("wang.worker"))[0].recorded_at
    with pytest.raises(errors.NotYetRecorded):
        app.as_of(account_id("wang.worker"), known_at=opened - timedelta(microseconds=1))


def test_an_as_of_time_needs_a_time_zone(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput):
        app.as_of(account_id("wang.worker"), app.history(account_id("wang.worker"))[0].recorded_at.replace(
            tzinfo=None))


def test_the_history_of_an_account_says_who_granted_each_role(app: Minqing, new_worker: str) -> None:
    assert [(e.type, e.actor) for e in app.history(account_id(new_worker))] == [
        ("Opened", "admin"), ("RoleGranted", "admin")]


def test_a_token_authenticates_a_user_name_with_dots(app: Minqing, new_worker: str) -> None:
    app.accounts = accounts = auth.CachedAccounts(app.account, app.account_version)  # as the API has it
    _, token = auth.issue_token(app, actor="admin", username=new_worker)
    found = auth.authenticate(accounts, token, now=app.clock())
    assert found is not None and found.username == "he.worker"
    username, token_id = token.rsplit(".", 2)[:2]
    app.revoke_token(actor="admin", username=username, token_id=token_id)
    with pytest.raises(errors.UnknownActor):
        auth.authenticate(accounts, token, now=app.clock())


def test_a_token_expires_after_its_lifetime(app: Minqing, clock: Clock, new_worker: str) -> None:
    accounts = auth.CachedAccounts(app.account, app.account_version)
    _, token = auth.issue_token(app, actor="admin", username=new_worker)
    clock.advance(days=29, hours=23)
    assert auth.authenticate(accounts, token, now=clock.now) is not None
    clock.advance(hours=1)
    with pytest.raises(errors.UnknownActor, match="expired"):
        auth.authenticate(accounts, token, now=clock.now)


# ---------------------------------------------------------------- passwords
def test_a_member_of_staff_sets_their_own_password_and_an_admin_sets_anyones(app: Minqing) -> None:
    auth.set_password(app, actor="wang.worker", username="wang.worker", password="东村一组-路灯2026")
    auth.set_password(app, actor="admin", username="zhao.worker", password="西村-自来水-0317")
    assert auth.password_matches(app.account("wang.worker"), "东村一组-路灯2026")
    assert auth.password_matches(app.account("zhao.worker"), "西村-自来水-0317")
    assert not auth.password_matches(app.account("zhao.worker"), "东村一组-路灯2026")


@pytest.mark.parametrize("actor", ["zhao.worker", "chen.supervisor", "sun.reviewer"])
def test_only_an_admin_sets_a_colleagues_password(app: Minqing, actor: str) -> None:
    with pytest.raises(errors.NotAuthorised):
        auth.set_password(app, actor=actor, username="wang.worker", password="east-village-lights")


def test_a_password_is_kept_only_as_an_argon2_hash_and_history_never_shows_a_secrets_hash(
        app: Minqing) -> None:
    auth.set_password(app, actor="wang.worker", username="wang.worker", password="东村一组-路灯2026")
    auth.issue_token(app, actor="admin", username="wang.worker", label="手机")
    account = app.account("wang.worker")
    assert account.password_hash.startswith("$argon2id$") and "路灯" not in account.password_hash
    history = app.history(account_id("wang.worker"))
    token_id = history[-1].data["token_id"]
    assert [(e.type, e.actor, e.data) for e in history[-2:]] == [
        ("PasswordSet", "wang.worker", {}), ("TokenIssued", "admin", {"token_id": token_id, "label": "手机"})]
    assert account.password_hash not in repr(history)


def test_a_password_has_at_least_ten_characters_said_in_the_language_asked(app: Minqing) -> None:
    with pytest.raises(errors.InvalidInput) as refused:
        auth.set_password(app, actor="wang.worker", username="wang.worker", password="路灯坏了请修一下")
    with i18n.speaking("zh_CN"):
        assert "密码至少需要 10 个字符" in described(refused.value, "Asia/Shanghai")[1]
    with i18n.speaking("en"):
        assert auth.password_refusal("123456789") == "A password has at least 10 characters."
        assert auth.password_refusal("1234567890") is None
    assert app.account("wang.worker").password_version is None


def test_no_password_matches_an_unknown_account_or_one_without_a_password(app: Minqing) -> None:
    assert not auth.password_matches(None, "")
    assert not auth.password_matches(app.account("wang.worker"), "")
    with pytest.raises(errors.InvalidInput):
        app.set_password(actor="admin", username="wang.worker", password_hash="")


def test_setting_a_password_moves_the_version_sessions_are_bound_to(app: Minqing) -> None:
    first = auth.set_password(app, actor="admin", username="wang.worker", password="first-password")
    second = auth.set_password(app, actor="wang.worker", username="wang.worker", password="second-password")
    assert app.account("wang.worker").password_version == second.version > first.version


def test_an_unknown_user_name_takes_as_long_to_refuse_as_a_wrong_password(app: Minqing) -> None:
    auth.set_password(app, actor="admin", username="wang.worker", password="东村一组-路灯2026")
    account = app.account("wang.worker")
    auth.password_matches(None, "warm-up")          # the hash of nothing is made once per process

    def fastest(account: Account | None) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            assert not auth.password_matches(account, "wrong-password")
            times.append(time.perf_counter() - started)
        return min(times)

    assert 0.5 < fastest(None) / fastest(account) < 2
