"""The instruction-count benchmark still works: its counted run deposits to the end, and
callgrind's count is read (the whole benchmark under valgrind takes minutes; not run here)."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench" / "deposit_instructions.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deposit_instructions", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_counted_run_archives_each_sip_and_the_count_is_read(tmp_path: Path) -> None:
    bench = load_bench()
    from bench.deposit_throughput import build_sips

    build_sips(tmp_path / "sips", 2, 20 * 1024)
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run(
        bench.inner_command(tmp_path / "sips", 2, work), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    objects = {path.parent for path in work.rglob("0=ocfl_object_1.1")}
    assert len(objects) == 2  # two AIPs stored (the run fails unless each was archived)
    # callgrind's count of a small program is read from its report
    small, smaller = bench.counted(["sha256sum", str(BENCH)]), bench.counted(["true"])
    assert small > smaller > 0


def test_a_failing_run_is_reported_not_counted() -> None:
    bench = load_bench()
    with pytest.raises(SystemExit, match="false"):
        bench.counted(["false"])
