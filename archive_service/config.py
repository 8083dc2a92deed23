"""Settings of the archive service: one object, read once from ARCHIVE_* variables or a file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PackageLimits(BaseSettings):
    """Limits that protect the service from oversized or hostile packages."""

    model_config = SettingsConfigDict(env_prefix="ARCHIVE_LIMIT_", extra="ignore")

    max_entries: int = Field(20_000, description="most entries a SIP ZIP may hold")
    max_total_bytes: int = Field(50 * 1024**3, description="most uncompressed bytes in a SIP")
    max_ratio: float = Field(200.0, description="highest compression ratio of any entry")
    max_xml_bytes: int = Field(64 * 1024**2, description="largest metadata XML file parsed")
    max_path_length: int = Field(1024, description="longest path inside a package")


class Settings(BaseSettings):
    """Effective configuration of one archive instance."""

    model_config = SettingsConfigDict(
        env_prefix="ARCHIVE_", env_file=None, extra="ignore", env_nested_delimiter="__"
    )

    data_dir: Path = Path("./archive-data")
    storage_url: str | None = Field(
        None, description="file:///absolute/path or s3://bucket; default: <data_dir>/storage"
    )
    s3_endpoint: str | None = Field(None, description="host:port of the S3-compatible server")
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str | None = None
    s3_secure: bool = Field(False, description="use HTTPS to reach the S3 server")
    archive_code: str = Field("LTDT", description="code of this archive, prefixed to fileCode")
    archive_name: str = "Lưu trữ điện tử"
    fonds_code: str = Field("G09", description="fonds code used in AIP identifiers")
    limits: PackageLimits = Field(default_factory=PackageLimits)

    def effective_storage_url(self) -> str:
        """The storage URL, defaulting to a directory inside the data directory."""
        if self.storage_url:
            return self.storage_url
        return (self.data_dir / "storage").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the settings, read once per process."""
    return Settings()
