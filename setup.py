"""Packaging: every package of the repository layout installed inside one `drawreason` package.

The folders stay at the repository root (filters/, pipelines/, ...: the layout the README
documents) and the wheel holds them as drawreason/filters/, drawreason/pipelines/, ..., so
nothing with a generic name (`filters`, `schemas`) reaches site-packages. In a checkout,
drawreason/__init__.py finds the same folders beside it. The metadata is in pyproject.toml;
Beam's --setup_file builds the package for remote workers with this file.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

NAMESPACE = "drawreason"
NOT_SHIPPED = {"tests", "tests_vllm", "tests_integrations", "benchmarks", "scripts", NAMESPACE}
PACKAGE_DATA = {"drawing": ["templates/*.txt"], "report": ["assets/*"]}


def layout_packages(root: Path) -> list[str]:
    """The repository's top-level packages (a folder with an __init__.py), tests and tools
    excluded; a new package ships without an edit here."""
    return sorted(
        p.parent.name
        for p in root.glob("*/__init__.py")
        if p.parent.name not in NOT_SHIPPED and not p.parent.name.startswith("tests")
    )


def namespaced(root: Path) -> tuple[list[str], dict[str, str]]:
    """setuptools' packages and package_dir: drawreason.<top>[.<sub>] from the folder <top>."""
    packages, package_dir = [NAMESPACE], {NAMESPACE: NAMESPACE}
    for top in layout_packages(root):
        package_dir[f"{NAMESPACE}.{top}"] = top
        packages.append(f"{NAMESPACE}.{top}")
        # Namespace discovery, as pyproject's packages.find does: data folders (templates/,
        # assets/) count as packages, so their files ship as package data.
        subs = find_namespace_packages(str(root / top), exclude=["__pycache__", "*.__pycache__"])
        packages += [f"{NAMESPACE}.{top}.{sub}" for sub in subs]
    return packages, package_dir


packages, package_dir = namespaced(Path(__file__).resolve().parent)
setup(
    packages=packages,
    package_dir=package_dir,
    package_data={f"{NAMESPACE}.{top}": globs for top, globs in PACKAGE_DATA.items()},
)
