"""The house: imports point down the layers of docs/architecture.md, and no import circles.

An AST walk of our own over shared/, functions/ and emulator/ (no import-linter: one dependency
fewer). Every import counts, the ones inside a function or under `if TYPE_CHECKING:` too: a circle
that only the type checker sees is still two modules that cannot be read one without the other.
The layers are module-name patterns, so a new package (`ecs_lifecycle.execute.*`,
`ecs_lifecycle.notify.*`) falls into its layer without editing this test; a module no pattern
names falls to the bottom of its stack, where importing anything above it fails loudly.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layer:
    name: str
    patterns: tuple[str, ...]

    def holds(self, module: str) -> bool:
        return any(fnmatchcase(module, pattern) for pattern in self.patterns)


# Top to bottom: a module may import its own layer or any layer below it, never one above. A
# module belongs to the first layer that names it (so the catch-alls come last in each stack).
LAYERS: Final = (
    Layer(
        "dev entry points",  # the emulator's own commands: `ecs-lifecycle emulator|demo`
        (
            "ecs_emulator.devcli",
            "ecs_emulator.cli",
            "ecs_emulator.demo",
            "ecs_emulator.fanout_demo",
            "ecs_emulator.__main__",
        ),
    ),
    Layer("entry points", ("functions.*", "ecs_lifecycle.cli", "ecs_lifecycle.cli.*")),
    Layer(
        "run",
        (
            "ecs_lifecycle.handler",
            "ecs_lifecycle.handler.*",
            "ecs_lifecycle.request",
            "ecs_lifecycle.regions",
            "ecs_lifecycle.fanout.hub",
        ),
    ),
    Layer(
        "act",
        (
            "ecs_lifecycle.execute",
            "ecs_lifecycle.execute.*",
            "ecs_lifecycle.notices",
            "ecs_lifecycle.notices.*",
        ),
    ),
    Layer(
        "gateways",
        (
            "ecs_lifecycle.ecs",
            "ecs_lifecycle.ecs.*",
            "ecs_lifecycle.actiontrail",
            "ecs_lifecycle.actiontrail.*",
            "ecs_lifecycle.notify",
            "ecs_lifecycle.notify.*",
            "ecs_lifecycle.gateways.*",
            "ecs_lifecycle.accounts.spoke",
            "ecs_lifecycle.accounts.session",
            "ecs_lifecycle.accounts.credentials",
            "ecs_lifecycle.accounts.directory",
            "ecs_lifecycle.accounts.invoker",
            "ecs_lifecycle.accounts.gateways",
            "ecs_lifecycle.accounts.sdk_calls",
        ),
    ),
    # The rules and what everything shares: planning, the model, settings, events, the log lines.
    Layer("rules", ("ecs_lifecycle", "ecs_lifecycle.*")),
    Layer(
        "emulator server",
        (
            "ecs_emulator",
            "ecs_emulator.emulator",
            "ecs_emulator.hooks",
            "ecs_emulator.server",
            "ecs_emulator.client",
            "ecs_emulator.pytest_plugin",
            "ecs_emulator.hub_cloud",  # Resource Directory and FC 3.0 (ROA), on their own port
        ),
    ),
    Layer("emulator services", ("ecs_emulator.services", "ecs_emulator.services.*")),
    # The wire format, the signature check, the clock, the fault rules, the account's state.
    Layer("emulator shared", ("ecs_emulator.*",)),
)
# Imports that go down the list but are still against the house: the shipped core never needs
# the emulator (the emulator's layers sit below the core's only so that the emulator's own
# commands may use the core's table).
FORBIDDEN: Final = (
    ("ecs_lifecycle*", "ecs_emulator*"),
    ("functions.*", "ecs_emulator*"),
)
# One room per emulated service: a room never imports another (the registry imports them all).
ROOMS: Final = "ecs_emulator.services.*"
SOURCES: Final = {
    "ecs_lifecycle": REPO / "shared" / "ecs_lifecycle",
    "ecs_emulator": REPO / "emulator" / "ecs_emulator",
    "functions": REPO / "functions",
}


# ----- the checker ------------------------------------------------------------------------------
def module_files(sources: Mapping[str, Path]) -> dict[str, Path]:
    """Every module under each package root, by its dotted name."""
    found: dict[str, Path] = {}
    for package, root in sources.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _is_package(module: str, files: Mapping[str, Path]) -> bool:
    return files[module].name == "__init__.py"


def imports_of(module: str, files: Mapping[str, Path]) -> set[str]:
    """The modules of ours that `module` imports, wherever in the file the import is."""
    tree = ast.parse(files[module].read_text(encoding="utf-8"))
    package = module if _is_package(module, files) else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            submodules = {f"{base}.{alias.name}" for alias in node.names} & files.keys()
            # `from package import module` is an edge to the module only; any other name is
            # the package's (or the module's) own.
            found |= submodules
            if len(submodules) < len(node.names):
                found.add(base)
    return {name for name in found if name in files and name != module}


def import_graph(sources: Mapping[str, Path]) -> dict[str, set[str]]:
    files = module_files(sources)
    return {module: imports_of(module, files) for module in files}


def layer_of(module: str, layers: Sequence[Layer]) -> int:
    for number, layer in enumerate(layers):
        if layer.holds(module):
            return number
    raise LookupError(f"{module} is in no layer")


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _room(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:3]) if fnmatchcase(module, ROOMS) else None


def problems(
    graph: Mapping[str, Iterable[str]],
    layers: Sequence[Layer] = LAYERS,
    forbidden: Sequence[tuple[str, str]] = FORBIDDEN,
) -> list[str]:
    """Every import against the layers, every forbidden one, every room importing another,
    and every circle, in words."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target, layers) < layer_of(module, layers):
                found.append(
                    f"{module} ({layers[layer_of(module, layers)].name}) imports {target} "
                    f"({layers[layer_of(target, layers)].name}), a layer above it"
                )
            for source_pattern, target_pattern in forbidden:
                if fnmatchcase(module, source_pattern) and fnmatchcase(target, target_pattern):
                    found.append(f"{module} imports {target}: {source_pattern} never imports it")
            rooms = (_room(module), _room(target))
            if None not in rooms and rooms[0] != rooms[1]:
                found.append(f"{module} imports {target}: one service's room imports another's")
    found += [f"import circle: {' <-> '.join(group)}" for group in circles(graph)]
    return found


