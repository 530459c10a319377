"""The import structure, read from the source with ``ast`` (nothing is imported, no process is started except in
the last test): which package may import which, and no import circles.

Layers, bottom up: ``service.contract`` (numpy, msgpack, pydantic; shared by both processes) and ``service.config``;
``worker`` (JAX; may use the contract and the config only); the rest of ``service`` (FastAPI, RQ; never the
worker: ``inversion-service worker``/``dev`` start ``python -m worker`` as a process). The client
(``inversion_client``) is installed on its own and imports neither ``service`` nor ``worker``.

Every import counts, including those inside functions (a lazy import is still an arrow); only the cycle check
leaves out ``if TYPE_CHECKING:`` blocks, which never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: package name -> its directory
PACKAGES = {"service": ROOT / "service", "worker": ROOT / "worker",
            "inversion_client": ROOT / "client" / "inversion_client"}

CONTRACT_FORBIDDEN = ("fastapi", "starlette", "rq", "redis", "jax", "jaxlib", "worker")
WORKER_MAY_USE = ("service.contract", "service.config")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the absolute name imported: the most specific module, or package.name for ``from pkg import name``
    line: int
    lazy: bool  # inside a function (runs when the function is called)
    type_only: bool  # inside ``if TYPE_CHECKING:``

    def __str__(self) -> str:
        where = " (in a function)" if self.lazy else " (TYPE_CHECKING)" if self.type_only else ""
        return f"{self.module}:{self.line} imports {self.target}{where}"


def _module_name(package: str, path: Path) -> str:
    parts = [package, *path.relative_to(PACKAGES[package]).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the three packages, by dotted name."""
    out = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            out[_module_name(package, path)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    assert base, f"{module}: relative import beyond the top-level package"
    return ".".join([*base, name] if name else base)


def _imports_of(module: str, path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    known = modules()
    found: list[Import] = []

    def visit(node: ast.AST, lazy: bool, type_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno, lazy, type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (_resolve_relative(module, is_package, node.level, node.module) if node.level
                    else node.module or "")
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                # ``from pkg import sub`` imports the module pkg.sub when there is one; else a name of pkg
                target = sub if sub in known else base
                found.append(Import(module, target, node.lineno, lazy, type_only))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy = True
        for child in ast.iter_child_nodes(node):
            child_type_only = type_only or (isinstance(node, ast.If) and _is_type_checking(node.test)
                                            and child in node.body)
            visit(child, lazy, child_type_only)

    visit(tree, False, False)
    return list(dict.fromkeys(found))  # one entry per target and line (``from m import a, b`` names m twice)


@cache
def all_imports() -> tuple[Import, ...]:
    return tuple(imp for name, path in modules().items() for imp in _imports_of(name, path))


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _report(bad: list[Import], rule: str) -> str:
    return f"{rule}:\n" + "\n".join(f"  {imp}" for imp in bad)


def test_the_scan_finds_the_packages_and_resolves_relative_imports():
    names = modules()
    assert {"service.cli", "service.contract.names", "worker.main", "inversion_client.local"} <= names.keys()
    targets = {imp.target for imp in all_imports()}
    assert "service.contract.names" in targets  # imported by both processes
    assert not any(t.startswith(".") for t in targets)


def test_service_never_imports_worker():
    bad = [i for i in all_imports() if _under(i.module, "service") and _under(i.target, "worker")]
    assert not bad, _report(bad, "service must not import worker (start it as a process: python -m worker)")


def test_contract_imports_only_itself_and_no_framework():
    bad = [i for i in all_imports() if _under(i.module, "service.contract") and (
        (_under(i.target, "service") and not _under(i.target, "service.contract"))
        or _under(i.target, *CONTRACT_FORBIDDEN))]
    assert not bad, _report(bad, f"service.contract may import nothing of service outside itself, nor "
                                 f"{', '.join(CONTRACT_FORBIDDEN)}")


def test_worker_uses_only_the_contract_and_the_config_of_service():
    bad = [i for i in all_imports() if _under(i.module, "worker") and _under(i.target, "service")
           and not _under(i.target, *WORKER_MAY_USE)]
    assert not bad, _report(bad, f"worker may import from service only {' and '.join(WORKER_MAY_USE)}")


def test_client_imports_neither_service_nor_worker():
    bad = [i for i in all_imports() if _under(i.module, "inversion_client") and _under(i.target, "service", "worker")]
    assert not bad, _report(bad, "the client package must not import service or worker")


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in all_imports():
        if imp.type_only:
            continue
        target = imp.target
        while target and target not in known:  # an imported name of a module -> that module
            target = target.rpartition(".")[0]
        if target and target != imp.module:
            graph[imp.module].add(target)
            edges.setdefault((imp.module, target), []).append(imp)
    lines = []
    for component in _cycles(graph):
        members = set(component)
        lines.append("  cycle among " + ", ".join(component) + ":")
        lines += [f"    {imp}" for (a, b), imps in sorted(edges.items()) if a in members and b in members
                  for imp in imps]
    assert not lines, "import cycles (function-level imports included):\n" + "\n".join(lines)


def test_client_imports_and_loads_local_service_without_service_or_worker():
    code = textwrap.dedent("""
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("service", "worker"):
                    raise ModuleNotFoundError(f"blocked: {name}", name=name)
                return None

        sys.meta_path.insert(0, Block())
        import inversion_client, inversion_client.local, inversion_client.samplers
        from inversion_client.local import LocalService, service_command
        assert service_command("redis")[-1] == "redis"
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("service", "worker"))
        assert not bad, bad
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_clients_copies_of_the_vocabulary_stay_equal_to_it():
    """The client installs without the server, so it keeps its own tuples of names; they must not drift."""
    from inversion_client import models

    from service.contract import vocabulary

    assert models.SCALARS == vocabulary.SCALAR_NAMES
    assert models.OUTPUTS == vocabulary.OUTPUT_NAMES


def test_no_module_is_over_400_lines():
    """Small modules, one responsibility each (tests and the golden data excepted)."""
    long = [f"{path.relative_to(ROOT)}: {n} lines" for path in sorted(ROOT.glob("**/*.py"))
            if not set(path.relative_to(ROOT).parts[:1]) & {".venv", "tests", ".git"}
            and (n := len(path.read_text().splitlines())) > 400]
    assert not long, long
