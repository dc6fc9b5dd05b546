"""The Python examples of the README and the documentation pages run as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Each distinct example once (the README's is also the getting-started page's), named by where it first appears.
FOUND = {
    code: (page, index)
    for page in reversed(PAGES)
    for index, code in reversed(list(enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.DOTALL))))
}
EXAMPLES = [pytest.param(page, index, code, id=f"{page.name}-{index}") for code, (page, index) in FOUND.items()]


def test_the_readme_has_an_example():
    assert any(param.values[0].name == "README.md" for param in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize(("page", "index", "code"), EXAMPLES)
def test_example_runs_as_written(page, index, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"{page.name} example {index} failed:\n{done.stderr[-3000:]}"
