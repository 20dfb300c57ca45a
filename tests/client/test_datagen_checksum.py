"""`churnml data generate` writes the same bytes for the same --customers/--seed, release after release.

The digests were computed on the generator of 0.3.0 before it was split into simulation,
message templates (a data file) and COPY encoding; any change to the templates, the random
draws or the encoding shows up here. Change them only on purpose, with a CHANGELOG line.
"""

from __future__ import annotations

import hashlib

import pytest

from churnml_client import datagen
from tests.client.test_datagen_unit import FakeConnection

# (customers, seed) -> SHA-256 of each table's COPY text, as `load` writes it
EXPECTED: dict[tuple[int, int], dict[str, str]] = {
    (7, 5): {
        "customers": "4f045cdadb04d44ccf924cabe7e2ca990d19eaa6e85121d8519fcc0a3241e284",
        "customer_message": "6eaa39044211e7a374c835f580270c8e58f64d5dbdf20f46dae297a642976870",
        "call_transcript": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    },
    (1500, 4): {
        "customers": "092307444cb5c5fbd181c2688809e874280aa1c3af9dac9c9342ac488ed66bdb",
        "customer_message": "3727043f2897926cf337317547151cc39ada3256658c718910f7e959ee1a21c2",
        "call_transcript": "78e2631007e02ff7c6d14b8e5d559633eb948d2f7202fb6215d4f89a00319d20",
    },
    (3000, 11): {
        "customers": "4d0e0b0b833319bb97b3b3dd900fb04bc91959265b0ffee5b88fe852164a6dea",
        "customer_message": "cf6c8088803d238cb8eda5f045ef37f1c586d3400085443f47b3eb6ff5f4ce2c",
        "call_transcript": "2fb68a464ebb8859c5eeba2099a315320e7b2f8822ec3bc58ebbe9e65ad7b8f2",
    },
    # the demo's data: `churnml data generate --customers 10000 --seed 42`
    (10000, 42): {
        "customers": "b2c01a1bc611a0e56b83dd2d5cc0be359541637d52798091e8e68a140a7e81fe",
        "customer_message": "8f2eef19d925eed6b9fba1d983a6c10e013bcacdd16c9b370c6525820a27f6e2",
        "call_transcript": "cabd52fc2c89826d04159d71a42999cf818ec89355e3773f5821ef64f10a3abd",
    },
}


def copy_digests(customers: int, seed: int) -> dict[str, str]:
    conn = FakeConnection()
    datagen.load(conn, customers, seed, progress=False)  # type: ignore[arg-type]
    digests = {}
    for statement, copy in conn.copies.items():
        table = statement.split()[1].removeprefix("public.")
        digests[table] = hashlib.sha256(copy.text().encode("utf-8")).hexdigest()
    return digests


@pytest.mark.parametrize(("customers", "seed"), sorted(EXPECTED))
def test_generated_copy_text_is_unchanged(customers: int, seed: int) -> None:
    assert copy_digests(customers, seed) == EXPECTED[(customers, seed)]
