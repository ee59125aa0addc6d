"""The readings left out of the money for exceeding their POD's bound, summarised for the referente.

:func:`condivisa.outputs.stored.within_bounds` leaves out of a settlement every stored reading above what
its POD's meter can read (:mod:`condivisa.domain.plausibility`); :func:`excluded_by_pod` groups those of a
month by POD for the notice of the community page ("3 letture oltre la potenza impegnata di POD X").
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from condivisa.domain.community import Community
from condivisa.kernel.timegrid import ROME


def excluded_by_pod(
    excluded: pd.DataFrame | None, community: Community, lo: pd.Timestamp, hi: pd.Timestamp
) -> list[dict[str, Any]]:
    """The readings of ``excluded`` starting in ``[lo, hi)``, per POD.

    Parameters
    ----------
    excluded : pandas.DataFrame or None
        Readings above their bound (:data:`condivisa.store.checks.ABOVE_COLUMNS` and ``replaced``).
    community : Community
        Who owns each POD.
    lo, hi : pandas.Timestamp
        The period (aware).

    Returns
    -------
    list of dict
        Per POD, in POD order: ``pod``, ``member_id`` (``None`` for a POD of no member), ``count``,
        ``replaced`` (how many an earlier plausible value stands in for), ``max_kwh`` (the largest reading),
        ``bound_kwh``, ``basis`` (what the bound is based on), ``first`` and ``last`` (quarter-hour starts,
        Europe/Rome).
    """
    if excluded is None or excluded.empty:
        return []
    starts = pd.to_datetime(excluded["start"]).dt.tz_convert(ROME)
    part = excluded[(starts >= lo) & (starts < hi)].assign(start=starts)
    owner = {p.code: m.id for m in community.members for p in m.pods}
    out = []
    for pod, rows in part.groupby("pod", sort=True):
        energy = rows[["withdrawn_kwh", "injected_kwh"]].to_numpy(dtype=float).max(axis=1)
        out.append(
            {
                "pod": str(pod),
                "member_id": owner.get(str(pod)),
                "count": len(rows),
                "replaced": int(rows["replaced"].astype(bool).sum()) if "replaced" in rows else 0,
                "max_kwh": float(energy.max()),
                "bound_kwh": float(rows["bound_kwh"].min()),
                "basis": str(rows["basis"].iloc[0]),
                "first": rows["start"].min(),
                "last": rows["start"].max(),
            }
        )
    return out