# ----- the house as it is ----------------------------------------------------------------------
def test_every_import_points_down_the_layers_and_none_circles() -> None:
    graph = import_graph(SOURCES)
    assert len(graph) > 50  # the walk found the packages (not an empty, trivially clean graph)
    assert problems(graph) == []


def test_the_shipped_core_never_imports_the_emulator() -> None:
    graph = import_graph(SOURCES)
    core = {module for module in graph if module.startswith(("ecs_lifecycle", "functions."))}
    assert core
    assert not {target for module in core for target in graph[module] if "emulator" in target}


def test_each_emulated_service_is_registered_once_by_its_api_version() -> None:
    from ecs_emulator.services import SERVICES  # noqa: PLC0415 - the registry under test

    graph = import_graph(SOURCES)
    rooms = {
        module.split(".")[2] for module in graph if module.startswith("ecs_emulator.services.")
    }
    assert {service.name for service in SERVICES.values()} == {"Ecs", "Actiontrail", "Sts"}
    registered = {"ecs", "actiontrail", "sts"}
    # The hub's two services are served by ecs_emulator.hub_cloud, which routes FC's ROA paths.
    assert rooms == registered | {"resourcemanager", "fc"}
    assert {f"ecs_emulator.services.{room}" for room in registered} <= graph[
        "ecs_emulator.services"
    ]
    hub_rooms = {f"ecs_emulator.services.{room}" for room in rooms - registered}
    assert hub_rooms <= graph["ecs_emulator.hub_cloud"]


def test_the_emulator_is_walked_and_its_registry_sits_above_the_state_it_serves() -> None:
    graph = import_graph(SOURCES)
    walked = {"ecs_emulator.services", "ecs_emulator.server", "ecs_emulator.state"}
    assert walked | {"ecs_emulator.actiontrail", "ecs_emulator.services.actiontrail"} <= set(graph)
    below = {"ecs_emulator.state", "ecs_emulator.actiontrail", "ecs_emulator.service"}
    reached: set[str] = set()
    todo = list(below)
    while todo:
        for target in graph[todo.pop()] - reached:
            reached.add(target)
            todo.append(target)
    assert not {
        m for m in reached if m.startswith(("ecs_emulator.services", "ecs_emulator.server"))
    }


