"""The residents' commands of `minqing` load without the server's modules (api/cli/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

SERVER_MODULES = ("api.cli.server", "api.web.app", "api.compose", "projections.queries", "uvicorn")


def loaded_after(*args: str) -> set[str]:
    """The modules loaded once `minqing ARGS` has run, in a fresh interpreter (told on its last line)."""
    program = ("import sys\nfrom api.cli import main\ntry:\n    main([" + ", ".join(map(repr, args)) + "])\n"
               "except SystemExit:\n    pass\nprint('\\n' + ' '.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return set(done.stdout.splitlines()[-1].split())


def test_a_residents_command_loads_without_the_server() -> None:
    for command in ("verify-notice", "verify-heads"):
        loaded = loaded_after(command, "--help")
        assert "api.cli.verify_notice" in loaded
        assert not loaded & set(SERVER_MODULES), command


def test_every_command_is_listed_and_the_servers_load_when_asked_for() -> None:
    listing = subprocess.run([sys.executable, "-m", "api.cli", "--help"], capture_output=True, text=True,
                             check=True).stdout
    for command in ("db", "serve", "api", "worker", "verify", "verify-notice", "verify-heads"):
        assert f"  {command} " in listing
    assert "api.web.app" in loaded_after("db", "--help")


def test_the_command_stays_the_command_once_the_servers_are_loaded() -> None:
    # A submodule named like the package's attribute would replace it when imported (`api.cli.main` did:
    # later `from api.cli import main` got the module, not the command).
    program = ("import api.cli\ntry:\n    api.cli.main(['db', '--help'])\nexcept SystemExit:\n    pass\n"
               "from api.cli import main\nprint(type(main).__name__)")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "_Minqing"
