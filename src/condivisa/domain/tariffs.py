"""Regulated values that change over time, kept in one table and overridable per community.

Sources (see ``docs/tariffs.md``):
- Premium tariff classes, DM 414/2023 ("decreto CACER"), Annex 1: base and cap by plant power;
  geographic correction FC_zone for photovoltaic plants (+4 Centre, +10 North, €/MWh).
- ARERA valorisation of autoconsumed energy, TIAD (ARERA 727/2022/R/eel), Art. 8-9:
  transmission tariff component TRAS_E, BTAU distribution component, avoided-loss coefficients.
- ARERA delibera 280/07 (ritiro dedicato, RID), art. 7 and the yearly updates: minimum guaranteed prices.

Every value that changes yearly is in :data:`YEARLY_VALUES` (one table, by year); a year missing from it is
provisional and says so (:func:`resolve_yearly`), it never silently reuses another year's values.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Zone(StrEnum):
    """Geographic zone for the PV correction of the premium tariff (DM 414/2023)."""

    NORTH = "north"
    CENTRE = "centre"
    SOUTH = "south"


#: FC_zone, €/MWh, applied to photovoltaic plants only (DM 414/2023, Annex 1).
PV_ZONE_CORRECTION_EUR_PER_MWH: dict[Zone, float] = {Zone.NORTH: 10.0, Zone.CENTRE: 4.0, Zone.SOUTH: 0.0}


@dataclass(frozen=True)
class PremiumClass:
    """One power class of the premium tariff: applies to plants with power <= ``max_power_kw``."""

    max_power_kw: float
    base_eur_per_mwh: float
    cap_eur_per_mwh: float


#: DM 414/2023 power classes, in ascending order of power.
PREMIUM_CLASSES: tuple[PremiumClass, ...] = (
    PremiumClass(200.0, 80.0, 120.0),
    PremiumClass(600.0, 70.0, 110.0),
    PremiumClass(float("inf"), 60.0, 100.0),
)

#: Zonal-price pivot of the variable part, €/MWh: variable = max(0, 180 - Pz).
PREMIUM_PIVOT_EUR_PER_MWH = 180.0
#: Maximum PNRR capital grant fraction, and the F it gives (DM 414/2023, Art. 6/7).
MAX_GRANT_FRACTION = 0.4
MAX_GRANT_REDUCTION_F = 0.5
#: Years of premium from a plant's commissioning.
PREMIUM_YEARS = 20
#: Earliest commissioning date of an eligible plant (D.Lgs. 199/2021 entry into force).
PREMIUM_EARLIEST_COMMISSIONING = "2021-12-16"
#: Share of shared energy above which the premium may not go to enterprises (GSE rules, Feb 2024),
#: and the lower share for plants with a PNRR grant.
ENTERPRISE_CAP_SHARE = 0.55
ENTERPRISE_CAP_SHARE_WITH_GRANT = 0.45


@dataclass(frozen=True)
class ValorisationValues:
    """ARERA valorisation parameters for one year (TIAD, ARERA 727/2022)."""

    tras_e_eur_per_mwh: float
    btau_eur_per_mwh: float
    loss_factor_bt: float
    loss_factor_mt: float


#: The regulated values that change every civil year, by year; each key is also the key to override it in
#: ``community.yaml`` (``tariffs: {2026: {tras_e_eur_per_mwh: ...}}``). Only sourced values are here: a
#: year without its values is *missing*, never silently the latest one (:func:`resolve_yearly`).
#:
#: - ``tras_e_eur_per_mwh``, ``btau_eur_per_mwh``, ``loss_factor_bt``, ``loss_factor_mt``: TIAD (ARERA
#:   727/2022/R/eel) art. 8-9 with the yearly ARERA updates of the tariff components; 2024 values
#:   (TRAS_E 10.57, BTAU 0.65 €/MWh, avoided losses 2.6 % BT, 1.2 % MT) as stated in the product's
#:   domain notes (``shared/reference/domain.md``: "Regulated values change yearly").
#: - ``rid_minimum_pv_eur_per_mwh``: the RID minimum guaranteed price of photovoltaic plants (prezzo
#:   minimo garantito, ARERA delibera 280/07 art. 7, updated yearly by ARERA, e.g. delibera 618/2013/R/efr
#:   and the following yearly updates): 46.4 €/MWh in 2024 (domain notes, "RID minimum guaranteed prices").
#:
#: 2023 and 2025 are not here: the sources at hand do not give their values.
YEARLY_VALUES: dict[int, dict[str, float]] = {
    2024: {
        "tras_e_eur_per_mwh": 10.57,
        "btau_eur_per_mwh": 0.65,
        "loss_factor_bt": 0.026,
        "loss_factor_mt": 0.012,
        "rid_minimum_pv_eur_per_mwh": 46.4,
    },
}

#: Values that do not change yearly but may be overridden in ``tariffs:`` too: the yearly energy within
#: which the RID minimum price applies, MWh, by source (ARERA delibera 280/07, Tabella 1, as updated: the
#: first 1,500 MWh injected in the civil year for photovoltaic plants).
STANDING_VALUES: dict[str, float] = {"rid_quota_pv_mwh": 1500.0}

#: The valorisation keys of :data:`YEARLY_VALUES`, in :class:`ValorisationValues` order.
VALORISATION_KEYS: tuple[str, ...] = tuple(ValorisationValues.__dataclass_fields__)

_RID_KEY = re.compile(r"rid_(minimum_[a-z0-9]+_eur_per_mwh|quota_[a-z0-9]+_mwh)")


def rid_source(source: str, is_pv: bool) -> str:
    """The source name in the RID keys: ``pv`` for every photovoltaic spelling, else ``source`` lower case."""
    return "pv" if is_pv else re.sub(r"[^a-z0-9]", "", source.lower())


def rid_minimum_key(source: str) -> str:
    """``rid_minimum_<source>_eur_per_mwh``: the yearly RID minimum price of ``source``."""
    return f"rid_minimum_{source}_eur_per_mwh"


def rid_quota_key(source: str) -> str:
    """``rid_quota_<source>_mwh``: the yearly energy of ``source`` within which the minimum price applies."""
    return f"rid_quota_{source}_mwh"


def tariff_key_problem(key: str) -> str | None:
    """Why ``key`` is not a key of ``tariffs:`` (with the closest known key), or ``None`` when it is."""
    known = set(VALORISATION_KEYS) | set(STANDING_VALUES) | {k for v in YEARLY_VALUES.values() for k in v}
    if key in known or _RID_KEY.fullmatch(key):
        return None
    close = [k for k in sorted(known) if k.startswith(key)] or difflib.get_close_matches(
        key, sorted(known), n=1, cutoff=0.6
    )
    hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(sorted(known))})"
    return f"unknown tariff key{hint}"


@dataclass(frozen=True)
class Resolved:
    """The values in force in one year (``None``: unknown) and why they are provisional, if they are."""

    values: dict[str, float | None]
    notices: tuple[str, ...] = ()


def _override_hint(year: int, keys: list[str]) -> str:
    inner = ", ".join(f"{k}: ..." for k in keys)
    return f"imposta `tariffs: {{{year}: {{{inner}}}}}` nel file della comunità"


def resolve_yearly(
    year: int,
    keys: Iterable[str],
    every_year: Mapping[str, float] | None = None,
    by_year: Mapping[int, Mapping[str, float]] | None = None,
) -> Resolved:
    """The values of ``keys`` in force in ``year``, and a notice for each value that is not sourced.

    Each value comes from, in order: the community's override for ``year`` (``tariffs: {YEAR: {...}}``),
    its override for every year (``tariffs: {key: value}``), the table (:data:`YEARLY_VALUES`,
    :data:`STANDING_VALUES`). A yearly value missing from the table for ``year`` takes the latest earlier
    year's (or, before the table, the earliest year's) and the result is provisional: the notice names
    the year, the year used and the override to set. A value found nowhere is ``None``, with a notice.

    Parameters
    ----------
    year : int
        The civil year.
    keys : iterable of str
        The keys needed (e.g. ``tras_e_eur_per_mwh``, ``rid_minimum_pv_eur_per_mwh``).
    every_year, by_year : Mapping, optional
        The community's overrides (``tariffs:`` in ``community.yaml``).

    Returns
    -------
    Resolved
        ``values`` (key -> value or ``None``) and ``notices`` (Italian, for the referente).

    References
    ----------
    .. [1] ARERA, TIAD (Allegato A, delibera 727/2022/R/eel), art. 8-9, and the yearly updates of the
       tariff components; ARERA delibera 280/07 and the yearly updates of the RID minimum prices.
    """
    own = dict((by_year or {}).get(year, {}))
    flat = dict(every_year or {})
    values: dict[str, float | None] = {}
    reused: dict[int, list[str]] = {}
    unknown: list[str] = []
    for key in keys:
        if key in own:
            values[key] = float(own[key])
        elif key in flat:
            values[key] = float(flat[key])
        elif key in YEARLY_VALUES.get(year, {}):
            values[key] = YEARLY_VALUES[year][key]
        elif key in STANDING_VALUES:
            values[key] = STANDING_VALUES[key]
        else:
            having = sorted(y for y, row in YEARLY_VALUES.items() if key in row)
            if not having:
                values[key] = None
                unknown.append(key)
                continue
            used = ([y for y in having if y < year] or having[:1])[-1]
            values[key] = YEARLY_VALUES[used][key]
            reused.setdefault(used, []).append(key)
    notices = [
        f"valori ARERA {year} non presenti in condivisa ({', '.join(names)}): usati quelli del {used}; "
        + _override_hint(year, names)
        for used, names in sorted(reused.items())
    ]
    if unknown:
        notices.append(
            f"nessun valore noto per il {year} ({', '.join(unknown)}): non applicato; "
            + _override_hint(year, unknown)
        )
    return Resolved(values, tuple(notices))


def valorisation_values(year: int, overrides: dict | None = None) -> ValorisationValues:
    """Values in force in ``year`` (:func:`resolve_yearly`, without its notices), with ``overrides``
    (field name -> value, e.g. from ``community.yaml``'s ``tariffs:``) applied."""
    unknown = set(overrides or {}) - set(VALORISATION_KEYS)
    if unknown:
        raise ValueError(f"unknown tariff override(s): {', '.join(sorted(unknown))}")
    values = resolve_yearly(year, VALORISATION_KEYS, overrides).values
    return ValorisationValues(**{k: float(v or 0.0) for k, v in values.items()})


def premium_class(power_kw: float) -> PremiumClass:
    """The DM 414/2023 class of a plant of ``power_kw`` kW."""
    for cls in PREMIUM_CLASSES:
        if power_kw <= cls.max_power_kw:
            return cls
    return PREMIUM_CLASSES[-1]


def _tariff_number(value: object, where: str) -> float:
    """A ``tariffs:`` value: a finite number >= 0; a loss factor is a fraction (<= 1), a quota > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}: expected a number, got {value!r}") from None
    if not 0.0 <= number < float("inf"):
        raise ValueError(f"{where}: must be a number >= 0, got {value!r}")
    key = where.rsplit(".", 1)[-1]
    if key.startswith("loss_factor") and number > 1.0:
        raise ValueError(f"{where}: a loss factor is a fraction (0.026 for 2.6 %), got {value!r}")
    if key.startswith("rid_quota") and number == 0.0:
        raise ValueError(f"{where}: a quota must be > 0 MWh, got {value!r}")
    return number


def parse_tariffs(raw: object) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """The ``tariffs:`` section of ``community.yaml``: overrides for every year and by year.

    ``tariffs: {tras_e_eur_per_mwh: 10.57}`` overrides a value in every year;
    ``tariffs: {2026: {tras_e_eur_per_mwh: 10.9, rid_minimum_pv_eur_per_mwh: 47}}`` in one year (it wins
    over the every-year value). Keys: :func:`tariff_key_problem`.

    Raises
    ------
    ValueError
        Naming the key (``tariffs.2026.tras_e``), the value and the fix.
    """
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise ValueError("tariffs: expected a mapping, e.g. {2026: {tras_e_eur_per_mwh: ...}}")
    every: dict[str, float] = {}
    by_year: dict[int, dict[str, float]] = {}
    for key, value in raw.items():
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            year = int(key)
            if not 2000 <= year <= 2100 or not isinstance(value, dict):
                raise ValueError(f"tariffs.{key}: expected a year (2000-2100) and a mapping of values")
            row: dict[str, float] = {}
            for name, number in value.items():
                problem = tariff_key_problem(str(name))
                if problem:
                    raise ValueError(f"tariffs.{year}.{name}: {problem}")
                row[str(name)] = _tariff_number(number, f"tariffs.{year}.{name}")
            by_year[year] = row
            continue
        problem = tariff_key_problem(str(key))
        if problem:
            raise ValueError(f"tariffs.{key}: {problem}")
        every[str(key)] = _tariff_number(value, f"tariffs.{key}")
    return every, by_year
