"""Engagement (issue #19, item 4): how much of a member's consumption falls in the community's sunny hours,
its trend, and an opt-in, pseudonymous ranking with monthly recognitions. Pure: every figure is read from
the month's :class:`~condivisa.engines.settlement_result.SettlementResult` (its hourly arrays), never from
the measurements again.

Rules:

- **sunny hour**: a settlement interval (an hour) of the month in which the community's plants inject at
  least :data:`SUNNY_FRACTION` (a quarter) of what they injected in the month's best interval:
  ``sunny(h) ⇔ E_inj(h) ≥ 0.25 · max_month E_inj > 0`` (kWh). Relative to the month's own peak, the rule
  follows the season (short winter days, long summer ones) and leaves out the dawn and dusk trickles; a
  month with no injection has no sunny hour;
- **sunny share** of member *i* in a month: ``s_i = Σ_{h sunny} C_i(h) / Σ_h C_i(h)`` where ``C_i(h)`` is
  the member's consumption (withdrawal of their consumption PODs, as settled: membership dates respected),
  kWh / kWh, so ``0 ≤ s_i ≤ 1``; ``None`` when the member consumed nothing that month;
- **covered share**: the member's shared energy over their withdrawal in the month
  (``member_shared_kwh / member_withdrawn_kwh`` of the result; TIAD, ARERA 727/2022, art. 1), ``None``
  without withdrawal;
- **trend**: the change of the sunny share against the previous month, in percentage points
  (``100 · (s_i(m) − s_i(m−1))``);
- **ranking**: only members who opted in, under their pseudonym; shares compared as shown (percent rounded
  to :data:`SHARE_DECIMALS`); highest first; equal shares share the rank (competition ranking "1, 1, 3") and
  are listed by pseudonym; rows carry only pseudonym, share and rank;
- **k-anonymity**: no ranking and no recognition while fewer than :data:`MIN_OPTED_IN` opted-in members have
  a share in the month (with two, each would read the other's figure off the table);
- **recognitions** of a month, among the ranked members: *most solar* (highest share) and *most improved*
  (largest rise in points against the previous month, only if > 0); ties go to the higher share this month,
  then to the pseudonym first in alphabetical order (case-insensitive).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from condivisa.engines.settlement_result import SettlementResult
from condivisa.outputs.monthly import SettledMonths

#: an interval is sunny when the community injects at least this fraction of the month's best interval
SUNNY_FRACTION = 0.25
#: decimals of a share in percent, as shown and as ranked
SHARE_DECIMALS = 1
#: fewest opted-in members with a share for a ranking or recognition to be shown (k-anonymity)
MIN_OPTED_IN = 3
#: months of the trend on the member page (the month shown and the ones before)
TREND_MONTHS = 6

MOST_SOLAR = "most_solar"
MOST_IMPROVED = "most_improved"


@dataclass(frozen=True)
class MonthShare:
    """One member's month: consumption (kWh), the part in sunny hours (kWh), their shared energy (kWh), the
    month's sunny intervals, and the shares (0–1, ``None`` without consumption)."""

    month: str
    consumption_kwh: float
    sunny_consumption_kwh: float
    shared_kwh: float
    sunny_intervals: int
    sunny_share: float | None
    covered_share: float | None

    @property
    def sunny_pct(self) -> float | None:
        """The sunny share in percent, rounded to :data:`SHARE_DECIMALS` (what is shown and ranked)."""
        return None if self.sunny_share is None else round(100.0 * self.sunny_share, SHARE_DECIMALS)

    @property
    def covered_pct(self) -> float | None:
        return None if self.covered_share is None else round(100.0 * self.covered_share, SHARE_DECIMALS)


@dataclass(frozen=True)
class RankRow:
    """A ranking row: nothing but the pseudonym, the share (percent) and the rank."""

    pseudonym: str
    sunny_pct: float
    rank: int


@dataclass(frozen=True)
class Recognition:
    """A monthly recognition: which (``most_solar`` / ``most_improved``), to whom, and the figure (the share
    in percent, or the rise in points)."""

    kind: str
    pseudonym: str
    value: float


def sunny_mask(injected_kwh: np.ndarray, fraction: float = SUNNY_FRACTION) -> np.ndarray:
    """The sunny intervals: ``E_inj(h) ≥ fraction · max E_inj`` and ``max E_inj > 0`` (module docstring)."""
    inj = np.asarray(injected_kwh, dtype=float)
    peak = float(inj.max()) if inj.size else 0.0
    if peak <= 0.0:
        return np.zeros(inj.shape, dtype=bool)
    return inj >= fraction * peak


def _ratio(num: float, den: float) -> float | None:
    if den <= 0.0:
        return None
    return min(1.0, max(0.0, num / den))


def result_shares(result: SettlementResult, month: str) -> dict[str, MonthShare]:
    """Every member's :class:`MonthShare` of one month's settlement (keyed by member id). For the member's
    own page and, among opted-in members only, the ranking: never shown as such to anybody else."""
    sunny = sunny_mask(result.injected_kwh)
    n_sunny = int(sunny.sum())
    out: dict[str, MonthShare] = {}
    for i, member in enumerate(result.community.members):
        rows = result.consumption_rows[result.consumption_row_member == i]
        per_interval = rows.sum(axis=0) if len(rows) else np.zeros(len(sunny))
        total = float(per_interval.sum())
        in_sun = float(per_interval[sunny].sum())
        withdrawn = float(result.member_withdrawn_kwh[i])
        shared = float(result.member_shared_kwh[i])
        out[member.id] = MonthShare(
            month=month,
            consumption_kwh=round(total, 3),
            sunny_consumption_kwh=round(in_sun, 3),
            shared_kwh=round(shared, 3),
            sunny_intervals=n_sunny,
            sunny_share=_ratio(in_sun, total),
            covered_share=_ratio(shared, withdrawn),
        )
    return out


