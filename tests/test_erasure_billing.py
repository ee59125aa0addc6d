"""Erasure meets the official data and the accounts: the distributor's quarter hours of the erased PODs are
pseudonymised like the DUs' (every version), the lines of final billing runs are kept (accounting records,
art. 2220 c.c.; GDPR Art. 17(3)(b)) and counted in the report; the export holds the distributor's data."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from condivisa.auth.privacy import erase_member, member_export
from condivisa.billing.runs import finalize
from condivisa.domain.config import load_community
from condivisa.formats.csv_io import read_measurements
from condivisa.formats.distributor import write_portal_export
from condivisa.ingest.distributor import import_files
from condivisa.ingest.tables import ingest_frame
from condivisa.outputs.sources import inputs_from_store
from condivisa.store.billing_tables import BillingRunLine
from condivisa.store.distributor_tables import DistributorFile, DistributorReading
from condivisa.store.store import Store
from conftest import EXAMPLE_COMMUNITY, ROOT

POD = "IT001E00000001"  # m1's
KEY = b"k" * 32
PRICES = ROOT / "examples" / "prices-2024-06.csv"


def test_erasure_pseudonymises_distributor_data_and_keeps_the_accounts(db_url, tmp_path):
    community = load_community(EXAMPLE_COMMUNITY)
    store = Store(db_url)
    store.upgrade()
    store.register_devices(community)
    frame = read_measurements(ROOT / "examples" / "measurements-2024-06.csv", known_pods=community.all_pods)
    ingest_frame(store, frame, source="csv:example")
    mine = frame[frame["pod"] == POD].set_index("start")["withdrawn_kwh"]
    write_portal_export(mine.round(3), tmp_path / f"{POD}-giugno.csv")
    now = dt.datetime(2024, 7, 20, tzinfo=dt.UTC)
    import_files(
        store,
        [tmp_path / f"{POD}-giugno.csv"],
        known_pods=community.all_pods,
        pod=POD,
        direction="withdrawal",
        imported_by="ref",
        now=now,
    )
    run = finalize(
        store, inputs_from_store(store, community, prices_csv=PRICES), ("2024-06",), created_by="ref"
    )
    exported = member_export(store, community, "m1")
    assert len(exported["distributor_readings"]) == 2880
    assert {r["pod"] for r in exported["distributor_readings"]} == {POD}

    report = erase_member(store, community, "m1", key=KEY, actor="ref")

    assert report.distributor_values == 2880 and report.distributor_files == 1
    m1_lines = [line for line in run.lines if line.payee_id == "m1"]
    assert report.billing_lines_kept == len(m1_lines) > 0
    with store.read() as conn:
        pods = set(conn.execute(sa.select(DistributorReading.__table__.c.pod).distinct()).scalars())
        assert pods == {report.pods[POD]}
        names = list(conn.execute(sa.select(DistributorFile.__table__.c.name)).scalars())
        assert names == ["(pseudonymised)"]
        # the final run is untouched: its lines still pay m1 (the community's accounts)
        kept = conn.execute(
            sa.select(sa.func.count()).where(BillingRunLine.__table__.c.payee_id == "m1")
        ).scalar_one()
        assert kept == report.billing_lines_kept
        # and nowhere else does the POD survive
        insp = sa.inspect(store.engine)
        for name in insp.get_table_names():
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for row in conn.execute(sa.select(table)):
                text = " ".join(str(v) for v in row)
                assert not re.search(POD, text), (name, text[:120])
    store.close()
