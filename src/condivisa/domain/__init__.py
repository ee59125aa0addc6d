"""Pure domain model: no I/O beyond the YAML loader in :mod:`condivisa.domain.config`."""

from condivisa.domain.community import (
    Beneficiary,
    Community,
    ConfigurationType,
    ConsumersBy,
    Device,
    Member,
    MemberCategory,
    PerimeterError,
    Plant,
    Pod,
    PodKind,
    Rules,
    Voltage,
)
from condivisa.domain.config import ConfigError, community_from_dict, load_community
from condivisa.domain.tariffs import Zone

__all__ = [
    "Beneficiary", "Community", "ConfigError", "ConfigurationType", "ConsumersBy", "Device", "Member", "MemberCategory",
    "PerimeterError", "Plant", "Pod", "PodKind", "Rules", "Voltage", "Zone", "community_from_dict", "load_community",
]
