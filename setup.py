"""Packaging glue that pyproject.toml cannot express: install tui/ and backends/ as thinkpane.*.

Metadata, dependencies and entry points live in pyproject.toml. This file only maps the two
top-level folders to ``thinkpane.tui`` and ``thinkpane.backends`` (setuptools ``package_dir``)
and lists their subpackages, so nothing named ``tui`` or ``backends`` lands in site-packages.
"""

from setuptools import find_packages, setup

FOLDERS = ("tui", "backends")

setup(
    package_dir={f"thinkpane.{folder}": folder for folder in FOLDERS},
    packages=[
        f"thinkpane.{name}"
        for name in find_packages(include=[f"{folder}*" for folder in FOLDERS])
        if name.split(".")[0] in FOLDERS
    ],
)
