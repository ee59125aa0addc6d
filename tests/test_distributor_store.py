"""Distributor data in the store: versions, restatements kept, idempotent re-imports, the best source."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from condivisa.formats.distributor import read_portal_export, write_portal_export
from condivisa.kernel.timegrid import ROME, local_midnight, quarter_hours
from condivisa.store.distributor import current_values, import_curve, imported_files, versions_of
from condivisa.store.provenance import best_source, mix_text, monthly_mix

POD = "IT001E00000001"
NOW = dt.datetime(2024, 7, 10, 9, 0, tzinfo=dt.UTC)


def _curve(tmp_path, name: str, energy: pd.Series, direction: str = "withdrawal"):
    path = tmp_path / name
    write_portal_export(energy, path)
    return read_portal_export(path, POD, direction), hashlib.sha256(path.read_bytes()).hexdigest()


def _import(store, curve, sha, name="f.csv"):
    with store.engine.begin() as conn:
        return import_curve(
            conn,
            pod=curve.pod,
            direction=curve.direction,
            frame=curve.frame,
            sha256=sha,
            name=name,
            imported_by="referente",
            now=NOW,
        )


def _june(value: float = 0.1) -> pd.Series:
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 7, 1))
    return pd.Series(value, index=idx)


def test_import_then_the_same_file_again_changes_nothing(db_store, tmp_path):
    curve, sha = _curve(tmp_path, "june.csv", _june())
    first = _import(db_store, curve, sha)
    assert (first.new, first.unchanged, first.restated) == (2880, 0, 0) and first.changed
    again = _import(db_store, curve, sha)
    assert again.already_imported_at is not None and not again.changed and again.file_id == first.file_id
    with db_store.read() as conn:
        cur = current_values(conn, [POD], None, None)
        assert len(cur) == 2880 and cur["withdrawn_kwh"].sum() == pytest.approx(288.0)
        assert cur["injected_kwh"].isna().all() and (cur["version"] == 1).all()
        assert len(imported_files(conn)) == 1


def test_a_later_file_is_a_restatement_and_keeps_the_old_values(db_store, tmp_path):
    curve, sha = _curve(tmp_path, "june.csv", _june())
    _import(db_store, curve, sha)
    changed = _june()
    changed.iloc[100:104] = 0.25  # the distributor corrects one hour of 2 June
    same_again = changed.copy()
    curve2, sha2 = _curve(tmp_path, "june-v2.csv", changed)
    out = _import(db_store, curve2, sha2, "june-v2.csv")
    assert (out.new, out.unchanged, out.restated) == (0, 2876, 4) and out.restated_months == ["2024-06"]
    with db_store.read() as conn:
        cur = current_values(conn, [POD], None, None).set_index("start")
        assert cur["withdrawn_kwh"].sum() == pytest.approx(288.0 + 4 * 0.15)
        assert (cur["version"] == 2).sum() == 4
        start = changed.index[100].tz_convert("UTC").to_pydatetime()
        history = versions_of(conn, POD, start, "withdrawal")
        assert [(h["version"], h["energy_kwh"], h["current"]) for h in history] == [
            (1, 0.1, False),
            (2, 0.25, True),
        ]
        assert [h["name"] for h in history] == ["f.csv", "june-v2.csv"]
    # a third file with the same values but other bytes (a re-export) restates nothing
    curve3, _ = _curve(tmp_path, "june-v3.csv", same_again)
    out3 = _import(db_store, curve3, "another-hash")
    assert (out3.new, out3.restated) == (0, 0)


def test_an_import_is_all_or_nothing(db_store, tmp_path):
    curve, sha = _curve(tmp_path, "june.csv", _june())
    with pytest.raises(RuntimeError):
        with db_store.engine.begin() as conn:
            import_curve(
                conn,
                pod=POD,
                direction="withdrawal",
                frame=curve.frame,
                sha256=sha,
                name="x",
                imported_by="r",
                now=NOW,
            )
            raise RuntimeError("crash after the rows were written")
    with db_store.read() as conn:
        assert current_values(conn, None, None, None).empty and imported_files(conn) == []


def test_best_source_prefers_the_distributor_per_direction():
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 6, 2))
    du = pd.DataFrame(
        {"pod": POD, "start": idx[:90], "withdrawn_kwh": 0.2, "injected_kwh": 0.05}
    )  # the DU missed the last 6 quarter hours
    dist = pd.DataFrame(
        {"pod": POD, "start": idx[48:], "withdrawn_kwh": 0.1, "injected_kwh": np.nan, "version": 1}
    )  # the distributor's withdrawal curve from noon, no injection file
    out = best_source(du, dist)
    assert len(out) == 96
    assert (out["withdrawn_source"].iloc[:48] == "du").all() and (
        out["withdrawn_source"].iloc[48:] == "distributor"
    ).all()
    assert out["withdrawn_kwh"].sum() == pytest.approx(48 * 0.2 + 48 * 0.1)
    # injection: DU where it has it; after the DU fell silent nothing is measured -> an estimate (0)
    assert (out["injected_source"].iloc[:90] == "du").all() and (
        out["injected_source"].iloc[90:] == "estimate"
    ).all()
    assert out["injected_kwh"].iloc[90:].sum() == 0.0
    mix = monthly_mix(out)["2024-06"]
    # 192 values: withdrawal 48 du + 48 dist; injection 90 du + 6 estimate
    assert mix == {
        "distributor": round(100 * 48 / 192, 1),
        "du": round(100 * 138 / 192, 1),
        "estimate": round(100 * 6 / 192, 1),
    }
    assert mix_text(mix) == "25 % dati del distributore, 71.9 % dispositivi, 3.1 % stimati"


def test_mix_counts_quarter_hours_absent_everywhere_as_estimates():
    idx = quarter_hours(dt.date(2024, 6, 1), dt.date(2024, 6, 2))
    du = pd.DataFrame({"pod": POD, "start": idx[:48], "withdrawn_kwh": 0.2, "injected_kwh": 0.0})
    out = best_source(du, pd.DataFrame())
    mix = monthly_mix(out, {"2024-06": 96 * 2})
    assert mix["2024-06"] == {"distributor": 0.0, "du": 50.0, "estimate": 50.0}


def test_dst_month_lands_on_real_instants(db_store, tmp_path):
    idx = quarter_hours(dt.date(2024, 10, 1), dt.date(2024, 11, 1))
    curve, sha = _curve(tmp_path, "oct.csv", pd.Series(0.2, index=idx), "injection")
    out = _import(db_store, curve, sha)
    assert out.new == 31 * 96 + 4
    with db_store.read() as conn:
        cur = current_values(
            conn, [POD], local_midnight(dt.date(2024, 10, 27)), local_midnight(dt.date(2024, 10, 28))
        )
    assert len(cur) == 100 and cur["injected_kwh"].sum() == pytest.approx(20.0)
    assert str(cur["start"].dt.tz) == str(ROME)
