"""A strict, bounded decoder for the UBJSON that xgboost writes (`booster.save_raw()`, `.ubj`).

Why our own: xgboost's reader trusts every count and length it reads (a string length
past the end of the buffer is a `memcpy` out of bounds), so a crafted file can crash
the process that loads it. This decoder accepts only what xgboost's UBJWriter emits
and checks every count against the bytes that remain before it allocates anything:

- objects: `{` then (key, value) pairs then `}`; a key is `L` + int64 length + UTF-8;
  duplicate keys are refused (xgboost keeps the first, a JSON reader the last);
- arrays: `[#L` + int64 count + that many values, or the typed form `[$` + type +
  `#L` + int64 count + raw big-endian items, with type d (float32), U (uint8),
  l (int32) or L (int64);
- scalars: i, I, l, L (signed ints of 1, 2, 4, 8 bytes), d (float32), T, F and
  S (`L` + int64 length + UTF-8).

Nothing else is accepted (no null, no float64, no `C`/`H`/`N`, no uncounted arrays),
containers nest at most MAX_DEPTH deep, and no bytes may follow the top-level object.
Values come out as Python dicts, lists, ints, floats, bools and strs, so the same
validator reads a UBJ model and a JSON one; typed arrays come out as `TypedArray`,
a list that remembers its item type, because xgboost reads a tree differently when
its arrays are typed (see `churnml.scoring.artifact_trees`).
"""

from __future__ import annotations

import struct
from typing import Any

from churnml import interrupts
from churnml.errors import DataCorrupted

MAX_DEPTH = 16  # xgboost's models nest 7 deep (learner > gradient_booster > gbtree > model > trees > tree > array)
MAX_STRING_BYTES = 1 << 20
_ITEMS_PER_CHECK = 1 << 16  # items of an untyped array decoded between two interrupt checks

# typed-array item type -> (struct format character, item size)
_TYPED_ITEMS = {"d": ("f", 4), "U": ("B", 1), "l": ("i", 4), "L": ("q", 8)}
_SCALAR_INTS = {ord("i"): (">b", 1), ord("I"): (">h", 2), ord("l"): (">i", 4), ord("L"): (">q", 8)}
_INT64 = struct.Struct(">q")
_FLOAT32 = struct.Struct(">f")


class TypedArray(list[Any]):
    """A UBJ typed array ([$<type>#L<n>...]): its items, and `item_type` (d, U, l or L)."""

    __slots__ = ("item_type",)

    def __init__(self, items: Any, item_type: str) -> None:
        super().__init__(items)
        self.item_type = item_type


def looks_like_ubjson(data: bytes | bytearray | memoryview) -> bool:
    """Whether `data` opens as xgboost's UBJ does: an object whose first key has an int64 length."""
    return bytes(data[:2]) == b"{L"


