"""The docs tests' parser and comparison (tests/docs/doc_examples.py), on small documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.doc_examples import console_commands, matches, parse

FENCE = "```"


def doc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "d.md"
    path.write_text(text.replace("'''", FENCE), encoding="utf-8")
    return path


def test_blocks_outputs_templates_and_not_run(tmp_path: Path) -> None:
    parsed = parse(doc(tmp_path, """# t

'''sql
SELECT 1;
'''

'''text
 ?column?
(1 row)
'''

Prose.

'''text
a signature, not output
'''

<!-- template -->
'''sql
-- template: your role
GRANT churnml_user TO your_role;
'''

<!-- not run: make test runs this -->
'''sh
make test
'''

<!-- output: tolerance 0.01 -->
'''json
{}
'''
"""))
    kinds = [b.kind for b in parsed.blocks]
    assert kinds == ["sql", "output", "other", "template", "not-run", "other"]
    assert parsed.blocks[0].output is parsed.blocks[1]
    assert parsed.problems == ["d.md:30: marker <!-- output: tolerance 0.01 --> before a json block"]


@pytest.mark.parametrize(("text", "problem"), [
    ("    SELECT 1;\n", "an indented code block"),
    ("'''\nSELECT 1;\n'''\n", "a code block without a language"),
    ("'''sqll\nSELECT 1;\n'''\n", "unknown code block language"),
    ("<!-- template -->\n'''sql\nGRANT x TO y;\n'''\n", "a template's first line must tell the reader"),
    ("<!-- skip -->\n'''sql\nSELECT 1;\n'''\n", None),  # an ordinary comment, not a marker
    ("<!-- not run -->\n'''sql\nSELECT 1;\n'''\n", "unknown marker"),
    ("'''sql\nSELECT 1;\n--  a | b\n'''\n", "output shown as a comment"),
    ("'''sql\nchurnml.f(a int)\n'''\n", "a function signature is not a statement"),
    ("- a list item\n\n      inside the item: an indented code block\n", "an indented code block"),
    ("- a list item\n\n  its second paragraph\n", None),
])
def test_problems(tmp_path: Path, text: str, problem: str | None) -> None:
    problems = parse(doc(tmp_path, "Intro.\n\n" + text)).problems
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


def test_matches() -> None:
    assert matches(" a | b\n---+---\n 1 | 2\n(1 row)\n\n", "\n a | b\n---+---\n 1 | 2   \n(1 row)\n")
    assert not matches(" 1 | 2\n", " 1 | 3\n")
    # `...` in a line: any text there; alone: any lines
    assert matches("churnml: wrote ... rows\n", "churnml: wrote 10,000 rows\n")
    assert not matches("churnml: wrote ... rows\n", "churnml: wrote 10,000 rows\nmore\n")
    assert matches("first\n...\nlast\n", "first\nx\ny\nlast\n")
    assert matches("first\n...\nlast\n", "first\nlast\n")
    assert not matches("first\n...\nlast\n", "first\nx\n")
    # a tolerance: numbers within it, psql's padding ignored
    assert matches(" NEGATIVE  |  0.93\n", " NEGATIVE  |  0.9298167\n", 0.005)
    assert not matches(" NEGATIVE  |  0.93\n", " NEGATIVE  |  0.9198167\n", 0.005)
    assert not matches(" NEGATIVE  |  0.93\n", " POSITIVE  |  0.93\n", 0.005)
    assert not matches(" 0.93\n", " 0.93 | 1\n", 0.005)


def test_console_commands() -> None:
    assert console_commands("$ churnml s3 start\nstarted\n$ echo a \\\n  b\na b\n") == [
        ("churnml s3 start", "started\n"), ("echo a \\\n  b", "a b\n")]
    with pytest.raises(ValueError, match="before its first"):
        console_commands("output\n$ cmd\n")
