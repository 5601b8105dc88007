"""No import cycles in logcenter: between its modules (imports made when a module loads), and
between its rooms (core, engines, ingest, analytics, exports, retention, web, api,
integrity, streams, and the storage seam's interface). The graph is read with `ast` from
the source, every import counted, those inside functions too (a late import is still a
dependency: it only hides a cycle from Python); only one under `if TYPE_CHECKING:` is not."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("core", "engines", "ingest", "analytics", "exports", "retention", "web", "api",
         "integrity", "streams")

# Room cycles that remain, each edge that closes one and why. An entry no longer found fails
# too, so that the list only shrinks.
ALLOWED_ROOM_EDGES = {
    # Django collects the app's models from logcenter.models (core); the integrity models
    # are re-exported there so that they load with the app. The integrity room itself uses
    # core (access, registry): integrity -> core is the real direction.
    ("logcenter.models", "logcenter.integrity.models"),
    # The same for the streams room's Destination.
    ("logcenter.models", "logcenter.streams.models"),
    # core.services records the console's own events through ingestion's validation
    # (schema_for, fitted, CONSOLE_SOURCE), so that an event the app writes meets the same
    # rules as one a service sends, while ingestion uses core's models and registry. No
    # module cycle: a room edge only; moving the validation into core would leave the
    # ingest room an HTTP face.
    ("logcenter.core.services", "logcenter.ingest.ingestion"),
}


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def load_time_imports():
    """{module: {imported logcenter module: line}} for every import in the module."""
    paths = {module_name(p): p for p in (ROOT / "logcenter").rglob("*.py")
             if "migrations" not in p.parts}

    def resolve(name):
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        edges = graph[module] = {}

        def visit(nodes):
            for node in nodes:
                if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                    continue
                if isinstance(node, ast.Import):
                    targets = [resolve(alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                        base = ".".join(anchor + ([node.module] if node.module else []))
                    targets = [resolve(f"{base}.{alias.name}") if f"{base}.{alias.name}"
                               in paths else resolve(base) for alias in node.names]
                else:
                    visit(ast.iter_child_nodes(node))
                    continue
                for target in targets:
                    if target and target != module:
                        edges.setdefault(target, node.lineno)

        visit(ast.parse(path.read_text(), str(path)).body)
    return graph


def cycles(graph):
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


# The storage seam's interface (engine_for, the Engine contract) is a room of its own below
# all others: every room may ask it for an engine; the engines themselves build on core and
# analytics, and no room imports an engine's implementation.
SEAM = ("logcenter.engines", "logcenter.engines.base")


# The registry of kinds imports nothing of the application (kinds are registered when their
# app is ready): a room of its own at the bottom, which every room, the seam too, may use.
REGISTRY = "logcenter.core.registry"


def room(module):
    if module in SEAM:
        return "seam"
    if module == REGISTRY:
        return "registry"
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in ROOMS:
        return parts[1]
    return "core" if module == "logcenter.models" else "app"  # the app's own shell


def describe(graph, component):
    return "\n".join(f"  {a} -> {b} (line {graph[a][b]})"
                     for a in component for b in sorted(graph[a]) if b in component)


def test_the_module_graph_has_no_cycle():
    graph = load_time_imports()
    assert not graph.keys() - {m for m in graph if m.startswith("logcenter")}
    found = cycles(graph)
    assert not found, "import cycles between logcenter's modules:\n" + "\n".join(
        describe(graph, component) for component in found)


def test_the_room_graph_has_no_cycle_but_the_listed_ones():
    graph = load_time_imports()
    rooms, edges = defaultdict(set), defaultdict(list)
    for a, targets in graph.items():
        for b in targets:
            if room(a) != room(b) and (a, b) not in ALLOWED_ROOM_EDGES:
                rooms[room(a)].add(room(b))
                edges[room(a), room(b)].append(f"{a} -> {b}")
    found = cycles({r: rooms[r] for r in {room(m) for m in graph}})
    assert not found, "import cycles between rooms:\n" + "\n".join(
        f"  {' / '.join(component)}: " + "; ".join(
            edge for a in component for b in component for edge in edges[a, b])
        for component in found)
    stale = {edge for edge in ALLOWED_ROOM_EDGES if edge[1] not in graph.get(edge[0], {})}
    assert not stale, f"allowed room edges no longer imported, remove them: {sorted(stale)}"


def test_the_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
