"""Hostile input (issue 10, fault suite): every operation of the OpenAPI document, so a new route is
covered as soon as it exists, sent what a hostile or careless client sends — oversized and deeply
nested bodies, invalid UTF-8, wrong content types, NUL characters, huge numbers, absurd pagination,
malformed dates, SQL and HTML injection strings in every text field and query parameter.

Whatever comes in: no 5xx, every error is application/problem+json, a refused request records
nothing, no answer is HTML, and injection strings are kept and returned as the plain text they are.
The inputs are a fixed list built from the document (no randomness): each test prints how many it
sent, the figures in docs/reliability.md. Most go through the TestClient, on SQLite and PostgreSQL;
what a TestClient cannot send faithfully (bytes that are not UTF-8 in the request line, a body
larger than it says, a chunked body with no length) goes to a real `minqing serve` on each store.
"""

from __future__ import annotations

import csv
import io
import json
import os
import select
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from api import auth
from api.compose import initialise
from api.settings import Settings
from api.web.app import create_app
from domain.application import SYSTEM
from projections.db import make_engine
from tests.conftest import POSTGRES_URL, STAFF, add_staff, fresh_schema
from tests.e2e import support as s
from tests.e2e.support import PROBLEM, Api, minqing, serving
from workers import deadlines as deadline_worker

pytestmark = pytest.mark.timeout(120)

MAX_BODY = Settings().max_body_bytes
SQL = ("'; DROP TABLE stored_events; --", "\" OR 1=1 --", "1' UNION SELECT password FROM pg_shadow --",
       "Robert'); DELETE FROM view_cases WHERE ('1'='1", "%'; SELECT pg_sleep(10); --", "\\'; COMMIT; --")
HTML = ("<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>",
        "<a href=\"javascript:alert(1)\">点我</a>", "&lt;b&gt;&amp;{{7*7}}${7*7}")
HUGE = ("1" + "0" * 30, "-1" + "0" * 30, "1e308", "1e400", "-1e400", "NaN", "Infinity", "9" * 5000,
        "18446744073709551617", "0.5")
DATES = ("1e20", "\"\"", "\"now\"", "\"2026-13-45T00:00:00Z\"", "\"0000-00-00T00:00:00Z\"",
         "\"2026-02-30T10:00:00+08:00\"", "\"2026-03-01T25:61:00+08:00\"", "\"2026-03-01T10:00:00\"",
         "\"99999-01-01T00:00:00Z\"", "\"0001-01-01T00:00:00+14:00\"", "\"2026-03-01T10:00:00+99:00\"",
         "\"2026-03-01\"", "true", "[]", "{}",
         # seconds since 1970: once read as times (`-1` as 1969-12-31), now refused like the rest
         "-1", "\"-1\"", "0", "1700000000", "\"1700000000\"")
PAGES = ("-1", "0", "1" + "0" * 20, "18446744073709551617", "1e3", "abc", "", "NaN", "0x10", "1" * 5000)
CONTENT_TYPES = ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/xml", "text/html", "application/json; charset=latin-1", "application/jsonx",
                 "*/*", "")
