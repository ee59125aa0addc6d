"""Household quarter-hour load profiles from the ARERA hourly shapes, scaled to known energies or bills.

Two steps, both pure numpy on plain arrays (the ARERA table is read by ``condivisa.formats``, a
sibling floor, so this module never imports it; the caller passes the shapes as an array):

1. :func:`household_profile` — one household of one region and contract-power class: each civil day
   (Europe/Rome) of the period takes the 24-hour shape of its month and day type (weekday /
   Saturday / Sunday-holiday), the days are laid end to end, and the hourly series is upsampled to
   quarter hours with :func:`condivisa.engines.interpolation.disaggregate_energy` (mean-preserving,
   limited piecewise-linear: **each hour's energy is kept exactly**; ``method="repeat"`` gives the
   exact equal split, a quarter of the hour to each quarter). Optionally scaled to a known energy per
   day, per calendar month or for the whole period (:func:`scale_to_energy`).
2. :func:`bills_to_profile` — a member's bills (monthly or yearly kWh, total or split F1/F2/F3): each
   group (month × band, month, band or the whole year) is scaled by ``bill_kwh / shape energy of the
   group``, so every bill figure is reproduced exactly and the shape inside a group is unchanged.
   Vectorised over households: shapes ``(n_qh,)`` or ``(households, n_qh)``, bills
   ``(households, …)``.

DST days. The ARERA shapes are 24 values per local clock hour 0–23. On the spring day (last Sunday of
March, 23 hours) the local hour 02:00 does not exist: its value is dropped, so the day has 23 hours,
92 quarter hours and its energy is the shape's minus hour 2. On the autumn day (last Sunday of
October, 25 hours) the local hour 02:00 occurs twice (CEST, then CET): its value is used for both,
so the day has 25 hours, 100 quarter hours and the shape's energy plus hour 2. Scaling to a known
energy (per day, month, year or bill) then applies to the real instants, whatever their number.

Day types. ``day_types=`` (one of ``"weekday" | "saturday" | "holiday"`` per day) given by the caller
is used as is; otherwise ``condivisa.domain.time_bands.day_type`` (Italian national holidays) when
that module is installed; otherwise the plain rule Monday–Friday weekday, Saturday saturday, Sunday
holiday (no holidays).

References
----------
.. [1] ARERA, "Prelievo medio orario dei clienti domestici per regione, classe di potenza, mese e
   tipo di giorno" (mean hourly withdrawal of domestic customers), open data.
.. [2] ARERA, delibera 181/06: fasce orarie F1, F2, F3.
.. [3] B. van Leer, J. Comput. Phys. 23 (1977) 276–299 (the limited reconstruction of the
   interpolation engine).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, DTypeLike

from condivisa.domain.time_bands import band_of, day_type
from condivisa.engines.interpolation import disaggregate_energy, repeat_hourly
from condivisa.kernel.timegrid import ROME, hours

DAY_TYPES: tuple[str, str, str] = ("weekday", "saturday", "holiday")
"""Order of the day-type axis of the shapes array."""

QUARTERS_PER_HOUR = 4
_SPRING_MISSING_HOUR = 2  # local 02:00 does not exist on the spring DST day
_AUTUMN_REPEATED_HOUR = 2  # local 02:00 occurs twice on the autumn DST day

BillsBy = Literal["month_band", "month", "band", "year"]


def days_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """Civil days ``start`` … ``end`` (end exclusive)."""
    n_days = (end - start).days
    if n_days < 1:
        raise ValueError(f"empty period: {start} .. {end} (end exclusive)")
    return [start + dt.timedelta(days=i) for i in range(n_days)]


def resolve_day_types(days: Sequence[dt.date], day_types: ArrayLike | None = None) -> np.ndarray:
    """Day type per day: the caller's, else :func:`condivisa.domain.time_bands.day_type` (Italian holidays).

    Returns
    -------
    numpy.ndarray
        Index into :data:`DAY_TYPES` per day (0 weekday, 1 saturday, 2 holiday).
    """
    if day_types is None:
        labels = np.asarray(day_type(list(days)), dtype=str)
    else:
        labels = np.asarray(day_types, dtype=str)
    if labels.shape != (len(days),):
        raise ValueError(f"day_types: {labels.shape[0] if labels.ndim else 0} values for {len(days)} days")
    unknown = sorted(set(labels.tolist()) - set(DAY_TYPES))
    if unknown:
        raise ValueError(f"unknown day types {unknown}; expected {list(DAY_TYPES)}")
    index = {name: i for i, name in enumerate(DAY_TYPES)}
    return np.array([index[t] for t in labels.tolist()], dtype=int)


def hours_per_day(days: Sequence[dt.date]) -> np.ndarray:
    """Number of real hours of each civil day in Europe/Rome (23, 24 or 25)."""
    day_hours = hours(days[0], days[-1] + dt.timedelta(days=1))
    local_day = np.asarray(day_hours.tz_convert(ROME).date)
    counts = pd.Series(1, index=local_day).groupby(level=0).size()
    return counts.reindex(list(days)).to_numpy(dtype=int)


def day_hourly_kwh(shape_24_kwh: ArrayLike, n_hours: int) -> np.ndarray:
    """A day's 24 clock-hour shape laid on its real hours (23 / 24 / 25).

    Parameters
    ----------
    shape_24_kwh : array_like
        Energy per local clock hour 0–23, kWh.
    n_hours : int
        Real hours of the day: 23 (spring DST: hour 02:00 dropped), 24, or 25 (autumn DST: hour
        02:00 repeated).

    Returns
    -------
    numpy.ndarray
        Energy per real hour, kWh, length ``n_hours``.
    """
    shape = np.asarray(shape_24_kwh, dtype=float)
    if shape.shape != (24,):
        raise ValueError(f"a day shape needs 24 hourly values, got shape {shape.shape}")
    if n_hours == 24:
        return shape.copy()
    if n_hours == 23:
        return np.delete(shape, _SPRING_MISSING_HOUR)
    if n_hours == 25:
        return np.insert(shape, _AUTUMN_REPEATED_HOUR, shape[_AUTUMN_REPEATED_HOUR])
    raise ValueError(f"a civil day has 23, 24 or 25 hours, got {n_hours}")


def scale_to_energy(profile_kwh: ArrayLike, group_of: ArrayLike, target_kwh: ArrayLike) -> np.ndarray:
    """Scale each group of intervals so that its energy equals a target.

    ``profile_g · target_g / Σ profile_g``; a group whose shape energy is 0 gets its target spread
    evenly over its intervals.

    Parameters
    ----------
    profile_kwh : array_like
        Energy per interval, kWh, shape ``(n,)`` or ``(households, n)``.
    group_of : array_like of int
        Group index 0 … G−1 of each interval, shape ``(n,)``.
    target_kwh : array_like
        Energy of each group, kWh, shape ``(G,)`` or ``(households, G)``.

    Returns
    -------
    numpy.ndarray
        Scaled energy per interval, kWh, shaped like the broadcast of profile and targets.
    """
    profile = np.asarray(profile_kwh, dtype=float)
    groups = np.asarray(group_of, dtype=np.intp)
    target = np.asarray(target_kwh, dtype=float)
    n_groups = target.shape[-1]
    if groups.shape != profile.shape[-1:]:
        raise ValueError(f"group_of has {groups.shape} entries for {profile.shape[-1]} intervals")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError(f"group indices must be in 0..{n_groups - 1}")
    if (target < 0).any() or not np.isfinite(target).all():
        raise ValueError("target energies must be finite and >= 0")
    factor = _group_factors(profile, groups, target)
    out = profile * np.take(factor, groups, axis=-1)
    return _spread_into_empty_groups(out, profile, groups, target)


def _group_energy(profile: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ profile per group, shape ``(…, n_groups)``."""
    if profile.ndim == 1:
        return np.bincount(groups, weights=profile, minlength=n_groups)
    onehot = np.zeros((groups.size, n_groups))
    onehot[np.arange(groups.size), groups] = 1.0
    return profile @ onehot


