"""Shared by the benchmark scripts: machine facts and sections of docs/BENCHMARKS.md.

Each benchmark owns one section of ``docs/BENCHMARKS.md`` between its own start and end markers and replaces
only that section, so several scripts can write into one document. Tables come from ``agents.evaluation.tables``.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: The 1-minute load average when the benchmark script started (this module is imported first thing), before
#: the benchmark's own work: how busy the machine was with other work.
LOAD_AT_START = os.getloadavg()[0]


def machine_facts(device: str) -> list[str]:
    """Lines describing the machine, how busy it was when the script started, and the torch set-up.

    Args:
        device: the torch device used.
    """
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return [
        f"CPU: {cpu_model()}, `os.cpu_count()` = {os.cpu_count()}",
        f"1-minute load average when the script started: {LOAD_AT_START:.2f} (work of other processes; it slows "
        "every timing)",
        f"torch {torch.__version__}, `torch.get_num_threads()` = {torch.get_num_threads()}, device `{device}`",
        f"GPU: {gpu}",
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}",
    ]


def write_section(path: Path, section: str, start_marker: str, end_marker: str) -> None:
    """Put ``section`` between the markers in ``path``, replacing what was there and keeping the rest.

    A missing file is created with a ``# Benchmarks`` title; a file without the markers gets the section
    appended. The file is replaced atomically.

    Args:
        path: the markdown file.
        section: the section, markers included.
        start_marker: the line that opens the section.
        end_marker: the line that closes it.
    """
    text = path.read_text() if path.is_file() else "# Benchmarks\n"
    section = section.rstrip("\n")  # what follows the end marker keeps its own line breaks
    start, end = text.find(start_marker), text.find(end_marker)
    if start != -1 and end > start:
        text = text[:start] + section + text[end + len(end_marker) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def rate(value: float) -> str:
    """A speed for a table, so a slow column keeps its digits beside a fast one.

    Whole numbers with thousands separators from 100 up, three significant figures below (``3,751``, ``795``, ``5.04``).
    """
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
