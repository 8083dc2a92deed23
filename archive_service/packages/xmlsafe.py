"""Hardened XML parsing: no DTD, no entities, no network, bounded size.

Every XML file that comes from outside is read through ``parse_xml``. A document that declares a
DTD (the carrier of XXE and billion-laughs attacks) is refused before anything is expanded.
"""

from __future__ import annotations

from typing import BinaryIO

from lxml import etree

from archive_service.packages.problems import Problem, ProblemCode


class UnsafeXml(Exception):
    """The XML was refused; ``problem`` says why."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.message)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        dtd_validation=False,
        load_dtd=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
    )


def parse_xml(stream: BinaryIO, path: str, max_bytes: int) -> etree._ElementTree:
    """Parse XML from ``stream`` (at most ``max_bytes``), refusing DTDs and entities.

    Raises ``UnsafeXml`` with a problem that names ``path``.
    """
    data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeXml(
            Problem(
                ProblemCode.XML_TOO_LARGE,
                path,
                f"Tệp XML lớn hơn giới hạn {max_bytes} byte",
            )
        )
    return parse_xml_bytes(data, path)


def parse_xml_bytes(data: bytes, path: str) -> etree._ElementTree:
    """Parse XML held in memory, refusing DTDs and entities; raises ``UnsafeXml``."""
    parser = _parser()
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser))
    except etree.XMLSyntaxError as exc:
        if b"<!DOCTYPE" in data:  # e.g. billion laughs: libxml2 stops on entity amplification
            raise _dtd_refused(path) from exc
        raise UnsafeXml(
            Problem(ProblemCode.XML_MALFORMED, path, f"XML không hợp lệ: {exc.msg}")
        ) from exc
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or docinfo.system_url:
        raise _dtd_refused(path)
    for element in tree.iter():
        if isinstance(element, etree._Entity):
            raise UnsafeXml(
                Problem(ProblemCode.XML_FORBIDDEN_DTD, path, "Tệp XML dùng thực thể (entity)")
            )
    return tree


def _dtd_refused(path: str) -> UnsafeXml:
    return UnsafeXml(
        Problem(
            ProblemCode.XML_FORBIDDEN_DTD,
            path,
            "Tệp XML khai báo DTD/thực thể (DOCTYPE), điều này bị cấm vì lý do an toàn",
        )
    )