def _group_factors(profile: np.ndarray, groups: np.ndarray, target: np.ndarray) -> np.ndarray:
    energy = _group_energy(profile, groups, target.shape[-1])
    energy, target = np.broadcast_arrays(energy, target)
    return np.divide(target, energy, out=np.zeros(energy.shape), where=energy > 0)


def _spread_into_empty_groups(
    out: np.ndarray, profile: np.ndarray, groups: np.ndarray, target: np.ndarray
) -> np.ndarray:
    energy = _group_energy(profile, groups, target.shape[-1])
    empty = (energy <= 0) & (target > 0)
    if not empty.any():
        return out
    counts = np.bincount(groups, minlength=target.shape[-1]).astype(float)
    even = np.divide(
        target, counts, out=np.zeros(np.broadcast_shapes(target.shape, counts.shape)), where=counts > 0
    )
    fill = np.take(np.where(empty, even, 0.0), groups, axis=-1)
    return np.asarray(out + fill)


def household_profile(
    shapes_kwh: ArrayLike,
    start: dt.date,
    end: dt.date,
    *,
    day_types: ArrayLike | None = None,
    method: Literal["linear", "repeat"] = "linear",
    energy_kwh: ArrayLike | None = None,
    per: Literal["day", "month", "period"] = "period",
) -> np.ndarray:
    """Quarter-hour profile of one household from its ARERA hourly shapes.

    Parameters
    ----------
    shapes_kwh : array_like
        ARERA mean withdrawal for one region and contract-power class, kWh per hour, shape
        ``(12, 3, 24)``: month 1–12 × day type (:data:`DAY_TYPES` order) × local clock hour 0–23.
    start, end : datetime.date
        The period, civil days in Europe/Rome, ``end`` exclusive.
    day_types : array_like of str, optional
        ``"weekday" | "saturday" | "holiday"`` per day; default: the Italian calendar of
        ``domain.time_bands`` when available, else Mon–Fri / Sat / Sun.
    method : {"linear", "repeat"}, default "linear"
        Hour → quarter-hour split: the interpolation engine's mean-preserving limited linear one, or
        the exact equal split (a quarter of the hour each). Both keep each hour's energy.
    energy_kwh : array_like, optional
        Known energy, kWh: a scalar, or one value per day (``per="day"``) or per calendar month
        present in the period, in order (``per="month"``). ``None``: the ARERA mean as is.
    per : {"day", "month", "period"}, default "period"
        What ``energy_kwh`` is the energy of (a scalar is the same for each day / month).

    Returns
    -------
    numpy.ndarray
        Energy per quarter hour, kWh, on ``kernel.timegrid.quarter_hours(start, end)`` (92 / 100 on
        DST days).

    References
    ----------
    .. [1] ARERA, mean hourly withdrawal of domestic customers by region, power class, month and day
       type.
    """
    shapes = np.asarray(shapes_kwh, dtype=float)
    if shapes.shape != (12, 3, 24):
        raise ValueError(f"shapes must be (12 months, 3 day types, 24 hours), got {shapes.shape}")
    if (shapes < 0).any() or not np.isfinite(shapes).all():
        raise ValueError("shapes must be finite and >= 0 kWh")
    days = days_of(start, end)
    kinds = resolve_day_types(days, day_types)
    n_hours = hours_per_day(days)
    hourly = np.concatenate(
        [day_hourly_kwh(shapes[d.month - 1, k], int(h)) for d, k, h in zip(days, kinds, n_hours, strict=True)]
    )
    split = disaggregate_energy if method == "linear" else repeat_hourly
    profile = split(hourly, QUARTERS_PER_HOUR)
    if energy_kwh is None:
        return profile
    qh_per_day = n_hours * QUARTERS_PER_HOUR
    if per == "day":
        group_of_day = np.arange(len(days))
    elif per == "month":
        month_key = np.array([d.year * 12 + d.month - 1 for d in days])
        group_of_day = np.unique(month_key, return_inverse=True)[1]
    elif per == "period":
        group_of_day = np.zeros(len(days), dtype=int)
    else:
        raise ValueError(f"per must be 'day', 'month' or 'period', got {per!r}")
    n_groups = int(group_of_day.max()) + 1
    target = np.broadcast_to(np.asarray(energy_kwh, dtype=float), (n_groups,))
    return scale_to_energy(profile, np.repeat(group_of_day, qh_per_day), target)


