"""What the retention services refuse, each with its HTTP status and stable error code.

Services raise these (no HTTP in them); ``RETENTION_ERRORS`` is the mapping the application
installs. A refusal changes nothing: every check is made before anything is written.
"""

from __future__ import annotations

from archive_service.errors import DomainErrors


class RetentionError(Exception):
    """Base of the retention refusals; the message is for people (Vietnamese)."""


class DossierNotFound(RetentionError):
    """No archived dossier with this code."""


class HoldNotFound(RetentionError):
    """The dossier has no hold with this id."""


class HoldAlreadyReleased(RetentionError):
    """The hold was released before."""


class DossierBeingDestroyed(RetentionError):
    """The dossier is being destroyed under an approved disposal: no hold can stop it now."""


class DisposalNotFound(RetentionError):
    """No disposal proposal with this id."""


class DossierHeld(RetentionError):
    """The dossier has an active hold: it cannot be disposed of."""


class DossierNotDue(RetentionError):
    """The dossier is permanent or its disposal date has not passed."""


class DossierAlreadyProposed(RetentionError):
    """The dossier is already on a disposal list that is not executed."""


class ProposerCannotApprove(RetentionError):
    """The person who proposed a disposal list cannot approve it."""


class ApproverRoleRequired(RetentionError):
    """Only an approver (the ``admin`` role) may approve a disposal list."""


class DisposalNotApproved(RetentionError):
    """Only an approved disposal list can be executed."""


class DisposalStatusConflict(RetentionError):
    """The disposal list is not in a state that allows this step."""


class DisposalNotExecuted(RetentionError):
    """The disposal list is not executed: it has no destruction certificate yet."""


RETENTION_ERRORS: DomainErrors = {
    DossierNotFound: (404, "DOSSIER_NOT_FOUND"),
    HoldNotFound: (404, "HOLD_NOT_FOUND"),
    HoldAlreadyReleased: (409, "HOLD_ALREADY_RELEASED"),
    DossierBeingDestroyed: (409, "DOSSIER_BEING_DESTROYED"),
    DisposalNotFound: (404, "DISPOSAL_NOT_FOUND"),
    DossierHeld: (409, "DOSSIER_HELD"),
    DossierNotDue: (409, "DOSSIER_NOT_DUE"),
    DossierAlreadyProposed: (409, "DOSSIER_ALREADY_PROPOSED"),
    ProposerCannotApprove: (403, "PROPOSER_CANNOT_APPROVE"),
    ApproverRoleRequired: (403, "APPROVER_ROLE_REQUIRED"),
    DisposalNotApproved: (409, "DISPOSAL_NOT_APPROVED"),
    DisposalStatusConflict: (409, "DISPOSAL_STATUS_CONFLICT"),
    DisposalNotExecuted: (404, "DISPOSAL_NOT_EXECUTED"),
}
