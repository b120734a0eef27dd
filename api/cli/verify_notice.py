"""`minqing verify-notice` and `minqing verify-heads`: a resident's own check of a notice's proof and of two
saved tree heads, with nothing but the proof, the public key and (for two heads) the server's consistency
proof. Neither opens the database: each runs anywhere this package is installed."""

from __future__ import annotations

import json
import sys
import urllib.request
from typing import Any
from urllib.error import URLError
from urllib.parse import urlencode, urlsplit

import click

from api import i18n
from api.i18n import gettext as _
from api.names import Names
from api.notice_texts import fact_said, moment, said, timeline_words
from api.settings import Settings
from domain.notice_proof import Check, ProofUnreadable, public_key_of, raw_keys, verify, verify_heads
from domain.seal import SignedHead, key_id

PUBLIC_KEY_PATH = "/api/v1/log/public-key"
CONSISTENCY_PATH = "/api/v1/log/consistency"
LANGUAGES = click.Choice(i18n.LOCALES)


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme in ("http", "https")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _read(source: str) -> str:
    """A file's text, or a URL's answer."""
    try:
        if _is_url(source):
            with urllib.request.urlopen(source, timeout=30) as answer:
                return str(answer.read().decode("utf-8"))
        with open(source, encoding="utf-8") as file:
            return file.read()
    except (OSError, URLError, UnicodeDecodeError) as error:
        raise click.ClickException(_("Cannot read {source}: {error}").format(source=source, error=error)
                                   ) from None


def _json(source: str) -> Any:
    try:
        return json.loads(_read(source))
    except json.JSONDecodeError as error:
        raise click.ClickException(_("{source} is not JSON: {error}").format(source=source, error=error)
                                   ) from None


def _key(given: str | None, server: str | None) -> list[bytes] | None:
    """The pinned keys (hex, PEM, the public-key JSON with the retired keys, or a file or URL holding one),
    else the server's."""
    source = given if given is not None else (server + PUBLIC_KEY_PATH if server else None)
    if source is None:
        return None
    text = _read(source) if _is_url(source) or not _looks_like_key(source) else source
    try:
        return raw_keys(text)
    except (ProofUnreadable, ValueError, KeyError, TypeError) as error:
        raise click.ClickException(_("Not a public key: {error}").format(error=error)) from None


def _looks_like_key(text: str) -> bool:
    """Whether an option's value is a key itself rather than the name of a file holding one."""
    stripped = text.strip()
    hex_key = len(stripped) == 64 and all(c in "0123456789abcdefABCDEF" for c in stripped)
    return hex_key or stripped.startswith(("-----BEGIN", "{"))


def _show(checks: list[Check]) -> None:
    for check in checks:
        click.echo(f"{'✓' if check.ok else '✗'} {said(check)}", err=not check.ok)


@click.command("verify-notice")
@click.argument("source")
@click.option("--public-key", "public_key", metavar="KEY-OR-URL",
              help="The log's public key: 64 hex digits, PEM, or a file or URL with one (by default the "
                   "server's /api/v1/log/public-key when SOURCE is a URL).")
@click.option("--lang", type=LANGUAGES, default=i18n.DEFAULT_LOCALE, show_default=True)
def verify_notice(source: str, public_key: str | None, lang: str) -> None:
    """Check a public notice's proof (a saved file, or its URL …/api/v1/public/notices/CASE/NOTICE/proof)
    with only the proof and the log's public key: the head's signature, every event's inclusion under it,
    and the notice's text in a proved event of its case; then print the case's public timeline. Exits 1
    when any check fails."""
    with i18n.speaking(lang):
        proof = _json(source)
        pinned = _key(public_key, _origin(source) if _is_url(source) else None)
        try:
            report = verify(proof, pinned)
        except ProofUnreadable as error:
            raise click.ClickException(_("Not a notice proof: {error}").format(error=error)) from None
        click.echo(_("Public key id: {key_id} (compare it with the one published on paper)")
                   .format(key_id=report.key_id))
        if report.retired_at is not None:
            click.echo(_("This key was retired at {at}: the log signs with a newer key since, and this head "
                         "was signed before").format(at=report.retired_at))
        if pinned is None:
            click.echo(_("No key was given: the key in the proof itself was used, so only its id, compared "
                         "with the published one, ties the proof to this log"))
        head = report.head
        words = timeline_words(Names(Settings().load_deployment()))   # words only: the checks need none
        zone = str(words["zone"])
        click.echo(_("Signed tree head: {size} events, root {root}, signed at {at}")
                   .format(size=head.tree_size, root=head.root_hash.hex(), at=moment(head.signed_at, zone)))
        _show(report.checks)
        if not report.ok:
            click.echo(_("The proof does not hold: this notice cannot be trusted as published"), err=True)
            sys.exit(1)
        click.echo(_("The case's public timeline, as the proof shows it:"))
        for step in report.timeline:
            click.echo(f"  {moment(step['occurred_at'], zone)}  {fact_said(step, words)}")


def _head(source: str) -> SignedHead:
    """A saved head: its JSON, or a notice proof whose head it is."""
    found = _json(source)
    try:
        return SignedHead.from_json(found.get("head", found) if isinstance(found, dict) else found)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise click.ClickException(_("{source} is not a signed tree head: {error}")
                                   .format(source=source, error=error)) from None


@click.command("verify-heads")
@click.argument("older")
@click.argument("newer")
@click.option("--server", required=True, help="The Minqing server, e.g. https://minqing.example.org")
@click.option("--public-key", "public_key", metavar="KEY-OR-URL",
              help="The log's public key (by default the server's /api/v1/log/public-key).")
@click.option("--lang", type=LANGUAGES, default=i18n.DEFAULT_LOCALE, show_default=True)
def verify_heads_command(older: str, newer: str, server: str, public_key: str | None, lang: str) -> None:
    """Check that the log only grew between two signed tree heads one saved (files with a head's JSON, or
    notice proofs): both signed by the log's key, and the server's consistency proof (RFC 9162) takes the
    older tree into the newer. Exits 1 when it did not."""
    with i18n.speaking(lang):
        first, second = sorted((_head(older), _head(newer)), key=lambda h: h.tree_size)
        raw = _key(public_key, server.rstrip("/"))
        assert raw is not None      # a server is always given
        keys = [public_key_of(found) for found in raw]
        named = [key for key in keys if key_id(key) in (first.key_id, second.key_id)]
        for key in named or keys[:1]:
            click.echo(_("Public key id: {key_id} (compare it with the one published on paper)")
                       .format(key_id=key_id(key)))
        query = urlencode({"first": first.tree_size, "second": second.tree_size})
        answer = _json(f"{server.rstrip('/')}{CONSISTENCY_PATH}?{query}")
        try:
            proof = [bytes.fromhex(node) for node in answer["proof"]]
        except (KeyError, TypeError, ValueError) as error:
            raise click.ClickException(_("Not a consistency proof: {error}").format(error=error)) from None
        checks = verify_heads(first, second, proof, keys)
        _show(checks)
        if not all(check.ok for check in checks):
            sys.exit(1)
        click.echo(_("From {first} to {second} events, the log only grew")
                   .format(first=first.tree_size, second=second.tree_size))
