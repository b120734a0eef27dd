"""`minqing` whose Application tells the time from a file a test writes: the real time moved on by the
seconds the file holds (no file, or an empty one: the real time). A browser test lets days pass this way
(a notice period running out) in a server of its own, as `tests.conftest.Clock` does for an Application
in the test's own process; nothing in the domain or the server is changed for it.

    MINQING_CLOCK_FILE=/tmp/shift python -m tests.browser.clocked serve --port 8201
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.cli.server import main
from api.settings import Settings
from domain.application import Minqing

CLOCK_FILE = "MINQING_CLOCK_FILE"


def moved_now(shift: Path) -> datetime:
    """The real time, moved on by the seconds `shift` holds."""
    seconds = shift.read_text().strip() if shift.exists() else ""
    return datetime.now(UTC) + timedelta(seconds=float(seconds or 0))


def run() -> None:
    shift = Path(os.environ[CLOCK_FILE])
    opened = Settings.open_application

    def open_application(settings: Settings, *, create_tables: bool = False) -> Minqing:
        app = opened(settings, create_tables=create_tables)
        app.clock = lambda: moved_now(shift)
        return app

    Settings.open_application = open_application  # type: ignore[method-assign]
    main()


if __name__ == "__main__":
    run()
