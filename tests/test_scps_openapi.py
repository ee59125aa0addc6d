"""The SCPS UrbanDatasetGateway speaks SCPS Communication 2.0 exactly (issue #13, "Also").

Which client is used, and why: the public OpenAPI definition of Communication 2.0 (API version 2.0.0) is
known through the client the OpenAPI Generator made from it (``titobrasolin-ke/urbandatasetgateway-client-
python``). That client is not on PyPI (``pip download urbandatasetgateway-client`` finds no distribution), so
it cannot be pinned as a test dependency. This file holds instead a small, faithful pydantic model set of that
definition, written from the generated client's models and docs: one request and one response model per verb,
with the JSON names (aliases) of the definition. The UrbanDataset inside the answers is modelled after the
SCPS UrbanDataset JSON Schema 2.0 the definition refers to, which forbids unknown keys
(``additionalProperties`` false: ``extra="forbid"``) and adds the definition's optional ``context.note`` and
``context.timestamp`` pattern; the answer envelopes do not forbid extra keys (the generated models ignore
them, e.g. our ``detail``). One deliberate difference from the generated code: its line-property models are
generated from a ``oneOf`` and validate an empty dict, so they reject every UrbanDataset; the models here follow
the definition (``name`` plus exactly one of ``val`` or ``property``).

:class:`GeneratedStyleClient` behaves as the generated ``ApiClient``: it POSTs the request model as JSON
(``GET /test`` too), sends ``Authorization: Bearer``, turns a 2xx answer into the verb's response model (a
validation error when the answer does not fit) and raises :class:`ApiError` with the status and the body for any
other status. The gateway runs in a real uvicorn server on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from typing import Any

import httpx
import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from condivisa.app.http_app import create_app
from condivisa.app.settings import Settings
from condivisa.domain.config import load_community
from condivisa.formats.urbandataset import profile as prof
from condivisa.formats.urbandataset.emit import build_dataset, build_m1_dataset
from condivisa.formats.urbandataset.parse import parse_urbandataset
from condivisa.kernel import clock
from condivisa.kernel.timegrid import ROME
from condivisa.store.store import Store

Number = StrictFloat | StrictInt
Q = dt.timedelta(minutes=15)
RESOURCE = "SCP-1_CERTest-1_M1ElectricUserDevice-2.0_20250101000000"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-2]\d:[0-5]\d:[0-5]\d$")


# ------------------------------------------------------------------ the UrbanDataset (JSON Schema 2.0)
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SpecificationId(_Strict):
    value: StrictStr
    scheme_id: StrictStr | None = Field(None, alias="schemeID")


class SubProperties(_Strict):
    property_name: list[StrictStr] = Field(alias="propertyName", min_length=2)


class PropertyDefinition(_Strict):
    property_name: StrictStr = Field(alias="propertyName")
    property_description: StrictStr | None = Field(None, alias="propertyDescription")
    data_type: StrictStr | None = Field(None, alias="dataType")
    code_list: StrictStr | None = Field(None, alias="codeList")
    unit_of_measure: StrictStr | None = Field(None, alias="unitOfMeasure")
    measurement_type: StrictStr | None = Field(None, alias="measurementType")
    sub_properties: SubProperties | None = Field(None, alias="subProperties")

    @model_validator(mode="after")
    def one_of_data_type_or_sub_properties(self) -> PropertyDefinition:
        if (self.data_type is None) == (self.sub_properties is None):
            raise ValueError("exactly one of dataType and subProperties")
        if self.sub_properties is not None and (
            self.code_list or self.unit_of_measure or self.measurement_type
        ):
            raise ValueError("subProperties excludes codeList, unitOfMeasure, measurementType")
        return self


class Properties(_Strict):
    property_definition: list[PropertyDefinition] = Field(alias="propertyDefinition")


class Specification(_Strict):
    version: StrictStr | None = None
    id: SpecificationId
    name: StrictStr
    uri: StrictStr
    properties: Properties | None = None


class Producer(_Strict):
    id: StrictStr
    scheme_id: StrictStr | None = Field(None, alias="schemeID")


class Coordinates(_Strict):
    format: StrictStr | None = None
    latitude: Number
    longitude: Number
    height: Number | None = None


class Context(_Strict):
    producer: Producer
    time_zone: StrictStr = Field(alias="timeZone")
    timestamp: StrictStr
    coordinates: Coordinates
    language: StrictStr | None = None
    note: StrictStr | None = None  # in the OpenAPI definition, not in the JSON Schema

    @field_validator("timestamp")
    @classmethod
    def civil_timestamp(cls, value: str) -> str:
        if not TIMESTAMP.match(value):
            raise ValueError("context.timestamp must be YYYY-MM-DDThh:mm:ss")
        dt.datetime.fromisoformat(value)  # a real date (the definition's pattern checks leap years)
        return value


class Period(_Strict):
    start_ts: StrictStr
    end_ts: StrictStr


class SubProperty(_Strict):
    name: StrictStr
    val: StrictStr


class LineProperty(_Strict):
    name: StrictStr
    val: StrictStr | None = None
    property: list[SubProperty] | None = Field(None, min_length=2)

    @model_validator(mode="after")
    def one_of_val_or_property(self) -> LineProperty:
        if (self.val is None) == (self.property is None):
            raise ValueError("exactly one of val and property")
        return self


class Line(_Strict):
    id: StrictInt | None = None
    description: StrictStr | None = None
    timestamp: StrictStr | None = None
    coordinates: Coordinates | None = None
    period: Period | None = None
    property: list[LineProperty] = Field(min_length=1)


class Values(_Strict):
    line: list[Line] = Field(min_length=1)


class UrbanDataset(_Strict):
    specification: Specification
    context: Context
    values: Values


class Document(_Strict):
    """``ScpsUrbandatasetSchema20``: ``{"UrbanDataset": {...}}``."""

    urban_dataset: UrbanDataset = Field(alias="UrbanDataset")


# ------------------------------------------------------------------ requests and answers of each verb
class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class TestGet200Response(_Envelope):
    __test__ = False  # not a pytest class
    code: StrictStr
    message: StrictStr


class Login200Response(TestGet200Response):
    token: StrictStr


class IsAlive200Response(TestGet200Response):
    username: StrictStr | None = None


class Push200Response(TestGet200Response):
    detail: StrictStr


class Basic200Response(TestGet200Response):
    dataset: list[Document]


class Last200Response(TestGet200Response):
    dataset: Document


class LoginRequest(_Envelope):
    username: StrictStr
    password: StrictStr


class BasicRequest(_Envelope):
    resource_id: StrictStr


class LastRequest(BasicRequest):
    pass


class SearchingRequest(BasicRequest):
    period_start: StrictStr | None = None
    period_end: StrictStr | None = None
    center_latitude: StrictStr | None = None
    center_longitude: StrictStr | None = None
    distance: StrictStr | None = None


class DeepSearchingRequest(SearchingRequest):
    property_label: StrictStr | None = None
    property_value: StrictStr | None = None


class SearchingByPropertyRequest(SearchingRequest):
    property_name: StrictStr
    property_value: StrictStr


class SpecificRequest(BasicRequest):
    timestamp: dt.datetime


class PushRequest(BasicRequest):
    dataset: Document


#: verb -> (HTTP method, path, request model or None, answer model): the definition's operations
VERBS: dict[str, tuple[str, str, type[BaseModel] | None, type[BaseModel]]] = {
    "test": ("POST", "/test", None, TestGet200Response),
    "test_get": ("GET", "/test", None, TestGet200Response),
    "login": ("POST", "/login", LoginRequest, Login200Response),
    "logout": ("POST", "/logout", None, TestGet200Response),
    "is_alive": ("POST", "/isAlive", None, IsAlive200Response),
    "push": ("POST", "/push", PushRequest, Push200Response),
    "basic": ("POST", "/basicRequest", BasicRequest, Basic200Response),
    "last": ("POST", "/lastRequest", LastRequest, Last200Response),
    "specific": ("POST", "/specificRequest", SpecificRequest, Last200Response),
    "searching": ("POST", "/searchingRequest", SearchingRequest, Basic200Response),
    "deep_searching": ("POST", "/deepSearchingRequest", DeepSearchingRequest, Basic200Response),
    "searching_by_property": (
        "POST",
        "/searchingByPropertyRequest",
        SearchingByPropertyRequest,
        Basic200Response,
    ),
    "delete": ("POST", "/delete", SpecificRequest, TestGet200Response),
}


class ApiError(Exception):
    """A non-2xx answer, as the generated client's ``ApiException``: ``status`` and the JSON ``body``."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status, self.body = status, body


