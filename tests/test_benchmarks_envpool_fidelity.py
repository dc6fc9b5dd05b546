"""benchmarks/envpool_fidelity.py: the verdict and section on canned rows of 5 columns; a tiny real run."""

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("envpool_fidelity"), importlib.import_module("intersection_fidelity_stats")


def canned(stats, candidate, policy, crashed, x, one_start=False):
    """A row of 5-column episodes: one per entry of ``crashed``, the vehicle's x at ``x[i]``."""
    row = stats.new_row(candidate, policy, "raw", ("presence", "x", "y", "vx", "vy"), rows=2)
    for i, crash in enumerate(crashed):
        first = np.zeros((2, 5), dtype=np.float32)
        first[:, 0] = 1.0
        first[1, 1] = 0.5 if one_start else x[i]
        record = {"seed": i, "return": float(not crash), "length": 3, "crashed": crash, "arrived": False}
        record["first"] = hashlib.sha1(first.tobytes()).hexdigest()
        stats.add_episode(row, record, first, np.stack([first, first]))
    return row


def test_a_port_like_the_original_matches_and_a_shifted_one_is_named(bench):
    module, stats = bench
    rng = np.random.default_rng(0)
    crashes = [bool(c) for c in rng.random(200) < 0.5]
    xs = rng.uniform(0.2, 0.8, 200)
    rows = {
        "python/random": canned(stats, "python", "random", crashes, xs),
        "envpool/random": canned(stats, "envpool", "random", crashes[::-1], xs[::-1]),
        "python/faster": canned(stats, "python", "faster", crashes, xs),
        "envpool/faster": canned(stats, "envpool", "faster", [True] * 200, xs, one_start=True),
    }
    found = module.verdicts(rows)
    assert not any(label.startswith("random:") for label in found)
    assert {"faster: crash rate", "faster: return", "faster: initial states"} <= set(found)
    assert any(label.startswith("faster: spread of starts (0.000 against") for label in found)
    matches, sentence = module.judge(rows)
    assert not matches and sentence.startswith("**differs** from the original in faster: return")
    assert module.judge({k: v for k, v in rows.items() if "random" in k})[0]  # a port like the original matches
    text = module.section({"envs": {"merge-v0": rows}, "meta": {}})
    assert text.startswith(module.START_MARKER) and text.rstrip().endswith(module.END_MARKER)
    assert "### merge-v0" in text and sentence in text
    assert "| presence | x | y | vx | vy |" in text  # the 5-column observation's own columns


def test_column_means_differing_as_often_as_chance_makes_them_do_not_reject(bench):
    module, _ = bench
    assert module.chance_limit(15) == 3  # P(3 or more of 15 outside) = 0.036, P(2 or more) = 0.171
    assert module.chance_limit(1) == 2  # one test alone can never reject at 5%


def test_report_without_rows_is_refused(bench, tmp_path, capsys):
    module, _ = bench
    with pytest.raises(SystemExit):
        module.main(["--report", "--output", str(tmp_path / "none.json"), "--doc", str(tmp_path / "B.md")])
    assert "no rows yet" in capsys.readouterr().err


def test_a_tiny_run_measures_both_simulators_and_writes_the_section(bench, tmp_path):
    pytest.importorskip("highway_env", reason="needs highway-env: pip install 'attention-rl[highway]'")
    pytest.importorskip("envpool", reason="needs envpool: pip install 'attention-rl[envpool]'")
    module, _ = bench
    out, doc = tmp_path / "f.json", tmp_path / "B.md"
    assert module.main(["--envs", "merge-v0", "--episodes", "2", "--chunk", "1", "--output", str(out),
                        "--doc", str(doc)]) == 0  # fmt: skip
    rows = json.loads(out.read_text())["envs"]["merge-v0"]
    assert sorted(rows) == sorted(f"{s}/{p}" for s in module.SIMULATORS for p in module.POLICIES)
    assert all(len(row["episodes"]) == 2 and row["columns"] == list(module.COLUMNS) for row in rows.values())
    assert "### merge-v0" in doc.read_text()
