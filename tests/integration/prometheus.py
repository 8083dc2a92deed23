"""Reading the Prometheus text format of ``/metrics`` in tests, checking it line by line."""

from __future__ import annotations

import re


def prometheus_samples(text: str) -> dict[str, float]:
    """The samples of an exposition (name with its labels → value); every line well formed."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.fullmatch(r"# (HELP|TYPE) [a-z_]+ .+", line), line
            continue
        name, value = line.rsplit(" ", 1)
        assert re.fullmatch(r'[a-z_]+(\{[a-z_]+="[^"]*"\})?', name), line
        samples[name] = float(value)
    return samples
