"""aws_s3.table_import_from_s3's column list, read outside PostgreSQL (churnml.sql_api.aws.column_names)."""

from __future__ import annotations

import pytest

from churnml.errors import InvalidParameter
from churnml.sql_api.aws import column_names


def test_column_lists() -> None:
    assert column_names(None) is None and column_names("  ") is None
    assert column_names("a, B ,c") == ["a", "b", "c"]
    assert column_names('(a, "Mixed Case", "with ""quote""")') == ["a", "Mixed Case", 'with "quote"']
    for bad in ("a,,b", "a b", "1a", '"open', "a;drop table t", "a,"):
        with pytest.raises(InvalidParameter):
            column_names(bad)
