"""What the command line prints for people: numbers in the user's locale and tables that fit the terminal.

- :func:`cli_lang` reads the locale of the environment (``LC_ALL``, then ``LC_NUMERIC``, then ``LANG``):
  ``it…`` is Italian, anything else English; :func:`cli_number` formats a number in it
  (``1.234,56`` or ``1,234.56``, :func:`condivisa.outputs.i18n.fmt_number`).
- :func:`fit_table` prints a table as it is when it fits the console's width, else folds it into one small
  block per row (the row's first cell as the block's title, then ``header  value`` lines), the blocks side
  by side as far as the width allows: no wrapped rows, no cut headers in an 80-column terminal.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from rich.columns import Columns
from rich.console import Console, Group, RenderableType
from rich.styled import Styled
from rich.table import Table
from rich.text import Text

from condivisa.outputs.i18n import fmt_number

LOCALE_VARIABLES = ("LC_ALL", "LC_NUMERIC", "LANG")


def cli_lang(env: Mapping[str, str] | None = None) -> str:
    """``"it"`` when the first set of ``LC_ALL``, ``LC_NUMERIC``, ``LANG`` starts with ``it``, else ``"en"``."""
    env = os.environ if env is None else env
    for name in LOCALE_VARIABLES:
        value = (env.get(name) or "").strip()
        if value:
            return "it" if value.lower().startswith("it") else "en"
    return "en"


def cli_number(value: float | None, decimals: int = 2, lang: str | None = None) -> str:
    """``value`` with ``decimals`` in the user's locale (:func:`cli_lang`, or ``lang``)."""
    return fmt_number(value, lang or cli_lang(), decimals)


def table_width(table: Table, width: int) -> int:
    """The width ``table`` needs to show every cell unwrapped."""
    return Console(width=max(width, 400)).measure(table).maximum


def fold_table(table: Table) -> Group:
    """``table`` as one block per row: the first cell in bold, then each non-empty cell under its header."""
    heads = [str(c.header) for c in table.columns]
    cells = [list(c._cells) for c in table.columns]
    blocks: list[RenderableType] = []
    for r in range(table.row_count):
        row_style = table.rows[r].style if r < len(table.rows) else None
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim")
        grid.add_column(justify="right")
        for head, column in zip(heads[1:], cells[1:], strict=True):
            value = column[r]
            if str(value).strip():
                grid.add_row(head, value)
        block = Group(Text(str(cells[0][r]), style="bold"), grid)
        blocks.append(Styled(block, row_style) if row_style else block)
    parts: list[RenderableType] = []
    if table.title:
        parts.append(Text(str(table.title), style="italic"))
    parts.append(Columns(blocks, padding=(1, 4)))
    if table.caption:
        parts.append(Text(str(table.caption), style="dim"))
    return Group(*parts)


def fit_table(table: Table, width: int) -> RenderableType:
    """``table`` itself when it fits ``width`` columns, else :func:`fold_table`."""
    return table if table_width(table, width) <= width else fold_table(table)
