"""Settings of the archive service: one object, read once.

Sources, strongest first: keyword arguments, ``ARCHIVE_*`` environment variables, the TOML file
named by ``ARCHIVE_CONFIG_FILE`` (same names without the prefix, in lower case; the limits in a
``[limits]`` table), the defaults.

A configuration that cannot be used — the named file missing or not TOML, a key in it that is no
setting, a value of the wrong kind — raises ``ConfigurationError`` naming the settings at fault
(never a secret's value); the ``archive`` command prints it and exits 2.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

CONFIG_FILE_VARIABLE = "ARCHIVE_CONFIG_FILE"


class ConfigurationError(Exception):
    """The configuration cannot be used; the message names each setting and why."""


class PackageLimits(BaseSettings):
    """Limits that protect the service from oversized or hostile packages."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_LIMIT_", extra="ignore")

    max_upload_bytes: int = Field(10 * 1024**3, description="largest deposit body accepted")
    max_entries: int = Field(20_000, description="most entries a SIP ZIP may hold")
    max_total_bytes: int = Field(50 * 1024**3, description="most uncompressed bytes in a SIP")
    max_ratio: float = Field(200.0, description="highest compression ratio of any entry")
    max_xml_bytes: int = Field(64 * 1024**2, description="largest metadata XML file parsed")
    max_path_length: int = Field(1024, description="longest path inside a package")


class Settings(BaseSettings):
    """Effective configuration of one archive instance."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_", extra="ignore")

    data_dir: Path = Field(Path("./archive-data"), description="home of the embedded default")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite file <data_dir>/archive.db"
    )
    storage_url: str | None = Field(
        None, description="file:///absolute/path or s3://bucket; default: <data_dir>/storage"
    )
    s3_endpoint: str | None = Field(None, description="host:port of the S3-compatible server")
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    s3_secure: bool = Field(False, description="use HTTPS to reach the S3 server")
    broker_url: str | None = Field(
        None, description="Celery broker (redis://…, amqp://…); empty: run tasks in-process"
    )
    workers: int = Field(2, ge=1, description="in-process pipeline tasks at once (no broker)")
    pipeline_processes: int | None = Field(
        None,
        ge=0,
        description="child processes running the in-process tasks (no broker); 0: threads of "
        "the service process; empty: one per CPU core on a machine with more than one",
    )
    max_attempts: int = Field(5, ge=1, description="attempts of a failing deposit before 'failed'")
    retry_delay_seconds: float = Field(
        2.0, ge=0, description="first retry delay; doubles each time"
    )
    lease_seconds: float = Field(
        60.0, gt=0, description="how long a worker's claim on a deposit lasts unless renewed"
    )
    archive_code: str = Field("LTDT", description="code of this archive, prefixed to fileCode")
    archive_name: str = "Lưu trữ điện tử"
    fonds_code: str = Field("G09", description="fonds code used in AIP identifiers")
    limits: PackageLimits = Field(default_factory=PackageLimits)
    retention_schedule_path: Path = Field(
        Path(__file__).resolve().parent.parent / "retention" / "schedule.csv",
        description="retention schedule CSV, loaded and validated at start; default: shipped",
    )
    retention_lock_mode: Literal["compliance", "governance"] = Field(
        "compliance", description="S3 Object Lock mode of dossiers with a disposal date"
    )
    permanent_lock_years: int = Field(
        10, ge=1, le=100, description="governance lock horizon of permanent dossiers, in years"
    )
    permanent_lock_renew_days: int = Field(
        365, ge=1, description="extend a permanent dossier's lock when fewer days than this remain"
    )
    audit_signing_key: Path | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs audit checkpoints; default "
        "<data_dir>/keys/audit-ed25519.pem, created on first use (mode 0600)",
    )
    audit_checkpoint_interval_seconds: float = Field(
        3600, gt=0, description="how often the audit chain head is signed into a checkpoint"
    )
    tsa_url: str | None = Field(
        None, description="RFC 3161 time-stamping authority that stamps each audit checkpoint"
    )
    fixity_cycle_days: float = Field(
        90, gt=0, description="every stored object is re-hashed at least once per this many days"
    )
    fixity_bytes_per_second: int = Field(
        50_000_000, ge=0, description="read budget of scheduled fixity runs; 0: unlimited"
    )
    fixity_tick_seconds: float = Field(
        3600, gt=0, description="how often the fixity scheduler picks the objects now due"
    )
    fixity_scheduler: bool = Field(
        True, description="run scheduled fixity checks in-process (embedded default, no broker)"
    )
    replica_storage_url: str | None = Field(
        None, description="second copy used to repair damaged objects: file:///… or s3://bucket"
    )
    replica_s3_endpoint: str | None = Field(None, description="host:port of the replica's S3")
    replica_s3_access_key: str | None = None
    replica_s3_secret_key: SecretStr | None = None
    replica_s3_region: str | None = None
    replica_s3_secure: bool = Field(False, description="use HTTPS to reach the replica's S3")
    replica_sync_seconds: float = Field(
        900,
        ge=0,
        description="how often new stored objects are copied to the replica (in-process on the "
        "embedded default, Celery beat with a broker); 0: only by `archive replica sync`",
    )
    virus_scanner: Literal["none", "clamscan", "clamd"] = Field(
        "none", description="virus check of deposited files: none, clamscan or clamd (ClamAV)"
    )
    clamd_socket: Path = Field(
        Path("/run/clamav/clamd.ctl"), description="Unix socket of clamd (virus_scanner=clamd)"
    )
    clamav_database_dir: Path | None = Field(
        None, description="signature database of clamscan; default: ClamAV's own (freshclam)"
    )
    virus_scan_timeout_seconds: float = Field(
        600, gt=0, description="longest wait for the virus scanner, per file"
    )
    signature_trust_anchors: list[Path] = Field(
        default_factory=list,
        description="CA certificates (PEM/DER) that PDF signatures are trust-validated against; "
        "empty: signatures are reported 'not trust-validated'",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)

    def effective_pipeline_processes(self) -> int:
        """Child processes for the in-process pipeline (0: none, tasks run on threads)."""
        if self.pipeline_processes is not None:
            return self.pipeline_processes
        cores = os.cpu_count() or 1
        return cores if cores > 1 else 0

    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'archive.db').resolve()}"

    def effective_storage_url(self) -> str:
        """The storage URL, defaulting to a directory inside the data directory."""
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "storage").resolve().as_uri()

    def effective_audit_signing_key(self) -> Path:
        """The audit signing key file, defaulting to one inside the data directory."""
        return self.audit_signing_key or self.data_dir / "keys" / "audit-ed25519.pem"

    @property
    def staging_dir(self) -> Path:
        """Where received uploads wait until they are archived or refused."""
        return self.data_dir / "staging"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once per process (``ConfigurationError`` when unusable)."""
    check_config_file()
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(describe_invalid(error)) from None
    except SettingsError as error:  # a list or table value that is not JSON, never echoed
        raise ConfigurationError(str(error)) from None