def bill_groups(months: ArrayLike, bands: ArrayLike, by: BillsBy) -> tuple[np.ndarray, int]:
    """Group index of each quarter hour for a kind of bill, and the number of groups.

    ``month_band``: ``3·(month−1) + band−1`` (36 groups); ``month``: ``month−1`` (12); ``band``:
    ``band−1`` (3); ``year``: 0 (1).
    """
    m = np.asarray(months, dtype=np.intp)
    b = np.asarray(bands, dtype=np.intp)
    if m.shape != b.shape:
        raise ValueError(f"months {m.shape} and bands {b.shape} differ in length")
    if m.size and (m.min() < 1 or m.max() > 12):
        raise ValueError("months must be 1..12")
    if b.size and (b.min() < 1 or b.max() > 3):
        raise ValueError("bands must be 1 (F1), 2 (F2) or 3 (F3)")
    if by == "month_band":
        return 3 * (m - 1) + (b - 1), 36
    if by == "month":
        return m - 1, 12
    if by == "band":
        return b - 1, 3
    if by == "year":
        return np.zeros_like(m), 1
    raise ValueError(f"by must be 'month_band', 'month', 'band' or 'year', got {by!r}")


def bills_to_profile(
    shape_kwh: ArrayLike,
    bills_kwh: ArrayLike,
    *,
    months: ArrayLike,
    bands: ArrayLike | None = None,
    instants: pd.DatetimeIndex | None = None,
    by: BillsBy = "month_band",
    dtype: DTypeLike = np.float64,
) -> np.ndarray:
    """Quarter-hour profiles reproducing each bill figure exactly, ARERA shape kept within each group.

    For group g (month × band, month, band or year): ``profile = shape · bill_g / Σ_{q∈g} shape_q``.
    So Σ over the group equals the bill (to rounding), all values are ≥ 0, and the ratio between any
    two quarter hours of the same group is the shape's. A group whose shape energy is 0 but whose bill
    is not gets the bill spread evenly over its quarter hours.

    Parameters
    ----------
    shape_kwh : array_like
        ARERA quarter-hour shape, kWh per quarter hour (e.g. from :func:`household_profile` for a
        year), shape ``(n_qh,)`` shared by all households, or ``(households, n_qh)``.
    bills_kwh : array_like
        Billed energy, kWh; trailing axes by ``by``: ``month_band`` ``(…, 12, 3)`` (F1, F2, F3);
        ``month`` ``(…, 12)``; ``band`` ``(…, 3)``; ``year`` ``(…)``. Leading axes: households.
    months : array_like of int
        Calendar month 1–12 of each quarter hour, shape ``(n_qh,)``.
    bands : array_like of int, optional
        ARERA 181/06 band 1/2/3 of each quarter hour; default ``domain.time_bands.band_of(instants)``
        (needs ``instants``; not needed for ``by="month"`` or ``"year"``).
    instants : pandas.DatetimeIndex, optional
        Quarter-hour start instants, used only to compute ``bands`` when not given.
    by : {"month_band", "month", "band", "year"}, default "month_band"
        What the bills are split by.
    dtype : numpy dtype, default float64
        Output dtype (``float32`` halves memory for many households; the bill figures are then
        reproduced to float32 rounding).

    Returns
    -------
    numpy.ndarray
        Energy per quarter hour, kWh, shape ``(households…, n_qh)``.

    References
    ----------
    .. [1] ARERA, mean hourly withdrawal of domestic customers by region, power class, month and day
       type.
    .. [2] ARERA, delibera 181/06 (fasce orarie F1/F2/F3).
    """
    shape = np.asarray(shape_kwh, dtype=float)
    m = np.asarray(months)
    if bands is None:
        if by in ("month", "year"):
            bands = np.ones(m.shape, dtype=int)
        else:
            if instants is None:
                raise ValueError("give bands= (F1/F2/F3 per quarter hour) or instants= to compute them")
            bands = np.asarray(band_of(instants), dtype=int)
    groups, n_groups = bill_groups(m, bands, by)
    bills = np.asarray(bills_kwh, dtype=float)
    trailing = {"month_band": 2, "month": 1, "band": 1, "year": 0}[by]
    bills = bills.reshape(*bills.shape[: bills.ndim - trailing], n_groups)
    if (shape < 0).any() or not np.isfinite(shape).all():
        raise ValueError("shape must be finite and >= 0 kWh")
    if (bills < 0).any() or not np.isfinite(bills).all():
        raise ValueError("bills must be finite and >= 0 kWh")
    if groups.shape != shape.shape[-1:]:
        raise ValueError(f"months/bands have {groups.shape[0]} quarter hours, shape has {shape.shape[-1]}")
    factor = _group_factors(shape, groups, bills)
    empty = (np.broadcast_to(_group_energy(shape, groups, n_groups), factor.shape) <= 0) & (factor == 0)
    lead = factor.shape[:-1]
    out = np.empty((*lead, shape.shape[-1]), dtype=dtype)
    np.multiply(shape.astype(dtype, copy=False), np.take(factor.astype(dtype), groups, axis=-1), out=out)
    if (empty & (bills > 0)).any():
        out[...] = _spread_into_empty_groups(out.astype(float), shape, groups, bills).astype(dtype)
    return out
