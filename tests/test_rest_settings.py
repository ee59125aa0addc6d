"""Platform settings: defaults, environment over file, TOML and YAML files, errors naming the field."""

from __future__ import annotations

import pytest

from condivisa.app.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("CONDIVISA_"):
            monkeypatch.delenv(key)


def test_defaults_run_everything_embedded():
    s = load_settings()
    assert s.database_url == "sqlite:///./var/condivisa.db"
    assert s.embedded_broker and s.broker_address() == ("127.0.0.1", 1884, False)
    assert (s.http_host, s.http_port, s.community_slug()) == ("127.0.0.1", 8000, "default")


def test_priority_option_over_env_over_file(tmp_path, monkeypatch):
    f = tmp_path / "platform.toml"
    f.write_text('http_port = 9001\ndatabase_url = "sqlite:///file.db"\nmqtt_url = "mqtt://broker.lan"\n')
    s = load_settings(f)
    assert (s.http_port, s.database_url) == (9001, "sqlite:///file.db")
    assert s.broker_address() == ("broker.lan", 1883, False) and not s.embedded_broker
    monkeypatch.setenv("CONDIVISA_HTTP_PORT", "9002")
    assert load_settings(f).http_port == 9002
    assert load_settings(f, http_port=9003).http_port == 9003
    assert load_settings(f, http_port=None).http_port == 9002  # an option not given leaves env in charge


def test_yaml_file_by_env_and_json_mapping_in_env(tmp_path, monkeypatch):
    f = tmp_path / "platform.yaml"
    f.write_text("mqtt_url: mqtts://secure.example:8884\ncommunity: cer-x\n")
    monkeypatch.setenv("CONDIVISA_SETTINGS_FILE", str(f))
    monkeypatch.setenv("CONDIVISA_GATEWAY_USERS", '{"scps": "pw"}')
    s = load_settings()
    assert s.broker_address() == ("secure.example", 8884, True)
    assert s.community_slug() == "cer-x" and s.gateway_users == {"scps": "pw"}


def test_community_slug_from_the_community_file(example_community_path):
    # name "CER Esempio Sud" -> lower case, runs of other characters become one '-'
    assert load_settings(community_file=example_community_path).community_slug() == "cer-esempio-sud"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"mqtt_url": "http://x"}, "mqtt_url"),
        ({"http_port": 70000}, "http_port"),
        ({"community": "a/b"}, "community"),
        ({"mqtt_protocol": "4"}, "mqtt_protocol"),
        ({"no_such_setting": 1}, "no_such_setting"),
    ],
)
def test_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(SettingsError, match=field):
        load_settings(**kwargs)


def test_settings_file_errors(tmp_path):
    with pytest.raises(SettingsError, match="no such file"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "platform.ini"
    bad.write_text("x=1")
    with pytest.raises(SettingsError, match="toml"):
        load_settings(bad)
    typo = tmp_path / "platform.toml"
    typo.write_text("http_prot = 1\n")
    with pytest.raises(SettingsError, match=r"platform\.toml.*http_prot"):
        load_settings(typo)
