"""Retention terms: a Circular-05 ``maintenance`` code with its years, and how terms compare.

A term is ``01`` (permanent) or a number of years: ``02``–``06`` carry fixed years, ``07`` an
explicit number from 2 to 70 (written ``07:<years>`` in package metadata, decision D-8).
Permanent is longer than any number of years; two terms of the same years are equally long
whatever their codes (``06`` and ``07:10``).
"""

from __future__ import annotations

from dataclasses import dataclass

from archive_service.packages import codes
from archive_service.packages.fields import parse_retention

PERMANENT_CODE = "01"
OTHER_CODE = "07"


class InvalidTerm(ValueError):
    """A retention value that is not ``01``–``06`` or ``07:<years>`` with 2–70 years."""


@dataclass(frozen=True)
class Term:
    """A retention term: its code and its years (``None`` for permanent)."""

    code: str
    years: int | None

    def __post_init__(self) -> None:
        if self.code == OTHER_CODE:
            if self.years is None or not years_allowed(self.years):
                raise InvalidTerm(f"Mã 07 cần số năm từ {_RANGE}, nhận được {self.years!r}")
        elif self.code not in codes.MAINTENANCE_YEARS:
            raise InvalidTerm(f"Mã thời hạn bảo quản không có trong danh mục: {self.code!r}")
        elif codes.MAINTENANCE_YEARS[self.code] != self.years:
            raise InvalidTerm(f"Mã {self.code} không đi với {self.years!r} năm")

    @classmethod
    def of(cls, code: str, years: int | None = None) -> Term:
        """The term of ``code``; ``years`` only for ``07`` (the fixed codes know their own)."""
        if code != OTHER_CODE:
            if years is not None:
                raise InvalidTerm(f"Mã {code} có thời hạn cố định, không ghi số năm")
            years = codes.MAINTENANCE_YEARS.get(code)
        return cls(code, years)

    @property
    def permanent(self) -> bool:
        return self.years is None

    @property
    def text(self) -> str:
        """The value as package metadata writes it: ``01`` … ``06``, ``07:<years>``."""
        return f"{OTHER_CODE}:{self.years}" if self.code == OTHER_CODE else self.code

    @property
    def label(self) -> str:
        """For people: ``Vĩnh viễn``, ``10 năm``."""
        return codes.MAINTENANCE[PERMANENT_CODE] if self.years is None else f"{self.years} năm"

    def longer_than(self, other: Term) -> bool:
        """Whether this term keeps a record strictly longer than ``other``."""
        return _length(self) > _length(other)

    def __str__(self) -> str:
        return f"{self.text} ({self.label})"


PERMANENT = Term(PERMANENT_CODE, None)
_RANGE = f"{codes.OTHER_TERM_MIN_YEARS}–{codes.OTHER_TERM_MAX_YEARS}"


def years_allowed(years: int) -> bool:
    """Whether ``years`` is a term the law allows for code ``07`` (2–70)."""
    return codes.OTHER_TERM_MIN_YEARS <= years <= codes.OTHER_TERM_MAX_YEARS


def parse_term(text: str) -> Term:
    """Read a ``maintenance`` value (``"06"``, ``"07:15"``); ``InvalidTerm`` when it is not one."""
    parsed = parse_retention(text.strip())
    if parsed is None:
        raise InvalidTerm(f"Thời hạn bảo quản không hợp lệ: {text!r} (cần 01–06 hoặc 07:<số năm>)")
    return Term(*parsed)


def _length(term: Term) -> float:
    return float("inf") if term.years is None else float(term.years)
