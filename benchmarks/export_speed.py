"""Latency of an exported policy on onnxruntime against PyTorch's ``model.predict``, and the ONNX file sizes.

For the default run's model (the FindTarget PPO preset, ``num_layers=0``) and the same with ``num_layers=1``
(``AttentionExtractor``'s default), with and without the focus output, it exports the policy
(``agents.export.onnx_export.export_model``) and times single-observation calls, the two runtimes interleaved
in one process
(one thread each), median over ``--rounds`` rounds of ``--calls`` calls. The weights are the preset's initial
ones: latency depends on the shapes, not on what was learned.

It writes its table between ``<!-- export_speed:start -->`` and ``<!-- export_speed:end -->`` in
``docs/BENCHMARKS.md``.

Usage::

    python benchmarks/export_speed.py
    python benchmarks/export_speed.py --calls 200 --rounds 3 --output /tmp/export.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import torch
from doc_sections import machine_facts, write_section

import envs  # noqa: F401
from agents import RunConfig, resolve
from agents.evaluation.tables import markdown_table
from agents.export.onnx_export import export_model
from agents.setup.build import checked_model

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "docs" / "BENCHMARKS.md"
START_MARKER = "<!-- export_speed:start -->"
END_MARKER = "<!-- export_speed:end -->"
VARIANTS = {"default run (`num_layers=0`)": [], "`num_layers=1`": ["extractor_kwargs.num_layers=1"]}


def median_ms(call: Callable[[], object], calls: int) -> float:
    """Median milliseconds of ``calls`` calls after 20 warm-up calls."""
    for _ in range(20):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (medians)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown file")
    args = parser.parse_args(argv)
    import onnxruntime as ort

    from agents.setup.overrides import apply_overrides

    torch.set_num_threads(1)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    obs, _ = gym.make("attn/FindTarget-v0").reset(seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, overrides in VARIANTS.items():
            model = checked_model(resolve(apply_overrides(RunConfig(n_envs=1), overrides)))
            for with_focus in (False, True):
                path = Path(tmp) / f"p{len(rows)}.onnx"
                export_model(model, path, with_focus=with_focus)
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                feed = {"obs": obs[None]}
                torch_ms, onnx_ms = [], []
                for _ in range(args.rounds):
                    torch_ms.append(median_ms(lambda m=model: m.predict(obs, deterministic=True), args.calls))
                    onnx_ms.append(median_ms(lambda s=session, f=feed: s.run(None, f), args.calls))
                t, o = statistics.median(torch_ms), statistics.median(onnx_ms)
                focus = "action, value, focus" if with_focus else "action, value"
                rows.append(
                    [label, focus, f"{t:.3f}", f"{o:.3f}", f"{t / o:.1f}x", f"{path.stat().st_size / 1024:.0f}"]
                )
                print(rows[-1], flush=True)
    command = shlex.join(["python", "benchmarks/export_speed.py", *(sys.argv[1:] if argv is None else argv)])
    section = "\n".join(
        [
            START_MARKER,
            "## ONNX export: latency and size",
            "",
            f"`{command}` on {dt.date.today().isoformat()}: one FindTarget observation per call, PyTorch "
            "`model.predict(obs, deterministic=True)` (which also converts the observation and the action) against "
            "onnxruntime's `session.run` on the exported file, interleaved in one process with one thread each; "
            f"median of {args.rounds} rounds of {args.calls} calls. PyTorch's `predict` gives the action only; the "
            "ONNX graph also the value and, exported `--with-focus`, the readout focus and the mask.",
            "",
            *(f"- {fact}" for fact in machine_facts("cpu")),
            "",
            markdown_table(
                ["model", "ONNX outputs", "PyTorch predict (ms)", "onnxruntime (ms)", "speed-up", "KiB"], rows
            ),
            "",
            END_MARKER,
        ]
    )
    print(section)
    write_section(args.output, section, START_MARKER, END_MARKER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