def _malformed(what: str, offset: int) -> DataCorrupted:
    return DataCorrupted(
        f"malformed XGBoost model: UBJSON at byte {offset}: {what}",
        detail="The UBJSON encoding is broken or uses markers xgboost does not write.",
        hint='Save the model with booster.save_raw("ubj") (or "json") from xgboost and register it again.',
    )


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)
        self.pos = 0

    def marker(self) -> int:
        if self.pos >= self.end:
            raise _malformed("ends early", self.pos)
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def take(self, size: int, what: str) -> int:
        """Reserve `size` bytes and return where they start; refuse a size past the end."""
        if size < 0 or size > self.end - self.pos:
            raise _malformed(f"{what} runs past the end", self.pos)
        start = self.pos
        self.pos += size
        return start

    def count(self, what: str) -> int:
        """An `L` + int64 count or length, checked to be non-negative."""
        at = self.pos
        if self.marker() != ord("L"):
            raise _malformed(f"{what} is not an int64 (L) count", at)
        value: int = _INT64.unpack_from(self.data, self.take(8, what))[0]
        if value < 0:
            raise _malformed(f"{what} is negative", at)
        return value

    def text(self, what: str) -> str:
        at = self.pos
        size = self.count(what)
        if size > MAX_STRING_BYTES:
            raise _malformed(f"{what} is longer than {MAX_STRING_BYTES} bytes", at)
        start = self.take(size, what)
        try:
            return self.data[start : start + size].decode("utf-8")
        except UnicodeDecodeError:
            raise _malformed(f"{what} is not UTF-8", start) from None

    def value(self, depth: int) -> Any:
        at = self.pos
        kind = self.marker()
        if kind == ord("{"):
            return self.object(depth + 1, at)
        if kind == ord("["):
            return self.array(depth + 1, at)
        if kind in _SCALAR_INTS:
            fmt, size = _SCALAR_INTS[kind]
            return struct.unpack_from(fmt, self.data, self.take(size, "an integer"))[0]
        if kind == ord("d"):
            return _FLOAT32.unpack_from(self.data, self.take(4, "a float"))[0]
        if kind == ord("S"):
            return self.text("a string")
        if kind == ord("T"):
            return True
        if kind == ord("F"):
            return False
        raise _malformed(f"marker {_show(kind)} is not one xgboost writes", at)

    def object(self, depth: int, at: int) -> dict[str, Any]:
        if depth > MAX_DEPTH:
            raise _malformed(f"nesting deeper than {MAX_DEPTH}", at)
        interrupts.check()  # a few an object per tree: nanoseconds each
        result: dict[str, Any] = {}
        while True:
            if self.pos >= self.end:
                raise _malformed("object is not closed", at)
            if self.data[self.pos] == ord("}"):
                self.pos += 1
                return result
            key_at = self.pos
            key = self.text("an object key")
            if key in result:
                raise _malformed(f"object key {key[:40]!r} appears twice", key_at)
            result[key] = self.value(depth)

    def array(self, depth: int, at: int) -> list[Any]:
        if depth > MAX_DEPTH:
            raise _malformed(f"nesting deeper than {MAX_DEPTH}", at)
        kind = self.marker()
        if kind == ord("$"):
            return self.typed_array(at)
        if kind != ord("#"):
            raise _malformed("array has no count (#L)", at)
        n = self.count("an array count")
        if n > self.end - self.pos:  # every item takes at least one byte
            raise _malformed(f"array count {n} is more than the bytes left", at)
        if n <= _ITEMS_PER_CHECK:
            return [self.value(depth) for _ in range(n)]
        items: list[Any] = []
        for start in range(0, n, _ITEMS_PER_CHECK):  # an untyped array of millions of items takes seconds
            interrupts.check()
            items.extend([self.value(depth) for _ in range(min(_ITEMS_PER_CHECK, n - start))])
        return items

    def typed_array(self, at: int) -> TypedArray:
        item_type = chr(self.marker())
        if item_type not in _TYPED_ITEMS:
            raise _malformed(f"typed array of {_show(ord(item_type))} is not one xgboost writes", at)
        if self.marker() != ord("#"):
            raise _malformed("typed array has no count (#L)", at)
        n = self.count("a typed array count")
        fmt, size = _TYPED_ITEMS[item_type]
        if n > (self.end - self.pos) // size:
            raise _malformed(f"typed array count {n} is more than the bytes left", at)
        start = self.take(n * size, "a typed array")
        if item_type == "U":
            return TypedArray(self.data[start : start + n], item_type)
        return TypedArray(struct.unpack_from(f">{n}{fmt}", self.data, start), item_type)


def _show(byte: int) -> str:
    return repr(chr(byte)) if 0x21 <= byte < 0x7F else f"0x{byte:02x}"


def decode(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """The document in `data`, which must be one UBJSON object and nothing after it."""
    reader = _Reader(bytes(data))
    if reader.marker() != ord("{"):
        raise _malformed("document is not an object", 0)
    document = reader.object(1, 0)
    if reader.pos != reader.end:
        raise _malformed(f"{reader.end - reader.pos} bytes follow the document", reader.pos)
    return document