def month_shares(book: SettledMonths, month: str) -> dict[str, MonthShare]:
    """:func:`result_shares` of ``month`` of ``book`` (empty while the month has no settled day)."""
    if month not in book.months:
        return {}
    ms = book.month(month)
    return {} if ms.result is None else result_shares(ms.result, month)


def trend(book: SettledMonths, member_id: str, through: str, months: int = TREND_MONTHS) -> list[dict]:
    """The member's sunny share of the last ``months`` months up to ``through``, oldest first: ``month``,
    ``share`` (:class:`MonthShare` or ``None`` without data) and ``change_pp`` against the calendar month
    before (points, rounded to :data:`SHARE_DECIMALS`; ``None`` when either has no share)."""
    rows: list[dict] = []
    for m in [m for m in book.months if m <= through][-months:]:
        share = month_shares(book, m).get(member_id)
        before = month_shares(book, previous_month(m)).get(member_id)
        rows.append({"month": m, "share": share, "change_pp": change_pp(share, before)})
    return rows


def change_pp(now: MonthShare | None, before: MonthShare | None) -> float | None:
    """``now − before`` in percentage points of the shown shares; ``None`` when either has no share."""
    if now is None or before is None or now.sunny_pct is None or before.sunny_pct is None:
        return None
    return round(now.sunny_pct - before.sunny_pct, SHARE_DECIMALS)


def _ranked_pcts(shares: Mapping[str, MonthShare], optins: Mapping[str, str]) -> dict[str, float]:
    """Pseudonym → shown share (percent) of the opted-in members with a share this month."""
    out = {}
    for member_id, pseudonym in optins.items():
        s = shares.get(member_id)
        if s is not None and s.sunny_pct is not None:
            out[pseudonym] = s.sunny_pct
    return out


def ranking(
    shares: Mapping[str, MonthShare], optins: Mapping[str, str], k: int = MIN_OPTED_IN
) -> list[RankRow]:
    """The month's ranking of the opted-in members (``optins``: member id → pseudonym): highest share first,
    equal shares share the rank and are listed by pseudonym; empty with fewer than ``k`` ranked members."""
    pcts = _ranked_pcts(shares, optins)
    if len(pcts) < k:
        return []
    order = sorted(pcts.items(), key=lambda kv: (-kv[1], kv[0].casefold(), kv[0]))
    rows: list[RankRow] = []
    for pos, (pseudonym, pct) in enumerate(order, start=1):
        rank = rows[-1].rank if rows and rows[-1].sunny_pct == pct else pos
        rows.append(RankRow(pseudonym, pct, rank))
    return rows


def recognitions(
    shares: Mapping[str, MonthShare],
    previous: Mapping[str, MonthShare],
    optins: Mapping[str, str],
    k: int = MIN_OPTED_IN,
) -> list[Recognition]:
    """The month's recognitions among the opted-in members (module docstring): *most solar*, and *most
    improved* when somebody rose against ``previous`` (the month before's shares); none with fewer than
    ``k`` ranked members."""
    pcts = _ranked_pcts(shares, optins)
    if len(pcts) < k:
        return []

    def tie(p: str) -> tuple[str, str]:
        return p.casefold(), p

    best = min(pcts, key=lambda p: (-pcts[p], *tie(p)))
    out = [Recognition(MOST_SOLAR, best, pcts[best])]
    rises = {}
    for member_id, pseudonym in optins.items():
        pp = change_pp(shares.get(member_id), previous.get(member_id))
        if pp is not None and pp > 0:
            rises[pseudonym] = pp
    if rises:
        top = min(rises, key=lambda p: (-rises[p], -pcts[p], *tie(p)))
        out.append(Recognition(MOST_IMPROVED, top, rises[top]))
    return out


def previous_month(month: str) -> str:
    """The month before ``month`` (``YYYY-MM``)."""
    y, m = int(month[:4]), int(month[5:])
    return f"{y - (m == 1):04d}-{(m - 2) % 12 + 1:02d}"


def community_view(book: SettledMonths, month: str, optins: Mapping[str, str]) -> dict:
    """What anybody may see of the community's month: the ranking and the recognitions (pseudonyms only)
    and how many opted in."""
    shares = month_shares(book, month)
    prev = month_shares(book, previous_month(month))
    return {
        "ranking": ranking(shares, optins),
        "recognitions": recognitions(shares, prev, optins),
        "opted_in": len(optins),
        "min_opted_in": MIN_OPTED_IN,
    }


def member_view(book: SettledMonths, member_id: str, month: str, optins: Mapping[str, str]) -> dict:
    """The member's panel: their own share of ``month`` (``share``), the trend (:func:`trend`), their
    pseudonym when opted in and then the community's ranking, their rank and the recognitions. Nobody
    else's figure appears unless they opted in, and then only under their pseudonym."""
    rows = trend(book, member_id, month)
    share = rows[-1]["share"] if rows and rows[-1]["month"] == month else None
    pseudonym = optins.get(member_id)
    view: dict = {
        "month": month,
        "share": share,
        "change_pp": rows[-1]["change_pp"] if share is not None else None,
        "trend": rows,
        "pseudonym": pseudonym,
        "sunny_fraction_pct": round(100 * SUNNY_FRACTION),
        "min_opted_in": MIN_OPTED_IN,
        "ranking": [],
        "recognitions": [],
        "rank": None,
    }
    if pseudonym is not None:
        community = community_view(book, month, optins)
        view["ranking"] = community["ranking"]
        view["recognitions"] = community["recognitions"]
        view["rank"] = next((r.rank for r in community["ranking"] if r.pseudonym == pseudonym), None)
    return view
