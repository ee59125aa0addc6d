"""A prospective member, or a kind of candidate consumer, as a plan writes it (``members:``, ``candidates:``,
the ``--add-member`` file): category, contract power, and bills by band or month, or a yearly kWh.

``bills:`` is 12 monthly entries (``{month, f1_kwh, f2_kwh, f3_kwh}`` or ``{month, kwh}``) or one yearly
entry by band (``{f1_kwh, f2_kwh, f3_kwh}``); ``yearly_kwh:`` a single figure. ``count: N`` stands for N
identical members. ``shape:`` (default by category) picks the load shape (:mod:`condivisa.feasibility.loads`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from condivisa.domain.community import MemberCategory
from condivisa.domain.config import read_yaml_file
from condivisa.feasibility.strict import PlanError, ident, known_keys, mapping, number

MEMBER_KEYS = (
    "id",
    "name",
    "category",
    "region",
    "contract_power_kw",
    "bills",
    "yearly_kwh",
    "count",
    "shape",
    "founder",
)
CANDIDATE_KEYS = ("kind", "category", "region", "contract_power_kw", "bills", "yearly_kwh", "shape")
BILL_KEYS = ("month", "f1_kwh", "f2_kwh", "f3_kwh", "kwh")
#: the load shapes a member may have: ARERA's domestic one, or a documented non-domestic one
SHAPES = ("domestic", "office", "shop")
#: the shape of each category when ``shape:`` is not given
DEFAULT_SHAPE = {
    MemberCategory.PRIVATE: "domestic",
    MemberCategory.SME: "shop",
    MemberCategory.ENTERPRISE: "shop",
    MemberCategory.PUBLIC_BODY: "office",
    MemberCategory.NONPROFIT: "office",
    MemberCategory.RESEARCH: "office",
}


@dataclass(frozen=True)
class Consumer:
    """A prospective member (or a kind of candidate consumer) and its yearly consumption.

    ``bills_by`` is ``month_band`` (12 × F1, F2, F3), ``month`` (12 totals), ``band`` (one year by F1, F2,
    F3) or ``year`` (one figure); ``bills_kwh`` holds the figures in that order, kWh."""

    id: str
    category: MemberCategory
    contract_power_kw: float
    bills_by: str
    bills_kwh: tuple[float, ...]
    shape: str
    region: str | None = None
    name: str | None = None
    count: int = 1
    founder: bool = True

    @property
    def yearly_kwh(self) -> float:
        """The year's consumption, kWh: the sum of the bill figures."""
        return float(sum(self.bills_kwh))

    @property
    def member_ids(self) -> tuple[str, ...]:
        """The ids of the members it stands for: ``id``, or ``id-1`` … ``id-N`` when ``count`` is N > 1."""
        return (self.id,) if self.count == 1 else tuple(f"{self.id}-{k + 1}" for k in range(self.count))


def _bills(raw: object, where: str) -> tuple[str, tuple[float, ...]]:
    """``bills:``: 12 monthly entries (``{month, f1_kwh, f2_kwh, f3_kwh}`` or ``{month, kwh}``) or one
    yearly entry by band (``{f1_kwh, f2_kwh, f3_kwh}``)."""
    if not isinstance(raw, list) or not raw:
        raise PlanError(f"{where}: expected a list of bills")
    entries = []
    for j, bill in enumerate(raw):
        w = f"{where}[{j}]"
        bill = mapping(bill, w)
        known_keys(bill, BILL_KEYS, w)
        by_band = [k in bill for k in ("f1_kwh", "f2_kwh", "f3_kwh")]
        if "kwh" in bill and any(by_band):
            raise PlanError(f"{w}: give either kwh or f1_kwh, f2_kwh, f3_kwh, not both")
        if "kwh" not in bill and not all(by_band):
            missing = [k for k, b in zip(("f1_kwh", "f2_kwh", "f3_kwh"), by_band) if not b]
            raise PlanError(f"{w}.{missing[0]}: missing (or give kwh)")
        month = None if "month" not in bill else int(number(bill["month"], f"{w}.month", 1, 12))
        if "kwh" in bill:
            values: tuple[float, ...] = (number(bill["kwh"], f"{w}.kwh", 0),)
        else:
            values = tuple(number(bill[k], f"{w}.{k}", 0) for k in ("f1_kwh", "f2_kwh", "f3_kwh"))
        entries.append((month, values))
    if len(entries) == 1 and entries[0][0] is None:
        values = entries[0][1]
        return ("band", values) if len(values) == 3 else ("year", values)
    months = [m for m, _ in entries]
    if None in months or sorted(months) != list(range(1, 13)):  # type: ignore[type-var]
        raise PlanError(f"{where}: give one bill for each month 1–12 (or one yearly bill by band)")
    widths = {len(v) for _, v in entries}
    if len(widths) != 1:
        raise PlanError(f"{where}: every bill by band (f1/f2/f3_kwh) or every bill a total (kwh), not mixed")
    ordered = [v for _, v in sorted(entries, key=lambda e: e[0] or 0)]
    flat = tuple(x for v in ordered for x in v)
    return ("month_band" if widths == {3} else "month"), flat


