"""The attribute registry admits no personal data: not by its names, not by the values it lets through."""

from __future__ import annotations

import re

import pytest

from shared.tracing import attributes as attrs
from shared.tracing.attributes import REGISTRY, catalog_vocabularies, check
from tests.unit.deadline.common import CATALOG

PERSONAL_NAME = re.compile(
    r"name|phone|tel|mobile|address|addr|street|line|commune|province|ward|id_?number|identity|cccd|cmnd|"
    r"passport|citizen|applicant|person|email|mail|birth|dob|gender|waybill|external_ref|reason|note|text",
    re.IGNORECASE,
)
# What a citizen's data looks like in a submission (CONTRACT.md §3): names with and without
# diacritics, 9- and 12-digit ID numbers, phone numbers, street addresses, an e-mail.
PERSONAL_VALUES = [
    "Nguyễn Văn An", "Nguyen Van An", "nguyen van an", "NGUYEN", "nguyen", "Trần Thị Bích Ngọc",
    "046190000001", "001203004567", "205123456", "0905123456", "+84905123456", "84-905-123-456",
    "12 Đường Lê Lợi", "12 Le Loi", "Thôn 3, xã Phú An", "Phú An", "Huế", "an.nguyen@example.vn",
    "046190000001-260302-0001", "Nguyen.Van.An", "lt.in.agency.Nguyen Van An.submitted",
]  # fmt: skip
VOCABULARIES = catalog_vocabularies(CATALOG)
# OpenTelemetry's own names, where "name" is a subject's or a consumer's (their values are checked below).
SEMCONV = {"messaging.destination.name": "messaging.destination", "messaging.consumer.group.name": "messaging.group"}


def test_no_attribute_name_suggests_personal_data():
    for name in REGISTRY:
        meaningful = SEMCONV.get(name, name).removeprefix("lienthong.").removeprefix("messaging.")
        assert not PERSONAL_NAME.search(meaningful), f"{name} sounds like personal data"


def test_every_attribute_is_documented_and_constrained():
    for a in REGISTRY.values():
        assert a.meaning.strip(), a.name
        if a.type is str:
            assert (a.values, a.pattern, a.vocabulary) != (None, None, None), f"{a.name} is free text"
        elif a.type in (int, float):
            assert a.minimum is not None and a.maximum is not None and a.maximum <= 100_000, a.name


@pytest.mark.parametrize("value", PERSONAL_VALUES)
def test_no_string_attribute_admits_a_citizens_data(value):
    for a in REGISTRY.values():
        assert not a.admits(value, VOCABULARIES), f"{a.name} would carry {value!r}"


def test_no_number_attribute_admits_an_id_or_phone_number():
    for a in REGISTRY.values():
        for number in (46190000001, 905123456, 46190000001.0, 905123456.0):
            assert not a.admits(number, VOCABULARIES), a.name


def test_the_codes_we_do_send_fit():
    check(
        {
            "lienthong.dossier.code": "000.00.15.H57-260302-0007",
            "lienthong.procedure.code": "9.000001",
            "lienthong.agency.code": "T01.31.00.X99",
            "lienthong.agency.level": "district",
            "lienthong.stage.index": 2,
            "lienthong.late": True,
            "lienthong.overrun.hours": 24.0,
            "messaging.destination.name": "lt.in.agency.T01_00_01_X99.stage_completed",
            "messaging.consumer.group.name": "routing-received",
        },
        VOCABULARIES,
    )


def test_unregistered_names_and_misfit_values_are_refused_without_echoing_the_value():
    with pytest.raises(attrs.UnregisteredAttribute, match=r"applicant\.full_name"):
        check({"applicant.full_name": "Nguyễn Văn An"})
    with pytest.raises(attrs.UnregisteredAttribute) as refused:
        check({"lienthong.agency.code": "Nguyễn Văn An"}, VOCABULARIES)
    assert "Nguyễn" not in str(refused.value)
    with pytest.raises(attrs.UnregisteredAttribute):
        check({"lienthong.late": "yes"})
    with pytest.raises(attrs.UnregisteredAttribute):
        check({"lienthong.agency.code": "T01.31.00.X99"})  # without the catalog nothing is a known code
