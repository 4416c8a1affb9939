"""The tree's architecture, held by a test: which package may import which, and no import cycles.

Every ``import`` in a module counts, including the ones inside functions (a function-level import
is how a cycle hides). The allowed edges are the ones the package docstrings state.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Layer of a module = its first two dotted parts for app's subpackages, else its top package.
ALLOWED: dict[str, set[str]] = {
    "contract": {"contract"},
    "app.errors": {"contract"},
    "app.settings": set(),
    "app.metrics": {"app.counting", "contract"},  # contract: served-probability buckets shared with training
    "app.counting": set(),
    "app.logs": set(),
    "app.stores": {"contract", "app.errors", "app.metrics", "app.settings", "app.logs"},
    "app.scoring": {"contract", "app.stores", "app.errors", "app.metrics", "app.settings", "app.logs"},
    "app.feedback": {"app.scoring", "app.errors", "app.metrics", "app.settings", "app.logs"},
    "app.security": {"app.errors"},  # API keys: the file, digests, the constant-time match
    "app.state": {"app.scoring", "app.feedback", "app.metrics", "app.settings"},
    "app.ranking": {"contract", "app.scoring", "app.errors", "app.settings"},
    "app.versions": {
        "contract",
        "app.scoring",
        "app.stores",
        "app.state",
        "app.errors",
        "app.metrics",
        "app.settings",
        "app.logs",
    },
    "app.http": {
        "app.feedback",
        "app.security",
        "app.versions",  # the admin endpoints switch versions as `ctr models` does
        "contract",
        "app.scoring",
        "app.ranking",
        "app.state",
        "app.errors",
        "app.metrics",
        "app.settings",
        "app.logs",
    },
    "app.cli": {
        "app.cli",
        "app.security",
        "app.stores",
        "app.versions",
        "app.feedback",
        "app.metrics",
        "app.errors",
        "app.settings",
        "app.logs",
    },
    "app.main": {
        "app.feedback",
        "app.http",
        "app.versions",
        "app.scoring",
        "app.state",
        "app.metrics",
        "app.settings",
        "app.errors",
        "app.logs",
    },
}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "app" and len(parts) > 1:
        return f"app.{parts[1]}"
    return parts[0]


def project_imports(path: Path, module: str) -> set[str]:
    """Dotted names of project modules imported anywhere in ``path``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module if node.level == 0 else ".".join([*module.split(".")[: -node.level], node.module])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from app import cli` imports a module
    return {name for name in found if name.split(".")[0] in ("app", "contract", "training", "cli")}


def modules(package: str) -> dict[str, Path]:
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out[dotted.removesuffix(".__init__")] = path
    return out


def known(name: str, universe: dict[str, Path]) -> str | None:
    """The module ``name`` resolves to (``from app.x import f`` names ``app.x.f``, which is no module)."""
    while name and name not in universe:
        name = name.rpartition(".")[0]
    return name or None


def test_every_app_and_contract_module_imports_only_its_allowed_layers():
    universe = modules("app") | modules("contract")
    wrong = []
    for name, path in universe.items():
        own = layer(name)
        for target in project_imports(path, name):
            resolved = known(target, universe) or target
            other = layer(resolved)
            base_layer = other == "contract" and own.startswith("app")  # the contract is every layer's base
            if other != own and other not in ALLOWED.get(own, set()) and resolved != "app" and not base_layer:
                wrong.append(f"{name} imports {resolved}")
    assert not wrong, "\n".join(sorted(set(wrong)))


def test_no_import_cycles_between_modules():
    universe = modules("app") | modules("contract") | modules("training") | modules("retrain") | modules("cli")
    graph = defaultdict(set)
    for name, path in universe.items():
        for target in project_imports(path, name):
            resolved = known(target, universe)
            # a package's __init__ is not a dependency of its own modules' imports of siblings
            if resolved and resolved != name and not name.startswith(resolved + "."):
                graph[name].add(resolved)
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in list(universe):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_every_package_says_what_it_owns():
    for init in [*(ROOT / "app").rglob("__init__.py"), ROOT / "contract/__init__.py"]:
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"{init.relative_to(ROOT)} needs a docstring saying what it owns"


def test_modules_stay_small():
    big = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for package in ("app", "contract", "training", "retrain")
        for p in (ROOT / package).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 330  # "~300": room for a docstring
    ]
    assert not big, big
