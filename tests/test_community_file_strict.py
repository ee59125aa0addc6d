"""The community file refuses mistakes (issue 14), tried as a new user would on the example community.

Each rejection names the file, the key (or line), the value and the fix.
"""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from condivisa.cli import app
from condivisa.domain.community_file import pod_problem
from condivisa.domain.config import ConfigError, community_from_dict, load_community
from condivisa.formats.csv_io import InputError, read_prices
from condivisa.sim.demo_data import KINDS, demo_configuration

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "community.yaml"
MEAS = ROOT / "examples" / "measurements-2024-06.csv"
PRICES = ROOT / "examples" / "prices-2024-06.csv"
runner = CliRunner()


def _raw():
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _refused(tmp_path, raw, pattern):
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError, match=pattern) as info:
        load_community(path)
    assert str(info.value).startswith(f"{path}: ")
    return str(info.value)


# ------------------------------------------------------------------------------------------ unknown keys


def test_consumer_by_is_refused(tmp_path):
    raw = _raw()
    raw["rules"]["premium"]["consumer_by"] = raw["rules"]["premium"].pop("consumers_by", "millesimi")
    _refused(tmp_path, raw, r"rules\.premium\.consumer_by: unknown key \(did you mean consumers_by\?\)")


def test_memebers_is_refused(tmp_path):
    raw = _raw()
    raw["memebers"] = raw.pop("members")
    _refused(tmp_path, raw, r": memebers: unknown key \(did you mean members\?\)")


# ---------------------------------------------------------------------------------------- plant owners


def test_an_owner_that_is_not_a_member_is_refused(tmp_path):
    raw = _raw()
    raw["plants"][0]["owner"] = "m33"  # for m3
    message = _refused(tmp_path, raw, r"plants\[0\]\.owner: 'm33' is not a member \(did you mean m3\?\)")
    assert "external_producers: [{id: m33, name: ...}]" in message


def test_a_declared_external_producer_is_accepted(tmp_path):
    raw = _raw()
    raw["plants"][0]["owner"] = "solare-srl"
    raw["external_producers"] = [{"id": "solare-srl", "name": "Solare srl"}]
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    c = load_community(path)
    assert [(p.id, p.name) for p in c.external_producers] == [("solare-srl", "Solare srl")]
    assert c.plants[0].owner == "solare-srl"


def test_the_community_may_own_a_plant(tmp_path):
    raw = _raw()
    raw["plants"][0]["owner"] = "community"
    path = tmp_path / "community.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_community(path).plants[0].owner == "community"


@pytest.mark.parametrize(
    ("producers", "pattern"),
    [
        ([{"id": "m3"}], r"external_producers\[0\]\.id: 'm3' is a member"),
        ([{"id": "x", "nmae": "X"}], r"external_producers\[0\]\.nmae: unknown key \(did you mean name\?\)"),
        ([{"id": "x"}, {"id": "x"}], r"external_producers\[1\]\.id: 'x' is listed twice"),
        ({"id": "x"}, r"external_producers: expected a list"),
    ],
)
def test_external_producers_are_checked(tmp_path, producers, pattern):
    raw = _raw()
    raw["external_producers"] = producers
    _refused(tmp_path, raw, pattern)


# ------------------------------------------------------------------------------------------- POD codes


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        ("IT001E00000001", True),  # 8 digits
        ("IT012E123456789", True),  # 9 digits
        ("IT001E0000001", False),  # 7 digits: 13 characters
        ("IT001E0000000001", False),  # 10 digits
        ("POD-ROSSI", False),
        ("it001e00000001", False),  # lower case
        ("IT01E00000001", False),  # 2-digit distributor
        ("IT001X00000001", False),
    ],
)
def test_pod_pattern(code, ok):
    assert (pod_problem(code) is None) is ok


@pytest.mark.parametrize(
    ("edit", "where", "value"),
    [
        (
            lambda r: r["members"][0]["pods"][0].update(pod="IT001E0000001"),
            r"members\[0\]\.pods\[0\]\.pod",
            "IT001E0000001",
        ),
        (
            lambda r: r["members"][1]["pods"][0].update(pod="POD-ROSSI"),
            r"members\[1\]\.pods\[0\]\.pod",
            "POD-ROSSI",
        ),
        (lambda r: r["members"][2].update(pods=["IT001E003"]), r"members\[2\]\.pods\[0\]", "IT001E003"),
        (lambda r: r["plants"][1].update(pod="IT001E0000101"), r"plants\[1\]\.pod", "IT001E0000101"),
        (lambda r: r["devices"][3].update(pod="POD-4"), r"devices\[3\]\.pod", "POD-4"),
    ],
)
def test_pod_codes_are_checked_where_they_are_written(tmp_path, edit, where, value):
    raw = _raw()
    edit(raw)
    message = _refused(tmp_path, raw, rf": {where}: '{value}' is not a POD code")
    assert "'IT', the distributor's 3-digit code, 'E' and 8 or 9 digits, upper case" in message