INVALID_UTF8 = (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\x80")
LONE_SURROGATES = ("\\ud800", "\\udfff", "a\\ud83d")
TEXT_PROBES = {"sql": SQL, "html": HTML}


@dataclass
class Operation:
    """One operation of the OpenAPI document, with what a plausible request to it holds."""

    method: str
    path: str
    secured: bool
    query: dict[str, dict[str, Any]]           # name: schema
    body: dict[str, Any] | None                 # the body's JSON schema, references resolved
    base: dict[str, Any] = field(default_factory=dict)  # a body of the right shape

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@dataclass
class Hostile:
    """The API under attack, what its operations need, and the inputs sent so far, by kind."""

    api: Api
    database_url: str
    operations: list[Operation]
    ids: dict[str, str]
    sent: Counter[str] = field(default_factory=Counter)

    def url(self, op: Operation, **override: str) -> str:
        return op.path.format(**(self.ids | override))

    def send(self, kind: str, op: Operation, *, content: bytes | None = None,
             params: dict[str, str] | None = None, content_type: str | None = "application/json",
             path: str | None = None) -> httpx2.Response:
        """Send one hostile request and check what holds for every answer; the response."""
        headers = self.api.headers(s.SUPERVISOR if op.secured else s.NO_TOKEN)
        if content_type is not None and content is not None:
            headers["Content-Type"] = content_type
        head = self.api.head()
        response = self.api.client.request(op.method.upper(), path or self.url(op), params=params,
                                           headers=headers, content=content)
        self.sent[kind] += 1
        judged(response, f"{kind}: {op} {params or ''} {(content or b'')[:200]!r}")
        if response.status_code >= 400:
            assert self.api.head() == head, f"{kind}: {op} was refused but recorded something"
        return response


def judged(response: httpx2.Response, what: str) -> None:
    """No server error; errors as problems; nothing answered as HTML."""
    kind = response.headers.get("content-type", "")
    assert response.status_code < 500, f"{what} -> {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        assert kind.startswith(PROBLEM), f"{what} -> {response.status_code} {kind} {response.text[:300]}"
    assert "html" not in kind, f"{what} answered {kind}"


# ---------------------------------------------------------------- the operations, read from the document
def resolved(schema: Any, document: dict[str, Any]) -> Any:
    """The schema with its references replaced by what they name (the document has no cycles)."""
    if isinstance(schema, list):
        return [resolved(item, document) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return resolved(document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], document)
    return {key: resolved(value, document) for key, value in schema.items()}


def choices(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives a schema allows (`X | None` is anyOf X, null)."""
    return [c for c in schema.get("anyOf", [schema]) if c.get("type") != "null"]


def plausible(name: str, schema: dict[str, Any]) -> Any:
    """A value this field accepts, or close to one: the state may still refuse it."""
    schema = choices(schema)[0]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "array":
        return [plausible(name, schema["items"])] if schema.get("minItems") else []
    if schema.get("type") == "integer":
        return max(schema.get("minimum", 1), 1)
    if schema.get("type") == "boolean":
        return False
    if schema.get("format") == "date-time":
        return (datetime.now(UTC) + timedelta(days=3)).isoformat()
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    if "cell_id" in name:
        return s.CELL
    return {"visitor": s.WORKER, "assignee": s.WORKER, "step": "branch_proposal"}.get(name, "x")


def operations_of(document: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            body = resolved(content["schema"], document) if content else None
            op = Operation(method, path, bool(operation.get("security")), query, body)
            if body is not None:
                op.base = {name: plausible(name, schema) for name, schema in body["properties"].items()
                           if name in body.get("required", [])}
            found.append(op)
    return found


def text_fields(op: Operation) -> list[tuple[str, bool]]:
    """The body's fields that take text: (name, whether a list of texts)."""
    assert op.body is not None
    fields = []
    for name, schema in op.body["properties"].items():
        for choice in choices(schema):
            if choice.get("type") == "string" and "enum" not in choice and "format" not in choice:
                fields.append((name, False))
            elif choice.get("type") == "array" and choice["items"].get("type") == "string" \
                    and "enum" not in choice["items"]:
                fields.append((name, True))
    return fields


def fields_of_type(op: Operation, *types: str) -> list[str]:
    assert op.body is not None
    return [name for name, schema in op.body["properties"].items()
            if any(c.get("type") in types or c.get("format") in types for c in choices(schema))]


def with_field(op: Operation, name: str, raw: str) -> bytes:
    """The operation's plausible body with one field set to raw JSON text."""
    rest = json.dumps({k: v for k, v in op.base.items() if k != name}, ensure_ascii=False)[1:-1]
    return ("{" + (f"{rest}, " if rest else "") + f"{json.dumps(name)}: {raw}" + "}").encode()


# ---------------------------------------------------------------- one API per store for the module
@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def hostile(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """The API on a fresh store (no public rate limit to hide behind), a case, household, visit and
    receipt for the paths to name, and the operations of its OpenAPI document."""
    if request.param == "sqlite":
        yield from _serving_hostile(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'minqing.db'}")
    else:
        with fresh_schema() as schema:
            yield from _serving_hostile(f"{POSTGRES_URL}?schema={schema}")


def _serving_hostile(database_url: str) -> Iterator[Hostile]:
    settings = Settings(database_url=database_url, public_requests_per_minute=1_000_000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deadline_worker, "run", lambda app, engine, stop, **_: stop.wait())
        initialise(settings)
        with TestClient(create_app(settings, embedded_workers=True)) as client:
            app = client.app.state.runtime.app  # type: ignore[attr-defined]
            add_staff(app)
            api = Api(client, app, {name: auth.issue_token(app, actor=SYSTEM, username=name)[1]
                                    for name in STAFF})
            case = s.raised(api.app)
            visit = s.scheduled_visit(api.app)
            ids = {"demand_id": str(case), "household_id": str(api.app.visit(visit).household_id),
                   "visit_id": str(visit), "receipt": api.app.demand(case).receipt,
                   "case_id": str(case), "notice_id": "n1"}  # the notice need not exist
            yield Hostile(api, database_url, operations_of(client.app.openapi()), ids)


def report(hostile: Hostile, kind: str) -> None:
    print(f"hostile inputs on {hostile.database_url.split(':')[0]}: {kind} {hostile.sent[kind]}")
    assert hostile.sent[kind] > 0


def bodied(hostile: Hostile) -> list[Operation]:
    return [op for op in hostile.operations if op.body is not None]


# ---------------------------------------------------------------- every operation, each kind of input
def test_the_document_names_every_kind_of_operation_the_inputs_need(hostile: Hostile) -> None:
    names = {str(op) for op in hostile.operations}
    assert {"POST /api/v1/demands", "GET /api/v1/demands", "POST /api/v1/public/demands",
            "GET /api/v1/views/unresolved", "POST /api/v1/households/{household_id}/visits"} <= names
    assert len(bodied(hostile)) >= 20


def test_a_body_over_the_size_limit_is_refused_with_413_before_it_is_read(hostile: Hostile) -> None:
    oversized = json.dumps({"title": "路" * MAX_BODY}).encode()
    for op in hostile.operations:
        assert hostile.send("oversized", op, content=oversized).status_code == 413, op
    for op in bodied(hostile):  # just under the limit: refused by the field's own bound, never a 5xx
        for name, listed in text_fields(op):
            near = json.dumps(["x" * (MAX_BODY - 1000)] if listed else "x" * (MAX_BODY - 1000))
            hostile.send("oversized", op, content=with_field(op, name, near))
    report(hostile, "oversized")


def test_deeply_nested_bodies_are_refused_as_problems(hostile: Hostile) -> None:
    depth = MAX_BODY // 4
    nests = ["[" * depth + "]" * depth, '{"a":' * (depth // 6) + "1" + "}" * (depth // 6),
             "[" * 1000 + "]" * 1000, "[" * depth]
    for op in bodied(hostile):
        for nest in nests:
            assert hostile.send("nested", op, content=nest.encode()).status_code in (400, 413, 422), op
            for name, _ in text_fields(op)[:2]:
                hostile.send("nested", op, content=with_field(op, name, nest))
    report(hostile, "nested")


def test_bodies_that_are_not_utf_8_are_refused_as_problems(hostile: Hostile) -> None:
    for op in bodied(hostile):
        for name, _ in text_fields(op):
            for raw in INVALID_UTF8:
                response = hostile.send("invalid_utf8", op, content=with_field(op, name, '"a') + raw + b'b"}')
                assert response.status_code in (400, 422), op
            for escaped in LONE_SURROGATES:  # valid JSON, but no UTF-8 text: it could not be stored
                hostile.send("invalid_utf8", op, content=with_field(op, name, f'"{escaped}"'))
    report(hostile, "invalid_utf8")


def test_bodies_of_the_wrong_content_type_are_refused_as_problems(hostile: Hostile) -> None:
    for op in bodied(hostile):
        plausible_body = json.dumps(op.base).encode()
        for content_type in CONTENT_TYPES:
            hostile.send("content_type", op, content=plausible_body, content_type=content_type)
        for garbage in (b"", b"null", b"[]", b"\"text\"", b"title=x&cell_id=y", b"<xml/>", b"{"):
            assert hostile.send("content_type", op, content=garbage).status_code in (400, 422), op
    report(hostile, "content_type")


def test_nul_characters_anywhere_are_refused_or_kept_harmlessly(hostile: Hostile) -> None:
    for op in hostile.operations:
        for name in op.query:
            hostile.send("nul", op, params={name: "a\x00b"})
        if "{" in op.path:
            hostile.send("nul", op, path=op.path.split("{")[0] + "a%00b" + op.path.split("}")[1])
        if op.body is not None:
            for name, listed in text_fields(op):
                value = json.dumps(["a\x00b"] if listed else "a\x00b")
                assert hostile.send("nul", op, content=with_field(op, name, value)).status_code == 422, op
    report(hostile, "nul")


def test_huge_and_odd_numbers_are_refused_as_problems(hostile: Hostile) -> None:
    for op in hostile.operations:
        for name, schema in op.query.items():
            if any(c.get("type") == "integer" for c in choices(schema)):
                for number in HUGE:
                    hostile.send("huge_numbers", op, params={name: number})
        if op.body is not None:
            for name in fields_of_type(op, "integer", "string"):
                for number in HUGE:
                    hostile.send("huge_numbers", op, content=with_field(op, name, number))
    report(hostile, "huge_numbers")


def test_absurd_pagination_is_refused_as_a_problem(hostile: Hostile) -> None:
    for op in hostile.operations:
        for name in ("limit", "offset", "after"):
            if name in op.query:
                for value in PAGES:
                    hostile.send("pagination", op, params={name: value})
        if "sort" in op.query:
            for value in ("id; DROP TABLE view_cases", "-", "title desc", "nonexistent", "title,id", *SQL):
                assert hostile.send("pagination", op, params={"sort": value}).status_code == 422, op
    report(hostile, "pagination")


def test_malformed_dates_are_refused_as_problems(hostile: Hostile) -> None:
    for op in hostile.operations:
        for name in ("as_of", "known_at", "month"):
            if name in op.query:
                for date in DATES:
                    hostile.send("dates", op, params={name: date.strip('"')})
        if op.body is not None:
            for name in fields_of_type(op, "date-time"):
                for date in DATES:
                    assert hostile.send("dates", op, content=with_field(op, name, date)).status_code == 422, (
                        op, date)
    report(hostile, "dates")


@pytest.mark.parametrize("kind", list(TEXT_PROBES))
def test_injection_strings_in_every_text_field_and_parameter_give_no_server_error(hostile: Hostile,
                                                                                   kind: str) -> None:
    tables, head = table_names(hostile), hostile.api.head()
    for op in hostile.operations:
        for name, schema in op.query.items():
            if any(c.get("type") == "string" for c in choices(schema)):
                for probe in TEXT_PROBES[kind]:
                    hostile.send(kind, op, params={name: probe})
        if op.body is not None:
            for name, listed in text_fields(op):
                for probe in TEXT_PROBES[kind]:
                    value = json.dumps([probe] if listed else probe)
                    hostile.send(kind, op, content=with_field(op, name, value))
    assert table_names(hostile) == tables  # none dropped
    assert hostile.api.head() >= head  # the log kept its events
    assert hostile.api.app.demand(uuid.UUID(hostile.ids["demand_id"])).receipt == hostile.ids["receipt"]
    report(hostile, kind)


def table_names(hostile: Hostile) -> set[str]:
    engine = make_engine(hostile.database_url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


# ---------------------------------------------------------------- what became of the strings kept
def raised_over_http(hostile: Hostile, title: str, **fields: Any) -> dict[str, Any]:
    body = {"channel": "reception_day", "title": title, "cell_id": s.CELL, "description": title,
            "resident_name": title[:100]} | fields
    response = hostile.api.post("/api/v1/demands", body, s.SUPERVISOR)
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("probe", SQL)
def test_sql_injection_strings_are_stored_and_returned_as_plain_text(hostile: Hostile, probe: str) -> None:
    done = raised_over_http(hostile, probe)
    case = hostile.api.get(f"/api/v1/demands/{done['id']}", s.SUPERVISOR).json()
    assert (case["title"], case["description"], case["resident_name"]) == (probe, probe, probe[:100])
    found = hostile.api.get("/api/v1/demands", s.SUPERVISOR, q=probe, after=done["position"]).json()
    assert done["id"] in [item["id"] for item in found["items"]]
    assert hostile.api.app.demand(uuid.UUID(done["id"])).title == probe  # the event store still answers


@pytest.mark.parametrize("probe", HTML)
def test_html_strings_come_back_as_json_text_and_csv_text_never_as_markup(hostile: Hostile, probe: str
                                                                          ) -> None:
    done = raised_over_http(hostile, probe, occurred_at=(datetime.now(UTC) - timedelta(days=3)).isoformat())
    case = hostile.api.get(f"/api/v1/demands/{done['id']}", s.SUPERVISOR)
    assert case.headers["content-type"] == "application/json"
    assert case.json()["title"] == probe
    export = hostile.api.get("/api/v1/views/unresolved", s.SUPERVISOR, format="csv", after=done["position"],
                             limit=500)
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"].startswith("attachment")
    rows = {row["案件编号"]: row for row in csv.DictReader(io.StringIO(export.content.decode("utf-8-sig")))}
    assert rows[done["id"]]["标题"] == probe


# ---------------------------------------------------------------- what only a real server receives
def raw(base: str, head: bytes, body: bytes = b"") -> tuple[int, str, bytes]:
    """Send bytes as they are, the body in pieces until the server answers (it may answer before
    reading it all, and then close); (status, content type, body) of the answer."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port), timeout=20) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 65536):
            if select.select([sock], [], [], 0)[0]:
                break  # answered already
            try:
                sock.sendall(body[start:start + 65536])
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # closed with part of the body unread: the answer came before
            pass
    top, _, content = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    kind = next((line.split(":", 1)[1].strip() for line in lines
                 if line.lower().startswith("content-type:")), "")
    return int(lines[0].split()[1]), kind, content


@pytest.fixture
def real_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, a supervisor's token) of `minqing serve` on a fresh store."""
    env = {**os.environ, "MINQING_DATABASE_URL": database_url}
    minqing(env, "db", "init")
    minqing(env, "accounts", "create", "hostile", "--role", "supervisor", "--cell", "qingshui")
    token = minqing(env, "accounts", "issue-token", "hostile").splitlines()[-1]
    with serving(env, tmp_path) as base:
        yield base, token


def test_a_real_server_refuses_oversized_chunked_and_non_utf_8_requests_as_problems(
        real_server: tuple[str, str]) -> None:
    base, token = real_server
    host = urlsplit(base).netloc
    auth_header = f"Authorization: Bearer {token}\r\n"

    def post(path: str, body: bytes, *headers: str) -> tuple[int, str, bytes]:
        lines = "".join(f"{h}\r\n" for h in headers)
        return raw(base, f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{auth_header}{lines}Connection: close\r\n"
                         "Content-Type: application/json\r\n\r\n".encode(), body)

    not_utf8 = b'{"title": "\xff\xfe\xc3(", "cell_id": "qingshui.dongcun.g1", "channel": "visit"}'
    big = b'{"title": "' + b"x" * (4 * MAX_BODY) + b'"}'
    pieces = (big[i:i + 65536] for i in range(0, len(big), 65536))
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    answers = {
        "announced too large": post("/api/v1/demands", big, f"Content-Length: {len(big)}"),
        "chunked, too large": post("/api/v1/demands", chunked + b"0\r\n\r\n", "Transfer-Encoding: chunked"),
        "public, too large": post("/api/v1/public/demands", big, f"Content-Length: {len(big)}"),
        "not UTF-8": post("/api/v1/demands", not_utf8, f"Content-Length: {len(not_utf8)}"),
    }
    for what, (status, kind, body) in answers.items():
        assert status < 500 and kind.startswith(PROBLEM), (what, status, kind, body[:300])
    assert answers["announced too large"][0] == answers["chunked, too large"][0] == 413
    # bytes that are not UTF-8 in the path and the query reach the app percent-decoded: a problem, no 5xx
    for target in (b"/api/v1/demands/\xff\xfe", b"/api/v1/demands?q=\xff\xfe&cell=\xc3\x28",
                   b"/api/v1/public/demands/\xed\xa0\x80"):
        status, kind, body = raw(base, b"GET " + target + f" HTTP/1.1\r\nHost: {host}\r\n{auth_header}"
                                 "Connection: close\r\n\r\n".encode())
        assert status < 500, (target, status, body[:300])
    print(f"hostile inputs on a real server: {len(answers) + 3}")
