"""The fingerprint of a billing run's inputs: one SHA-256 over everything the money depends on.

A final run stores :func:`inputs_digest` of what it settled (:mod:`condivisa.billing.runs`), so that anyone
can tell later whether the data, the rules or the regulated values changed since: a correction recomputes the
digest on the current inputs and, when it is the same, there is nothing to correct. The digest is the
SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8) of these parts, each one hashed on its own too so
that a run can say *what* changed:

``measurements``
    Every measurement row the run settled (only the run's months), sorted by POD and start:
    ``pod,start (UTC, ISO 8601),withdrawn_kwh,injected_kwh`` with the floats in their shortest exact form
    (``repr``), one line each, hashed as UTF-8 text; and the number of rows.
``prices``
    Every hourly zonal price of the run's months, ``start (UTC),€/MWh``, one line each.
``community``
    What the settlement reads from ``community.yaml``: configuration, zone, dates, members (id, category,
    founder, shares, membership dates, PODs — not their name or e-mail, which do not change the money),
    plants, external producers and the overrides of the regulated values.
``rules``
    The allocation rules (:func:`condivisa.auth.rules_audit.rules_dict`, the rules audit's canonical form).
``tariffs``
    The regulated values in force in each year of the run (:func:`regulated_values`).
``events`` (only when the run's months had demand-response events, issue #19)
    Each event as measured: its window and every invited member's actual and baseline kWh per interval
    (:func:`events_sha256`); the baseline reads days before the run's rows, so the rows alone do not say it.
``settlement``
    The months, the fill rule for missing quarter hours and condivisa's version (a new version may compute
    differently: its runs are not silently equal to the old ones).

References
----------
.. [1] FIPS 180-4, Secure Hash Standard (SHA-256).
.. [2] RFC 8785, JSON Canonicalization Scheme (the idea; here Python's ``json`` with sorted keys).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from condivisa import __version__
from condivisa.auth.rules_audit import rules_dict
from condivisa.domain import tariffs as regulated
from condivisa.domain.community import Community
from condivisa.engines.flexibility import MeasuredEvent

#: fields of a member that do not change the money (personal data): left out of the fingerprint
_PERSONAL = frozenset({"name", "email"})


def _plain(value: object) -> object:
    """``value`` as JSON values: dataclasses as dicts, enums by value, dates in ISO, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in _PERSONAL
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return repr(value)
    return value


