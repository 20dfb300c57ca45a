"""The code blocks of README.md and docs/*.md, for tests/docs/test_doc_examples.py.

Every code block of a document is fenced and says what it is:

- ```sql: statements to paste into psql (`churnml db psql`); run, in document order;
- ```sh (or ```bash): commands to paste into a shell in the source tree; run;
- ```console: `$ command` lines, each followed by what it prints; run, and compared;
- ```text directly after a sql, sh or console block (nothing but blank lines, or an
  `<!-- output: ... -->` comment, between them): what that block prints; compared;
- ```text elsewhere, ```json, ```python, ```java: not SQL or shell (formats, signatures,
  grammars, other languages, tested elsewhere); not run.

A sql or sh block that is not meant to be pasted as it is says so twice, right before it:

    <!-- template -->
    ```sql
    -- template: ...   (the reader sees this first line; `#` in sh)

Commands that `make test` cannot run from inside itself (`make demo`, `make test`, an
install into the system's PostgreSQL, a benchmark of a quarter of an hour) are marked
`<!-- not run: why -->` right before the block. Anything else fails the parse: an
indented code block, a fence without a language, an unknown language or marker, a
template whose first line does not say so.

Compared output: trailing blanks and blank lines at either end do not count. In the
expected text, `...` alone on a line stands for any number of lines and `...` inside a
line for any text on that line (doctest's ELLIPSIS); `<!-- output: tolerance 0.01 -->`
before an output block compares every number within that absolute tolerance (and
ignores how psql's column widths change with them). Nothing else varies.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

RUNNABLE = {"sql": "sql", "sh": "sh", "bash": "sh", "console": "console"}
NOT_RUN_LANGUAGES = {"text", "json", "python", "java"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+)(?P<lang>[^`\s]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<body>.*?)\s*-->\s*$")
TOLERANCE = re.compile(r"^output:\s*tolerance\s+(?P<tol>[0-9.eE+-]+)$")
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Block:
    doc: str
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    kind: str  # sql, sh, console, output, template, not-run, other
    marker: str = ""
    output: Block | None = None
    tolerance: float | None = None

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


@dataclass
class Parsed:
    doc: str
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[Block]:
        return [b for b in self.blocks if b.kind in kinds]


def parse(path: Path, name: str | None = None) -> Parsed:
    name = name or path.name
    lines = path.read_text(encoding="utf-8").splitlines()
    parsed = Parsed(name)
    i = 0
    previous_runnable: Block | None = None  # a runnable block that an output block may still follow
    pending_marker: tuple[int, str] | None = None
    prose_since_block = False
    blank_before = True
    list_indent = -1  # the content indent of the list item we are in, -1 outside lists
    while i < len(lines):
        line = lines[i]
        fence = FENCE.match(line)
        marker = MARKER.match(line)
        if marker and marker.group("body").split(":")[0].strip() in ("template", "not run", "output"):
            pending_marker = (i + 1, marker.group("body"))
            i += 1
            continue
        if fence:
            indent, ticks, lang = len(fence.group("indent")), fence.group("fence"), fence.group("lang").lower()
            body: list[str] = []
            j = i + 1
            while j < len(lines) and not re.match(rf"^ *{ticks}\s*$", lines[j]):
                body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
                j += 1
            if j == len(lines):
                parsed.problems.append(f"{name}:{i + 1}: the fence is never closed")
            text = "\n".join(body) + "\n"
            block = Block(name, i + 1, lang, text, "other")
            mark = pending_marker[1] if pending_marker else ""
            if pending_marker and pending_marker[0] != i:
                parsed.problems.append(f"{name}:{pending_marker[0]}: a marker must be right before its block")
            pending_marker = None
            if not lang:
                parsed.problems.append(f"{name}:{i + 1}: a code block without a language: say ```sql, ```sh, "
                                       "```console, ```text, ...")
            elif lang in RUNNABLE:
                block.kind = RUNNABLE[lang]
                if lang == "sql" and re.match(r"\s*churnml\.\w+\(", text):
                    parsed.problems.append(f"{name}:{i + 1}: a function signature is not a statement to paste: "
                                           "```text")
                for k, shown in enumerate(body):
                    if lang == "sql" and re.match(r"^\s*--.*\S\s+\|\s+\S", shown):
                        parsed.problems.append(f"{name}:{i + 2 + k}: output shown as a comment: show it in a "
                                               "```text block right after the block, where it is compared")
                if mark == "template":
                    block.kind, block.marker = "template", mark
                    first = text.lstrip("\n").split("\n", 1)[0]
                    if not re.match(r"^(--|#)\s*template\b", first, re.I):
                        parsed.problems.append(f"{name}:{i + 1}: a template's first line must tell the reader: "
                                               "`-- template: ...` (or `# template: ...`)")
                elif mark.startswith("not run:") and mark[len("not run:"):].strip():
                    block.kind, block.marker = "not-run", mark
                elif mark:
                    parsed.problems.append(f"{name}:{i + 1}: unknown marker <!-- {mark} --> before a {lang} block")
            elif lang == "text" and previous_runnable is not None and not prose_since_block:
                block.kind = "output"
                if mark:
                    tolerance = TOLERANCE.match(mark)
                    if not tolerance:
                        parsed.problems.append(f"{name}:{i + 1}: unknown marker <!-- {mark} --> before output")
                    else:
                        block.tolerance = float(tolerance.group("tol"))
                if previous_runnable.kind == "console":
                    parsed.problems.append(f"{name}:{i + 1}: a console block shows its own output")
                previous_runnable.output = block
            elif lang in NOT_RUN_LANGUAGES:
                if mark:
                    parsed.problems.append(f"{name}:{i + 1}: marker <!-- {mark} --> before a {lang} block")
            else:
                parsed.problems.append(f"{name}:{i + 1}: unknown code block language {lang!r}")
            parsed.blocks.append(block)
            previous_runnable = block if block.kind in ("sql", "sh", "console") else None
            prose_since_block = False
            blank_before = False
            i = j + 1
            continue
        if pending_marker and line.strip():
            parsed.problems.append(f"{name}:{pending_marker[0]}: a marker must be right before its block")
            pending_marker = None
        if line.strip():
            # an indented code block: 4+ spaces after a blank line, outside a list item's continuation
            indent = len(line) - len(line.lstrip(" "))
            if blank_before and indent >= max(list_indent, 0) + 4:
                parsed.problems.append(f"{name}:{i + 1}: an indented code block: fence it with its language "
                                       f"({line.strip()[:60]!r})")
            item = re.match(r"^(\s*(?:[-*+]|\d+[.)])\s+)\S", line)
            if item:
                list_indent = len(item.group(1))
            elif indent == 0:
                list_indent = -1
            prose_since_block = True
            blank_before = False
        else:
            blank_before = True
        i += 1
    return parsed


def console_commands(text: str) -> list[tuple[str, str]]:
    """A console block's `$ command` lines (a trailing backslash continues one), each with what it prints."""
    pairs: list[tuple[str, list[str]]] = []
    lines = text.splitlines()
    k = 0
    while k < len(lines):
        line = lines[k]
        if line.startswith("$ "):
            command = [line[2:]]
            while command[-1].endswith("\\") and k + 1 < len(lines):
                k += 1
                command.append(lines[k])
            pairs.append(("\n".join(command), []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"console block text before its first `$ ` line: {line!r}")
        k += 1
    return [(c, "\n".join(out) + "\n") for c, out in pairs]


def _clean(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _line_matches(expected: str, actual: str, tolerance: float | None) -> bool:
    if tolerance is None:
        if "..." not in expected:
            return expected == actual
        pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
        return re.fullmatch(pattern, actual) is not None
    # numbers within the tolerance, the rest equal with runs of blanks (psql's padding) collapsed
    e_numbers, a_numbers = NUMBER.findall(expected), NUMBER.findall(actual)
    e_rest = " ".join(NUMBER.sub("#", expected).split())
    a_rest = " ".join(NUMBER.sub("#", actual).split())
    if "..." in expected:
        return _line_matches(" ".join(expected.split()), " ".join(actual.split()), None)
    if e_rest.replace("| ", "|").replace(" |", "|") != a_rest.replace("| ", "|").replace(" |", "|"):
        return False
    return len(e_numbers) == len(a_numbers) and all(
        math.isclose(float(e), float(a), rel_tol=0, abs_tol=tolerance)
        for e, a in zip(e_numbers, a_numbers, strict=True))


def matches(expected: str, actual: str, tolerance: float | None = None) -> bool:
    """`actual` is what `expected` shows (see the module's doc for `...` and tolerances)."""
    exp, act = _clean(expected), _clean(actual)
    memo: dict[tuple[int, int], bool] = {}

    def match(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[i, j]
        if i == len(exp):
            result = j == len(act)
        elif exp[i].strip() == "...":
            result = any(match(i + 1, k) for k in range(j, len(act) + 1))
        else:
            result = j < len(act) and _line_matches(exp[i], act[j], tolerance) and match(i + 1, j + 1)
        memo[i, j] = result
        return result

    return match(0, 0)
