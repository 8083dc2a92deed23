"""TTHC.xml: writing, reading, schema validity, refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree

from archive_service.packages.models import TthcFacts
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.tthc import (
    TTHC_NS,
    TthcError,
    parse_dossier_code,
    read_tthc,
    write_tthc,
)
from tests.factories import sample_deposit

FIXTURE = Path(__file__).parents[1] / "fixtures" / "sample_sip"


def _facts() -> TthcFacts:
    return sample_deposit()[0].tthc


def _read(data: bytes) -> TthcFacts:
    return read_tthc(etree.fromstring(data))


def test_facts_survive_a_round_trip_with_vietnamese_text() -> None:
    facts = _facts()
    assert facts.history[1].opinion.startswith("Đã xác minh")
    assert _read(write_tthc(facts)) == facts


def test_written_file_validates_and_is_deterministic() -> None:
    data = write_tthc(_facts())
    assert data == write_tthc(_facts())
    assert data.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<tthc xmlns="urn:vn:archive:tthc:1" version="1">'
    )
    assert validate(etree.fromstring(data), SchemaName.TTHC, "TTHC.xml") == []


def test_date_times_are_written_in_vietnam_time_with_offset() -> None:
    facts = _facts().model_copy(update={"received": datetime(2024, 6, 10, 1, 15, tzinfo=UTC)})
    root = etree.fromstring(write_tthc(facts))
    assert root.findtext(f"{{{TTHC_NS}}}received") == "2024-06-10T08:15:00+07:00"
    assert _read(write_tthc(facts)).received == facts.received


def test_optional_values_are_left_out() -> None:
    facts = _facts().model_copy(
        update={"returned": None, "due": None, "history": [], "results": []}
    )
    root = etree.fromstring(write_tthc(facts))
    assert root.find(f"{{{TTHC_NS}}}returned") is None
    assert root.find(f"{{{TTHC_NS}}}due") is None
    assert _read(write_tthc(facts)) == facts
    assert validate(root, SchemaName.TTHC, "TTHC.xml") == []


def test_reading_tolerates_prefixes_order_and_empty_attributes() -> None:
    (package,) = FIXTURE.iterdir()
    facts = read_tthc(etree.parse(str(package / "metadata/descriptive/TTHC.xml")).getroot())
    assert facts.dossier_code == "000.00.19.H56-240311-0042"
    assert facts.procedure.name == "Đăng ký kết hôn"
    assert facts.applicant.address is None
    (result,) = facts.results
    assert (result.issued, result.valid_until, result.scope) == (date(2024, 3, 14), None, None)
    assert [step.action for step in facts.history] == ["received", "processed", "approved"]
    assert facts.history[2].opinion == ""
    assert facts.received.utcoffset() == timedelta(hours=7)


def _without(tag: str) -> bytes:
    root = etree.fromstring(write_tthc(_facts()))
    root.remove(root.find(f"{{{TTHC_NS}}}{tag}"))
    return etree.tostring(root)


def test_missing_content_is_refused_naming_the_element() -> None:
    with pytest.raises(TthcError, match="thiếu <finished>"):
        _read(_without("finished"))
    with pytest.raises(TthcError, match="<procedure>"):
        _read(_without("procedure"))


def test_a_garbled_value_is_refused_naming_where() -> None:
    data = write_tthc(_facts()).replace(b'at="2024-06-11T09:40:00+07:00"', 'at="hôm qua"'.encode())
    with pytest.raises(TthcError, match=r"<history>/<step>\[2\]/@at"):
        _read(data)


def test_a_date_time_without_offset_is_refused() -> None:
    data = write_tthc(_facts()).replace(
        b"2024-06-12T10:02:00+07:00</finished>", b"2024-06-12T10:02:00</finished>"
    )
    with pytest.raises(TthcError, match=r"múi giờ.*finished"):
        _read(data)


def test_a_foreign_root_is_refused() -> None:
    with pytest.raises(TthcError, match="urn:vn:archive:tthc:1"):
        _read(b"<tthc version='1'><dossierCode>x</dossierCode></tthc>")


def test_writing_a_naive_date_time_is_a_programming_error() -> None:
    facts = _facts().model_copy(update={"finished": datetime(2024, 6, 12, 10, 2)})
    with pytest.raises(ValueError, match="timezone"):
        write_tthc(facts)


def test_dossier_codes_are_split_into_their_parts() -> None:
    code = parse_dossier_code("000.00.19.H56-240610-0001")
    assert code is not None
    assert (code.unit, code.day, code.sequence, code.day_sequence) == (
        "000.00.19.H56",
        "240610",
        "0001",
        "240610-0001",
    )
    for bad in ("000.00.19.H56-24061-0001", "H56_240610_0001", "-240610-0001", "A-240610-00012"):
        assert parse_dossier_code(bad) is None, bad


def test_other_offsets_are_read_as_the_same_instant() -> None:
    data = write_tthc(_facts()).replace(
        b"2024-06-10T08:15:00+07:00</received>", b"2024-06-10T01:15:00Z</received>"
    )
    assert _read(data).received == datetime(2024, 6, 10, 8, 15, tzinfo=timezone(timedelta(hours=7)))
