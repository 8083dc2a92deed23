"""Every table, imported in one place so that metadata and migrations see them all."""

from archive_service.db.base import Base
from archive_service.dossiers.models import Document, Dossier, PremisEventRecord, StoredObject
from archive_service.ingest.models import Deposit
from archive_service.integrity.fixity_models import FixityCheck, FixityRun
from archive_service.integrity.models import AuditCheckpoint, AuditEntry
from archive_service.security.models import Agency, ApiKey
from retention.models import (
    DestructionRecord,
    DisposalItem,
    DisposalProposal,
    DossierHold,
    RetentionChange,
)

__all__ = [
    "Agency",
    "ApiKey",
    "AuditCheckpoint",
    "AuditEntry",
    "Base",
    "Deposit",
    "DestructionRecord",
    "DisposalItem",
    "DisposalProposal",
    "Document",
    "Dossier",
    "DossierHold",
    "FixityCheck",
    "FixityRun",
    "PremisEventRecord",
    "RetentionChange",
    "StoredObject",
]
