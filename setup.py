"""Package discovery for the one `tritium` namespace spread over five folders (see pyproject.toml)."""

from pathlib import Path

from setuptools import setup

ROOTS = {
    "tritium": "compiler",
    "tritium.ir": "ir",
    "tritium.passes": "passes",
    "tritium.codegen": "codegen",
    "tritium.runtime": "runtime",
}


def packages() -> tuple[list[str], dict[str, str]]:
    names, dirs = [], {}
    for pkg, root in ROOTS.items():
        for init in sorted(Path(root).rglob("__init__.py")):
            rel = init.parent.relative_to(root).parts
            name = ".".join((pkg, *rel))
            names.append(name)
            dirs[name] = init.parent.as_posix()
    return names, dirs


names, dirs = packages()
setup(packages=names, package_dir=dirs)
