"""Fail when any two modules of condivisa import each other, directly or through others.

The floors of ``docs/dev/architecture.md`` are checked by import-linter (``lint-imports``, configured in
``pyproject.toml``); it sees package-level layering. This script looks one level finer: the module graph
(every import, including those inside functions), and reports each strongly connected component of more
than one module — an import cycle — with the imports that close it. Run by ``.ci/run``.
"""

from __future__ import annotations

import sys

import grimp


def cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def main() -> int:
    graph = grimp.build_graph("condivisa", include_external_packages=False)
    # a package's __init__ is a module of its own; "condivisa.x" importing "condivisa" (for __version__) is
    # not
    # a cycle with the package's children, so the root package is left out
    modules = {m for m in graph.modules if m != "condivisa"}
    found = cycles(graph, modules)
    for component in found:
        print("import cycle:", " <-> ".join(component))
        for a in component:
            for b in component:
                if a != b and graph.direct_import_exists(importer=a, imported=b):
                    lines = [d["line_number"] for d in graph.get_import_details(importer=a, imported=b)]
                    print(f"    {a} imports {b} (line {', '.join(map(str, lines))})")
    print(f"{len(modules)} modules, {len(found)} import cycles")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
