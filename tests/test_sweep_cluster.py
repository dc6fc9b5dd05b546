"""A sweep on a real multi-node Ray cluster on this machine: a head that runs no trial and worker nodes.

The sweep runs through the CLI with ``--address`` (the cluster's GCS address) as on a real cluster; trials report the
Ray node they ran on. A worker killed mid-sweep loses only its running trial, which a second invocation finishes: one
without ``--address``, which starts a Ray of its own beside the running cluster.
"""

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# CartPole, SB3's MLP: a trial trains long enough (a few seconds) to be killed mid-way, and evaluates 2 episodes of
# at most 100 steps.
SWEEP = [
    "sweep", "--env", "CartPole-v1", "--extractors", "mlp", "--seeds", "3", "--timesteps", "6144",
    "--eval-episodes", "2", "--eval-freq", "0", "--name", "cluster", "--cpus-per-trial", "1",
    "--set", "n_envs=1", "hyperparams.n_steps=512", "hyperparams.batch_size=128", "hyperparams.n_epochs=2",
    "env_kwargs.max_episode_steps=100",
]  # fmt: skip


@pytest.fixture(scope="module")
def cluster():
    """One cluster for the module (starting one costs ~15 s); the tests add and remove worker nodes on it."""
    pytest.importorskip("ray", reason="the sweep extra (ray) is not installed")
    from ray.cluster_utils import Cluster

    # The head node runs no trial: each trial lands on a worker node, one at a time per worker.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        yield cluster
    finally:
        cluster.shutdown()


def sweep(run_root: Path, address: str | None, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(ROOT / "train_rl.py"), *SWEEP, *extra, "--run-dir", str(run_root)]
    command += ["--address", address] if address is not None else []
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def records(sweep_dir: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/trial.json")}


def run_dir(sweep_dir: Path, trial_id: str) -> Path:
    (config,) = (sweep_dir / trial_id).glob("*/*/config.yaml")
    return config.parent


@pytest.mark.slow
def test_a_sweep_spreads_over_the_nodes_and_survives_a_killed_worker(cluster, tmp_path):
    cluster_nodes = {cluster.head_node.node_id}
    first, second = cluster.add_node(num_cpus=1), cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    cluster_nodes |= {first.node_id, second.node_id}
    sweep_dir = tmp_path / "sweeps" / "cluster"

    process = sweep(tmp_path, cluster.address)
    deadline = time.monotonic() + 240
    while len(list(sweep_dir.glob("*/*/*/config.yaml"))) < 2:  # both workers are training a trial
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the trials did not start on the two workers"
        time.sleep(0.2)
    time.sleep(1.0)
    cluster.remove_node(first, allow_graceful=False)  # a worker dies mid-trial
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output

    after_kill = records(sweep_dir)
    ok = {tid for tid, r in after_kill.items() if r["status"] == "ok"}
    assert len(ok) == 2, after_kill  # the other worker finished its trial and the one still pending
    lost = set(after_kill) - ok
    assert len(lost) <= 1
    finished = {tid: (run_dir(sweep_dir, tid) / "eval.json").stat().st_mtime_ns for tid in ok}

    # Without --address: a Ray of its own here (not the cluster running beside it) finishes the lost trial.
    output, _ = sweep(tmp_path, None).communicate(timeout=300)
    assert "finished before" in output and output.count("skip ") == 2, output

    final = records(sweep_dir)
    assert len(final) == 3 and all(r["status"] == "ok" for r in final.values()), final
    assert {r["node"] for tid, r in final.items() if tid in ok} <= cluster_nodes - {cluster.head_node.node_id}
    (rerun,) = (r["node"] for tid, r in final.items() if tid not in ok)
    assert rerun not in cluster_nodes  # the local sweep ran it on its own Ray
    assert {tid: (run_dir(sweep_dir, tid) / "eval.json").stat().st_mtime_ns for tid in ok} == finished  # untouched
    for tid in final:
        for name in ("model.zip", "eval.json", "command.txt"):
            assert (run_dir(sweep_dir, tid) / name).is_file(), (tid, name)
    with (sweep_dir / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["trial"] for row in rows) == sorted(final) and {row["status"] for row in rows} == {"ok"}
    assert all(row["run_dir"] and float(row["mean_return"]) > 0 for row in rows)
