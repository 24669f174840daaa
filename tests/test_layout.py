"""The package's plan: subpackages by concern, imports that only point down, no circle."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "colorgan"
BASICS = 0  # the top-level modules: errors, config, color, metrics, viz
# Each subpackage may import the basics and the layers below its own, never beside or above.
LAYERS = {
    "data": 1,
    "model": 1,
    "tracking": 1,
    "serving": 2,
    "realism": 2,  # features and set distances: training's epoch selection and evaluate use it
    "training": 3,
    "evaluation": 3,
    "orchestration": 4,
}
ENTRY_POINTS = ("stages", "pipelines")  # thin scripts over everything


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO / "src" if path.is_relative_to(PACKAGE) else REPO)
    return ".".join(parts.with_suffix("").parts).removesuffix(".__init__")


def colorgan_imports(path: Path) -> set[str]:
    """The colorgan modules a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("colorgan"):
            if node.module == "colorgan" or (PACKAGE / node.module.split(".", 1)[1]).is_dir():
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("colorgan.")}
    return found


def concern(module: str) -> str:
    """'colorgan.training.train' -> 'training'; a top-level module is one of the basics."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "basics"


def layer(module: str) -> int:
    return LAYERS.get(concern(module), BASICS)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_lives_in_a_subpackage_of_the_plan_or_is_one_of_the_basics():
    subpackages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert subpackages == set(LAYERS)
    basics = {m for m in package_modules() if concern(m) == "basics"} - {"colorgan"}
    assert basics == {
        f"colorgan.{name}" for name in ("errors", "config", "color", "metrics", "viz")
    }


@pytest.mark.parametrize("subpackage", sorted(LAYERS))
def test_each_subpackage_says_its_job_in_its_docstring(subpackage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text()))
    assert docstring and len(docstring.split()) >= 8, subpackage


def test_imports_only_point_down_and_never_sideways():
    offences = []
    for module, path in package_modules().items():
        for imported in colorgan_imports(path):
            same_concern = concern(imported) == concern(module)
            if not same_concern and layer(imported) >= layer(module) and layer(module) > BASICS:
                offences.append(f"{module} ({concern(module)}) imports {imported}")
            if layer(module) == BASICS and layer(imported) > BASICS:
                offences.append(f"basic module {module} imports {imported}")
    assert not offences, "\n".join(offences)


def test_no_module_imports_itself_back_through_others():
    graph = {
        module: {i for i in colorgan_imports(path) if i in package_modules()}
        for module, path in package_modules().items()
    }
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        pytest.fail(f"import circle: {' -> '.join(error.args[1])}")


def test_stages_and_flows_import_only_what_exists():
    """The entry points reach into the package by full module paths that resolve."""
    modules = package_modules()
    for folder in ENTRY_POINTS:
        for path in (REPO / folder).glob("*.py"):
            for imported in colorgan_imports(path):
                assert imported in modules or imported.rsplit(".", 1)[0] in modules, (
                    f"{path.name} imports {imported}"
                )
