"""CSV cells a spreadsheet will not run: the one neutraliser of every CSV condivisa writes.

Rule implemented (OWASP "CSV Injection"; issue #13, finding 12): a spreadsheet opening a CSV evaluates a cell
that starts with ``=``, ``+``, ``-`` or ``@`` — and, in some programs, with a tab or a carriage return — as a
formula (``=HYPERLINK(...)``, ``=cmd|' /C calc'!A0``, ``@SUM(...)``). A **text** cell that starts with one
of those characters (after any leading spaces or line breaks, and in their full-width forms too) is written
with a single quote in front, which spreadsheets show as text. **Numbers stay numbers**: ints, floats and
text that is exactly a decimal number (``-12.50``, ``1e-3``) are written unchanged, so a negative amount is
still a number in the sheet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

#: the characters a spreadsheet may read as the start of a formula
DANGEROUS = frozenset("=+-@\t\r\n") | frozenset("\uff1d\uff0b\uff0d\uff20")  # and full-width = + - @
#: text that is a plain decimal number (spreadsheets read it as a number, not as a formula)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LEADING_BLANKS = " \u00a0\u3000\f\v"


def is_dangerous(text: str) -> bool:
    """True when a spreadsheet could read ``text`` as a formula."""
    if not text:
        return False
    if text[0] in DANGEROUS:
        return not _NUMBER.fullmatch(text)
    stripped = text.lstrip(_LEADING_BLANKS)
    return bool(stripped) and stripped[0] in DANGEROUS and not _NUMBER.fullmatch(stripped)


def safe_cell(value: Any) -> Any:
    """``value`` ready for a CSV cell: text that could be a formula gets a leading ``'`` (and its carriage
    returns become line feeds, so the cell is quoted); anything else (numbers, booleans, dates, ``None``,
    numeric text) is returned unchanged."""
    if isinstance(value, str):
        if "\r" in value:  # csv quotes a cell with "\n" but not one with a lone "\r": the row would break
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        return "'" + value if is_dangerous(value) else value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """:func:`safe_cell` of every value of a ``csv.writer`` row."""
    return [safe_cell(v) for v in values]


def safe_dict(row: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`safe_cell` of every value of a ``csv.DictWriter`` row."""
    return {k: safe_cell(v) for k, v in row.items()}


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`safe_cell`; numeric, boolean and datetime columns
    are left alone (``DataFrame.to_csv`` writes them as numbers and times). The header is neutralised too."""
    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            continue
        out[col] = out[col].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out
