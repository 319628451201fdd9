"""The package layout stays as the notebooks present it: no import cycle between `cti_nb` modules (counting imports
inside functions too), and no module imports another module's private (`_name`) objects."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / 'cti_nb'


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    "(imported cti_nb module, imported names) for every `from cti_nb.x import ...` / `from .x import ...` in a file."
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mod = node.module
            if node.level == 1: mod = f'cti_nb.{mod}'
            if mod.startswith('cti_nb.'): out.append((mod.split('.')[1], [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name.split('.')[1], []) for a in node.names if a.name.startswith('cti_nb.')]
    return out


def _graph() -> dict[str, set[str]]:
    mods = {p.stem for p in PKG.glob('*.py') if p.stem not in ('__init__', '_modidx')}
    return {m: {d for d, _ in _imports(PKG / f'{m}.py') if d in mods and d != m} for m in mods}


def _cycle(graph: dict) -> list[str] | None:
    "One import cycle of the graph, or None."
    state, stack = {}, []

    def visit(m):
        state[m] = 'open'; stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 'open': return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = 'done'; stack.pop()
        return None
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c
    return None


def test_cycle_finder_finds_a_cycle():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle_between_modules():
    cycle = _cycle(_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)


def test_no_private_imports_across_modules():
    bad = [f'{p.stem} imports {mod}.{n}' for p in PKG.glob('*.py') if p.stem != '_modidx'
           for mod, names in _imports(p) if mod != p.stem for n in names if n.startswith('_')]
    assert not bad, bad
