"""Imports point one way: ir <- passes <- codegen <- runtime <- compiler (DESIGN.md section 2)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
LAYERS = {"ir": 0, "passes": 1, "codegen": 2, "runtime": 3, "compiler": 4}
PACKAGE = {
    "tritium.ir": "ir",
    "tritium.passes": "passes",
    "tritium.codegen": "codegen",
    "tritium.runtime": "runtime",
    "tritium": "compiler",
}


def layer_of_module(name: str) -> str | None:
    for prefix in sorted(PACKAGE, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return PACKAGE[prefix]
    return None


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, node.module)]
    return out


def test_imports_point_one_way() -> None:
    bad = []
    for folder, level in LAYERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            for line, mod in imports(path):
                target = layer_of_module(mod)
                if target is not None and LAYERS[target] > level:
                    bad.append(f"{path.relative_to(ROOT)}:{line} imports {mod} ({target} is above {folder})")
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_wrong_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("from tritium.runtime import engine\nimport tritium.passes\n")
    found = [layer_of_module(m) for _, m in imports(f)]
    assert found == ["runtime", "passes"]
