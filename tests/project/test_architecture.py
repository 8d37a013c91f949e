"""The layers flow one way (README, Layout): a package imports only packages below it, and the
networks and the renderers import neither Hydra, wandb nor the training stack."""

import ast
import subprocess
import sys

from helpers import ROOT

PACKAGE = ROOT / "src" / "fwilab"
LAYER = {  # lower imports nothing higher
    "errors": 0,
    "io": 1, "device": 1, "plotting": 1, "run_lock": 1, "progress": 1, "metric_registry": 1, "data_contract": 1, "gaussian": 1,
    "run_files": 2,  # a training job's Hydra record and log file, written through io
    "config": 2,  # the settings as checked values and their allowed values: below every component that receives them
    "models": 3, "tracking": 3, "physics": 3,  # physics: the forward operator, the data misfit and FWI
    "data": 4,  # the generator propagates with physics' operator
    "diagnostics": 5, "resolvers": 5,
    "training": 6, "experiments": 6,
    "benchmarking": 7, "tasks": 7,
    "cli": 8,
    "commands": 9,  # the installed commands (and scripts/*.py) on top of everything
    "__init__": 10,  # the package root registers the config resolvers on import
}  # fmt: skip


def _module_imports() -> list[tuple[str, str]]:
    """(file, imported fwilab module) for every ``from fwilab... import`` inside fwilab, function-local ones included."""
    return [
        (str(path.relative_to(ROOT)), node.module)
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fwilab.")
    ]


def _imports() -> list[tuple[str, str, str]]:
    """(importing package, imported package, file) for every import of fwilab inside fwilab, function-local ones included."""
    return [
        (file.removeprefix("src/fwilab/").split("/")[0].removesuffix(".py"), module.split(".")[1], file)
        for file, module in _module_imports()
    ]


def test_every_package_has_a_layer():
    packages = {
        path.name.removesuffix(".py")
        for path in PACKAGE.iterdir()
        if path.name != "__init__.py" and not path.name.startswith("__")
    }
    assert packages | {"__init__"} == set(LAYER)


def test_imports_flow_downward_only():
    upward = [
        f"{file}: {src} imports {dst}" for src, dst, file in _imports() if src != dst and LAYER[dst] >= LAYER[src]
    ]
    assert upward == []


def test_no_task_imports_another_task():
    """What two tasks share lives in the library below them, so a task can change without moving another."""
    crossings = [
        f"{file}: imports {module}"
        for file, module in _module_imports()
        if file.startswith("src/fwilab/tasks/") and module.startswith("fwilab.tasks.")
    ]
    assert crossings == []


def test_modules_within_a_package_import_no_cycle():
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(("fwilab", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("fwilab"):
                graph.setdefault(module, set()).add(node.module)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    assert [module for module in graph if reaches(module, module, {module})] == []


def test_networks_and_renderers_import_no_training_stack():
    code = (
        "import sys, fwilab.models, fwilab.diagnostics.render\n"
        "heavy = [m for m in ('hydra', 'wandb', 'fwilab.training', 'fwilab.tracking') if m in sys.modules]\n"
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr


MAX_FUNCTION_LINES = 60  # the developers' guide: functions under 60 lines


def _long_functions(source: str, name: str) -> list[str]:
    """'file:line function (N lines)' for each function (nested and methods too) longer than the limit, decorators counted."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [decorator.lineno for decorator in node.decorator_list])
            length = node.end_lineno - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_the_length_check_names_a_function_one_line_over_the_limit():
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 2))
    fits = f"def fits():\n{body}    return 0\n"  # 60 lines
    over = f"@staticmethod\ndef over():\n{body}    return 0\n"  # the decorator makes it 61
    assert _long_functions(fits, "a.py") == []
    assert _long_functions(over, "b.py") == [f"b.py:2 over ({MAX_FUNCTION_LINES + 1} lines)"]


def test_no_function_is_over_60_lines():
    offenders = [
        line
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in _long_functions(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert not offenders, "functions over 60 lines:\n" + "\n".join(offenders)
