"""The package's layout holds: imports run one way (no cycle, counting imports inside functions), no module
over 400 lines, no module outside pipeline/ composites pixels, no rule is compared as a string outside
generator/rules.py, and a wheel built from the checkout ships and imports every module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "generator"
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that `name` imports anywhere in its body (functions included), except under
    `if TYPE_CHECKING:`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {module for module in found if module in known and module != name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, set(known)) for name, path in known.items()}


def test_the_import_reader_sees_imports_inside_functions_and_skips_type_checking(tmp_path):
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import X\ndef f():\n    from .c import Y\n"
    path = tmp_path / "a.py"
    path.write_text(source)
    assert imported("generator.pkg.a", path, {"generator.pkg.b", "generator.pkg.c"}) == {"generator.pkg.c"}
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_arrows_run_one_way_between_the_layers():
    """pipeline/ knows nothing of engines, the build or the dataset commands; engines know nothing of the
    build or the commands; output/ knows no engine or command."""
    forbidden = {
        "generator.pipeline": ("generator.engines", "generator.build", "generator.cli", "generator.dataset", "generator.output"),
        "generator.engines": ("generator.build", "generator.cli", "generator.dataset"),
        "generator.output": ("generator.engines", "generator.build", "generator.cli", "generator.dataset"),
    }
    wrong = [
        f"{name} -> {target}"
        for name, targets in import_graph().items()
        for layer, banned in forbidden.items()
        if name.startswith(layer)
        for target in targets
        if target.startswith(banned)
    ]
    assert wrong == []


# What a rule's value may be, and the names code gives a rule: `x.placement == "floor"` re-decides a rule
# that generator/rules.py parsed once; compare the member (PlacementRule.FLOOR) instead.
RULE_VALUES = {"auto", "floor", "uniform", "ground", "none", "scene", "model", "alpha", "gaussian", "box", "motion", "poisson", "mix"}
RULE_NAMES = {"placement", "rule", "depth", "mode", "blend", "edge_mode", "placement_rule", "depth_mode", "blend_mode", "kind"}
# The pipeline's compositing primitives: a module outside pipeline/ that imports one blends pixels itself.
COMPOSITING = {"paste_object", "composite", "composite_with_effects", "blend_layer", "soft_layer", "poisson_colours", "darken", "harmonized", "_pasted", "_draw"}


def _rule_strings(node: ast.AST) -> set[str]:
    """The rule values `node` holds as string constants (one, or a tuple, list or set of them)."""
    items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return {i.value for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)} & RULE_VALUES


def _names_a_rule(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in RULE_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in RULE_NAMES
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value in RULE_NAMES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" and node.args:
        return isinstance(node.args[0], ast.Constant) and node.args[0].value in RULE_NAMES
    return False


def rule_string_comparisons(source: str) -> list[str]:
    """`line: text` of each comparison of a rule with a string in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_a_rule(a) for a in operands) and any(_rule_strings(b) for b in operands):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def compositing_imports(source: str) -> list[str]:
    """The pipeline's compositing primitives that `source` imports."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and "pipeline" in (node.module or "").split(".") + ([""] if node.level else []):
            found += [alias.name for alias in node.names if alias.name in COMPOSITING]
        if isinstance(node, ast.ImportFrom) and node.module and node.module.endswith(("composite", "blend", "light", "render", "render.render")):
            found += [alias.name for alias in node.names if alias.name in COMPOSITING]
    return sorted(set(found))


def test_the_layout_checks_find_a_planted_rule_comparison_and_compositing():
    planted = 'def f(options, rule):\n    if options.placement == "floor" or rule in ("uniform", "ground"):\n        return o["blend"] != "alpha"\n'
    assert len(rule_string_comparisons(planted)) == 3
    assert rule_string_comparisons('if options.image_format == "png" or name == "floor": pass\n') == []
    assert rule_string_comparisons('if options.placement == PlacementRule.FLOOR: pass\n') == []
    assert compositing_imports("from ..pipeline.composite import Cutout, paste_object\n") == ["paste_object"]
    assert compositing_imports("from ..pipeline.blend import blend_layer\nfrom ..pipeline.render import render\n") == ["blend_layer"]


def test_no_rule_is_compared_as_a_string_outside_where_it_is_parsed():
    found = {name: hits for name, path in modules().items() if name != "generator.rules"
             and (hits := rule_string_comparisons(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_no_module_outside_pipeline_composites_pixels():
    found = {name: hits for name, path in modules().items() if not name.startswith("generator.pipeline")
             and (hits := compositing_imports(path.read_text(encoding="utf-8")))}
    assert found == {}


def test_the_commands_read_shards_through_the_one_reader():
    """stats, validate, gallery, relabel and push open no Parquet file themselves: output/reader.py does,
    with the manifest's path check and the integrity check in one place."""
    readers = {name for name, path in modules().items() if name.startswith(("generator.dataset", "generator.commands"))
               and "pyarrow.parquet" in {alias.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                                         if isinstance(node, ast.Import) for alias in node.names}}
    assert readers == set()


def test_no_module_over_400_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_top_level_card_template_is_the_one_that_ships():
    assert (ROOT / "dataset_card.md").read_bytes() == (PACKAGE / "dataset" / "dataset_card.md").read_bytes()


def test_a_wheel_ships_and_imports_every_module(tmp_path):
    """Build a wheel from the checkout, install it alone into a fresh venv (its dependencies come from this
    environment's site-packages, added by a .pth file, so nothing is downloaded) and import every module
    and the builder from there, not from the checkout."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        check=True, cwd=tmp_path,
    )
    [wheel] = wheels.glob("mono_depth_mask-*.whl")
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True)
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    names = [*(name for name in modules() if not name.endswith("__main__")), "mono_depth_mask"]  # __main__ runs the CLI
    script = (
        "import importlib, sys\n"
        f"site = {str(site)!r}\n"
        f"for name in {names!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert module.__file__.startswith(site), (name, module.__file__)\n"
        "from importlib.resources import files\n"
        "assert files('generator.dataset').joinpath('dataset_card.md').read_text().startswith('---')\n"
        "from generator.training import streaming_loader\n"
        "print('ok', len(sys.modules))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run([python, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_building_a_dataset_does_not_import_datasets():
    """`datasets` costs half a second to import; the CLI, the build and its workers do without it."""
    code = ("import sys, generator.cli, generator.build, generator.engines.local, generator.pipeline.shard, "
            "generator.dataset.card, generator.output.parquet; print('datasets' in sys.modules)")
    said = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert said.strip() == "False"
