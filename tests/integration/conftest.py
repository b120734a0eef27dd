"""Fixtures of the integration tests that run the command line against a database."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def keys(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key folder of the test's own (empty until `db init`), and the command line pointed at the test's
    database and that folder, with no signing key from the environment."""
    folder = tmp_path / "keys"
    monkeypatch.setenv("MINQING_DATABASE_URL", database_url)
    monkeypatch.setenv("MINQING_KEY_DIR", str(folder))
    monkeypatch.delenv("MINQING_SIGNING_KEY", raising=False)
    return folder
