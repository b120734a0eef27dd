"""The `minqing` command line.

The residents' commands (`verify-notice`, `verify-heads`: api/cli/verify_notice.py) are loaded without the
server's: a resident checking a notice waits for its proof, not for the API, the views and the workers to be
imported (3 s on a busy 2-core machine against 1). Every other command comes from api/cli/server.py, imported
when one of them is asked for or listed (click's lazily loaded subcommands)."""

from __future__ import annotations

from importlib import import_module

import click

RESIDENTS_COMMANDS = {"verify-notice": "verify_notice", "verify-heads": "verify_heads_command"}


class _Minqing(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return _server_commands().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in RESIDENTS_COMMANDS:
            command = getattr(import_module("api.cli.verify_notice"), RESIDENTS_COMMANDS[cmd_name])
            assert isinstance(command, click.Command)
            return command
        return _server_commands().get_command(ctx, cmd_name)


def _server_commands() -> click.Group:
    from api.cli.server import main as server  # the server's commands, when asked for

    return server


main = _Minqing(name="minqing", help="民情 Minqing: residents' demands and household visits, event-sourced.")

__all__ = ["main"]
