"""What the dashboard reads: the community, the settled months of the store's measurements, data quality and
case-study results. One :class:`Dashboard` per app; the settled months are rebuilt only when the store's
measurements change (count or latest arrival) or a member is erased.

An erased member (:mod:`condivisa.auth.erased`) disappears from the running dashboard at once, before the
referente edits ``community.yaml``: :attr:`Dashboard.community` is the community file's view with the member
replaced by their pseudonym (no name, no page: 404), and every cached page and settled month is dropped.

The settled months are :func:`condivisa.outputs.sources.stored_months`: prices from ``files.prices_file``
(hourly zonal prices CSV) or, without it, a flat
:data:`~condivisa.outputs.sources.ASSUMED_PRICE_EUR_PER_MWH` that every page mentions; missing quarter hours
zero-filled **explicitly** so a month with a silent device still settles, the gaps listed in the data-quality
panel.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from condivisa.auth.erased import erased_members, erasure_marker, redact_community
from condivisa.kernel import clock
from condivisa.kernel.timegrid import to_utc
from condivisa.outputs.monthly import SettledMonths
from condivisa.outputs.sources import stored_months
from condivisa.store.distributor import import_marker
from condivisa.store.flex_events import events_marker
from condivisa.store.silence import OK, SILENT_AFTER, silence


@dataclass
class Quality:
    """The data-quality panel: silent devices, gaps per POD, rejected messages."""

    silent_devices: list[dict] = field(default_factory=list)
    gaps: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    devices_total: int = 0

    @property
    def all_good(self) -> bool:
        return not (self.silent_devices or self.gaps or self.dead_letters)


def silent_devices(
    last_seen: list[dict], now: dt.datetime, silent_after: dt.timedelta = SILENT_AFTER
) -> list[dict]:
    """Devices silent for more than ``silent_after`` (:func:`condivisa.store.silence.silence`: nothing received
    for that long, or ever, or their newest quarter hour ended that long ago). Longest silence first.

    ``last_seen`` are :meth:`Store.device_last_seen` rows (``du_id``, ``pod``, ``member_id``,
    ``last_received_at``, ``last_start``). ``silent_for_h`` is the longer of the two silences.
    """
    out = []
    for row in last_seen:
        state = silence(row, now, silent_after)  # the rule `condivisa db devices` uses too
        if state["status"] != OK:
            out.append({**row, **{k: v for k, v in state.items() if k != "status"}})
    return sorted(out, key=lambda r: -(r["silent_for_h"] if r["silent_for_h"] is not None else float("inf")))


def gaps_from_result(result: dict) -> list[dict]:
    """PODs with missing intervals (or dropped duplicates) in a settlement result's ``data_quality``."""
    pods = (result.get("data_quality") or {}).get("pods") or []
    return [p for p in pods if p.get("missing_intervals") or p.get("duplicate_rows_dropped")]


@dataclass(frozen=True)
class DashboardFiles:
    """The files the dashboard reads beside the store: the community file (for the rules audit), hourly
    zonal prices, a case study's ``summary.json``. Each may be None."""

    community_file: Path | None = None
    prices_file: Path | None = None
    case_summary_file: Path | None = None
    #: without a prices file: GME's 2023 prices of the community's zone (a community kept in the store,
    #: :func:`condivisa.outputs.sources.zonal_prices`) instead of the assumed flat price
    zonal_prices: bool = False


