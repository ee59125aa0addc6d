"""TIP of DM 414/2023: TIP = (1 − F) · { min[CAP; base + max(0; 180 − Pz)] + FC_zone }, €/MWh.

Every expected value below is worked by hand from that formula.
"""

import numpy as np
import pytest

from condivisa.engines.tariff import grant_reduction_f, tip_eur_per_mwh, zone_correction_eur_per_mwh

# min[CAP; base + max(0; 180 − Pz)] by class (power kW) and Pz, worked by hand:
#   ≤200 kW (80/120):  Pz 50 → min(120, 80+130)=120;  Pz 130 → min(120, 80+50)=120;  Pz 150 → 80+30=110;  Pz
# 200 → 80+0=80
#   ≤600 kW (70/110):  Pz 50 → min(110, 70+130)=110;  Pz 130 → min(110, 70+50)=110;  Pz 150 → 70+30=100;  Pz
# 200 → 70
#   >600 kW (60/100):  Pz 50 → min(100, 60+130)=100;  Pz 130 → min(100, 60+50)=100;  Pz 150 → 60+30=90;   Pz
# 200 → 60
CLASS_VALUE = {
    150.0: {50: 120.0, 130: 120.0, 150: 110.0, 200: 80.0},
    400.0: {50: 110.0, 130: 110.0, 150: 100.0, 200: 70.0},
    900.0: {50: 100.0, 130: 100.0, 150: 90.0, 200: 60.0},
}
FC_PV = {"north": 10.0, "centre": 4.0, "south": 0.0}
# F = min(0.5, 0.5 · grant / 0.4): grant 0 → 0, 0.2 → 0.25, 0.4 → 0.5
ONE_MINUS_F = {0.0: 1.0, 0.2: 0.75, 0.4: 0.5}


@pytest.mark.parametrize("power_kw", sorted(CLASS_VALUE))
@pytest.mark.parametrize("pz", [50, 130, 150, 200])
@pytest.mark.parametrize("zone", ["north", "centre", "south"])
@pytest.mark.parametrize("grant", [0.0, 0.2, 0.4])
def test_tip_every_class_zone_price_and_grant(power_kw, pz, zone, grant):
    expected_pv = ONE_MINUS_F[grant] * (CLASS_VALUE[power_kw][pz] + FC_PV[zone])
    expected_other = ONE_MINUS_F[grant] * CLASS_VALUE[power_kw][pz]  # FC_zone is for PV only
    assert tip_eur_per_mwh([pz], power_kw, zone, True, grant)[0] == pytest.approx(expected_pv)
    assert tip_eur_per_mwh([pz], power_kw, zone, False, grant)[0] == pytest.approx(expected_other)


def test_tip_literal_cases():
    # ≤200 kW PV north, Pz 100: min(120, 80+80)=120, +10 → 130 (the hand case)
    assert tip_eur_per_mwh(100.0, 18, "north") == pytest.approx(130.0)
    # ≤200 kW PV north, full grant: 0.5 · (120 + 10) = 65
    assert tip_eur_per_mwh(50.0, 18, "north", True, 0.4) == pytest.approx(65.0)
    # 250 kW PV centre, Pz 160: 70 + 20 = 90 (< 110), + 4 = 94
    assert tip_eur_per_mwh(160.0, 250, "centre") == pytest.approx(94.0)
    # >600 kW wind south with 10 % grant: F = 0.5·0.1/0.4 = 0.125; Pz 175: 60+5 = 65 → 0.875·65 = 56.875
    assert tip_eur_per_mwh(175.0, 800, "south", False, 0.1) == pytest.approx(56.875)


def test_class_boundaries_are_inclusive():
    # at Pz 200 the tariff is the base: 80 up to and including 200 kW, 70 above, 60 above 600 kW
    assert tip_eur_per_mwh(200.0, 200.0, "south") == pytest.approx(80.0)
    assert tip_eur_per_mwh(200.0, 200.001, "south") == pytest.approx(70.0)
    assert tip_eur_per_mwh(200.0, 600.0, "south") == pytest.approx(70.0)
    assert tip_eur_per_mwh(200.0, 600.001, "south") == pytest.approx(60.0)


def test_tip_is_vectorised_and_keeps_shape():
    pz = np.array([[50.0, 200.0], [150.0, 300.0]])
    # Pz 300 → max(0, 180−300) = 0 → base 80
    assert np.allclose(tip_eur_per_mwh(pz, 18, "south"), [[120.0, 80.0], [110.0, 80.0]])


def test_grant_reduction_and_zone_correction():
    assert grant_reduction_f(0.0) == 0.0
    assert grant_reduction_f(0.2) == pytest.approx(0.25)
    assert grant_reduction_f(0.4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="grant_fraction"):
        grant_reduction_f(0.5)
    assert zone_correction_eur_per_mwh("north", True) == 10.0
    assert zone_correction_eur_per_mwh("north", False) == 0.0
