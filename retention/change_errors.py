"""What changing a dossier's term after ingest refuses, with HTTP statuses and error codes.

Every check is made before anything is written: a refusal changes nothing. A dossier that
cannot be found or that has a hold is refused with the common retention errors
(``DOSSIER_NOT_FOUND``, ``DOSSIER_HELD``).
"""

from __future__ import annotations

from archive_service.errors import DomainErrors
from retention.errors import RetentionError


class ArchivistRequired(RetentionError):
    """Only an archivist (or an admin) may shorten a term."""


class ReasonRequired(RetentionError):
    """A shortening needs a written reason."""


class InvalidRetention(RetentionError):
    """The requested term is not 01–06 or 07 with 2–70 years."""


class RetentionNotAssigned(RetentionError):
    """The dossier has no term yet: nothing to shorten."""


class NotShorter(RetentionError):
    """The requested term does not end before the term in force: only the policy lengthens."""


class StorageLockForbids(RetentionError):
    """The new disposal date falls before the storage lock already applied."""


class DossierBusy(RetentionError):
    """A new version of the dossier is being written (a deposit or another change)."""


CHANGE_ERRORS: DomainErrors = {
    ArchivistRequired: (403, "ARCHIVIST_REQUIRED"),
    ReasonRequired: (422, "REASON_REQUIRED"),
    InvalidRetention: (422, "INVALID_RETENTION"),
    RetentionNotAssigned: (409, "RETENTION_NOT_ASSIGNED"),
    NotShorter: (409, "NOT_SHORTER"),
    StorageLockForbids: (409, "STORAGE_LOCKED"),
    DossierBusy: (409, "DOSSIER_BUSY"),
}
