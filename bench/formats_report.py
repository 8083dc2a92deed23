"""Figures of the format checks on the generated fixtures: identification, PDF/A validator
agreement and rendition outcomes by kind of input.

    .venv/bin/python bench/formats_report.py [--json]

Every fixture of ``tests/formats_fixtures.py`` (generated here, in a temporary folder) is
identified, validated when it is a PDF, and given a rendition with the tools this machine has
(``RenditionTools.detect``: LibreOffice; Ghostscript only when ≥ 10.03; veraPDF when found).
Printed:

- **identification** — fixtures whose format, MIME type and PRONOM id are the expected ones;
- **PDF/A verdicts** — for each PDF fixture the expected verdict against the archive's verdict
  and each validator's own opinion (our structural checks, pikepdf.pdfa, veraPDF if installed);
  "false valid" counts verdicts of ``valid`` where the fixture is not PDF/A;
- **renditions** — by kind of input (PDF, image, office document): created, not needed
  (already PDF/A-2), failed, and the success rate (created or not needed, of the accepted
  fixtures of that kind); files refused at identification are counted apart.

Nothing is timed; the figures are counts, the same on every machine with the same tools.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from archive_service.formats.catalogue import FORMATS, FormatKind  # noqa: E402
from archive_service.formats.identify import identify  # noqa: E402
from archive_service.formats.pdfa import validate_pdfa  # noqa: E402
from archive_service.formats.rendition import RenditionTools, make_rendition  # noqa: E402
from archive_service.formats.verapdf import find_verapdf  # noqa: E402
from tests.formats_fixtures import FIXTURES, FormatFixture  # noqa: E402

OFFICE_KINDS = (FormatKind.TEXT, FormatKind.SPREADSHEET, FormatKind.PRESENTATION)


def input_kind(fixture: FormatFixture) -> str:
    """PDF, image, office document, or other — the rendition path a fixture takes."""
    if fixture.format_key.startswith("pdf"):
        return "pdf"
    kind = FORMATS[fixture.format_key].kind
    if kind is FormatKind.IMAGE:
        return "image"
    if kind in OFFICE_KINDS:
        return "office"
    return "other"


def measure(work: Path) -> dict[str, Any]:
    """Run every fixture through identification, validation and rendition."""
    tools = RenditionTools.detect()
    identified, pdfa_rows = 0, []
    renditions: dict[str, Counter[str]] = defaultdict(Counter)
    failed: list[dict[str, str]] = []
    for fixture in FIXTURES:
        folder = work / fixture.key
        folder.mkdir()
        path = fixture.build(folder / fixture.file_name)
        found = identify(path)
        identified += (found.format_key, found.mime_type, found.pronom_id) == (
            fixture.format_key,
            fixture.mime_type,
            fixture.pronom_id,
        )
        if fixture.pdfa_verdict is not None:
            report = validate_pdfa(path, file_name=fixture.file_name)
            pdfa_rows.append(
                {
                    "fixture": fixture.key,
                    "expected": fixture.pdfa_verdict,
                    "archive": str(report.verdict),
                    "opinions": {o.validator: str(o.verdict) for o in report.opinions},
                }
            )
        kind = input_kind(fixture)
        if not found.ok:
            renditions[kind]["refused at identification"] += 1
            continue
        result = make_rendition(path, found, folder / "out", tools=tools)
        renditions[kind][str(result.status)] += 1
        if result.reason and str(result.status) == "failed":
            failed.append({"fixture": fixture.key, "reason": result.reason})
    return {
        "tools": {
            "libreoffice": tools.libreoffice is not None,
            "ghostscript ≥ 10.03": tools.ghostscript is not None,
            "verapdf": find_verapdf() is not None,
        },
        "fixtures": len(FIXTURES),
        "identified": identified,
        "pdfa": pdfa_rows,
        "renditions": {kind: dict(counts) for kind, counts in sorted(renditions.items())},
        "failed": failed,
    }


def agreement(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """Per validator (and the archive's verdict): (agreeing, rows it judged, false valid)."""
    judged: dict[str, list[bool]] = defaultdict(list)
    false_valid: Counter[str] = Counter()
    for row in rows:
        verdicts = {"archive": row["archive"], **row["opinions"]}
        for validator, verdict in verdicts.items():
            judged[validator].append(verdict == row["expected"])
            false_valid[validator] += verdict == "valid" and row["expected"] != "valid"
    return {v: (sum(ok), len(ok), false_valid[v]) for v, ok in judged.items()}


def report(result: dict[str, Any]) -> str:
    tools = ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in result["tools"].items())
    lines = [
        f"tools: {tools}",
        f"identification: {result['identified']}/{result['fixtures']} fixtures as expected",
        "PDF/A verdicts on the PDF fixtures (agree / judged, false valid):",
    ]
    for validator, (ok, judged, false_valid) in agreement(result["pdfa"]).items():
        lines.append(f"  {validator:28s} {ok:3d} / {judged:<3d} false valid: {false_valid}")
    lines.append("renditions by kind of input:")
    for kind, counts in result["renditions"].items():
        accepted = sum(n for status, n in counts.items() if status != "refused at identification")
        good = counts.get("created", 0) + counts.get("not-needed", 0)
        rate = f"{good}/{accepted} ({100 * good / accepted:.0f} %)" if accepted else "—"
        shown = ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        lines.append(f"  {kind:7s} success {rate}; {shown}")
    lines.append("failed renditions:")
    lines += [f"  {row['fixture']}: {row['reason'][:150]}" for row in result["failed"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print every measurement as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="formats-report-") as work:
        result = measure(Path(work))
    print(json.dumps(result, ensure_ascii=False, indent=2) if args.json else report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
