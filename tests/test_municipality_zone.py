"""Rule 10: the zone from the municipality, on the shipped ISTAT list (and the reference file it comes from).

Hand-worked expectations, from the ISTAT list and DM 414/2023 (Allegato 1: North +10 €/MWh, Centre +4,
South 0; Abruzzo is Centre there, though ISTAT's own *ripartizione* puts it in the South).
"""

import csv
from pathlib import Path

import pytest
import yaml

from condivisa.domain.config import ConfigError, community_from_dict, load_community
from condivisa.domain.municipalities import (
    MunicipalityError,
    find_municipality,
    municipalities,
    zone_of_region,
)
from condivisa.domain.tariffs import Zone
from condivisa.engines.tariff import zone_correction_eur_per_mwh

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "community.yaml"
REFERENCE = Path("/work/shared/reference/italy/istat_municipalities_market_zone.csv")


@pytest.mark.parametrize(
    ("value", "code", "region", "zone", "market", "correction"),
    [
        ("Torino", "001272", "Piemonte", Zone.NORTH, "NORD", 10.0),  # northern
        ("Roma", "058091", "Lazio", Zone.CENTRE, "CSUD", 4.0),  # central
        ("Firenze", "048017", "Toscana", Zone.CENTRE, "CNOR", 4.0),
        ("Pescara", "068028", "Abruzzo", Zone.CENTRE, "CSUD", 4.0),  # Centre for DM 414/2023
        ("Napoli", "063049", "Campania", Zone.SOUTH, "CSUD", 0.0),  # southern, yet market zone CSUD
        ("Palermo", "082053", "Sicilia", Zone.SOUTH, "SICI", 0.0),
        ("Cagliari", "092009", "Sardegna", Zone.SOUTH, "SARD", 0.0),  # Sardinian
        ("Villacidro", "111096", "Sardegna", Zone.SOUTH, "SARD", 0.0),  # the Is Corrias case study's
    ],
)
def test_zone_and_market_zone_of_a_municipality(value, code, region, zone, market, correction):
    m = find_municipality(value)
    assert (m.istat_code, m.region, m.zone, m.market_zone) == (code, region, zone, market)
    assert zone_correction_eur_per_mwh(m.zone, is_pv=True) == correction
    assert find_municipality(code) == m  # the code finds the same row


def test_every_region_has_its_decree_zone():
    regions = {m.region for m in municipalities()}
    assert len(regions) == 20
    north = {r for r in regions if zone_of_region(r) is Zone.NORTH}
    centre = {r for r in regions if zone_of_region(r) is Zone.CENTRE}
    assert north == {
        "Valle d'Aosta",
        "Piemonte",
        "Liguria",
        "Lombardia",
        "Trentino-Alto Adige",
        "Veneto",
        "Friuli Venezia Giulia",
        "Emilia Romagna",
    }
    assert centre == {"Toscana", "Umbria", "Marche", "Lazio", "Abruzzo"}
    assert zone_of_region("Molise") is Zone.SOUTH and zone_of_region("Sardegna") is Zone.SOUTH


@pytest.mark.parametrize(
    ("written", "name"),
    [
        ("forli", "Forlì"),  # accent left out
        ("FORLÌ", "Forlì"),
        ("l’aquila", "L'Aquila"),  # typographic apostrophe
        ("LAquila", "L'Aquila"),
        ("aci sant'antonio", "Aci Sant'Antonio"),
        ("Bozen", "Bolzano"),  # the German name of a bilingual municipality
        ("Cantù", "Cantù"),  # the source lost the accent ("Cant?"): the name as written
        ("cantu", "cantu"),
        ("Città di Castello", "Città di Castello"),
    ],
)
def test_names_ignore_case_accents_and_apostrophes(written, name):
    assert find_municipality(written).name == name


def test_an_ambiguous_name_asks_for_the_code():
    with pytest.raises(MunicipalityError) as info:
        find_municipality("Livo")
    message = str(info.value)
    assert "013130" in message and "022106" in message and "(CO" in message and "(TN" in message
    assert find_municipality("Livo (TN)").istat_code == "022106"
    assert find_municipality("livo (como)").istat_code == "013130"
    assert find_municipality("022106").province_code == "TN"