def consumer_from_dict(raw: object, where: str, *, candidate: bool = False) -> Consumer:
    """A member of ``members:`` (or, ``candidate=True``, a kind of ``candidates:``) of the plan."""
    raw = mapping(raw, where)
    id_key = "kind" if candidate else "id"
    known_keys(raw, CANDIDATE_KEYS if candidate else MEMBER_KEYS, where)
    if id_key not in raw:
        raise PlanError(f"{where}.{id_key}: missing")
    try:
        category = MemberCategory(str(raw.get("category", "private")))
    except ValueError:
        allowed = ", ".join(c.value for c in MemberCategory)
        raise PlanError(f"{where}.category: {raw.get('category')!r} is not one of {allowed}") from None
    if ("bills" in raw) == ("yearly_kwh" in raw):
        raise PlanError(f"{where}: give either bills or yearly_kwh")
    if "bills" in raw:
        by, values = _bills(raw["bills"], f"{where}.bills")
    else:
        by, values = "year", (number(raw["yearly_kwh"], f"{where}.yearly_kwh", 0),)
    shape = str(raw.get("shape", DEFAULT_SHAPE[category]))
    if shape not in SHAPES:
        raise PlanError(f"{where}.shape: {shape!r} is not one of {', '.join(SHAPES)}")
    founder = raw.get("founder", not candidate)
    if not isinstance(founder, bool):
        raise PlanError(f"{where}.founder: expected true or false, got {founder!r}")
    return Consumer(
        id=ident(raw[id_key], f"{where}.{id_key}"),
        category=category,
        contract_power_kw=number(raw.get("contract_power_kw", 3.0), f"{where}.contract_power_kw", 0.5, 10000),
        bills_by=by,
        bills_kwh=values,
        shape=shape,
        region=None if raw.get("region") is None else str(raw["region"]),
        name=None if raw.get("name") is None else str(raw["name"]),
        count=int(number(raw.get("count", 1), f"{where}.count", 1, 10000)),
        founder=founder,
    )


def load_newcomer(path: str | Path) -> Consumer:
    """Read a ``--add-member`` file: one member in the plan's member format (``founder`` defaults to
    false: a newcomer joins a community already constituted, so the later members' rules apply)."""
    path = Path(path)
    raw = read_yaml_file(path, PlanError)
    if isinstance(raw, dict) and "members" in raw and len(raw) == 1:
        items = raw["members"]
        if not isinstance(items, list) or len(items) != 1:
            raise PlanError(f"{path}: members: expected exactly one member")
        raw = items[0]
    if isinstance(raw, dict) and "founder" not in raw:
        raw = {**raw, "founder": False}
    try:
        newcomer = consumer_from_dict(raw, "member")
    except PlanError as exc:
        raise PlanError(f"{path}: {exc}") from None
    if newcomer.count != 1:
        raise PlanError(f"{path}: member.count: a newcomer is one member")
    return newcomer
