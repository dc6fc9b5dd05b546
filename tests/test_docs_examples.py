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
#: Examples train for real budgets (the README's 40,000 steps); here each ``.learn(N`` trains at most this many
#: steps, so the test checks that the code runs as written, not how well it learns (the benchmarks measure that).
TEST_BUDGET = 2_048


def with_test_budget(code: str) -> str:
    """``code`` with every ``.learn(N`` above ``TEST_BUDGET`` cut to it."""

    def cut(match: re.Match) -> str:
        return f".learn({min(int(match.group(1).replace('_', '')), TEST_BUDGET)}"

    return re.sub(r"\.learn\((\d[\d_]*)", cut, code)


def test_the_readme_has_an_example():
    assert any(param.values[0].name == "README.md" for param in EXAMPLES)


def test_examples_train_at_most_the_test_budget():
    assert with_test_budget("model.learn(40_000, progress_bar=True)") == "model.learn(2048, progress_bar=True)"
    assert with_test_budget("PPO(...).learn(32)") == "PPO(...).learn(32)"


@pytest.mark.slow
@pytest.mark.parametrize(("page", "index", "code"), EXAMPLES)
def test_example_runs_as_written(page, index, code, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", with_test_budget(code)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"{page.name} example {index} failed:\n{done.stderr[-3000:]}"
