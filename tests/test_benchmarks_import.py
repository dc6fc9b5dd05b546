"""Every benchmark script imports (a moved helper must not leave a script that cannot start)."""

import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py"))
OPTIONAL = {"export_speed": "onnxruntime"}  # scripts that need an extra


@pytest.mark.parametrize("name", SCRIPTS)
def test_benchmark_script_imports(name, monkeypatch):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name], reason=f"benchmarks/{name}.py needs {OPTIONAL[name]}")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module(name)
    assert module.__file__ is not None and Path(module.__file__).parent == BENCHMARKS
    if callable(getattr(module, "main", None)):  # a script: its docstring gives the command that runs it
        assert f"benchmarks/{name}.py" in (module.__doc__ or ""), f"benchmarks/{name}.py's docstring names no command"


def test_speeds_keep_their_digits_beside_faster_ones(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    rate = importlib.import_module("doc_sections").rate
    assert [rate(v) for v in (3751.4, 795.2, 5.04, 0.1234)] == ["3,751", "795", "5.04", "0.123"]