def test_pod_fix_suggestions():
    assert "write it in upper case without spaces: IT001E00000001" in pod_problem("it001e00000001")
    assert "it has 7 digits after the E" in pod_problem("IT001E0000001")


def test_a_dict_built_by_code_is_not_strict():
    """Programs (tests, the case-study bridge) may build communities with short POD names."""
    raw = _raw()
    raw["members"][0]["pods"][0]["pod"] = "C1"
    raw["devices"] = []
    raw["plants"][0]["owner"] = "someone-else"
    c = community_from_dict(raw)
    assert c.members[0].pods[0].code == "C1"
    with pytest.raises(ConfigError, match=r"members\[0\]\.pods\[0\]\.pod: 'C1' is not a POD code"):
        community_from_dict(raw, strict=True)


@pytest.mark.parametrize("kind", KINDS)
def test_the_demo_communities_are_strictly_valid(kind):
    raw, _devices = demo_configuration(kind)
    assert community_from_dict(raw, strict=True).plants


def test_the_example_is_strictly_valid():
    c = load_community(EXAMPLE)
    assert len(c.members) == 5 and c.warnings == ()


# ---------------------------------------------------------------------------------------------- prices


def _prices(tmp_path, values, name="prices.csv"):
    lines = ["start,zonal_price_eur_per_mwh"]
    lines += [f"2024-06-01T{h:02d}:00:00+02:00,{v}" for h, v in enumerate(values)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prices_in_eur_per_kwh_are_refused(tmp_path):
    path = _prices(tmp_path, [0.098, 0.102])  # mean 0.1 €/MWh: €/kWh for 98 and 102 €/MWh
    with pytest.raises(InputError) as info:
        read_prices(path)
    message = str(info.value)
    assert message.startswith(f"{path}: zonal_price_eur_per_mwh averages 0.1 €/MWh (line 2: '0.098')")
    assert "look like €/kWh" in message and "0.098 €/kWh is 98 €/MWh" in message
    assert "--allow-unusual-prices" in message
    assert read_prices(path, allow_unusual=True).tolist() == [0.098, 0.102]


def test_prices_above_5000_are_refused(tmp_path):
    path = _prices(tmp_path, [98000, 102000])
    with pytest.raises(InputError, match="averages 100000 €/MWh .*above 5,000 €/MWh"):
        read_prices(path)


@pytest.mark.parametrize("values", [[1.0, 1.0], [0.0, 2.0], [5000, 5000], [0.0, 300.0], [-0.0, 3000]])
def test_plausible_means_pass(tmp_path, values):
    assert read_prices(_prices(tmp_path, values)).tolist() == [float(v) for v in values]


def _kwh_copy(tmp_path):
    lines = PRICES.read_text(encoding="utf-8").splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        start, price = line.split(",")
        out.append(f"{start},{float(price) / 1000:.5f}")
    path = tmp_path / "prices-kwh.csv"
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def test_settle_refuses_kwh_prices_unless_allowed(tmp_path):
    kwh = _kwh_copy(tmp_path)
    args = ["settle", "-c", str(EXAMPLE), "-m", str(MEAS), "-p", str(kwh)]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2
    assert "look like €/kWh" in " ".join(refused.output.split())
    allowed = runner.invoke(app, [*args, "--allow-unusual-prices"])
    assert allowed.exit_code == 0, allowed.output


def test_report_has_the_option(tmp_path):
    kwh = _kwh_copy(tmp_path)
    out = tmp_path / "r.html"
    args = ["report", "community", "-c", str(EXAMPLE), "-m", str(MEAS), "-p", str(kwh), "-o", str(out)]
    args += ["--month", "2024-06", "--as-of", "2024-07-01"]
    refused = runner.invoke(app, args)
    assert refused.exit_code != 0 and not out.exists()
    allowed = runner.invoke(app, [*args, "--allow-unusual-prices"])
    assert allowed.exit_code == 0, allowed.output
    assert out.exists()


def test_a_misspelled_section_key_is_named_not_reported_missing(tmp_path, example_community_path):
    """``sections: [{powr_kw: 5}]``: the typo is the error, with its path and the key it resembles."""
    text = example_community_path.read_text().replace(
        "  - {id: pv1, ", "  - {id: pv1, sections: [{pod: IT001E00000199, powr_kw: 5}], ", 1
    )
    path = tmp_path / "community.yaml"
    path.write_text(text)
    with pytest.raises(
        ConfigError, match=r"plants\[0\]\.sections\[0\]\.powr_kw: unknown key \(did you mean power_kw\?\)"
    ):
        load_community(path)
