"""The `minqing` command line."""

from api.cli.main import main

__all__ = ["main"]
