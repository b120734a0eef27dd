"""The keys Minqing keeps outside its database, in one folder (`MINQING_KEY_DIR`, `./minqing-keys` by
default): `signing.key` signs the Merkle tree heads that seal the log, `cipher.key` encrypts personal data
at rest.

A key in the environment (`MINQING_SIGNING_KEY`, `MINQING_CIPHER_KEY`) takes precedence over its file.
`minqing db init` creates each missing file: the folder with mode 0700, each file with mode 0600, written
whole or not at all (docs/keys.md says where they live, how to back them up and how to rotate them).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domain.seal import RetiredKey, canonical, key_id

SIGNING_KEY_FILE = "signing.key"
CIPHER_KEY_FILE = "cipher.key"
RETIRED_SIGNING_DIR = "retired-signing"     # <key id>.pub: retired signing keys' public keys, JSON


def read_key_file(folder: Path, name: str) -> bytes | None:
    """The content of a key file, or None when there is none."""
    try:
        return (folder / name).read_bytes()
    except FileNotFoundError:
        return None


def create_key_file(folder: Path, name: str, content: bytes, *, replace: bool = False) -> bool:
    """Write a new key file readable by its owner only; an existing one is kept as it is (a key replaced by
    accident would make what it sealed or encrypted unverifiable or unreadable) unless `replace` is asked
    for. Returns whether it wrote."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path, draft = folder / name, folder / f".{name}.{os.getpid()}.new"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(draft, path)  # the old file or the new one, whole, whatever happens
        else:
            os.link(draft, path)  # the whole file appears at once, and never over an existing one
        _sync_folder(folder)
    except FileExistsError:
        return False
    finally:
        draft.unlink(missing_ok=True)
    return True


def _sync_folder(folder: Path) -> None:
    """Make a file's new name in the folder durable (a rename is only on disk once its folder is)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def parse_signing_key(content: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key given as PEM (PKCS #8, unencrypted: what `db init` writes) or as the base64 of
    its 32 raw bytes; ValueError when it is neither."""
    if content.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_private_key(content, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key is not an Ed25519 key")
        return key
    try:
        raw = base64.b64decode(content.strip(), validate=True)
    except binascii.Error:
        raise ValueError("the signing key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"a base64 signing key must hold 32 bytes, not {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def signing_key(configured: str | None, folder: Path) -> Ed25519PrivateKey | None:
    """The key that signs the log's tree heads: `MINQING_SIGNING_KEY` if set, else `signing.key` in the key
    folder, else None (nothing is sealed then)."""
    content = configured.encode() if configured else read_key_file(folder, SIGNING_KEY_FILE)
    return None if content is None else parse_signing_key(content)


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def create_signing_key(folder: Path) -> bool:
    """Create `signing.key` (a new Ed25519 key, PEM) unless there is one; whether it wrote."""
    return create_key_file(folder, SIGNING_KEY_FILE, _pem(Ed25519PrivateKey.generate()))


def retire_public_key(folder: Path, key: Ed25519PublicKey, at: datetime) -> Path:
    """Keep a signing key's public key as retired at `at` (`retired-signing/<key id>.pub`, JSON with its id,
    key and time): heads it signed until then stay verifiable. A later retirement of the same key replaces
    the earlier one (a rotation that died before replacing the key retires it again when run anew)."""
    retired = RetiredKey(key, at.isoformat())
    create_key_file(folder / RETIRED_SIGNING_DIR, f"{retired.key_id}.pub", canonical(retired.as_json()),
                    replace=True)
    return folder / RETIRED_SIGNING_DIR / f"{retired.key_id}.pub"


def retired_signing_keys(folder: Path, current: Ed25519PublicKey | None = None) -> list[RetiredKey]:
    """The retired signing keys kept in the key folder, by retirement; ValueError for a file that is not
    one. A retired key that is still the `current` one is left out: its rotation died before the new key
    was in place, so it is not retired (and heads it signs go on verifying)."""
    found = []
    for path in sorted((folder / RETIRED_SIGNING_DIR).glob("*.pub")):
        try:
            retired = RetiredKey.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not a retired public key: {error}") from None
        if current is None or retired.key_id != key_id(current):
            found.append(retired)
    return sorted(found, key=lambda retired: datetime.fromisoformat(retired.retired_at))


def rotate_signing_key(folder: Path, current: Ed25519PrivateKey, at: datetime, *,
                       retired: Callable[[Path], None] = lambda _path: None) -> Ed25519PrivateKey:
    """Replace `signing.key` by a new key, keeping the current key's public key as retired at `at`; returns
    the new key. The steps are ordered so that the folder always holds a usable key: first the retired public
    key is written (while the old key is still `signing.key`, it is not counted as retired: see
    `retired_signing_keys`), then the new key takes the old one's place in one rename, which leaves either
    the old file or the new one. The rename unlinks the old private key, which no one may keep: it could
    sign false heads of the past. `retired` is told of the retired key's file (tests make it fail)."""
    retired(retire_public_key(folder, current.public_key(), at))
    new = Ed25519PrivateKey.generate()
    create_key_file(folder, SIGNING_KEY_FILE, _pem(new), replace=True)
    return new
