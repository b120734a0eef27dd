"""The sealing worker: every few seconds, appends the events recorded since as leaves of the log's Merkle tree
and signs a tree head (projections/sealed_log.py). Two at once are safe: each waits for the other's lock."""

from __future__ import annotations

import threading

import click
import structlog

from api.compose import Runtime
from projections.sealed_log import Sealer
from workers.logs import configure as configure_logs
from workers.rounds import repeat
from workers.signals import stop_on_signals

log = structlog.get_logger("minqing.worker.seal")
SEAL_SECONDS = 5.0


def run(sealer: Sealer, stop: threading.Event, *, every: float = SEAL_SECONDS) -> None:
    """Seal every `every` seconds until `stop` is set."""

    def seal_round() -> None:
        for head in sealer.seal():
            log.info("tree_head_signed", tree_size=head.tree_size, root_hash=head.root_hash.hex())

    repeat(seal_round, stop, every=every, name="seal", log=log)


@click.command("seal")
@click.option("--every", default=SEAL_SECONDS, show_default=True, help="Seconds between sealing rounds.")
def main(every: float) -> None:
    """Seal the log: add new events to its Merkle tree and sign tree heads (SIGTERM stops it)."""
    configure_logs()
    stop = stop_on_signals()
    with Runtime.open() as rt:
        sealer = rt.sealer()
        if sealer is None:
            raise click.ClickException("no signing key: set MINQING_SIGNING_KEY or run `minqing db init`")
        run(sealer, stop, every=every)


if __name__ == "__main__":
    main()
