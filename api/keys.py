"""The keys Minqing keeps outside its database, in one folder (`MINQING_KEY_DIR`, `./minqing-keys` by
default): `signing.key` signs the Merkle tree heads that seal the log, `cipher.key` encrypts personal data
at rest.

A key in the environment (`MINQING_SIGNING_KEY`, `MINQING_CIPHER_KEY`) takes precedence over its file.
`minqing db init` creates each missing file: the folder with mode 0700, each file with mode 0600, written
whole or not at all (docs/keys.md says where they live, how to back them up and how to rotate them).
"""

from __future__ import annotations

import os
from pathlib import Path

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