def canonical(value: object) -> str:
    """Canonical JSON text of ``value`` (sorted keys, no spaces, UTF-8 as is)."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def community_dict(community: Community) -> dict[str, Any]:
    """What the settlement reads from the community (see the module docstring)."""
    doc = _plain(community)
    assert isinstance(doc, dict)
    for key in ("warnings", "devices", "rules"):
        doc.pop(key, None)
    return doc


def regulated_values(community: Community, months: list[str]) -> dict[str, Any]:
    """The regulated values a run of ``months`` uses: per civil year the values in force
    (:func:`condivisa.domain.tariffs.resolve_yearly` with the community's overrides, and why they are
    provisional), and the values fixed by the decree (premium classes, pivot, PV zone correction, enterprise
    cap shares).

    Parameters
    ----------
    community : Community
        Its ``tariffs:`` overrides apply.
    months : list of str
        ``YYYY-MM``.

    Returns
    -------
    dict
        JSON values; € per MWh where the key says ``eur_per_mwh``.

    References
    ----------
    .. [1] DM 414/2023 (decreto CACER), Annex 1; ARERA TIAD (727/2022/R/eel) art. 8-9; ARERA 280/07.
    """
    keys = set(regulated.VALORISATION_KEYS) | set(regulated.STANDING_VALUES)
    keys |= {k for row in regulated.YEARLY_VALUES.values() for k in row}
    keys |= set(community.tariff_overrides)
    keys |= {k for row in community.tariff_overrides_by_year.values() for k in row}
    yearly = {}
    for year in sorted({int(m[:4]) for m in months}):
        resolved = regulated.resolve_yearly(
            year, sorted(keys), community.tariff_overrides, community.tariff_overrides_by_year
        )
        yearly[str(year)] = {"values": resolved.values, "notices": list(resolved.notices)}
    return {
        "yearly": yearly,
        "premium_classes": [
            {"max_power_kw": repr(c.max_power_kw), "base": c.base_eur_per_mwh, "cap": c.cap_eur_per_mwh}
            for c in regulated.PREMIUM_CLASSES
        ],
        "premium_pivot_eur_per_mwh": regulated.PREMIUM_PIVOT_EUR_PER_MWH,
        "pv_zone_correction_eur_per_mwh": {
            z.value: v for z, v in regulated.PV_ZONE_CORRECTION_EUR_PER_MWH.items()
        },
        "enterprise_cap_share": regulated.ENTERPRISE_CAP_SHARE,
        "enterprise_cap_share_with_grant": regulated.ENTERPRISE_CAP_SHARE_WITH_GRANT,
        "max_grant_fraction": regulated.MAX_GRANT_FRACTION,
        "max_grant_reduction_f": regulated.MAX_GRANT_REDUCTION_F,
    }


def _utc_iso(starts: pd.Series | pd.Index) -> list[str]:
    """``Timestamp.isoformat()`` (UTC) of every start; each distinct instant formatted once (a month of 50
    PODs has 150,000 rows but 2,976 instants)."""
    utc = pd.to_datetime(starts, utc=True)
    codes, uniques = pd.factorize(utc)
    texts = np.array([t.isoformat() for t in uniques], dtype=object)
    return texts[codes].tolist()


def measurements_sha256(frame: pd.DataFrame) -> str:
    """SHA-256 of the measurement rows (``pod, start, withdrawn_kwh, injected_kwh``), order-independent."""
    if frame.empty:
        return sha256_text("")
    f = frame.assign(_utc=pd.to_datetime(frame["start"], utc=True)).sort_values(
        ["pod", "_utc"], kind="stable"
    )
    lines = [
        f"{p},{s},{float(w)!r},{float(i)!r}"
        for p, s, w, i in zip(
            f["pod"].astype(str), _utc_iso(f["_utc"]), f["withdrawn_kwh"], f["injected_kwh"]
        )
    ]
    return sha256_text("\n".join(lines))


def prices_sha256(prices: pd.Series) -> str:
    """SHA-256 of the hourly zonal prices (€/MWh), ``start (UTC),price`` per hour, by start."""
    p = prices.sort_index()
    return sha256_text("\n".join(f"{s},{float(v)!r}" for s, v in zip(_utc_iso(p.index), p.to_numpy())))


def events_sha256(events: Sequence[MeasuredEvent], months: list[str]) -> str | None:
    """SHA-256 of the demand-response events of ``months`` as measured (each member's actual and baseline
    kWh per interval of the window): the bonus depends on them, and the baseline on days before the run's
    rows. ``None`` when there are none (the digests of runs without events stay as they were)."""
    mine = [e for e in events if f"{e.start.tz_convert('Europe/Rome'):%Y-%m}" in months]
    if not mine:
        return None
    body = [
        {
            "id": e.event_id,
            "from": _utc_iso(pd.DatetimeIndex([e.start]))[0],
            "to": _utc_iso(pd.DatetimeIndex([e.end]))[0],
            "responses": {
                m: [[float(v) for v in r.actual_kwh], [round(float(v), 12) for v in r.baseline_kwh]]
                for m, r in sorted(e.responses.items())
            },
        }
        for e in mine
    ]
    return sha256_text(canonical(body))


def inputs_digest(
    community: Community,
    measurements: pd.DataFrame,
    prices: pd.Series,
    months: list[str],
    fill: str | None,
    events: Sequence[MeasuredEvent] = (),
) -> tuple[str, dict[str, Any]]:
    """The run's fingerprint and its parts (see the module docstring).

    Parameters
    ----------
    community : Community
        The community as settled.
    measurements : pandas.DataFrame
        The rows of the run's months only.
    prices : pandas.Series
        The hourly zonal prices of the run's months only, €/MWh.
    months : list of str
        The run's months, ``YYYY-MM``, oldest first.
    fill : {None, "zero", "interpolate"}
        The rule for missing quarter hours.
    events : sequence of MeasuredEvent, optional
        The demand-response events as measured (:func:`events_sha256`; a part only when there are some).

    Returns
    -------
    sha256 : str
        Hex SHA-256 of the canonical JSON of the parts' hashes.
    parts : dict
        Each part's SHA-256 (``*_sha256``), the row counts, the months, ``fill`` and the version.
    """
    parts = {
        "measurements_sha256": measurements_sha256(measurements),
        "measurement_rows": int(len(measurements)),
        "prices_sha256": prices_sha256(prices),
        "price_hours": int(len(prices)),
        "community_sha256": sha256_text(canonical(community_dict(community))),
        "rules_sha256": sha256_text(canonical(rules_dict(community.rules))),
        "tariffs_sha256": sha256_text(canonical(regulated_values(community, months))),
        "months": list(months),
        "fill": fill,
        "condivisa_version": __version__,
    }
    flex = events_sha256(events, list(months))
    if flex is not None:
        parts["events_sha256"] = flex
    return sha256_text(canonical(parts)), parts


def changed_parts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The names of the parts whose hash or value differs between two runs' ``inputs`` (for messages)."""
    names = {
        "measurements_sha256": "measurements",
        "prices_sha256": "prices",
        "community_sha256": "community",
        "rules_sha256": "rules",
        "tariffs_sha256": "regulated values",
        "events_sha256": "demand-response events",
        "fill": "fill",
        "condivisa_version": "condivisa version",
    }
    return [label for key, label in names.items() if old.get(key) != new.get(key)]
