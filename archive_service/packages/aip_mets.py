"""The METS files of an AIP: the root ``METS.xml`` and one ``METS.xml`` per representation.

Both are written section by section (``xmlstream.xml_document``), so memory does not grow with
the number of documents. Every id is a UUID-5 of the AIP UUID and a key naming what it stands
for (``mets.IdSource``), so the same AIP always gives the same bytes. The profiles, div types
and header agents are the decisions listed in ``aip_writer``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from lxml import etree

from archive_service.packages import mets
from archive_service.packages.aip_identity import ArchiveIdentity
from archive_service.packages.aip_items import AipItem, AipRepresentation
from archive_service.packages.ead import EAD_PATH
from archive_service.packages.mets import METS_FILE, FileRef, IdSource
from archive_service.packages.models import SipPackage
from archive_service.packages.tthc import TTHC_PATH, tthc_dmd_section
from archive_service.packages.xmlstream import BinaryWriter, XmlStream, attributes, xml_document

PACKAGE_TYPE = "AIP"
PREMIS_MDTYPE_VERSION = "3.0"


class AipMetsWriter:
    """Writes the METS files of one AIP from the files already written (``items``, by path)."""

    def __init__(
        self,
        *,
        ids: IdSource,
        object_id: str,
        sip: SipPackage,
        archive: ArchiveIdentity,
        created: datetime,
        items: Mapping[str, AipItem],
    ) -> None:
        self.ids = ids
        self.object_id = object_id
        self.sip = sip
        self.archive = archive
        self.created = created
        self.items = items

    def header(self, root: etree._Element, *, with_archive: bool) -> etree._Element:
        """metsHdr: the software CREATOR (fonds code, version), the archive, the agreement."""
        header = mets.mets_header(
            root,
            created=self.created,
            package_type=PACKAGE_TYPE,
            record_status=self.sip.record_status,
            creator_name=self.archive.software_name,
            creator_note=self.archive.fonds_code,
            submission_agreement=self.sip.submission_agreement if with_archive else None,
        )
        creator = header.find(mets.qname("agent"))
        assert creator is not None
        version = mets.element(creator, "note", [(mets.csip_qname("NOTETYPE"), "SOFTWARE VERSION")])
        version.text = self.archive.software_version
        if with_archive:
            keeper = etree.Element(mets.qname("agent"))
            keeper.set("ROLE", "ARCHIVIST")
            keeper.set("TYPE", "ORGANIZATION")
            mets.element(keeper, "name").text = self.archive.archive_name
            code = mets.element(
                keeper, "note", [(mets.csip_qname("NOTETYPE"), "IDENTIFICATIONCODE")]
            )
            code.text = self.archive.archive_code
            creator.addnext(keeper)
        return header

    # ----------------------------------------------------------------------- representations

    def representation_mets(self, out: BinaryWriter, rep: AipRepresentation) -> None:
        """``representations/<rep>/METS.xml``: documents' dmdSecs, PREMIS, data files, pairs."""
        premis = self.items[rep.premis_path]
        digiprov_id = self.ids.section(f"digiprovMD:{premis.path}")
        scratch = mets.mets_root(
            objid=rep.name, profile=mets.CSIP_PROFILE, content_information_type=mets.CONTENT_MIXED
        )
        with _mets_document(out, scratch) as doc:
            doc.emit(self.header(scratch, with_archive=False))
            dmd_ids = {}
            for rep_file in rep.files:
                if rep_file.metadata is not None:
                    section_id = self.ids.section(f"dmdSec:{rep_file.metadata.path}")
                    dmd_ids[rep_file.item.path] = section_id
                    ref = rep_file.metadata.ref(rep.folder)
                    doc.emit(mets.dc_dmd_section(scratch, section_id, ref))
            amd = mets.amd_section(scratch, self.ids.section(f"{rep.mets_path}#amdSec"))
            _premis_section(amd, digiprov_id, premis.ref(rep.folder))
            doc.emit(amd)
            group_ids = self._representation_files(doc, scratch, rep)
            self._representation_structure(doc, scratch, rep, group_ids, dmd_ids, digiprov_id)

    def _representation_files(
        self, doc: XmlStream, scratch: etree._Element, rep: AipRepresentation
    ) -> list[str]:
        """fileSec of a representation: ``Data``, and ``Holeyfile`` for .fetch.txt references.

        Returns the ids of the groups written.
        """
        key = f"{rep.mets_path}#"
        groups = {
            mets.GROUP_DATA: [f.item for f in rep.files if not f.holey],
            mets.GROUP_HOLEYFILE: [f.item for f in rep.files if f.holey],
        }
        group_ids = []
        with doc.open(mets.file_section(scratch, self.ids.section(key + "fileSec"))) as section:
            for use, items in groups.items():
                if not items:
                    continue
                group_id = self.ids.section(f"{key}fileGrp:{use}")
                group_ids.append(group_id)
                with doc.open(mets.file_group(section, group_id, use)) as group:
                    for item in items:
                        doc.emit(
                            mets.file_entry(group, self.ids.file(item.path), item.ref(rep.folder))
                        )
        return group_ids

    def _representation_structure(
        self,
        doc: XmlStream,
        scratch: etree._Element,
        rep: AipRepresentation,
        group_ids: Sequence[str],
        dmd_ids: Mapping[str, str],
        digiprov_id: str,
    ) -> None:
        """structMap: root div ``NORMALIZED`` → ``Data`` and ``MetadataLink/File`` pairs."""
        key = f"{rep.mets_path}#"
        struct = mets.struct_map(scratch, self.ids.section(key + "structMap"))
        top = mets.div(
            struct,
            self.ids.section(key + "div"),
            label=rep.name,
            div_type=mets.DIV_NORMALIZED,
            admids=[digiprov_id],
        )
        with doc.open(struct), doc.open(top):
            data = mets.div(top, self.ids.section(key + "div:Data"), label=mets.DIV_DATA)
            for group_id in group_ids:
                mets.fptr(data, group_id)
            doc.emit(data)
            links = mets.div(
                top, self.ids.section(key + "div:MetadataLink"), label=mets.DIV_METADATA_LINK
            )
            with doc.open(links):
                for rep_file in rep.files:
                    path = rep_file.item.path
                    dmd = dmd_ids.get(path)
                    pair = mets.div(
                        links,
                        self.ids.section(f"{key}div:File:{path}"),
                        label=mets.DIV_FILE,
                        dmdids=[dmd] if dmd else [],
                        admids=[digiprov_id],
                    )
                    mets.fptr(pair, self.ids.file(path))
                    doc.emit(pair)

    # ----------------------------------------------------------------------- the root

    def root_mets(
        self,
        out: BinaryWriter,
        ead: AipItem,
        tthc: AipItem,
        premis: AipItem,
        schemas: Sequence[AipItem],
        representations: Sequence[AipRepresentation],
    ) -> None:
        """``METS.xml``: EAD and TTHC dmdSecs, PREMIS amdSec, schemas and representations."""
        key = f"{METS_FILE}#"
        scratch = mets.mets_root(
            objid=self.object_id,
            profile=mets.AIP_PROFILE,
            label=self.sip.label or self.sip.dossier.title,
        )
        with _mets_document(out, scratch) as doc:
            doc.emit(self.header(scratch, with_archive=True))
            ead_id = self.ids.section(f"dmdSec:{EAD_PATH}")
            tthc_id = self.ids.section(f"dmdSec:{TTHC_PATH}")
            doc.emit(mets.dc_dmd_section(scratch, ead_id, ead.ref()))
            doc.emit(tthc_dmd_section(scratch, tthc_id, tthc.ref()))
            amd = mets.amd_section(scratch, self.ids.section(key + "amdSec"))
            digiprov_id = self.ids.section(f"digiprovMD:{premis.path}")
            _premis_section(amd, digiprov_id, premis.ref())
            doc.emit(amd)
            file_sec = mets.file_section(scratch, self.ids.section(key + "fileSec"))
            schemas_id = self.ids.section(key + f"fileGrp:{mets.GROUP_SCHEMAS}")
            rep_groups = {
                rep.name: self.ids.section(key + f"fileGrp:{mets.representation_label(rep.name)}")
                for rep in representations
            }
            schemas_group = mets.file_group(file_sec, schemas_id, mets.GROUP_SCHEMAS)
            for schema in schemas:
                mets.file_entry(schemas_group, self.ids.file(schema.path), schema.ref())
            for rep in representations:
                label = mets.representation_label(rep.name)
                group = mets.file_group(file_sec, rep_groups[rep.name], label)
                item = self.items[rep.mets_path]
                mets.file_entry(group, self.ids.file(item.path), item.ref())
            doc.emit(file_sec)
            struct = mets.struct_map(scratch, self.ids.section(key + "structMap"))
            top = mets.div(struct, self.ids.section(key + "div"), label=self.object_id)
            mets.div(
                top,
                self.ids.section(key + f"div:{mets.DIV_METADATA}"),
                label=mets.DIV_METADATA,
                dmdids=[ead_id, tthc_id],
                admids=[digiprov_id],
            )
            schemas_div = mets.div(
                top, self.ids.section(key + f"div:{mets.DIV_SCHEMAS}"), label=mets.DIV_SCHEMAS
            )
            mets.fptr(schemas_div, schemas_id)
            for rep in representations:
                label = mets.representation_label(rep.name)
                rep_div = mets.div(top, self.ids.section(key + f"div:{label}"), label=label)
                mets.mptr(rep_div, rep.mets_path, rep_groups[rep.name])
            doc.emit(struct)


def _premis_section(amd: etree._Element, section_id: str, ref: FileRef) -> etree._Element:
    """``digiprovMD`` → PREMIS file (``MDTYPE="PREMIS"``, version 3.0)."""
    return mets.md_section(
        amd, "digiprovMD", section_id, ref, mdtype="PREMIS", mdtype_version=PREMIS_MDTYPE_VERSION
    )


def _mets_document(out: BinaryWriter, scratch: etree._Element) -> AbstractContextManager[XmlStream]:
    """A METS file written section by section; ``scratch`` is the ``<mets>`` element."""
    return xml_document(out, str(scratch.tag), attributes(scratch), mets.NSMAP)
