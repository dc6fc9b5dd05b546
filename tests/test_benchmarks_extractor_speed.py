"""``benchmarks/extractor_speed.py``: the compiled twins and their table, on canned measurements."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import extractor_speed
import speed_report
from speed_specs import COMPILED_SPECS, EXTRACTOR_SPECS, Measurement, with_compiled


def measurement(name: str, rate: float, cpu_us: float, warmup_cpu_s: float) -> Measurement:
    return Measurement(name, 8, 10.0, rate, 8192, 0.3, cpu_us, 20, 5, warmup_cpu_s)


def test_every_compiled_row_has_its_eager_twin():
    specs = with_compiled(EXTRACTOR_SPECS)
    compiled = [spec for spec in specs if spec.compile]
    assert [spec.name for spec in compiled] == [f"{name}+compile" for name in COMPILED_SPECS]
    eager = {spec.name: spec for spec in specs if not spec.compile}
    for spec in compiled:
        twin = eager[spec.name.removesuffix("+compile")]
        assert (spec.extractor_class, dict(spec.kwargs)) == (twin.extractor_class, dict(twin.kwargs))


def test_the_compile_table_sets_the_compile_against_what_it_saves():
    specs = with_compiled(EXTRACTOR_SPECS)
    results = {
        ("mlp", 8): measurement("mlp", 4000.0, 250.0, 2.0),
        ("attention-l1", 8): measurement("attention-l1", 1000.0, 1000.0, 5.0),
        ("attention-l1+compile", 8): measurement("attention-l1+compile", 1250.0, 800.0, 65.0),
    }
    table = speed_report.compile_table(results, [s for s in specs if s.compile], [8])
    # 100,000 steps x 200 us saved = 20 s, against 60 s of compiling: -40 s.
    assert "| `attention-l1` | 8 | 1000 (0.25x) | 1250 (0.31x) | 1.25x | 0.300 | 0.300 | 60 | -40 |" in table
    assert "latent" not in table  # not measured: no row


def test_compiled_chooses_the_twins():
    settings = extractor_speed.settings_from_args
    assert settings(extractor_speed.parse_args(["--quick"])).compiled == COMPILED_SPECS
    assert settings(extractor_speed.parse_args(["--quick", "--no-compile"])).compiled == ()
    assert settings(extractor_speed.parse_args(["--compiled", "attention-l1"])).compiled == ("attention-l1",)
    with pytest.raises(SystemExit):
        extractor_speed.parse_args(["--compiled", "mlp"])  # SB3's own extractor: nothing of ours to compile
