"""templates.toml, the generator's English text: read once, and checked so that a mistake names the file."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from churnml_client.datagen import templates
from churnml_client.datagen.templates import MAX_VARIANTS, MESSAGE_TONES, TRANSCRIPT_TONES, TemplateError


def test_the_shipped_file_has_every_tone_and_turn() -> None:
    text = templates.templates()
    assert templates.templates() is text  # read once
    assert tuple(text.messages) == tuple(text.closings) == MESSAGE_TONES
    assert tuple(text.turns) == TRANSCRIPT_TONES
    assert all(len(turns) == templates.TRANSCRIPT_TURNS for turns in text.turns.values())
    assert text.words["ordinal"][:3] == ("first", "second", "third")


def test_templates_compile_to_positional_fields() -> None:
    compiled = templates.compile_template("I paid for {minutes} minutes and got only {got}.")
    assert compiled == "I paid for {2} minutes and got only {3}."
    values = ["x"] * len(templates.SLOTS)
    values[2], values[3] = 100, 90
    assert compiled.format(*values) == "I paid for 100 minutes and got only 90."


def edited(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of templates.toml with `edit` applied (written back as TOML by hand: lists of strings only)."""
    with templates.DATA_FILE.open("rb") as file:
        document = tomllib.load(file)
    edit(document)
    lines: list[str] = []

    def table(prefix: str, values: dict[str, Any]) -> None:
        lines.append(f"[{prefix}]")
        nested = {k: v for k, v in values.items() if isinstance(v, dict)}
        for key, value in values.items():
            if not isinstance(value, dict):
                lines.append(f"{key} = {_toml(value)}")
        for key, value in nested.items():
            table(f"{prefix}.{key}", value)

    for name, values in document.items():
        table(name, values)
    path = tmp_path / "templates.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON list of strings (or of lists) is a TOML array


def test_an_unchanged_copy_reads_the_same(tmp_path: Path) -> None:
    assert templates.read(edited(tmp_path, lambda d: None)) == templates.templates()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d["messages"]["templates"]["angry"].append("You owe me {refund}!"),
            r"messages\.templates\.angry: 'You owe me \{refund\}!': \{refund\} is not one of the fields",
        ),
        (lambda d: d["messages"]["templates"]["angry"].append("Pay {amount:>8}"), r"\{amount\} is not one of"),
        (lambda d: d["messages"]["templates"]["angry"].append("a stray { brace"), r"messages\.templates\.angry"),
        (lambda d: d["messages"]["closings"].pop("mixed"), r"\[messages\.closings\] must have exactly angry, "),
        (lambda d: d["messages"]["templates"].__setitem__("neutral", []), r"messages\.templates\.neutral must be"),
        (lambda d: d["transcripts"]["turns"]["mixed"].pop(), r"transcripts\.turns\.mixed must be 5 lists"),
        (
            lambda d: d["transcripts"]["turns"]["positive"][0].extend(["Customer: hi"] * MAX_VARIANTS),
            r"transcripts\.turns\.positive\[0\] has \d+ lines; at most 15",
        ),
        (lambda d: d["slots"].pop("agent"), r"\[slots\] must have exactly feature, "),
        (lambda d: d.pop("transcripts"), r"missing 'transcripts'"),
    ],
)
def test_a_malformed_file_is_an_error_naming_it(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(TemplateError, match=message) as info:
        templates.read(path)
    assert str(info.value).startswith(f"{path}: ")


def test_an_unreadable_file_is_an_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "templates.toml"
    broken.write_text("[messages\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=f"^{broken}: "):
        templates.read(broken)
    with pytest.raises(TemplateError, match="No such file"):
        templates.read(tmp_path / "missing.toml")