# ----- the checker can fail --------------------------------------------------------------------
_TOY_LAYERS: Final = (
    Layer("top", ("app.entry",)),
    Layer("middle", ("app.run", "app.execute.*")),
    Layer("bottom", ("app.*",)),
    Layer("emulator", ("emu.*",)),
)


def test_an_import_up_the_layers_is_named() -> None:
    graph = {"app.entry": {"app.run"}, "app.run": {"app.model"}, "app.model": {"app.run"}}
    found = problems(graph, _TOY_LAYERS, ())
    assert "app.model (bottom) imports app.run (middle), a layer above it" in found


def test_a_new_package_falls_into_its_layer_by_pattern() -> None:
    graph = {"app.execute.release": {"app.model", "app.entry"}, "app.model": set()}
    found = problems(graph, _TOY_LAYERS, ())
    assert found == ["app.execute.release (middle) imports app.entry (top), a layer above it"]


def test_a_circle_is_named_even_within_one_layer() -> None:
    graph = {"app.a": {"app.b"}, "app.b": {"app.c"}, "app.c": {"app.a"}, "app.d": {"app.a"}}
    assert problems(graph, _TOY_LAYERS, ()) == ["import circle: app.a <-> app.b <-> app.c"]


def test_a_forbidden_import_down_the_layers_is_named() -> None:
    graph = {"app.model": {"emu.server"}, "emu.server": set()}
    assert problems(graph, _TOY_LAYERS, (("app*", "emu*"),)) == [
        "app.model imports emu.server: app* never imports it"
    ]


def test_one_room_importing_another_is_named() -> None:
    graph = {
        "ecs_emulator.services": {"ecs_emulator.services.sts", "ecs_emulator.services.ecs"},
        "ecs_emulator.services.sts": {"ecs_emulator.services.ecs.common"},
        "ecs_emulator.services.ecs": {"ecs_emulator.services.ecs.common"},
        "ecs_emulator.services.ecs.common": set(),
    }
    assert problems(graph) == [
        "ecs_emulator.services.sts imports ecs_emulator.services.ecs.common: one service's room "
        "imports another's"
    ]


def test_the_walk_sees_every_kind_of_import(tmp_path: Path) -> None:
    package = tmp_path / "toy"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "leaf.py").write_text("")
    (package / "base.py").write_text("")
    (package / "late.py").write_text("")
    (package / "typed.py").write_text("")
    (package / "top.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import json\n"
        "from toy import base\n"
        "from .sub.leaf import thing\n"
        "if TYPE_CHECKING:\n"
        "    from toy.typed import T\n"
        "def later():\n"
        "    import toy.late\n"
    )
    graph = import_graph({"toy": package})
    assert graph["toy.top"] == {"toy.base", "toy.sub.leaf", "toy.typed", "toy.late"}
    assert graph["toy.base"] == set()


# ----- the house stays small (issue #22) ---------------------------------------------------------
MAX_MODULE_LINES: Final = 500
MAX_CLASS_LINES: Final = 250


def oversized(root: Path) -> list[str]:
    """Every module under `root` over MAX_MODULE_LINES and every class over MAX_CLASS_LINES."""
    found = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_CLASS_LINES:
                    found.append(f"{name}: class {node.name} is {lines} lines")
    return found


def test_no_module_in_shared_is_over_500_lines_and_no_class_over_250() -> None:
    assert oversized(REPO / "shared") == []


def test_the_size_check_names_a_long_module_and_a_long_class(tmp_path: Path) -> None:
    body = "".join(f"    x{n} = {n}\n" for n in range(MAX_CLASS_LINES))
    (tmp_path / "big.py").write_text("class Big:\n" + body + "\n" * MAX_MODULE_LINES)
    (tmp_path / "small.py").write_text("class Small:\n    x = 1\n")
    assert oversized(tmp_path) == [
        f"big.py: {MAX_CLASS_LINES + 1 + MAX_MODULE_LINES} lines",
        f"big.py: class Big is {MAX_CLASS_LINES + 1} lines",
    ]