class Dashboard:
    """The dashboard's data for one app (``store`` is a :class:`condivisa.store.Store`)."""

    def __init__(self, files: DashboardFiles, store: Any, community: Any) -> None:
        self.files = files
        self.store = store
        self.source_community = community  # as the community file says
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._book: SettledMonths | None = None
        self._pages: dict[tuple, dict] = {}
        self._erasures: tuple[int, int] | None = None
        self._community = community

    @property
    def community(self) -> Any:
        """The community file's view, with every erased member replaced by their pseudonymous self; checked
        against the store's erasure records on every access (an indexed lookup)."""
        marker = erasure_marker(self.store.engine)
        with self._lock:
            if marker != self._erasures:
                erased = erased_members(self.store.engine) if marker[0] else {}
                self._community = redact_community(self.source_community, erased)
                self._erasures = marker
                self._book, self._key, self._pages = None, None, {}  # nothing cached survives an erasure
            return self._community

    def replace_community(self, community: Any) -> None:
        """Serve ``community`` from now on (the community file changed, e.g. a member was added): the
        erased members are redacted again and every cached month and page is dropped."""
        with self._lock:
            self.source_community = community
            self._erasures = None  # the next access redacts the new community
            self._book, self._key, self._pages = None, None, {}

    @property
    def prices_assumed(self) -> bool:
        """No price file: the money assumes the flat price (every page says so)."""
        return not self.files.prices_file and not self.files.zonal_prices

    def _state_key(self, community_name: str) -> tuple:
        counts = self.store.counts()
        last = max((str(r.get("last_received_at") or "") for r in self.store.device_last_seen()), default="")
        with self.store.read() as conn:
            imported = import_marker(conn)  # distributor files supersede DU readings: a new one changes money
        events = events_marker(self.store.engine, community_name)  # events are settled too (issue #19)
        return (
            events,
            counts.get("measurements", 0),
            counts.get("measurement_revisions", 0),
            last,
            imported,
            clock.today(),
        )

    def book(self) -> SettledMonths:
        """The settled months of everything stored, rebuilt when new measurements have arrived."""
        community = self.community  # first: an erasure since the last call drops the cache
        with self._lock:
            key = (*self._state_key(community.name), self._erasures)
            if self._book is None or key != self._key:
                self._book = stored_months(
                    self.store,
                    community,
                    self.files.prices_file or None,
                    as_of=key[-2],
                    zonal=self.files.zonal_prices,
                )
                self._key = key
            return self._book

    def page(self, key: tuple, build) -> dict:
        """The context of a page (``build()``), cached until new measurements arrive."""
        self.book()  # refreshes the data key
        with self._lock:
            full = (self._key, *key)
            hit = self._pages.get(full)
        if hit is None:
            hit = build()
            with self._lock:
                fresh = {
                    k: v for k, v in self._pages.items() if k[0] == self._key
                }  # drop pages of older data
                self._pages = fresh if len(fresh) < 256 else {}
                self._pages[full] = hit
        return hit

    def quality(self, month: str | None, now: dt.datetime | None = None, limit: int = 20) -> Quality:
        """The data-quality panel of ``month`` (gaps) and of now (silent devices, latest dead letters)."""
        now = now or clock.now()
        last_seen = self.store.device_last_seen()
        book = self.book()
        gaps = gaps_from_result(book.result(month)) if month in book.months else []
        letters = []
        for d in self.store.dead_letters(limit, with_payload=False):
            reasons = d.get("reasons") or []
            if isinstance(reasons, str):
                try:
                    reasons = json.loads(reasons)
                except ValueError:
                    reasons = [{"path": "", "reason": reasons}]
            letters.append(
                {**d, "received_at": to_utc(d.get("received_at"), naive_is="utc"), "reasons": reasons}
            )
        return Quality(
            silent_devices=silent_devices(last_seen, now),
            gaps=gaps,
            dead_letters=letters,
            devices_total=len(last_seen),
        )

    def case_summary(self) -> dict | None:
        """``summary.json`` of ``condivisa case run`` when ``files.case_summary_file`` names one."""
        path = self.files.case_summary_file
        if not path or not Path(path).is_file():
            return None
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError:
            return None


def case_rows(summary: dict | None) -> tuple[list[dict], list[dict]]:
    """(cases, economics) rows of a case ``summary.json`` (``cases`` may be a list or a mapping by name)."""
    if not summary:
        return [], []
    cases = summary.get("cases") or []
    if isinstance(cases, dict):
        cases = [{"name": k, **v} for k, v in cases.items()]
    return [dict(c) for c in cases], [dict(e) for e in summary.get("economics") or []]


_LOAD_MODEL_LABEL = {
    "arera": {"it": "profili ARERA", "en": "ARERA profiles"},
    "synthetic": {"it": "forme modellate", "en": "modelled shapes"},
    "measured": {"it": "giorni tipici misurati", "en": "measured typical days"},
}


def case_load_model(summary: dict | None, lang: str = "it") -> str | None:
    """One line saying which load model a case ``summary.json`` used (``load_model``), in ``lang``:
    ``Consumi: profili ARERA (Sardegna; classi 1.5-3, 3-4.5 kW)``; None when the summary does not say."""
    info = (summary or {}).get("load_model") or {}
    name = info.get("name")
    if not name:
        return None
    it = lang == "it"
    label = _LOAD_MODEL_LABEL.get(name, {}).get("it" if it else "en", str(name))
    detail = ""
    if name == "arera":
        classes = sorted(set((info.get("classes") or {}).values()))
        detail = f" ({info.get('region', '?')}; {'classi' if it else 'classes'} {', '.join(classes)} kW)"
    elif name == "measured" and info.get("arera_months"):
        note = "mesi mancanti con profili ARERA" if it else "missing months from ARERA profiles"
        detail = f" ({note})"
    return f"{'Consumi' if it else 'Loads'}: {label}{detail}"
