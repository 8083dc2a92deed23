"""AIP_hoso written from real SIPs: schemas, METS checksums, originals untouched, determinism,
renditions in rep2, OCFL storage checked by ocfl-py, and reading the AIP back."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import ocfl
import pytest
from lxml import etree

from archive_service import SOFTWARE_NAME, __version__
from archive_service.config import PackageLimits
from archive_service.packages import aip_writer
from archive_service.packages.aip_premis import PREMIS_PATH
from archive_service.packages.aip_reader import AipUnreadable, read_aip_folder, read_aip_object
from archive_service.packages.aip_writer import (
    AipTree,
    ArchiveIdentity,
    FileFacts,
    Rendition,
    archive_agent,
    build_aip,
    premis_identifier,
    software_agent,
    write_aip_folder,
)
from archive_service.packages.container import PackageSource, open_package
from archive_service.packages.ead import read_simpledc
from archive_service.packages.mets import VN_TZ, mets_datetime
from archive_service.packages.mets_reader import read_mets
from archive_service.packages.models import SipPackage
from archive_service.packages.premis import (
    PREMIS_NS,
    AgentRole,
    EventType,
    FileFormat,
    LinkedAgent,
    LinkedObject,
    ObjectRole,
    Outcome,
    PremisEvent,
    SignatureNote,
    read_events,
)
from archive_service.packages.schemas import SchemaName, validate
from archive_service.packages.sip_reader import read_sip
from archive_service.packages.tthc import TTHC_PATH
from archive_service.packages.xmlsafe import parse_xml_bytes
from archive_service.storage.filesystem import FilesystemStore
from archive_service.storage.ocfl import OcflRepository
from archive_service.streams import FileSource
from tests.factories import make_sip_zip, pdf_document

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_SIP = REPO_ROOT / "tests/fixtures/sample_sip/uuid-3F2A9C41-7B6E-4D15-8E02-5C9B1A7D4E63"
AIP_UUID = UUID("6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68")
CREATED = datetime(2024, 7, 1, 9, 30, 15, 250000, tzinfo=VN_TZ)
ARCHIVE = ArchiveIdentity(
    archive_code="LTDT",
    archive_name="Trung tâm Lưu trữ lịch sử tỉnh Thanh Hóa",
    fonds_code="G09",
    software_name=SOFTWARE_NAME,
    software_version=__version__,
)
LIMITS = PackageLimits()
P = {"p": PREMIS_NS}


@dataclass
class OpenSip:
    package: SipPackage
    source: PackageSource


@pytest.fixture
def factory_sip(tmp_path: Path) -> Iterator[OpenSip]:
    yield from _open_sip(make_sip_zip(tmp_path))


@pytest.fixture
def sample_sip() -> Iterator[OpenSip]:
    yield from _open_sip(SAMPLE_SIP)


def _open_sip(path: Path) -> Iterator[OpenSip]:
    """The SIP opened and checked (``read_sip`` is ``validate_sip`` on an open package)."""
    source = open_package(path, LIMITS)
    try:
        report = read_sip(source, LIMITS)
        assert report.ok and report.package is not None, report.errors
        yield OpenSip(report.package, source)
    finally:
        source.close()


def build(sip: OpenSip, work: Path, **options: object) -> AipTree:
    return build_aip(
        sip.package,
        sip.source,
        aip_uuid=AIP_UUID,
        created=CREATED,
        archive=ARCHIVE,
        work_dir=work,
        **options,  # type: ignore[arg-type]
    )


def write(sip: OpenSip, tmp_path: Path, name: str = "out", **options: object) -> Path:
    tree = build(sip, tmp_path / f"{name}-work", **options)
    return write_aip_folder(tree, tmp_path / name)


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def xml(folder: Path, path: str) -> etree._Element:
    return parse_xml_bytes((folder / path).read_bytes(), path).getroot()


def schema_for(path: str) -> SchemaName | None:
    name = path.rsplit("/", 1)[-1]
    if name == "METS.xml":
        return SchemaName.METS
    if name.startswith("PREMIS"):
        return SchemaName.PREMIS
    if name == "EAD.xml":
        return SchemaName.EAD
    if name.startswith("EAD_DOC_"):
        return SchemaName.EAD_DOC
    if name == "TTHC.xml":
        return SchemaName.TTHC
    return None


def rendition_of(sip: OpenSip, doc_index: int = 0) -> Rendition:
    """A PDF/A-style rendition of a document, its digest left for the writer to compute."""
    data = pdf_document("Ban chuyen doi PDF/A-2b")
    document = sip.package.documents[doc_index]
    event = PremisEvent(
        identifier="0B6F3A52-7D1C-4E8A-9F20-5C4B3A2D1E0F",
        event_type=EventType.NORMALIZATION,
        date_time=CREATED - timedelta(minutes=5),
        detail="Chuyển đổi sang PDF/A-2b",
        outcome=Outcome.SUCCESS,
        agents=(LinkedAgent("ghostscript/10.0", AgentRole.EXECUTING_PROGRAM),),
    )
    return Rendition(
        doc_id=document.doc_id,
        source=FileSource(open=lambda: nullcontext(io.BytesIO(data))),
        file_name=f"{document.doc_id}.pdfa.pdf",
        mime_type="application/pdf",
        format_name="PDF/A-2b",
        pronom_id="fmt/476",
        event=event,
    )


# --- content and schemas -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["factory_sip", "sample_sip"])
def test_every_xml_file_validates_against_its_schema(
    which: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    sip: OpenSip = request.getfixturevalue(which)
    folder = write(sip, tmp_path, renditions=[rendition_of(sip)])
    checked = []
    for path in files_of(folder):
        schema = schema_for(path)
        if schema is not None:
            assert validate(xml(folder, path), schema, path) == [], path
            checked.append(schema)
    documents = len(sip.package.documents)
    assert checked.count(SchemaName.METS) == 3  # root, rep1, rep2
    assert checked.count(SchemaName.PREMIS) == 3  # package, rep1, rep2
    assert checked.count(SchemaName.EAD_DOC) == documents
    assert {SchemaName.EAD, SchemaName.TTHC} <= set(checked)


def test_root_mets_identifies_the_aip(factory_sip: OpenSip, tmp_path: Path) -> None:
    folder = write(factory_sip, tmp_path)
    assert folder.name == "urn_G09_uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"
    root = xml(folder, "METS.xml")
    parsed, problems = read_mets(root, "METS.xml")
    assert problems == []
    assert parsed.objid == "urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"
    assert parsed.profile == "http://www.ra.ee/METS/v01/IP.xml"
    assert parsed.package_type == "AIP"
    assert parsed.record_status == factory_sip.package.record_status
    assert parsed.created == "2024-07-01T09:30:15.250+07:00"
    assert parsed.creator_name == SOFTWARE_NAME
    assert parsed.creator_note == "G09"
    assert parsed.submission_agreement == factory_sip.package.submission_agreement
    notes = root.xpath(
        "//m:agent[@ROLE='CREATOR']/m:note[@csip:NOTETYPE='SOFTWARE VERSION']/text()",
        namespaces={
            "m": "http://www.loc.gov/METS/",
            "csip": "https://DILCIS.eu/XML/METS/CSIPExtensionMETS",
        },
    )
    assert notes == [__version__]
    assert {ref.mdtype for ref in parsed.metadata.values()} == {"DC", "TTHC", "PREMIS"}
    assert parsed.pointers == ["representations/rep1/METS.xml"]
    metadata_div = next(d for d in parsed.divs() if d.label == "Metadata")
    assert len(metadata_div.dmd_ids) == 2
    assert root.xpath(
        "//m:div[@LABEL='Metadata']/@ADMID", namespaces={"m": "http://www.loc.gov/METS/"}
    )


def test_representation_mets_pairs_each_document_with_its_metadata(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    folder = write(factory_sip, tmp_path)
    root = xml(folder, "representations/rep1/METS.xml")
    parsed, problems = read_mets(root, "representations/rep1/METS.xml")
    assert problems == []
    assert parsed.profile == "https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml"
    top = parsed.structure[0]
    assert top.div_type == "NORMALIZED"
    pairs = [d for d in parsed.divs() if d.label == "File"]
    assert len(pairs) == len(factory_sip.package.documents)
    for pair in root.iter("{http://www.loc.gov/METS/}div"):
        if pair.get("LABEL") == "File":
            assert pair.get("DMDID") and pair.get("ADMID")
            assert pair.get("DMDID") in parsed.metadata
            assert pair.get("ADMID") in parsed.metadata  # the digiprovMD of PREMIS_rep1.xml


def test_every_mets_checksum_and_size_matches_the_bytes(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    folder = write(factory_sip, tmp_path, renditions=[rendition_of(factory_sip)])
    contents = files_of(folder)
    referenced = {"METS.xml"}
    for mets_path in ("METS.xml", "representations/rep1/METS.xml", "representations/rep2/METS.xml"):
        parsed, problems = read_mets(xml(folder, mets_path), mets_path)
        assert problems == []
        for reference in parsed.references():
            assert reference.path in contents, reference.href
            data = contents[reference.path]
            assert reference.size == str(len(data)), reference.path
            assert reference.checksum == hashlib.sha256(data).hexdigest().upper(), reference.path
            assert reference.checksum_type == "SHA-256"
            referenced.add(reference.path)
    assert referenced == set(contents)  # no file of the AIP is left unreferenced


def test_tree_sizes_and_digests_are_those_of_the_written_files(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    tree = build(factory_sip, tmp_path / "work")
    folder = write_aip_folder(tree, tmp_path / "out")
    contents = files_of(folder)
    assert set(tree.files) == set(contents)
    for path, source in tree.files.items():
        assert source.size == len(contents[path])
        assert source.sha256 == hashlib.sha256(contents[path]).hexdigest()


def test_rep1_documents_are_the_sip_bytes(factory_sip: OpenSip, tmp_path: Path) -> None:
    folder = write(factory_sip, tmp_path, renditions=[rendition_of(factory_sip)])
    for document in factory_sip.package.documents:
        with factory_sip.source.open(document.file.path) as stream:
            assert (folder / document.file.path).read_bytes() == stream.read()
        assert document.file.path.startswith("representations/rep1/data/")


def test_the_same_inputs_give_byte_identical_trees(factory_sip: OpenSip, tmp_path: Path) -> None:
    events = [_virus_check(factory_sip)]
    first = write(
        factory_sip, tmp_path, "first", events=events, renditions=[rendition_of(factory_sip)]
    )
    second = write(
        factory_sip, tmp_path, "second", events=events, renditions=[rendition_of(factory_sip)]
    )
    assert files_of(first) == files_of(second)
    other = build_aip(
        factory_sip.package,
        factory_sip.source,
        aip_uuid=UUID(int=1),
        created=CREATED,
        archive=ARCHIVE,
        work_dir=tmp_path / "other",
    )
    assert (
        other.files["METS.xml"].sha256
        != build(factory_sip, tmp_path / "again").files["METS.xml"].sha256
    )


# --- descriptive metadata ------------------------------------------------------------------------


def test_xml_beyond_the_memory_budget_goes_to_the_work_folder_with_the_same_bytes(
    factory_sip: OpenSip, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    in_memory = build(factory_sip, tmp_path / "memory")
    assert not (tmp_path / "memory").exists()  # a small AIP creates no file before storing
    budget = 3000  # room for a few small files; METS and PREMIS outgrow it
    monkeypatch.setattr(aip_writer, "XML_MEMORY_BUDGET", budget)
    spilled = build(factory_sip, tmp_path / "disk")
    on_disk = files_of(tmp_path / "disk" / spilled.root_name)
    assert "METS.xml" in on_disk and PREMIS_PATH in on_disk
    written = (
        set(spilled.files) - {TTHC_PATH} - {d.file.path for d in factory_sip.package.documents}
    )
    kept = [path for path in written if path.endswith(".xml") and path not in on_disk]
    assert kept  # the budget's worth stayed in memory
    xml_in_memory = 0
    for path, source in spilled.files.items():
        with source.open() as stream:
            data = stream.read()
        assert hashlib.sha256(data).hexdigest() == source.sha256 == in_memory.files[path].sha256
        if path in kept:
            xml_in_memory += len(data)
    assert xml_in_memory <= budget


def test_sample_docs_get_a_doc_code_from_the_file_code_not_the_wrong_year(
    sample_sip: OpenSip, tmp_path: Path
) -> None:
    file_code = sample_sip.package.dossier.file_code
    sip_codes = [d.metadata.doc_code for d in sample_sip.package.documents]
    wrong = [code for code in sip_codes if not code.startswith(file_code)]
    assert wrong, "the sample SIP carries a docCode with the wrong year"
    folder = write(sample_sip, tmp_path)
    for ordinal, document in enumerate(sample_sip.package.documents, start=1):
        path = f"representations/rep1/metadata/descriptive/EAD_DOC_{document.doc_id}.xml"
        values = read_simpledc(xml(folder, path))
        assert values["docCode"] == [f"{file_code}.{ordinal:07d}"]
        assert values["docCode"][0] not in wrong
        assert values["docOrdinal"] == [str(ordinal)]
        assert values["arcFileCode"] == [f"LTDT.{file_code}"]
        assert not {"docId", "maintenance", "riskRecovery", "riskRecoveryStatus"} & set(values)
        assert values["subject"] == [document.metadata.values["subject"]]


def test_dossier_ead_has_the_arc_file_code_and_tthc_is_copied(
    sample_sip: OpenSip, tmp_path: Path
) -> None:
    folder = write(sample_sip, tmp_path)
    values = read_simpledc(xml(folder, "metadata/descriptive/EAD.xml"))
    assert values["arcFileCode"] == [f"LTDT.{sample_sip.package.dossier.file_code}"]
    assert "fileCode" not in values
    assert values["title"] == [sample_sip.package.dossier.title]
    with sample_sip.source.open("metadata/descriptive/TTHC.xml") as stream:
        assert (folder / "metadata/descriptive/TTHC.xml").read_bytes() == stream.read()


def test_fetch_references_stay_in_the_holeyfile_group(sample_sip: OpenSip, tmp_path: Path) -> None:
    folder = write(sample_sip, tmp_path)
    root = xml(folder, "representations/rep1/METS.xml")
    ns = {"m": "http://www.loc.gov/METS/", "x": "http://www.w3.org/1999/xlink"}
    holey = root.xpath("//m:fileGrp[@USE='Holeyfile']/m:file/m:FLocat/@x:href", namespaces=ns)
    data = root.xpath("//m:fileGrp[@USE='Data']/m:file/m:FLocat/@x:href", namespaces=ns)
    assert holey == ["data/240311-0042.3.pdf.fetch.txt"]
    assert "data/240311-0042.3.pdf.fetch.txt" not in data


# --- PREMIS ----------------------------------------------------------------------------------


def _virus_check(sip: OpenSip) -> PremisEvent:
    object_id = "urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"
    return PremisEvent(
        identifier="3D9C1F20-6A4B-4C8E-B1D7-2F5E8A9C0B13",
        event_type=EventType.VIRUS_CHECK,
        date_time=CREATED - timedelta(minutes=10),
        outcome=Outcome.SUCCESS,
        outcome_detail="Không phát hiện mã độc",
        agents=(LinkedAgent(software_agent(ARCHIVE).identifier, AgentRole.EXECUTING_PROGRAM),),
        objects=tuple(
            LinkedObject(premis_identifier(object_id, d.file.path), ObjectRole.SOURCE)
            for d in sip.package.documents
        ),
    )


def test_package_premis_holds_the_events_agents_and_the_aip(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    virus = _virus_check(factory_sip)
    folder = write(factory_sip, tmp_path, events=[virus])
    root = xml(folder, "metadata/preservation/PREMIS.xml")
    events = list(read_events(root))
    assert [e.event_type for e in events] == ["virus check", "information package creation"]
    creation = events[-1]
    assert creation.outcome == "success"
    assert creation.date_time == CREATED.replace(microsecond=250000)
    assert {(o.identifier, o.role) for o in creation.objects} == {
        (factory_sip.package.object_id, "source"),
        ("urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68", "outcome"),
    }
    assert {(a.identifier, a.role) for a in creation.agents} == {
        ("LTDT", "implementer"),
        (f"{SOFTWARE_NAME}/{__version__}", "executing program"),
    }
    assert root.xpath("//p:eventDateTime/text()", namespaces=P)[-1] == mets_datetime(CREATED)
    agents = root.xpath("//p:agent/p:agentIdentifier/p:agentIdentifierValue/text()", namespaces=P)
    assert agents == [software_agent(ARCHIVE).identifier, archive_agent(ARCHIVE).identifier]
    assert root.xpath("//p:agent[p:agentType='software']/p:agentVersion/text()", namespaces=P) == [
        __version__
    ]
    entity = root.xpath("//p:object", namespaces=P)
    assert len(entity) == 1
    assert (
        entity[0].get("{http://www.w3.org/2001/XMLSchema-instance}type")
        == "premis:intellectualEntity"
    )


def test_rep_premis_describes_every_data_file(factory_sip: OpenSip, tmp_path: Path) -> None:
    virus = _virus_check(factory_sip)
    signed = factory_sip.package.documents[-1].doc_id
    facts = {
        signed: FileFacts(
            format=FileFormat("Acrobat PDF 1.7", "1.7", "fmt/276"),
            signature=SignatureNote(signer="UBND xã Quảng Tâm"),
        )
    }
    folder = write(factory_sip, tmp_path, events=[virus], file_facts=facts)
    root = xml(folder, "representations/rep1/metadata/preservation/PREMIS_rep1.xml")
    objects = root.xpath(
        "//p:object[@xsi:type='premis:file']",
        namespaces={**P, "xsi": "http://www.w3.org/2001/XMLSchema-instance"},
    )
    assert len(objects) == len(factory_sip.package.documents)
    identifiers = set()
    for obj, document in zip(objects, factory_sip.package.documents, strict=True):
        identifier = obj.findtext("p:objectIdentifier/p:objectIdentifierValue", namespaces=P)
        identifiers.add(identifier)
        assert (
            identifier == f"urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68/{document.file.path}"
        )
        characteristics = obj.find("p:objectCharacteristics", P)
        assert (
            characteristics.findtext("p:fixity/p:messageDigestAlgorithm", namespaces=P) == "SHA-256"
        )
        assert (
            characteristics.findtext("p:fixity/p:messageDigest", namespaces=P)
            == document.file.sha256
        )
        assert characteristics.findtext("p:size", namespaces=P) == str(document.file.size)
        assert obj.findtext("p:originalName", namespaces=P) == document.file.path.rsplit("/", 1)[1]
        location = obj.findtext("p:storage/p:contentLocation/p:contentLocationValue", namespaces=P)
        assert location == document.file.path
        assert (
            obj.findtext("p:linkingEventIdentifier/p:linkingEventIdentifierValue", namespaces=P)
            == virus.identifier
        )
        registry = obj.findtext(
            "p:objectCharacteristics/p:format/p:formatRegistry/p:formatRegistryKey", namespaces=P
        )
        has_signature = obj.find("p:signatureInformation", P) is not None
        if document.doc_id == signed:
            assert registry == "fmt/276"
            assert has_signature
        else:
            assert registry is None  # PRONOM id not identified yet
            assert not has_signature
    assert len(identifiers) == len(objects)


def test_a_rendition_goes_to_rep2_linked_by_a_normalization_event(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    rendition = rendition_of(factory_sip)
    folder = write(factory_sip, tmp_path, renditions=[rendition])
    original = factory_sip.package.documents[0].file.path
    rendered = f"representations/rep2/data/{rendition.file_name}"
    assert (folder / rendered).read_bytes() == pdf_document("Ban chuyen doi PDF/A-2b")
    with factory_sip.source.open(original) as stream:
        assert (folder / original).read_bytes() == stream.read()  # the original is untouched

    object_id = "urn:G09:uuid-6C1B0E5A-92D4-4F0B-8C37-2E9A5D1F4B68"
    events = list(read_events(xml(folder, "metadata/preservation/PREMIS.xml")))
    normalization = next(e for e in events if e.event_type == "normalization")
    assert {(o.identifier, o.role) for o in normalization.objects} == {
        (f"{object_id}/{original}", "source"),
        (f"{object_id}/{rendered}", "outcome"),
    }
    rep2_premis = xml(folder, "representations/rep2/metadata/preservation/PREMIS_rep2.xml")
    rendition_object = rep2_premis.xpath(
        f"//p:object[p:objectIdentifier/p:objectIdentifierValue='{object_id}/{rendered}']",
        namespaces=P,
    )[0]
    assert rendition_object.xpath(
        "p:relationship[p:relationshipSubType='has source']"
        "/p:relatedObjectIdentifier/p:relatedObjectIdentifierValue/text()",
        namespaces=P,
    ) == [f"{object_id}/{original}"]
    assert (
        rendition_object.findtext(
            "p:objectCharacteristics/p:format/p:formatRegistry/p:formatRegistryKey", namespaces=P
        )
        == "fmt/476"
    )
    rep1_premis = xml(folder, "representations/rep1/metadata/preservation/PREMIS_rep1.xml")
    assert rep1_premis.xpath(
        "//p:relationship[p:relationshipSubType='is source of']"
        "/p:relatedObjectIdentifier/p:relatedObjectIdentifierValue/text()",
        namespaces=P,
    ) == [f"{object_id}/{rendered}"]
    root, _ = read_mets(xml(folder, "METS.xml"), "METS.xml")
    assert root.pointers == ["representations/rep1/METS.xml", "representations/rep2/METS.xml"]
    rep2, _ = read_mets(
        xml(folder, "representations/rep2/METS.xml"), "representations/rep2/METS.xml"
    )
    assert [f.path for f in rep2.files.values()] == [rendered]
    assert rep2.structure[0].div_type == "NORMALIZED"


def test_inconsistent_input_is_refused(factory_sip: OpenSip, tmp_path: Path) -> None:
    rendition = rendition_of(factory_sip)
    with pytest.raises(ValueError, match="unknown document"):
        build(
            factory_sip,
            tmp_path / "a",
            renditions=[Rendition(**{**rendition.__dict__, "doc_id": "x"})],
        )
    with pytest.raises(ValueError, match="plain file name"):
        build(
            factory_sip,
            tmp_path / "b",
            renditions=[Rendition(**{**rendition.__dict__, "file_name": "../x.pdf"})],
        )
    with pytest.raises(ValueError, match="not in the SIP"):
        build(factory_sip, tmp_path / "c", file_facts={"nope": FileFacts()})


# --- storage and reading back ---------------------------------------------------------------


def ocfl_py_valid(root: Path) -> tuple[bool, set[str]]:
    storage_root = ocfl.StorageRoot(str(root))
    valid = storage_root.validate(log_warnings=True)
    codes = set(re.findall(r"\[([EW]\d{3}[a-z]?)\]", str(storage_root.log)))
    for _, messages in storage_root.errors:
        codes |= set(re.findall(r"\[([EW]\d{3}[a-z]?)\]", messages))
    return valid and storage_root.good_objects == storage_root.num_objects == 1, codes


def test_the_aip_stored_as_ocfl_passes_ocfl_py_also_with_a_second_version(
    factory_sip: OpenSip, tmp_path: Path
) -> None:
    root = tmp_path / "ocfl-root"
    repository = OcflRepository(FilesystemStore(root))
    repository.initialize()
    who = {"user_name": "Lưu trữ viên", "user_address": "mailto:luutru@thanhhoa.gov.vn"}
    tree = build(factory_sip, tmp_path / "v1")
    repository.add_version(tree.object_id, tree.files, message="Nộp lưu", created=CREATED, **who)
    valid, codes = ocfl_py_valid(root)
    assert valid and codes <= {"W004"}, codes  # W004: sha256 rather than sha512, allowed

    fixity = PremisEvent(
        identifier="8E2D4C61-0F3A-4B9D-A5E7-1C6B2D8F9A04",
        event_type=EventType.FIXITY_CHECK,
        date_time=CREATED + timedelta(days=30),
        outcome=Outcome.SUCCESS,
        agents=(LinkedAgent(software_agent(ARCHIVE).identifier, AgentRole.EXECUTING_PROGRAM),),
        objects=(LinkedObject(tree.object_id, ObjectRole.SOURCE),),
    )
    second = build(factory_sip, tmp_path / "v2", events=[fixity])
    repository.add_version(
        tree.object_id, second.files, message="Kiểm tra toàn vẹn", created=fixity.date_time, **who
    )
    valid, codes = ocfl_py_valid(root)
    assert valid and codes <= {"W004"}, codes
    v1, v2 = repository.state(tree.object_id, "v1"), repository.state(tree.object_id, "v2")
    changed = {path for path in v2 if v1[path].digest != v2[path].digest}
    assert changed == {"METS.xml", "metadata/preservation/PREMIS.xml"}
    summary = read_aip_object(repository, tree.object_id)
    assert [e.event_type for e in summary.events] == [
        "fixity check",
        "information package creation",
    ]
    first = read_aip_object(repository, tree.object_id, "v1")
    assert [e.event_type for e in first.events] == ["information package creation"]


def test_the_reader_gives_back_what_was_written(factory_sip: OpenSip, tmp_path: Path) -> None:
    virus = _virus_check(factory_sip)
    tree = build(
        factory_sip, tmp_path / "work", events=[virus], renditions=[rendition_of(factory_sip)]
    )
    summary = read_aip_folder(write_aip_folder(tree, tmp_path / "out"))
    package = factory_sip.package
    assert summary.object_id == tree.object_id
    assert summary.package_type == "AIP"
    assert summary.record_status == package.record_status
    assert summary.created == CREATED.replace(microsecond=250000)
    assert summary.dossier == package.dossier.model_copy(
        update={"file_code": f"LTDT.{package.dossier.file_code}"}
    )
    assert summary.tthc == package.tthc
    assert [r.name for r in summary.representations] == ["rep1", "rep2"]
    rep1 = summary.representations[0]
    assert [(f.path, f.size, f.sha256) for f in rep1.files] == [
        (d.file.path, d.file.size, d.file.sha256) for d in package.documents
    ]
    for rep in summary.representations:
        for aip_file in rep.files:
            source = tree.files[aip_file.path]
            assert (aip_file.size, aip_file.sha256) == (source.size, source.sha256)
    assert [(e.event_type, e.outcome) for e in summary.events] == [
        ("virus check", "success"),
        ("normalization", "success"),
        ("information package creation", "success"),
    ]


def test_the_reader_names_a_missing_file(factory_sip: OpenSip, tmp_path: Path) -> None:
    folder = write(factory_sip, tmp_path)
    (folder / "metadata/descriptive/TTHC.xml").unlink()
    with pytest.raises(AipUnreadable, match=r"metadata/descriptive/TTHC\.xml"):
        read_aip_folder(folder)
