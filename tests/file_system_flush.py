"""The whole-file-system flush behind the filesystem store's barrier, for tests that record it.

Taken when this module is first imported, before any test replaces ``filesystem._SYNCFS``.
"""

from __future__ import annotations

import os

from archive_service.storage import filesystem

_REAL_SYNCFS = filesystem._SYNCFS


def flush_file_system(descriptor: int) -> int:
    """``syncfs`` of ``descriptor``'s file system where the store would use it (Linux ≥ 5.15),
    else ``os.sync``: the tests check which descriptor the store passes and when; the flush
    itself only has to happen. Returns 0 (success), as ``syncfs`` does."""
    if _REAL_SYNCFS is not None:
        return _REAL_SYNCFS(descriptor)
    os.sync()
    return 0
