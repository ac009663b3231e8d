"""Imports point down the layers docs/architecture.md draws, Beam stays where it says, and the
project's packages are imported under the `drawreason` namespace only.

The rules are read from the page's table, so the page is the one copy of them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
# Top-level directories that are not layered: they may import anything.
UNLAYERED = {"tests", "tests_integrations", "tests_vllm", "benchmarks", "scripts", "docs"}
NAMESPACE = "drawreason"  # the one import name of every package in the table (drawreason/)
ANY, NONE = "any", "none"


@dataclass(frozen=True)
class Node:
    name: str
    layer: int
    same_layer: frozenset[str]
    beam: str | tuple[str, ...]  # ANY, NONE or the allowed module prefixes


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root
    line: int
    source: str  # the node the file belongs to
    target: str  # the node imported ("" when outside the project)
    module: str  # the full module name imported
    bare: bool = False  # a package of the project imported without the namespace


def _table(text: str, header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.replace(" ", "").startswith(header.replace(" ", "")):
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            return rows
    return []


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def parse_layers(text: str) -> dict[str, Node]:
    nodes = {}
    for layer, package, _what, same, beam in _table(text, "| layer | package |"):
        (name,) = _names(package)
        if beam == "yes":
            allowed: str | tuple[str, ...] = ANY
        elif beam == "no":
            allowed = NONE
        else:
            allowed = tuple(_names(beam))
            assert allowed, f"{name}: cannot read the apache_beam cell {beam!r}"
        nodes[name] = Node(name, int(layer), frozenset(_names(same)), allowed)
    assert nodes, f"no layer table in {DOC.name}"
    return nodes


def parse_exceptions(text: str) -> set[tuple[str, str]]:
    """(file, imported node or module) pairs allowed despite the layers."""
    allowed = set()
    for file, imports, _reason in _table(text, "| file | imports | reason |"):
        for name in _names(imports):
            allowed.add((_names(file)[0], name))
    return allowed


def node_of_module(module: str, nodes: dict[str, Node]) -> str:
    """The most specific node a module (without the namespace) belongs to ("" when it is not
    the project's)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in nodes:
            return ".".join(parts[:n])
    return ""


def node_of_file(rel: Path, nodes: dict[str, Node]) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return node_of_module(".".join(parts), nodes)


def imports_of(path: Path, nodes: dict[str, Node], root: Path = ROOT) -> list[Import]:
    """Every import in one file: module level, in functions, under TYPE_CHECKING alike."""
    rel = path.relative_to(root)
    source = node_of_file(rel, nodes)
    package = list(rel.with_suffix("").parts)
    package = package[:-1]  # a module's package; __init__'s package is its own directory
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(rel))):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from x import y` counts as an import of x.y, so that `from drawreason.cli import
            # stages` is one of the registry and `from apache_beam.io import filesystems` one of
            # Beam's file systems (x.y resolves to x's node when it is not a node itself).
            modules = [f"{module}.{alias.name}" for alias in node.names]
        for module in modules:
            if getattr(node, "level", 0):  # relative: inside the namespace by construction
                module = f"{NAMESPACE}.{module}"
            inner = module.removeprefix(f"{NAMESPACE}.")
            bare = inner == module and node_of_module(module, nodes) != ""
            target = node_of_module(inner, nodes) if inner != module or bare else ""
            found.append(Import(str(rel), node.lineno, source, target, module, bare))
    return found


def violations(
    imports: list[Import], nodes: dict[str, Node], exceptions: Collection[tuple[str, str]] = ()
) -> list[str]:
    """One message per import the layers or the Beam rule forbid."""
    out = []
    for imp in imports:
        where = f"{imp.file}:{imp.line}: import of {imp.module}"
        if imp.bare:  # another project's package of the same name could stand in for it
            out.append(f"{where}: import the project's packages as {NAMESPACE}.{imp.module}")
            continue
        inner = imp.module.removeprefix(f"{NAMESPACE}.")
        if any(
            file == imp.file and (name == inner or inner.startswith(name + "."))
            for file, name in exceptions
        ):
            continue
        src = nodes[imp.source]
        if imp.target and imp.target != imp.source:
            dst = nodes[imp.target]
            if not (dst.layer < src.layer or imp.target in src.same_layer):
                out.append(
                    f"{where}: {imp.source} (layer {src.layer}) may not import "
                    f"{imp.target} (layer {dst.layer})"
                )
        top = imp.module.split(".")[0]
        if top == "apache_beam" and src.beam != ANY:
            allowed = () if src.beam == NONE else src.beam
            if not any(imp.module == p or imp.module.startswith(p + ".") for p in allowed):
                rule = f"only {', '.join(allowed)} of" if allowed else "no part of"
                out.append(f"{where}: {imp.source} may import {rule} apache_beam")
    return out


def project_files(nodes: dict[str, Node]) -> list[Path]:
    files = [ROOT / "run_pipeline.py"]
    for top in sorted(n for n in nodes if "." not in n):
        if (ROOT / top).is_dir():
            files += sorted((ROOT / top).rglob("*.py"))
    return files


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def nodes(doc: str) -> dict[str, Node]:
    return parse_layers(doc)


