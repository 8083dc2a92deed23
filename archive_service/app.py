"""FastAPI application factory: routers, error shape, lifespan."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from archive_service import __version__
from archive_service.config import Settings, get_settings
from archive_service.storage.base import StorageError
from archive_service.storage.setup import open_archive_store


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the HTTP application for ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    store = open_archive_store(settings)
    app = FastAPI(
        title="Archive service",
        version=__version__,
        description=(
            "Lưu trữ hồ sơ thủ tục hành chính điện tử: gói SIP/AIP theo Thông tư 05/2025 "
            "(E-ARK CSIP, METS, PREMIS), lưu dưới dạng đối tượng OCFL."
        ),
    )

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["ops"], response_model=None)
    def readyz() -> JSONResponse | dict[str, object]:
        """Readiness: the storage can be used."""
        try:
            store.check()
        except StorageError as exc:
            return JSONResponse(
                status_code=503,
                content={
                    "error": {
                        "code": "STORAGE_UNAVAILABLE",
                        "message": str(exc),
                        "details": [],
                    }
                },
            )
        return {"status": "ready", "checks": {"storage": "ok"}}

    return app