class GeneratedStyleClient:
    """Calls the gateway as the generated client does (see the module docstring)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=f"{base_url}/UrbanDatasetGateway", timeout=30)
        self.token: str | None = None

    def call(self, verb: str, **fields: Any) -> Any:
        method, path, request_model, answer_model = VERBS[verb]
        body = None
        if request_model is not None:
            # the generated client serialises the model by alias without unset fields, datetimes as isoformat
            body = request_model.model_validate(fields).model_dump(
                mode="json", by_alias=True, exclude_none=True
            )
        headers = {"Accept": "application/json"}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        r = self.http.request(method, path, json=body, headers=headers)
        if not 200 <= r.status_code < 300:
            raise ApiError(r.status_code, r.json())
        return answer_model.model_validate(r.json())

    def close(self) -> None:
        self.http.close()


# ------------------------------------------------------------------ the server
@pytest.fixture
def server(db_url, example_community_path):
    """The platform with the gateway in a real uvicorn server; the base URL."""
    import uvicorn

    from condivisa.transports.mqtt.broker import free_port

    store = Store(db_url)
    store.upgrade()
    community = load_community(example_community_path)
    store.register_devices(community)
    app = create_app(
        Settings(database_url=db_url, gateway_users={"scps": "s3cret"}), store=store, community=community
    )
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert srv.started
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=20)
    store.close()


@pytest.fixture
def client(server):
    c = GeneratedStyleClient(server)
    answer = c.call("login", username="scps", password="s3cret")
    assert answer.code == "00"
    c.token = answer.token
    yield c
    c.close()


def readings(start: dt.datetime, n: int, pods=(("DU-0001", "IT001E00000001"), ("DU-0002", "IT001E00000002"))):
    return [
        {
            "du_id": du,
            "pod": pod,
            "start": start + k * Q,
            "withdrawn_kwh": 0.1 * (k + 1),
            "injected_kwh": 0.05,
        }
        for du, pod in pods
        for k in range(n)
    ]


def recent_start() -> dt.datetime:
    """A quarter hour about three hours ago (inside basicRequest's last 24 hours)."""
    now = clock.now().astimezone(dt.UTC).replace(second=0, microsecond=0)
    return now - dt.timedelta(hours=3, minutes=now.minute % 15)


def push(client: GeneratedStyleClient, document: dict) -> Push200Response:
    answer = client.call("push", resource_id=RESOURCE, dataset=document)
    assert answer.code == "00", answer
    return answer


# ------------------------------------------------------------------ tests
def test_every_verb_answers_as_the_openapi_definition_says(client):
    anonymous = GeneratedStyleClient(client.base_url)
    assert anonymous.call("test").code == "00" and anonymous.call("test_get").code == "00"
    anonymous.close()
    assert client.call("is_alive").username == "scps"
    t0 = recent_start()
    document = build_m1_dataset(readings(t0, 4), producer_id="CERTest-1")
    Document.model_validate(document)  # what condivisa emits is a valid UrbanDataset of the definition
    assert "stored 8" in push(client, document).detail

    basic = client.call("basic", resource_id=RESOURCE)
    assert basic.code == "03" and len(basic.dataset) >= 1
    period = {  # Europe/Rome civil time, as SCPS requests carry it
        "period_start": (t0 - Q).astimezone(ROME).replace(tzinfo=None).isoformat(),
        "period_end": (t0 + 4 * Q).astimezone(ROME).replace(tzinfo=None).isoformat(),
    }
    searching = client.call("searching", resource_id=RESOURCE, **period)
    assert searching.code == "03" and searching.dataset
    deep = client.call(
        "deep_searching",
        resource_id=RESOURCE,
        property_label="PODID",
        property_value="IT001E00000002",
        **period,
    )
    pods = {
        r.pod
        for d in deep.dataset
        for r in parse_urbandataset(d.model_dump(by_alias=True, exclude_none=True)).readings
    }
    assert deep.code == "03" and pods == {"IT001E00000002"}
    by_property = client.call(
        "searching_by_property",
        resource_id=RESOURCE,
        property_name="UserDeviceID",
        property_value="DU-0001",
        **period,
    )
    assert by_property.code == "03" and by_property.dataset
    specific = client.call("specific", resource_id="IT001E00000001", timestamp=t0 + Q)  # aware datetime
    assert isinstance(specific.dataset, Document)
    last = client.call("last", resource_id=RESOURCE)
    assert last.code == "03" and isinstance(last.dataset, Document)  # one UrbanDataset, not a list
    deleted = client.call("delete", resource_id=RESOURCE, timestamp=t0)
    assert deleted.code == "06"
    assert client.call("logout").code == "00"
    with pytest.raises(ApiError) as denied:
        client.call("is_alive")
    assert denied.value.status == 401 and denied.value.body["code"] == "01"


def test_last_request_is_the_last_dataset_generated_whatever_its_age(client):
    """Readings of June 2025 only (far more than 24 hours old): lastRequest answers the dataset holding the
    most recent of them (the M2 production meter's, last day), as one UrbanDataset."""
    june = dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.UTC)
    push(client, build_m1_dataset(readings(june, 4), producer_id="CERTest-1"))
    later = june + dt.timedelta(days=2, hours=3)
    push(client, build_m1_dataset(readings(later, 2, pods=(("DU-0001", "IT001E00000001"),)), producer_id="X"))
    m2 = build_dataset(
        readings(later + Q, 1, pods=(("DU-0001", "IT001E00000001"),)), producer_id="X", profile_id=prof.M2.id
    )
    push(client, m2)
    assert client.call("basic", resource_id=RESOURCE).code == "04"  # nothing in the last 24 hours
    last = client.call("last", resource_id=RESOURCE)
    doc = last.dataset.model_dump(by_alias=True, exclude_none=True)
    parsed = parse_urbandataset(doc)
    assert last.code == "03" and parsed.profile_id == prof.M2.id
    assert [(r.pod, r.start) for r in parsed.readings] == [("IT001E00000001", later + Q)]
    # the exchange meter's last dataset when the resource is the other POD: its 4 quarter hours of June 1st
    other = client.call("last", resource_id="IT001E00000002").dataset.model_dump(
        by_alias=True, exclude_none=True
    )
    assert [r.start for r in parse_urbandataset(other).readings] == [june + k * Q for k in range(4)]