def check_config_file() -> None:
    """The file ``ARCHIVE_CONFIG_FILE`` names, if any, exists, is TOML and holds only settings."""
    name = os.environ.get(CONFIG_FILE_VARIABLE)
    if not name:
        return
    path = Path(name)
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{CONFIG_FILE_VARIABLE}: không có tệp {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path}: không đọc được tệp cấu hình TOML: {error}") from None
    unknown = sorted(set(values) - set(Settings.model_fields))
    limits = values.get("limits")
    if isinstance(limits, dict):
        unknown += [f"limits.{k}" for k in sorted(set(limits) - set(PackageLimits.model_fields))]
    if unknown:
        raise ConfigurationError(f"{path}: không có thiết lập nào tên {', '.join(unknown)}")


def describe_invalid(error: ValidationError) -> str:
    """Each invalid setting as ``ARCHIVE_NAME (name): why``, with the value unless secret."""
    lines = []
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        if error.title == PackageLimits.__name__:
            location = ["limits", *location]
        if location[0] == "limits" and len(location) > 1:
            variable = f"ARCHIVE_LIMIT_{location[1].upper()}"
        else:
            variable = f"ARCHIVE_{location[0].upper()}"
        line = f"{variable} ({'.'.join(location)}): {problem['msg']}"
        if not _secret(location[-1]) and "input" in problem:
            line += f" (giá trị: {problem['input']!r})"
        lines.append(line)
    return "; ".join(lines)


def _secret(name: str) -> bool:
    """Whether a setting's value may hold a secret (a key, a password inside a URL)."""
    return name.endswith(("_key", "_url")) or "secret" in name or "password" in name
