"""benchmarks/doc_sections.py: a section written again replaces itself and leaves the rest of the page as it was."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from doc_sections import write_section

START, END = "<!-- s:start -->", "<!-- s:end -->"


def test_writing_a_section_again_changes_nothing_around_it(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# Benchmarks\n\nbefore\n")
    write_section(doc, f"{START}\nfirst\n{END}\n", START, END)
    assert doc.read_text() == f"# Benchmarks\n\nbefore\n\n{START}\nfirst\n{END}\n"
    doc.write_text(doc.read_text() + "\nafter\n")
    for _ in range(3):  # a section ending with a line break, written again and again
        write_section(doc, f"{START}\nsecond\n{END}\n", START, END)
    assert doc.read_text() == f"# Benchmarks\n\nbefore\n\n{START}\nsecond\n{END}\n\nafter\n"
