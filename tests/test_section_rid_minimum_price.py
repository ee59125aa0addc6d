"""An upgrade section (``sections:`` of a plant) inherits the plant's ``rid_minimum_price``."""

from __future__ import annotations

import yaml

from condivisa.domain.config import load_community


def test_a_section_inherits_the_rid_minimum_price(tmp_path):
    raw = {
        "name": "t",
        "configuration": "CER",
        "zone": "south",
        "constituted": "2024-01-01",
        "primary_substation": "AC001E00123",
        "members": [{"id": "a", "founder": True, "pods": [{"pod": "IT001E00000001"}]}],
        "plants": [
            {
                "id": "p",
                "pod": "IT001E00000100",
                "owner": "a",
                "power_kw": 10,
                "commissioning": "2024-01-01",
                "rid_minimum_price": True,
                "sections": [{"pod": "IT001E00000101", "power_kw": 5, "commissioning": "2024-03-01"}],
            }
        ],
        "rules": {"premium": {"producers": 0, "community": 0, "consumers": 1}},
    }
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    plant, section = load_community(path).plants
    assert section.section_of == "p"
    assert plant.rid_minimum_price is True and section.rid_minimum_price is True
