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
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNING_KEY_FILE = "signing.key"
CIPHER_KEY_FILE = "cipher.key"


def read_key_file(folder: Path, name: str) -> bytes | None:
    """The content of a key file, or None when there is none."""
    try:
        return (folder / name).read_bytes()
    except FileNotFoundError:
        return None


def create_key_file(folder: Path, name: str, content: bytes) -> bool:
    """Write a new key file readable by its owner only; an existing one is kept as it is (a key replaced by
    accident would make what it sealed or encrypted unverifiable or unreadable). Returns whether it wrote."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path, draft = folder / name, folder / f".{name}.{os.getpid()}.new"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.link(draft, path)  # the whole file appears at once, and never over an existing one
    except FileExistsError:
        return False
    finally:
        draft.unlink(missing_ok=True)
    return True


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


def create_signing_key(folder: Path) -> bool:
    """Create `signing.key` (a new Ed25519 key, PEM) unless there is one; whether it wrote."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return create_key_file(folder, SIGNING_KEY_FILE, pem)
