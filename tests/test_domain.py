import datetime as dt

import pytest

from condivisa.domain.community import PerimeterError
from condivisa.domain.config import ConfigError, community_from_dict, load_community
from condivisa.kernel.timegrid import quarter_hours

EXAMPLE = "examples/community.yaml"


def test_example_loads():
    c = load_community(EXAMPLE)
    assert c.configuration.value == "CER"
    assert len(c.members) == 5 and len(c.plants) == 2
    assert c.consumption_pods[0] == "IT001E00000001"


def _minimal(**kw):
    raw = {
        "name": "x",
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "primary_substation": "AC1",
        "members": [{"id": "a", "pods": [{"pod": "IT1", "kind": "consumption"}]}],
        "plants": [{"id": "p", "pod": "IT2", "owner": "a", "power_kw": 10}],
    }
    raw.update(kw)
    return raw


def test_perimeter_violation_names_the_pod():
    """A remote self-consumer (AID) sits under one primary substation; a CER may span several (rule 11,
    tests/test_substations.py)."""
    raw = _minimal(
        configuration="AID", members=[{"id": "a", "pods": [{"pod": "IT9", "primary_substation": "AC2"}]}]
    )
    with pytest.raises(PerimeterError, match="IT9"):
        community_from_dict(raw)


def test_auc_building_violation_names_the_pod():
    raw = _minimal(
        configuration="AUC", building="B1", members=[{"id": "a", "pods": [{"pod": "IT7", "building": "B2"}]}]
    )
    with pytest.raises(PerimeterError, match="IT7"):
        community_from_dict(raw)


def test_bad_category_names_the_key():
    raw = _minimal(members=[{"id": "a", "category": "corp"}])
    with pytest.raises(ConfigError, match=r"members\[0\]\.category"):
        community_from_dict(raw)


def test_premium_eligibility():
    c = community_from_dict(_minimal(constituted="2024-06-01"))
    p = c.plants[0]  # commissioned 2024-01-01, before constitution
    assert not p.premium_eligible_on(dt.date(2024, 7, 1), c.constituted)
    c2 = community_from_dict(_minimal(constituted="2023-06-01"))
    p2 = c2.plants[0]
    assert p2.premium_eligible_on(dt.date(2024, 7, 1), c2.constituted)
    assert not p2.premium_eligible_on(dt.date(2044, 1, 1), c2.constituted)  # 20 years are over
    assert p2.premium_eligible_on(dt.date(2043, 12, 31), c2.constituted)


@pytest.mark.parametrize(
    "day,n", [(dt.date(2024, 3, 31), 92), (dt.date(2024, 10, 27), 100), (dt.date(2024, 6, 1), 96)]
)
def test_dst_days_have_92_or_100_quarter_hours(day, n):
    assert len(quarter_hours(day, day + dt.timedelta(days=1))) == n
