"""Property-based testing of the whole API with schemathesis, against a real `minqing serve` on
SQLite and on PostgreSQL (some inputs only fail on one: PostgreSQL text cannot hold NUL).

Schemathesis reads /openapi.json and sends each operation generated requests, valid and invalid,
as a worker with a bearer token. No input may produce a server error, and every response must
match what the OpenAPI document says: its status, content type, headers and schema.

Bounded: a fixed number of examples per operation (MINQING_FUZZ_EXAMPLES, default 20) and a fixed
seed (MINQING_FUZZ_SEED, default 2026), so a run is repeatable; change the seed to explore further.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import minqing, serving

pytestmark = pytest.mark.timeout(300)

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
          "missing_required_header", "unsupported_method", "allow_header_conformance", "ignored_auth")
SCHEMATHESIS = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, a worker's token) of `minqing serve` on a fresh store, stopped afterwards."""
    env = {**os.environ, "MINQING_DATABASE_URL": database_url}
    minqing(env, "db", "init")
    minqing(env, "accounts", "create", "fuzz", "--role", "worker", "--cell", "qingshui.dongcun")
    token = minqing(env, "accounts", "issue-token", "fuzz").splitlines()[-1]
    with serving(env, tmp_path) as base:
        yield base, token


def test_no_generated_request_gets_a_server_error_or_a_response_the_openapi_document_does_not_allow(
        server: tuple[str, str], tmp_path: Path) -> None:
    base, token = server
    command = [
        sys.executable, "-c", SCHEMATHESIS, "run", f"{base}/openapi.json",
        "--header", f"Authorization: Bearer {token}",
        "--checks", ",".join(CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("MINQING_FUZZ_EXAMPLES", "20"),
        "--seed", os.environ.get("MINQING_FUZZ_SEED", "2026"),
        "--request-timeout", "10",
        "--workers", "1",
        "--no-color",
    ]
    found = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    print(found.stdout[-20000:], found.stderr[-5000:])
    assert found.returncode == 0, f"schemathesis found:\n{found.stdout[-20000:]}\n{found.stderr[-3000:]}"
