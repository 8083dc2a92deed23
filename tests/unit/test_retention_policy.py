"""The retention policy: the date rule, the effective term (longest of declared, schedule and
documents; permanent beats everything), the rules for changing a term, and a simulated clock
running ten years of daily ticks over a thousand generated dossiers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from archive_service.packages.sip_reader import validate_sip
from retention.policy import (
    ChangeKind,
    DossierRetentionFacts,
    RetentionDecision,
    Source,
    decide_retention,
    disposal_date,
    due_from,
    is_due,
    may_shorten,
)
from retention.schedule import SHIPPED_SCHEDULE, Schedule, load_schedule, parse_schedule
from retention.terms import InvalidTerm, Term, parse_term
from tests.factories import make_sip_folder

BASIS = "Văn bản thử Điều 1"


def schedule_of(*rows: str) -> Schedule:
    """A schedule from rows ``key,retention,years``."""
    text = "# version: thử\nprocedure_code,retention,years,legal_basis,note\n" + "".join(
        f"{row},{BASIS},\n" for row in rows
    )
    report = parse_schedule(text.encode("utf-8"))
    assert report.schedule is not None, report.errors
    return report.schedule


def decide(
    maintenance: str,
    end: date = date(2024, 3, 14),
    *,
    schedule: Schedule | None = None,
    procedure: str | None = "1.000001",
    sector: str | None = "S",
    documents: tuple[tuple[str, str], ...] = (),
) -> RetentionDecision:
    facts = DossierRetentionFacts(maintenance, end, procedure, sector, documents)
    return decide_retention(facts, schedule)


# --- the date rule --------------------------------------------------------------------------

END_DATES = [
    date(2023, 1, 1),
    date(2023, 1, 31),
    date(2023, 2, 28),
    date(2024, 2, 29),  # leap day
    date(2023, 3, 14),
    date(2023, 4, 30),
    date(2023, 5, 15),
    date(2023, 6, 30),
    date(2023, 7, 1),
    date(2023, 8, 31),
    date(2023, 9, 30),
    date(2023, 10, 10),
    date(2023, 11, 30),
    date(2023, 12, 31),
]


@pytest.mark.parametrize("end", END_DATES, ids=str)
def test_the_term_counts_from_the_year_the_work_ended_whatever_the_day(end: date) -> None:
    decision = decide("06", end)
    assert decision.disposal_date == date(end.year + 10, 12, 31)
    assert decision.due_from == date(end.year + 11, 1, 1)
    assert not is_due(decision.disposal_date, date(end.year + 10, 12, 31))
    assert is_due(decision.disposal_date, date(end.year + 11, 1, 1))


def test_the_worked_example_of_the_documentation() -> None:
    assert decide("06", date(2024, 3, 14)).disposal_date == date(2034, 12, 31)
    assert decide("07:15", date(2024, 3, 14)).disposal_date == date(2039, 12, 31)
    assert decide("01", date(2024, 3, 14)).disposal_date is None


@pytest.mark.parametrize(
    ("maintenance", "disposal"),
    [
        ("01", None),
        ("02", date(2094, 12, 31)),
        ("03", date(2074, 12, 31)),
        ("04", date(2054, 12, 31)),
        ("05", date(2044, 12, 31)),
        ("06", date(2034, 12, 31)),
        ("07:2", date(2026, 12, 31)),
        ("07:15", date(2039, 12, 31)),
        ("07:70", date(2094, 12, 31)),
    ],
)
def test_each_code_gives_its_disposal_date(maintenance: str, disposal: date | None) -> None:
    decision = decide(maintenance, date(2024, 2, 29))
    assert decision.disposal_date == disposal
    assert decision.term == parse_term(maintenance)
    assert decision.winner.source is Source.DECLARED


@pytest.mark.parametrize("maintenance", ["07:1", "07:71", "07:0", "07", "07:", "08", "6", "", "1"])
def test_values_outside_the_codes_are_refused(maintenance: str) -> None:
    with pytest.raises(InvalidTerm):
        decide(maintenance)
    with pytest.raises(InvalidTerm, match="Tài liệu d9"):
        decide("06", documents=(("d9", maintenance),))


@pytest.mark.parametrize(
    ("code", "years"), [("07", 1), ("07", 71), ("07", None), ("06", 11), ("01", 5), ("08", None)]
)
def test_a_term_is_never_built_inconsistent(code: str, years: int | None) -> None:
    with pytest.raises(InvalidTerm):
        Term(code, years)


def test_permanent_has_no_disposal_date_and_is_never_due() -> None:
    assert disposal_date(date(2000, 1, 1), Term.of("01")) is None
    assert due_from(None) is None
    assert not is_due(None, date(9999, 12, 31))


# --- the effective term ---------------------------------------------------------------------


def test_a_schedule_longer_than_the_declaration_wins() -> None:
    decision = decide("06", schedule=schedule_of("1.000001,04,"))
    assert decision.term == Term.of("04")
    assert decision.disposal_date == date(2054, 12, 31)
    assert decision.winner.source is Source.SCHEDULE
    assert BASIS in decision.winner.explanation
    assert decision.schedule_row is not None and decision.schedule_row.key == "1.000001"
    declared = next(entry for entry in decision.basis if entry.source is Source.DECLARED)
    assert not declared.won and declared.term == Term.of("06")


def test_a_schedule_shorter_than_the_declaration_changes_nothing() -> None:
    decision = decide("04", schedule=schedule_of("1.000001,06,"))
    assert decision.term == Term.of("04")
    assert decision.winner.source is Source.DECLARED


def test_a_declared_row_adds_no_constraint_but_is_recorded() -> None:
    decision = decide("07:3", schedule=schedule_of("1.000001,declared,", "sector:S,01,"))
    assert decision.term == Term.of("07", 3)
    assert decision.schedule_row is not None and decision.schedule_row.key == "1.000001"
    entry = next(entry for entry in decision.basis if entry.source is Source.SCHEDULE)
    assert entry.term is None and not entry.won and BASIS in entry.explanation


def test_a_document_longer_than_the_dossier_wins() -> None:
    documents = (("d1", "06"), ("d2", "07:40"), ("d3", "05"))
    decision = decide("06", documents=documents)
    assert decision.term == Term.of("07", 40)
    assert decision.disposal_date == date(2064, 12, 31)
    assert decision.winner.source is Source.DOCUMENT
    assert "d2" in decision.winner.reference


@pytest.mark.parametrize(
    ("declared", "row", "documents"),
    [
        ("01", "*,07,70", (("d1", "02"),)),
        ("02", "*,01,", (("d1", "07:70"),)),
        ("07:2", "*,02,", (("d1", "06"), ("d2", "01"), ("d3", "02"))),
    ],
    ids=["declared", "schedule", "document"],
)
def test_permanent_anywhere_wins(
    declared: str, row: str, documents: tuple[tuple[str, str], ...]
) -> None:
    decision = decide(declared, schedule=schedule_of(row), documents=documents)
    assert decision.permanent and decision.code == "01" and decision.years is None
    assert decision.disposal_date is None and decision.due_from is None
    assert decision.winner.term == Term.of("01")
    assert sum(entry.won for entry in decision.basis) == 1


@pytest.mark.parametrize(
    ("procedure", "sector", "expected_years", "row_key"),
    [
        ("1.000001", "S", 30, "1.000001"),
        ("1.000002", "S", 20, "sector:S"),
        ("1.000002", "T", 15, "*"),
        (None, None, 15, "*"),
    ],
)
def test_the_schedule_falls_back_from_procedure_to_sector_to_default(
    procedure: str | None, sector: str | None, expected_years: int, row_key: str
) -> None:
    schedule = schedule_of("*,07,15", "sector:S,05,", "1.000001,04,")
    decision = decide("07:2", schedule=schedule, procedure=procedure, sector=sector)
    assert decision.years == expected_years
    assert decision.schedule_row is not None and decision.schedule_row.key == row_key


def test_without_any_schedule_row_the_declaration_stands() -> None:
    decision = decide("06", schedule=schedule_of("sector:X,01,"))
    assert decision.schedule_row is None and decision.term == Term.of("06")
    assert decide("06", schedule=None).term == Term.of("06")


def test_equally_long_terms_name_the_declaration_first() -> None:
    decision = decide("06", schedule=schedule_of("*,07,10"), documents=(("d1", "07:10"),))
    assert decision.term == Term.of("06")
    assert decision.winner.source is Source.DECLARED


def test_the_decision_explains_itself() -> None:
    decision = decide("06", schedule=schedule_of("1.000001,04,"), documents=(("d1", "05"),))
    assert decision.summary() == (
        "Thời hạn 04 (30 năm) theo danh mục thời hạn thử, dòng 3 (1.000001); "
        "bảo quản đến hết ngày 31/12/2054."
    )
    record = decision.as_dict()
    assert record["retention"] == "04" and record["disposal_date"] == "2054-12-31"
    assert record["schedule_version"] == "thử"
    assert record["schedule_row"] == {"line": 3, "key": "1.000001"}
    assert [(b["source"], b["retention"], b["won"]) for b in record["basis"]] == [
        ("declared", "06", False),
        ("schedule", "04", True),
        ("document", "05", False),
    ]


def test_the_facts_of_a_real_sip_under_the_shipped_schedule(tmp_path: Path) -> None:
    folder = make_sip_folder(
        tmp_path, documents=2, dossier={"maintenance": "06"}, document={"maintenance": "07:40"}
    )
    report = validate_sip(folder)
    assert report.package is not None, report.problems
    facts = DossierRetentionFacts.from_sip(report.package)
    assert (facts.maintenance, facts.procedure_code, facts.sector_code) == ("06", "1.000894", "HT")
    assert facts.end_date == report.package.dossier.end_date
    assert [text for _, text in facts.document_terms] == ["07:40", "07:40"]
    assert [doc_id for doc_id, _ in facts.document_terms] == [
        document.doc_id for document in report.package.documents
    ]
    decision = decide_retention(facts, load_schedule(SHIPPED_SCHEDULE))
    assert decision.permanent  # a marriage registration is kept permanently
    assert "Thông tư 04/2020/TT-BTP" in decision.winner.explanation


# --- changing a term ------------------------------------------------------------------------

TEN_YEARS = decide("06")  # disposal 31/12/2034
TWENTY_YEARS = decide("05")  # disposal 31/12/2044
PERMANENT = decide("01")
LATER_END = decide("06", date(2026, 1, 5))  # same term, later end: 31/12/2036


@pytest.mark.parametrize(
    ("old", "new", "lock", "hold", "kind", "allowed", "needs_archivist"),
    [
        (TEN_YEARS, TWENTY_YEARS, None, False, ChangeKind.LENGTHEN, True, False),
        (TEN_YEARS, PERMANENT, date(2040, 1, 1), True, ChangeKind.LENGTHEN, True, False),
        (TEN_YEARS, LATER_END, None, True, ChangeKind.LENGTHEN, True, False),
        (TEN_YEARS, decide("07:10"), None, True, ChangeKind.UNCHANGED, True, False),
        (TWENTY_YEARS, TEN_YEARS, None, False, ChangeKind.SHORTEN, True, True),
        (TWENTY_YEARS, TEN_YEARS, date(2034, 12, 31), False, ChangeKind.SHORTEN, True, True),
        (TWENTY_YEARS, TEN_YEARS, date(2035, 1, 1), False, ChangeKind.SHORTEN, False, False),
        (TWENTY_YEARS, TEN_YEARS, None, True, ChangeKind.SHORTEN, False, False),
        (PERMANENT, TWENTY_YEARS, None, False, ChangeKind.SHORTEN, True, True),
        (PERMANENT, TWENTY_YEARS, date(2075, 1, 1), False, ChangeKind.SHORTEN, False, False),
        (LATER_END, TEN_YEARS, None, False, ChangeKind.SHORTEN, True, True),
    ],
    ids=[
        "lengthen",
        "to-permanent-despite-hold-and-lock",
        "later-end-date",
        "same-date-other-code",
        "shorten-needs-archivist",
        "shorten-to-the-lock-date",
        "shorten-before-the-lock",
        "shorten-under-hold",
        "permanent-to-fixed",
        "permanent-to-fixed-before-the-governance-lock",
        "earlier-end-date",
    ],
)
def test_lengthening_is_automatic_shortening_is_guarded(
    old: RetentionDecision,
    new: RetentionDecision,
    lock: date | None,
    hold: bool,
    kind: ChangeKind,
    allowed: bool,
    needs_archivist: bool,
) -> None:
    verdict = may_shorten(old, new, storage_lock_until=lock, has_hold=hold)
    assert (verdict.kind, verdict.allowed, verdict.needs_archivist) == (
        kind,
        allowed,
        needs_archivist,
    )
    assert verdict.reason


def test_a_refusal_says_why() -> None:
    held = may_shorten(TWENTY_YEARS, TEN_YEARS, storage_lock_until=None, has_hold=True)
    assert "phong tỏa" in held.reason
    locked = may_shorten(
        TWENTY_YEARS, TEN_YEARS, storage_lock_until=date(2044, 12, 31), has_hold=False
    )
    assert "31/12/2034" in locked.reason and "31/12/2044" in locked.reason


# --- the simulated clock --------------------------------------------------------------------

CLOCK_START, CLOCK_END = date(2026, 1, 1), date(2035, 12, 31)  # ten years of daily ticks
YEARS_OF = {"02": 70, "03": 50, "04": 30, "05": 20, "06": 10}  # the test's own table
CLOCK_SCHEDULE_YEARS = {"1.000001": None, "1.000002": 12, "1.000003": 3}  # None: permanent
CLOCK_SCHEDULE = schedule_of("1.000001,01,", "1.000002,07,12", "1.000003,07,3", "*,declared,")


@dataclass(frozen=True)
class Generated:
    """A generated dossier with the due day the test expects, computed independently."""

    facts: DossierRetentionFacts
    expected_due: date | None


def _random_term(rng: random.Random) -> tuple[str, float]:
    code = rng.choice(["01", "02", "03", "04", "05", "06", "07", "07", "07"])
    if code == "01":
        return code, float("inf")
    if code == "07":
        years = rng.randint(2, 70)
        return f"07:{years}", years
    return code, YEARS_OF[code]


def generate(count: int, seed: int) -> list[Generated]:
    rng = random.Random(seed)
    first, last = date(2000, 1, 1).toordinal(), date(2030, 12, 31).toordinal()
    dossiers = []
    for _ in range(count):
        end = date.fromordinal(rng.randint(first, last))
        maintenance, years = _random_term(rng)
        procedure = rng.choice([*CLOCK_SCHEDULE_YEARS, "1.000009"])
        scheduled = CLOCK_SCHEDULE_YEARS.get(procedure, 0)
        candidates = [years, float("inf") if scheduled is None else scheduled]
        documents = []
        for number in range(rng.randint(0, 2)):
            text, document_years = _random_term(rng)
            documents.append((f"d{number}", text))
            candidates.append(document_years)
        longest = max(candidates)
        expected = None if longest == float("inf") else date(end.year + int(longest) + 1, 1, 1)
        facts = DossierRetentionFacts(maintenance, end, procedure, "S", tuple(documents))
        dossiers.append(Generated(facts, expected))
    return dossiers


def _bucket(first_due: date | None) -> str | int:
    """Where a dossier falls in the simulated decade: a year, or before / after / never."""
    if first_due is None:
        return "never"
    if first_due < CLOCK_START:
        return "before"
    if first_due > CLOCK_END:
        return "after"
    return first_due.year


def _stratified_sample(dossiers: list[Generated], per_kind: int) -> list[int]:
    """Indices of up to ``per_kind`` dossiers of each kind: due before, during, after, never."""
    kinds: dict[str, list[int]] = {}
    for index, generated in enumerate(dossiers):
        bucket = _bucket(generated.expected_due)
        kinds.setdefault("during" if isinstance(bucket, int) else bucket, []).append(index)
    assert set(kinds) == {"before", "during", "after", "never"}
    return [index for indices in kinds.values() for index in indices[:per_kind]]


def test_a_decade_of_daily_ticks_lists_each_dossier_in_its_year_and_never_a_permanent_one() -> None:
    dossiers = generate(1000, seed=20250701)
    decisions = [decide_retention(d.facts, CLOCK_SCHEDULE) for d in dossiers]

    # Sweep: compute each due day once, count per year of the decade which become due.
    became_due: dict[str | int, int] = {}
    for generated, decision in zip(dossiers, decisions, strict=True):
        bucket = _bucket(decision.due_from)
        assert bucket == _bucket(generated.expected_due)
        assert decision.due_from == generated.expected_due
        became_due[bucket] = became_due.get(bucket, 0) + 1
    assert sum(became_due.values()) == 1000
    assert all(became_due.get(year, 0) > 0 for year in range(2026, 2036))
    assert {"before", "after", "never"} <= set(became_due)
    assert became_due["never"] == sum(1 for d in dossiers if d.expected_due is None)

    # Day by day for a sample, independently of the sweep: the first tick on which a dossier is
    # due, and that it stays due afterwards.
    sample = _stratified_sample(dossiers, per_kind=20)
    days = [CLOCK_START + timedelta(days=n) for n in range((CLOCK_END - CLOCK_START).days + 1)]
    assert len(days) == 3652  # 2028 and 2032 are leap years
    for index in sample:
        disposal = decisions[index].disposal_date
        ticks = [is_due(disposal, day) for day in days]
        first_tick = days[ticks.index(True)] if True in ticks else None
        expected = dossiers[index].expected_due
        if expected is None or expected > CLOCK_END:
            assert first_tick is None
        else:
            assert first_tick == max(expected, CLOCK_START)
            assert all(ticks[ticks.index(True) :])
