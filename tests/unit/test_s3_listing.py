"""Which listed version of a key is its current one (``s3._is_latest``)."""

from __future__ import annotations

import pytest

from archive_service.storage.s3 import _is_latest


@pytest.mark.parametrize(
    ("flag", "first_of_key", "latest"),
    [
        ("true", False, True),  # the server's word wins over the order
        ("True", False, True),
        ("false", True, False),
        (None, True, True),  # a server that does not say: the newest, listed first
        (None, False, False),
    ],
)
def test_the_current_version_is_the_one_the_server_names_or_else_the_first(
    flag: str | None, first_of_key: bool, latest: bool
) -> None:
    assert _is_latest(flag, first_of_key) is latest
