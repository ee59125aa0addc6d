"""The keys a case file may have, section by section, and the values of its choices.

:mod:`condivisa.casestudy.casefile` refuses any other key, naming the closest of these ("did you mean").
"""

from __future__ import annotations

#: the load models of ``loads:`` (see :mod:`condivisa.casestudy.load_models`); the first is the default
LOAD_MODELS: tuple[str, ...] = ("arera", "synthetic", "measured")
#: what ``measured.missing_months`` may say: stop with an error, or use the ARERA model for those months
MISSING_MONTHS: tuple[str, ...] = ("error", "arera")

TOP_KEYS = (
    "configuration",
    "location",
    "year",
    "pv_plant",
    "flats",
    "ac_usage_coefficient",
    "energy_price_eur_per_kwh",
    "premium_tariff_eur_per_mwh",
    "storage_options",
    "economics",
    "loads",
    "measured",
)
LOCATION_KEYS = ("municipality", "region", "latitude", "longitude", "elevation_m", "market_zone")
PLANT_KEYS = (
    "modules",
    "module_power_w",
    "peak_power_kw",
    "tilt_deg",
    "azimuth_deg_pvgis",
    "system_losses_pct",
    "grant_fraction",
    "commissioning",
    "monthly_production_kwh",
    "pvgis_file",
)
FLAT_KEYS = (
    "id",
    "pod",
    "area_m2",
    "contract_power_kw",
    "household",
    "appliances_kwh_per_day",
    "ac_july_kwh_per_day",
)
STORAGE_KEYS = ("common", "options")
COMMON_KEYS = (
    "soc_min_pct",
    "soc_max_pct",
    "charge_efficiency",
    "discharge_efficiency",
    "inverter_kw",
    "controller_cost_eur",
)
OPTION_KEYS = ("capacity_kwh", "battery_cost_eur", "inverter_cost_eur", "kit_cost_eur")
ECONOMICS_KEYS = (
    "horizon_years",
    "discount_rate",
    "pv_cost_eur_per_kw",
    "maintenance_and_insurance_eur_per_year",
    "pv_degradation_per_year",
    "battery_degradation_per_year",
    "vat_storage_pct",
    "price_scenarios",
    "historical_annual_price_eur_per_mwh",
)
SCENARIO_KEYS = ("name", "zonal_price_eur_per_mwh", "premium_tariff_eur_per_mwh")
MEASURED_KEYS = ("database", "missing_months")