def test_an_unknown_name_suggests_the_closest():
    with pytest.raises(MunicipalityError, match=r"did you mean .*Milano"):
        find_municipality("Milnao")


def test_codes_are_exact():
    assert find_municipality("58091").name == "Roma"  # leading zeros optional
    assert find_municipality(58091).name == "Roma"
    with pytest.raises(MunicipalityError, match="no municipality has ISTAT code 058999"):
        find_municipality("058999")
    with pytest.raises(MunicipalityError, match="in quotes"):
        find_municipality(513)  # what YAML makes of an unquoted 001001


def test_the_shipped_copy_matches_the_reference_file():
    if not REFERENCE.exists():
        pytest.skip("reference file not available")
    with REFERENCE.open(encoding="latin-1", newline="") as fh:
        rows = list(csv.DictReader(fh))
    shipped = {m.istat_code: m for m in municipalities()}
    assert len(shipped) == len(rows) == 7901
    for row in rows:
        m = shipped[row["Codice Comune formato alfanumerico"].zfill(6)]
        assert (m.region, m.market_zone, m.province_code) == (
            row["Denominazione Regione"],
            row["Zona di mercato"],
            row["Sigla automobilistica"],
        )
    assert shipped["040012"].name == "Forlì"  # a mis-encoded byte repaired


# ------------------------------------------------------------------------------------- in community.yaml


def _raw(**changes):
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    raw.update(changes)
    return raw


def _write(tmp_path, raw):
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_municipality_gives_zone_market_zone_and_region(tmp_path):
    raw = _raw(municipality="Roma")
    del raw["zone"], raw["market_zone"]
    c = load_community(_write(tmp_path, raw))
    assert (c.zone, c.market_zone, c.region, c.municipality, c.warnings) == (
        Zone.CENTRE,
        "CSUD",
        "Lazio",
        "058091",
        (),
    )


def test_municipality_by_quoted_code(tmp_path):
    raw = _raw()
    del raw["zone"], raw["market_zone"]
    path = _write(tmp_path, raw)
    path.write_text(path.read_text(encoding="utf-8") + "municipality: '001272'\n", encoding="utf-8")
    c = load_community(path)
    assert (c.zone, c.market_zone, c.region) == (Zone.NORTH, "NORD", "Piemonte")


def test_an_explicit_zone_wins_with_a_warning(tmp_path):
    raw = _raw(municipality="Cagliari", zone="north", market_zone="NORD")  # the example says SUD
    c = load_community(_write(tmp_path, raw))
    assert c.zone is Zone.NORTH and c.market_zone == "NORD"
    zone_warning, market_warning = c.warnings
    assert zone_warning.startswith("zone: north disagrees with municipality Cagliari (CA, ISTAT 092009)")
    assert "zone south" in zone_warning and "remove zone:" in zone_warning
    assert market_warning.startswith("market_zone: NORD disagrees") and "SARD" in market_warning


def test_an_agreeing_zone_is_silent(tmp_path):
    c = load_community(_write(tmp_path, _raw(municipality="Villacidro", zone="south", market_zone="SARD")))
    assert c.warnings == () and c.market_zone == "SARD"


def test_municipality_errors_name_the_file_and_the_key(tmp_path):
    path = _write(tmp_path, _raw(municipality="Livo"))
    with pytest.raises(ConfigError, match=r"community\.yaml: municipality: 'Livo' is the name of 2"):
        load_community(path)
    with pytest.raises(ConfigError, match=r"municipality: 'Rma'.*did you mean Roma"):
        load_community(_write(tmp_path, _raw(municipality="Rma")))


def test_zone_or_municipality_is_required():
    raw = _raw()
    del raw["zone"]
    with pytest.raises(ConfigError, match="zone: missing .*municipality"):
        community_from_dict(raw)
