"""The build compiles the Babel catalogs (api/locale/*/LC_MESSAGES/messages.po) to .mo files, for every
install: `pip install -e .` (the README's) runs this build_py too, and writes them beside the .po files."""

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from setuptools import setup
from setuptools.command.build_py import build_py

CATALOGS = Path(__file__).parent / "api" / "locale"


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        for po in sorted(CATALOGS.glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as source:
                catalog = read_po(source, locale=po.parts[-3])
            with po.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
