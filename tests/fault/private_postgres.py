"""A PostgreSQL cluster of a test's own, which it may stop and start: initdb in a temporary directory, its
own free port, fsync off. The shared server at MINQING_TEST_POSTGRES_URL is never touched.

The server refuses to run as root, so as root every command runs as the `postgres` user, which owns the
directory. Without PostgreSQL's binaries the test is skipped, and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.support import free_port

SERVER_OPTIONS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                  "-c full_page_writes=off")


@dataclass
class Cluster:
    bin: Path
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._pg_ctl("-o", f"-p {self.port} -k {self.directory} {SERVER_OPTIONS}",
                     "-l", str(self.directory / "server.log"), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: in-flight sessions are ended, as an operator's restart does)."""
        self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")

    def log(self) -> str:
        return (self.directory / "server.log").read_text(errors="replace")

    def _pg_ctl(self, *args: str) -> None:
        _as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), *args)


def _as_postgres(*command: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)


def _newest_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


@contextmanager
def private_cluster() -> Iterator[Cluster]:
    """A running cluster of this test's own; stopped and removed afterwards."""
    bin_dir = _newest_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's binaries (/usr/lib/postgresql/*/bin) are needed in CI")
        pytest.skip("PostgreSQL's binaries (/usr/lib/postgresql/*/bin) are not installed")
    directory = Path(tempfile.mkdtemp(prefix="minqing-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres")
    cluster = Cluster(bin_dir, directory, free_port())
    try:
        _as_postgres(str(bin_dir / "initdb"), "-D", str(directory / "data"), "-U", "postgres", "-A", "trust",
                     "-E", "UTF8", "--no-sync")
        cluster.start()
        yield cluster
    finally:
        if (directory / "data" / "postmaster.pid").exists():
            cluster.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)
