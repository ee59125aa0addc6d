"""What a meter can physically read: the hard cap of any reading and each POD's bound per interval.

Two rules, from the strictest to the most lenient:

1. **hard cap**, whatever the POD (refused when a message or a file is read, before anything is stored):
   an energy is a finite number, ``0 <= E <=`` :data:`MAX_ENERGY_KWH_PER_QUARTER_HOUR` (1 GWh in a quarter
   hour, beyond any point of a community); an average power at most :data:`MAX_POWER_KW`; a totalizer at
   most :data:`MAX_TOTALIZER_KWH`. ``1.7e308`` or ``inf`` never reach a sum.
2. **the POD's bound** (:func:`pod_bounds`): the energy of an interval of ``Δt`` hours is at most
   ``P · f · Δt`` where

   - withdrawal, and injection of a consumption POD: ``P`` is the POD's contract power (potenza impegnata,
     ``contract_power_kw``; without it the community's ``readings.default_contract_power_kw``; without
     that the most the POD's connection can carry, :data:`CONNECTION_MAX_KW`: 100 kW in low voltage (BT),
     10 MW in medium voltage (MT)) and ``f`` = :data:`METER_OVERLOAD_FACTOR` (4/3): Italian meters let
     through the contract power + 10 % (potenza disponibile) at all times and up to a third more for up
     to three hours a day (3 kW → 4 kW), so a whole quarter hour at 4/3 of the contract power is
     possible, more is not;
   - injection of a plant's POD: ``P`` is the plant's ``injection_limit_kw``, else its peak power
     ``power_kw`` (kWp), and ``f`` = :data:`PLANT_HEADROOM_FACTOR` (1.1: a PV plant on a cold clear day
     can briefly exceed its rated peak power);
   - a plant POD's withdrawal: its ``contract_power_kw`` when listed among a member's PODs, else the
     default contract power, else the connection's maximum.

   Only a POD's own ``contract_power_kw`` (or a community default) makes the bound tight enough to stop a
   member from claiming a plausible-looking extra consumption; the connection's maximum only stops the
   physically impossible (a household's 500 kWh in a quarter hour).

   A quarter hour above its bound is kept in the store but left out of the money and shown to the
   referente (:func:`condivisa.store.checks.above_bounds`); a CSV file with such a line is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

from condivisa.domain.community import Community, Voltage

#: hard cap of an energy in one quarter hour, kWh (1 GWh: no point of a community comes near it)
MAX_ENERGY_KWH_PER_QUARTER_HOUR = 1e6
#: hard cap of an average power, kW (the hard energy cap over a quarter hour)
MAX_POWER_KW = MAX_ENERGY_KWH_PER_QUARTER_HOUR / 0.25
#: hard cap of a totalizer (meter register), kWh
MAX_TOTALIZER_KWH = 1e12
#: the most a connection can carry without a known contract power, kW: low voltage (BT) supplies go up to
#: 100 kW, medium voltage (MT) up to 10 MW
CONNECTION_MAX_KW = {Voltage.BT: 100.0, Voltage.MT: 10_000.0}
#: how far above its contract power a meter lets a quarter hour go: +33 % for up to 3 hours a day
METER_OVERLOAD_FACTOR = 4.0 / 3.0
#: how far above its peak (or limit) power a plant's injection may go over a quarter hour
PLANT_HEADROOM_FACTOR = 1.1


def hard_cap(field: str) -> float:
    """The hard cap of a reading field (``*_total_kwh``: a register; ``*_kwh``: energy per quarter hour;
    ``*_kw``: average power)."""
    if field.endswith("_total_kwh"):
        return MAX_TOTALIZER_KWH
    if field.endswith("_kw"):
        return MAX_POWER_KW
    return MAX_ENERGY_KWH_PER_QUARTER_HOUR


@dataclass(frozen=True)
class PodBound:
    """The most a POD's meter can read, as a power (kW), and where it comes from.

    Attributes
    ----------
    pod : str
        The POD code.
    withdrawn_kw, injected_kw : float
        Withdrawal and injection bounds as powers, kW (the overload factor included).
    withdrawn_basis, injected_basis : str
        What the bound is based on (``contract_power_kw 3 kW``, ``default 6 kW``, ``plant pv1 18 kWp``).
    """

    pod: str
    withdrawn_kw: float
    injected_kw: float
    withdrawn_basis: str
    injected_basis: str

    def max_kwh(self, direction: str, minutes: float = 15.0) -> float:
        """The most energy (kWh) of one interval of ``minutes`` in ``direction`` (``withdrawn`` or
        ``injected``): ``P · f · Δt``, never above the hard cap."""
        power_kw = self.withdrawn_kw if direction == "withdrawn" else self.injected_kw
        hard = MAX_ENERGY_KWH_PER_QUARTER_HOUR * minutes / 15.0
        return min(power_kw * minutes / 60.0, hard)


def _fmt_kw(value: float) -> str:
    return f"{value:g} kW"


def pod_bounds(community: Community) -> dict[str, PodBound]:
    """Every POD's bound (see the module docstring).

    Parameters
    ----------
    community : Community
        Members' PODs (``contract_power_kw``, ``voltage``), plants (``power_kw``, ``injection_limit_kw``,
        ``voltage``) and ``readings.default_contract_power_kw``.

    Returns
    -------
    dict
        POD code -> :class:`PodBound`.
    """
    default = community.readings.default_contract_power_kw
    voltage = {p.code: p.voltage for m in community.members for p in m.pods}
    voltage.update({pl.pod: pl.voltage for pl in community.plants if pl.pod not in voltage})
    contract: dict[str, tuple[float, str]] = {}
    for m in community.members:
        for p in m.pods:
            if p.contract_power_kw is not None:
                contract[p.code] = (p.contract_power_kw, f"contract_power_kw {_fmt_kw(p.contract_power_kw)}")
    out: dict[str, PodBound] = {}
    for code in sorted(community.all_pods):
        if code in contract:
            kw, basis = contract[code]
        elif default is not None:
            kw, basis = default, f"default_contract_power_kw {_fmt_kw(default)}"
        else:
            v = voltage.get(code, Voltage.BT)
            kw, basis = (
                CONNECTION_MAX_KW[v],
                f"no contract_power_kw: {v.value} connection {_fmt_kw(CONNECTION_MAX_KW[v])}",
            )
        bound_kw = kw * METER_OVERLOAD_FACTOR
        out[code] = PodBound(code, bound_kw, bound_kw, basis, basis)
    injection: dict[str, tuple[float, list[str]]] = {}
    for plant in community.plants:
        limit = plant.injection_limit_kw or plant.power_kw
        what = "injection_limit_kw" if plant.injection_limit_kw else "kWp"
        total, names = injection.get(plant.pod, (0.0, []))
        injection[plant.pod] = (
            total + limit * PLANT_HEADROOM_FACTOR,
            [*names, f"plant {plant.id} {limit:g} {what}"],
        )
    for pod, (inj_kw, names) in injection.items():
        own = out[pod]
        out[pod] = PodBound(pod, own.withdrawn_kw, inj_kw, own.withdrawn_basis, ", ".join(names))
    return out
