"""Import distributor files into the store: every file parsed and checked first, then all of them written in
one transaction — a malformed file, an unknown POD or a crash stores nothing.

Accepted files:

* e-distribuzione's quarter-hour portal export (header ``Giorno;00:00-00:15;...``), one POD and one
  direction, given by the caller (:func:`condivisa.formats.distributor.read_portal_export`);
* the long measurements CSV the settlement reads (``pod,start,withdrawn_kwh,injected_kwh``), or the same
  columns as an Excel workbook (``.xlsx``): every POD in it, both directions
  (:func:`condivisa.formats.csv_io.read_measurements`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from condivisa.formats.csv_io import InputError, read_measurements
from condivisa.formats.distributor import DIRECTIONS, DistributorFileError, read_portal_export
from condivisa.store.distributor import ImportOutcome, import_curve
from condivisa.store.store import Store


class DistributorImportError(ValueError):
    """A file cannot be imported; nothing was stored. The message names the file and the fix."""


@dataclass(frozen=True)
class _Part:
    """One (POD, direction) curve of one file, ready to store."""

    name: str
    sha256: str
    pod: str
    direction: str
    frame: pd.DataFrame


def _file_key(sha256: str, pod: str, direction: str) -> str:
    """What makes an import the same import again: the file's bytes for this POD and direction (SHA-256 of
    both; two PODs' exports may be byte-identical, e.g. a month of zeros)."""
    return hashlib.sha256(f"{sha256}:{pod}:{direction}".encode()).hexdigest()


def _is_portal(path: Path) -> bool:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return False
    try:
        head = path.read_bytes()[:200].decode("utf-8-sig", errors="replace").lstrip().lstrip('"')
    except FileNotFoundError:
        raise DistributorImportError(f"{path}: no such file") from None
    return head.lower().startswith("giorno")


def _long_parts(path: Path, sha: str, known: set[str]) -> list[_Part]:
    frame = read_measurements(path, known_pods=known)
    if frame.attrs.get("interval_minutes") != 15:
        raise DistributorImportError(f"{path}: distributor data are quarter hours; this file is hourly")
    parts = []
    for pod, rows in frame.groupby("pod", sort=True):
        for direction, col in zip(DIRECTIONS, ("withdrawn_kwh", "injected_kwh"), strict=True):
            data = pd.DataFrame(
                {"start": rows["start"].to_numpy(), "energy_kwh": rows[col].to_numpy(), "flag": ""}
            )
            parts.append(_Part(path.name, _file_key(sha, str(pod), direction), str(pod), direction, data))
    return parts


def parse_files(
    paths: Sequence[str | Path],
    known_pods: Iterable[str],
    pod: str | None = None,
    direction: str | None = None,
) -> list[_Part]:
    """Parse and check every file (nothing is stored): the portal exports need ``pod`` and ``direction``.

    Raises
    ------
    DistributorImportError
        The first file that is wrong, with the reason (file, line, column) and the fix.
    """
    known = set(known_pods)
    parts: list[_Part] = []
    for raw in paths:
        path = Path(raw)
        try:
            portal = _is_portal(path)
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            if not portal:
                parts += _long_parts(path, sha, known)
                continue
            if pod is None or direction is None:
                raise DistributorImportError(
                    f"{path}: a portal export does not say its POD and direction: pass --pod and --direction"
                )
            if pod not in known:
                raise DistributorImportError(
                    f"{path}: POD {pod} is not a POD of this community (register it with condivisa db register)"
                )
            curve = read_portal_export(path, pod, direction)
            # the same bytes are "the same file" only for the same POD and direction (two PODs' exports may
            # be byte-identical, e.g. a month of zeros)
            parts.append(_Part(path.name, _file_key(sha, pod, direction), pod, direction, curve.frame))
        except (DistributorFileError, InputError) as exc:
            raise DistributorImportError(str(exc)) from None
    return parts


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    *,
    known_pods: Iterable[str],
    pod: str | None = None,
    direction: str | None = None,
    imported_by: str,
    now: dt.datetime,
) -> list[ImportOutcome]:
    """Parse every file, then store them all in one transaction (see the module docstring).

    Parameters
    ----------
    store : Store
        The open store.
    paths : sequence of path
        The files.
    known_pods : iterable of str
        The community's PODs (a file about another POD is refused).
    pod, direction : str, optional
        The POD and direction of the portal exports among ``paths``.
    imported_by : str
        Who imports (kept with each file).
    now : datetime.datetime
        The import time (aware; the injectable clock).

    Returns
    -------
    list of ImportOutcome
        One per (file, POD, direction): new, unchanged and restated quarter hours.
    """
    parts = parse_files(paths, known_pods, pod, direction)
    with store.engine.begin() as conn:
        return [
            import_curve(
                conn,
                pod=p.pod,
                direction=p.direction,
                frame=p.frame,
                sha256=p.sha256,
                name=p.name,
                imported_by=imported_by,
                now=now,
            )
            for p in parts
        ]