def test_answers_without_data_are_readable_by_a_generated_client(client):
    empty = client.call("basic", resource_id=RESOURCE)
    assert (empty.code, empty.dataset) == ("04", [])
    bad_period = client.call(
        "searching",
        resource_id=RESOURCE,
        period_start="2025-06-02T00:00:00",
        period_end="2025-06-01T00:00:00",
    )
    assert (bad_period.code, bad_period.dataset) == ("02", [])
    with pytest.raises(ApiError) as none:  # its 200 answer must hold an UrbanDataset: 404 instead
        client.call("last", resource_id=RESOURCE)
    assert none.value.status == 404 and none.value.body["code"] == "04"
    with pytest.raises(ApiError) as nothing_then:
        client.call("specific", resource_id=RESOURCE, timestamp=dt.datetime(2025, 6, 1, 10, 0))
    assert nothing_then.value.status == 404 and nothing_then.value.body["code"] == "04"


def test_the_model_set_rejects_what_a_generated_client_cannot_read():
    """The old lastRequest answer (``dataset`` as a list) and an UrbanDataset with an unknown key fail."""
    document = build_m1_dataset(readings(dt.datetime(2025, 6, 1, 8, 0, tzinfo=dt.UTC), 1), producer_id="X")
    Last200Response.model_validate({"code": "03", "message": "ok", "dataset": document})
    with pytest.raises(ValidationError):
        Last200Response.model_validate({"code": "03", "message": "ok", "dataset": [document]})
    with pytest.raises(ValidationError):
        Basic200Response.model_validate({"code": "04", "message": "No data found"})  # dataset is required
    document["UrbanDataset"]["context"]["extra"] = "x"
    with pytest.raises(ValidationError):
        Document.model_validate(document)
