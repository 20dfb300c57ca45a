"""churnml_loaders.copy_rows: where COPY rows end, in C (64 bytes at a time for CSV) and in Python."""

from __future__ import annotations

import random

import pytest

from churnml_loaders import copy_rows
from churnml_loaders.copy_rows import _scan_python, copy_chunks, scan
from churnml_loaders.errors import DataException

pytestmark = pytest.mark.skipif(copy_rows._copy_rows is None, reason="the C scanner is not built")


@pytest.mark.parametrize("seed", range(5))
def test_the_c_scanner_agrees_with_python_on_csv_full_of_quotes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        # lengths around the 64-byte blocks, quotes and newlines dense enough to cross every block edge
        data = bytes(rng.choice(b'"\n,ab') for _ in range(rng.randrange(0, 300)))
        assert scan(data, "csv") == _scan_python(data, "csv"), data


def test_the_c_scanner_agrees_with_python_on_quoted_newlines_and_text() -> None:
    rows = [b'"1","a\nb","say ""hi"""\n', b'"2","","x"\n', b'3,,\n', b'"4","' + b"z" * 130 + b'"\n']
    data = b"".join(rows * 50) + b'"5","unfinished\n'
    assert scan(data, "csv") == _scan_python(data, "csv") == (len(data) - len(b'"5","unfinished\n'), 200, -1)
    text = b"1\ta\n2\t\\N\n3"
    assert scan(text, "text") == _scan_python(text, "text") == (len(text) - 1, 2, -1)


def _reader(data: bytes, step: int) -> tuple[list[int], object]:
    at = [0]

    def read(n: int) -> bytes:
        piece = data[at[0]:at[0] + min(n, step)]
        at[0] += len(piece)
        return piece

    return at, read


def test_copy_chunks_gives_whole_rows_whatever_the_reads() -> None:
    data = b"".join(b'"%d","%s"\n' % (i, b"q" * (i % 13)) for i in range(1000))
    for step in (1, 7, 64, 1000, 1 << 20):
        _, read = _reader(data, step)
        header, chunks = copy_chunks(read, "csv", 100)  # type: ignore[arg-type]
        got = [(bytes(view), rows) for view, rows in chunks]
        assert header == b"" and b"".join(d for d, _ in got) == data and sum(r for _, r in got) == 1000
        assert all(d.endswith(b"\n") for d, _ in got)


def test_copy_chunks_refuses_output_that_ends_inside_a_row() -> None:
    _, read = _reader(b'"1","a"\n"2","b', 1 << 20)
    _, chunks = copy_chunks(read, "csv", 1 << 20)  # type: ignore[arg-type]
    with pytest.raises(DataException, match="ends inside a row"):
        list(chunks)