def test_every_import_points_down_and_beam_stays_put(doc: str, nodes: dict[str, Node]) -> None:
    imports = [imp for f in project_files(nodes) for imp in imports_of(f, nodes)]
    found = violations(imports, nodes, parse_exceptions(doc))
    assert not found, f"imports against {DOC.name}:\n" + "\n".join(found)


def test_every_package_has_a_row(nodes: dict[str, Node]) -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - UNLAYERED - {NAMESPACE}
    missing = packages - set(nodes)
    assert not missing, f"packages without a row in {DOC.name}: {sorted(missing)}"
    stale = {
        n
        for n in nodes
        if n != "run_pipeline"
        and not (ROOT / n.replace(".", "/")).exists()
        and not (ROOT / (n.replace(".", "/") + ".py")).exists()
    }
    assert not stale, f"rows in {DOC.name} for nothing in the repository: {sorted(stale)}"


def test_the_table_itself_has_no_cycle(nodes: dict[str, Node]) -> None:
    for node in nodes.values():
        for other in node.same_layer:
            assert nodes[other].layer == node.layer, f"{node.name}: {other} is not in its layer"
            assert node.name not in nodes[other].same_layer, f"{node.name} <-> {other}"


# The checker itself: it must fail on what it is meant to catch. Module names below are made up
# (no file in the repository is called so) so that they read the same before and after any
# mechanical rename of the project's modules.

FAKE = {
    "schemas": Node("schemas", 0, frozenset(), NONE),
    "drawing": Node("drawing", 1, frozenset(), NONE),
    "filters": Node("filters", 1, frozenset(), NONE),
    "inputs": Node("inputs", 2, frozenset(), ("apache_beam.io.filesystems",)),
    "pipelines": Node("pipelines", 4, frozenset(), ANY),
    "pipelines.registry": Node("pipelines.registry", 6, frozenset(), ANY),
}


def test_checker_names_the_file_line_and_import_of_an_upward_edge() -> None:
    bad = Import("schemas/records.py", 7, "schemas", "pipelines", "drawreason.pipelines.sink")
    assert violations([bad], FAKE) == [
        "schemas/records.py:7: import of drawreason.pipelines.sink: schemas (layer 0) may not "
        "import pipelines (layer 4)"
    ]
    sideways = Import("drawing/state.py", 3, "drawing", "filters", "drawreason.filters.fake")
    assert len(violations([sideways], FAKE)) == 1
    down = Import("pipelines/pool.py", 9, "pipelines", "schemas", "drawreason.schemas.fake")
    assert violations([down], FAKE) == []
    assert violations([bad], FAKE, {("schemas/records.py", "pipelines")}) == []
    assert violations([bad], FAKE, {("schemas/records.py", "pipelines.sink")}) == []
    assert len(violations([bad], FAKE, {("schemas/records.py", "pipelines.fake")})) == 1


def test_checker_catches_beam_outside_its_allowed_set() -> None:
    whole = Import("inputs/sources.py", 5, "inputs", "", "apache_beam")
    assert violations([whole], FAKE) == [
        "inputs/sources.py:5: import of apache_beam: inputs may import only "
        "apache_beam.io.filesystems of apache_beam"
    ]
    fs = Import("inputs/sources.py", 6, "inputs", "", "apache_beam.io.filesystems.FileSystems")
    assert violations([fs], FAKE) == []
    anywhere = Import("drawing/render.py", 2, "drawing", "", "apache_beam.io.filesystems")
    assert "drawing may import no part of apache_beam" in violations([anywhere], FAKE)[0]


def test_imports_of_resolves_the_registry_and_function_level_imports(tmp_path: Path) -> None:
    path = tmp_path / "pipelines" / "probe.py"
    path.parent.mkdir()
    path.write_text(
        "from drawreason.pipelines import registry\n"
        "def f():\n"
        "    from . import registry as s\n"
        "    import apache_beam\n",
        encoding="utf-8",
    )
    found = imports_of(path, FAKE, root=tmp_path)
    assert [(i.file, i.line, i.target) for i in found] == [
        ("pipelines/probe.py", 1, "pipelines.registry"),
        ("pipelines/probe.py", 3, "pipelines.registry"),
        ("pipelines/probe.py", 4, ""),
    ]
    assert len(violations(found, FAKE)) == 2  # the registry twice; Beam is fine in pipelines


def test_checker_catches_a_package_imported_without_the_namespace(tmp_path: Path) -> None:
    """A bare import of filters would pick up whichever `filters` comes first on sys.path."""
    path = tmp_path / "pipelines" / "probe.py"
    path.parent.mkdir()
    path.write_text(
        "import filters.fake\nfrom schemas import fake\nimport drawreason\nimport numpy\n",
        encoding="utf-8",
    )
    found = imports_of(path, FAKE, root=tmp_path)
    assert [i.bare for i in found] == [True, True, False, False]
    assert violations(found, FAKE) == [
        "pipelines/probe.py:1: import of filters.fake: import the project's packages as "
        "drawreason.filters.fake",
        "pipelines/probe.py:2: import of schemas.fake: import the project's packages as "
        "drawreason.schemas.fake",
    ]


def test_exceptions_table_is_read() -> None:
    text = "| file | imports | reason |\n|---|---|---|\n| `drawing/x.py` | `filters.fake` | why |\n"
    assert parse_exceptions(text) == {("drawing/x.py", "filters.fake")}
    assert parse_exceptions("no table here") == set()
