"""The package's shape (docs/architecture.md): the import graph has no cycle, and torch is
loaded only by the model boundary (``tracker.lm``), training (``tracker.train``) and the
training hooks, so that ``import tracker``, ``tracker --help``, ``tracker fit`` and ``tracker
report`` never load it."""

from __future__ import annotations

import ast
import graphlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tracker"
# Where torch may load at import time; everything else loads it inside a function, if at all.
TORCH_ALLOWED = ("tracker.lm", "tracker.train", "tracker.hooks")
TORCH_FREE_LM = ("tracker.lm", "tracker.lm.requests")  # what tasks import from the boundary
# The top-level modules docs/architecture.md lists; everything else lives in a package.
TOP_LEVEL = {"__init__", "__main__", "errors", "config", "hooks", "sweep", "points",
             "family_eval"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _owner(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Every import between the package's modules: at module level, inside functions and
    under TYPE_CHECKING alike (an import inside a function is still a dependency)."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for module, path in known.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
            else:
                continue
            edges.update(owner for target in targets
                         if (owner := _owner(target, known)) and owner != module)
        graph[module] = edges
    return graph


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and graph["tracker.sweep"]  # the reader sees the package
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle: {' -> '.join(error.args[1])}")


def test_the_cycle_check_can_fail() -> None:
    graph = import_graph()
    graph["tracker.store.files"] = graph["tracker.store.files"] | {"tracker.sweep"}
    with pytest.raises(graphlib.CycleError):
        graphlib.TopologicalSorter(graph).prepare()


def test_top_level_modules_are_the_documented_few() -> None:
    top = {path.stem for path in PACKAGE.glob("*.py")}
    assert top == TOP_LEVEL, "a new top-level module: place it in a package, or list it in " \
                             "docs/architecture.md and here"
    documented = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    for name in TOP_LEVEL - {"__init__", "__main__"}:
        assert f"{name}.py" in documented


def _loads_torch(code: str) -> dict[str, bool]:
    probe = code + "\nimport json, sys\nprint(json.dumps({'torch': 'torch' in sys.modules}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_modules_outside_the_model_boundary_do_not_import_torch() -> None:
    free = [m for m in modules() if m != "tracker.__main__"  # runs the CLI when imported
            and (m in TORCH_FREE_LM or not m.startswith(TORCH_ALLOWED))]
    assert "tracker.fit.core" in free and "tracker.lm.scoring" not in free
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in free)
    assert _loads_torch(code) == {"torch": False}


def test_the_probe_sees_torch_when_it_loads() -> None:
    assert _loads_torch("import tracker.lm.scoring") == {"torch": True}


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["report", "--help"]])
def test_cli_commands_without_a_model_do_not_import_torch(argv: list[str]) -> None:
    code = ("import sys\nfrom tracker.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n")
    assert _loads_torch(code) == {"torch": False}
