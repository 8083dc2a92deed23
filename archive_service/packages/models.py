"""Typed models of what a package says: the dossier, its documents and the TTHC facts.

Field names are snake_case; each model's ``alias`` is the XML tag (or TTHC attribute) it comes
from, so ``Model.model_validate(values_by_tag)`` reads and ``model_dump(by_alias=True)`` writes.
Code-list values are kept as their codes (``"06"``), never their labels.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")


class Dossier(_Model):
    """EAD.xml: the dossier; ``file_code`` is ``fileCode`` (SIP) or ``arcFileCode`` (AIP)."""

    file_code: str = Field(alias="fileCode", max_length=100)
    title: str = Field(max_length=1000)
    maintenance: str = Field(description="01–06, or 07:<years>")
    mode: str
    language: str = Field(description="one or more codes, comma separated")
    start_date: date = Field(alias="startDate")
    end_date: date = Field(alias="endDate")
    keyword: str | None = None
    total_doc: int = Field(alias="totalDoc", ge=0)
    number_of_paper: int | None = Field(None, alias="numberOfPaper", ge=0)
    number_of_page: int = Field(alias="numberOfPage", ge=0)
    format: str | None = None
    infor_sign: str | None = Field(None, alias="inforSign")
    confidence_level: str | None = Field(None, alias="confidenceLevel")
    paper_file_code: str | None = Field(None, alias="paperFileCode")
    risk_recovery: bool = Field(alias="riskRecovery")
    risk_recovery_status: str | None = Field(None, alias="riskRecoveryStatus")
    description: str | None = None


class DocumentKind(StrEnum):
    """Which metadata file describes a document: EAD_DOC, EAD_PIC or EAD_MEDIA."""

    DOC = "doc"
    PIC = "pic"
    MEDIA = "media"


class DocumentMetadata(_Model):
    """EAD_DOC / EAD_PIC / EAD_MEDIA fields of one document, kept as tag → text.

    The tables in ``fields.py`` say which tags exist; the commonly used ones have properties.
    """

    kind: DocumentKind = DocumentKind.DOC
    values: dict[str, str]

    @property
    def doc_id(self) -> str:
        return self.values["docId"]

    @property
    def doc_code(self) -> str:
        return self.values.get("docCode", "")

    @property
    def maintenance(self) -> str | None:
        return self.values.get("maintenance") or None

    @property
    def title(self) -> str:
        """What a person would call the document: subject for documents, title otherwise."""
        return self.values.get("subject") or self.values.get("title") or self.doc_id


class Procedure(_Model):
    code: str
    name: str
    sector_code: str = Field(alias="sectorCode")
    sector_name: str = Field(alias="sectorName")


class Agency(_Model):
    id: str
    name: str


class Applicant(_Model):
    kind: str = Field(description="citizen | organization")
    name: str
    id_type: str | None = Field(None, alias="idType", description="CCCD | passport | tax")
    id_number: str | None = Field(None, alias="idNumber")
    address: str | None = None


class Result(_Model):
    """A result of the procedure: code ``<dossier code>-KQ<n>``, the document that carries it."""

    code: str
    doc_id: str = Field(alias="docId")
    issued: date | None = None
    valid_until: date | None = Field(None, alias="validUntil")
    scope: str | None = None
    invalidated: date | None = None


class HistoryStep(_Model):
    """One step of the processing history recorded in the TTHC system."""

    at: datetime
    actor: str
    unit: str
    action: str
    opinion: str = ""


class TthcFacts(_Model):
    """TTHC.xml (namespace ``urn:vn:archive:tthc:1``): what the TT05 fields cannot say."""

    version: str = "1"
    dossier_code: str = Field(alias="dossierCode")
    procedure: Procedure
    receiving_agency: Agency = Field(alias="receivingAgency")
    competent_agency: Agency = Field(alias="competentAgency")
    applicant: Applicant
    channel: str = Field(description="online | direct | post")
    received: datetime
    due: datetime | None = None
    finished: datetime
    returned: datetime | None = None
    final_status: str = Field(alias="finalStatus")
    results: list[Result] = Field(default_factory=list)
    history: list[HistoryStep] = Field(default_factory=list)


class PackageFile(_Model):
    """A file inside a package, with what METS declares of it."""

    path: str = Field(description="path inside the package, relative to its root folder")
    size: int
    sha256: str = Field(description="lower-case hex")
    mime_type: str | None = None


class SipDocument(_Model):
    """A document of the dossier: its data file and its descriptive metadata."""

    doc_id: str
    file: PackageFile
    metadata_file: PackageFile
    metadata: DocumentMetadata
    fetch_reference: str | None = Field(
        None, description="for a .fetch.txt: the docId of a document deposited earlier"
    )


class SipPackage(_Model):
    """A validated SIP_hoso: everything the archive needs to build the AIP."""

    object_id: str = Field(description="mets/@OBJID, e.g. uuid-<UUID>; also the root folder name")
    record_status: str = Field(description="NEW | SUPPLEMENT | REPLACEMENT | TEST | OTHER")
    created: datetime
    fonds_code: str = Field(description="from the CREATOR agent's IDENTIFICATIONCODE note")
    creator_name: str
    submission_agreement: str | None = Field(None, description="altRecordID SUBMISSIONAGREEMENT")
    label: str | None = None
    dossier: Dossier
    tthc: TthcFacts
    documents: list[SipDocument]
    metadata_files: list[PackageFile] = Field(
        description="METS files, EAD.xml, TTHC.xml, EAD_DOC files"
    )
    schema_files: list[PackageFile]

    @property
    def dossier_code(self) -> str:
        return self.tthc.dossier_code
