"""Package mapping: the repository root shows the architecture (services/, loadgen/), while the
installed distribution has a single import root, ``agentperf``, so nothing generic such as
``services`` or ``loadgen`` lands in site-packages."""

import os

from setuptools import setup

ROOTS = {"agentperf": "agentperf", "agentperf.services": "services", "agentperf.loadgen": "loadgen"}


def _packages() -> list[str]:
    found: set[str] = set()
    for name, path in ROOTS.items():
        for dirpath, _dirs, files in os.walk(path):
            if "__init__.py" in files:
                rel = os.path.relpath(dirpath, path)
                found.add(name if rel == "." else name + "." + rel.replace(os.sep, "."))
    return sorted(found)


setup(packages=_packages(), package_dir=ROOTS)
