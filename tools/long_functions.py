"""List functions whose body is longer than a limit (default 60 lines), longest first.

    python tools/long_functions.py [N]

A function's length is counted without its docstring (numpydoc blocks are wanted, not a smell) and without
blank lines; nested functions count in their parent too.
"""

from __future__ import annotations

import ast
import pathlib
import sys


def code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Non-blank source lines of ``node`` outside its docstring."""
    first, last = node.lineno, node.end_lineno or node.lineno
    skip: set[int] = set()
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        if isinstance(body[0].value.value, str):
            skip = set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return sum(1 for n in range(first, last + 1) if n not in skip and lines[n - 1].strip())


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    rows = []
    for path in sorted(pathlib.Path("src/condivisa").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = code_lines(node, lines)
                if length > limit:
                    rows.append((length, f"{path}:{node.lineno}", node.name))
    for length, where, name in sorted(rows, reverse=True):
        print(f"{length:5d}  {where}  {name}")
    print(f"{len(rows)} functions with more than {limit} lines of code")


if __name__ == "__main__":
    main()
