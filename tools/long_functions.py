"""List functions longer than a limit (default 60 lines), longest first: ``python tools/long_functions.py [N]``."""

from __future__ import annotations

import ast
import pathlib
import sys


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    rows = []
    for path in sorted(pathlib.Path("src/condivisa").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    rows.append((length, f"{path}:{node.lineno}", node.name))
    for length, where, name in sorted(rows, reverse=True):
        print(f"{length:5d}  {where}  {name}")
    print(f"{len(rows)} functions over {limit} lines")


if __name__ == "__main__":
    main()
