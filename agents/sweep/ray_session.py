"""Ray for a sweep: imported on use (the ``sweep`` extra), a cluster's address checked, a session to run in."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agents.sweep.trials import SweepSpec

PIP_HINT = 'pip install "attention-rl[sweep]"'
#: The checkout's root: trials on Ray workers import this checkout's agents/envs/policies.
ROOT = Path(__file__).resolve().parents[2]


def import_ray(optuna: bool = False) -> Any:
    """Import ``ray.tune`` (and check for Optuna), or raise ``ImportError`` giving the pip command."""
    try:
        from ray import tune

        if optuna:
            import optuna as _  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"Sweeps run on Ray Tune and Optuna ({exc.name} is missing): {PIP_HINT}") from None
    return tune


def check_address(address: str, timeout: float = 5.0) -> None:
    """Raise ``ValueError`` unless something listens at a Ray address (``ray://host:port`` or ``host:port``)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--address '{address}': expected ray://HOST:PORT (Ray client) or HOST:PORT (GCS).")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(
            f"--address {address}: no Ray cluster answers there ({exc.strerror or exc}). Start one with "
            "'ray start --head' and pass the address it prints (ray://HEAD_IP:10001), or leave --address out."
        ) from None


@contextlib.contextmanager
def ray_session(spec: SweepSpec) -> Iterator[None]:
    """Connect to the cluster at ``spec.address`` or start Ray here, unless Ray is already initialised."""
    import ray

    if ray.is_initialized():
        yield
        return
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    runtime_env = {"env_vars": {"PYTHONPATH": path}}  # trials import this checkout's agents/envs/policies
    if spec.address is not None:
        check_address(spec.address)  # a short timeout, where ray.init would retry for a long time
        try:
            ray.init(address=spec.address, runtime_env=runtime_env, log_to_driver=False)
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise ValueError(f"--address {spec.address}: cannot connect to Ray: {str(exc).splitlines()[0]}") from None
    else:
        # address="local": a Ray of its own, even where another sweep's Ray (or a `ray start`) already runs here.
        ray.init(
            address="local",
            num_cpus=spec.num_cpus,
            include_dashboard=False,
            runtime_env=runtime_env,
            log_to_driver=False,
        )
    try:
        yield
    finally:
        ray.shutdown()
