"""`minqing accounts set-password`, on SQLite and PostgreSQL: asked twice at the console or read from
standard input, refused in English and Chinese when too short, kept only as a hash that no history
prints."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from api import auth
from api.cli import main
from api.compose import Runtime, initialise
from api.settings import Settings
from domain.account import account_id

PASSWORD = "东村一组-路灯2026"


@pytest.fixture
def console(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line on an initialised database with one worker, 王 of 东村."""
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    monkeypatch.delenv("MINQING_DEPLOYMENT", raising=False)
    initialise(Settings(database_url=database_url))
    runner = CliRunner()
    opened = runner.invoke(main, ["accounts", "create", "wang.worker", "--role", "worker", "--cell",
                                  "qingshui.dongcun"])
    assert opened.exit_code == 0, opened.output
    return runner


def set_password(console: CliRunner, username: str, typed: str, *options: str) -> Result:
    return console.invoke(main, ["accounts", "set-password", username, *options], input=typed)


def password_is(database_url: str, password: str) -> bool:
    with Runtime.open(Settings(database_url=database_url)) as rt:
        return auth.password_matches(rt.app.account("wang.worker"), password)


def test_the_operator_types_the_new_password_twice(console: CliRunner, database_url: str) -> None:
    done = set_password(console, "wang.worker", f"{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    assert PASSWORD not in done.output and password_is(database_url, PASSWORD)


def test_two_different_passwords_are_asked_again(console: CliRunner, database_url: str) -> None:
    done = set_password(console, "wang.worker", f"{PASSWORD}\nsomething-else\n{PASSWORD}\n{PASSWORD}\n")
    assert done.exit_code == 0 and "do not match" in done.output and password_is(database_url, PASSWORD)


def test_a_script_gives_the_password_on_standard_input(console: CliRunner, database_url: str) -> None:
    done = set_password(console, "wang.worker", f"{PASSWORD}\n", "--password-stdin")
    assert done.exit_code == 0, done.output
    assert password_is(database_url, PASSWORD)


def test_a_short_password_is_refused_in_english_and_chinese(console: CliRunner, database_url: str) -> None:
    done = set_password(console, "wang.worker", "路灯坏了请修\n", "--password-stdin")
    assert done.exit_code == 1
    assert "A password has at least 10 characters." in done.output
    assert "密码至少需要 10 个字符。" in done.output
    assert not password_is(database_url, "路灯坏了请修")


def test_an_unknown_account_is_refused(console: CliRunner) -> None:
    done = set_password(console, "nobody", f"{PASSWORD}\n", "--password-stdin")
    assert done.exit_code == 1 and "no Account" in done.output


def test_the_history_of_the_account_says_who_set_a_password_and_when_never_its_hash(
        console: CliRunner, database_url: str) -> None:
    set_password(console, "wang.worker", f"{PASSWORD}\n", "--password-stdin")
    history = console.invoke(main, ["history", str(account_id("wang.worker"))])
    assert history.exit_code == 0, history.output
    assert "PasswordSet" in history.output and "by system" in history.output
    assert "argon2" not in history.output and "password_hash" not in history.output
