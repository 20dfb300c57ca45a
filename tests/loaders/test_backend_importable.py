"""churnml_loaders also runs inside the PostgreSQL backend, which imports it: it must never import the
backend's package `churnml` (the backend uses the loaders, not the other way round), and importing its
modules costs only the standard library (botocore comes at the first S3 call, pyarrow with Parquet)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

MODULES = ["errors", "uris", "s3_config", "s3_client", "manifest", "copy_formats", "copy_options", "copy_rows",
           "export_writer", "load_reader", "locations", "server_config", "spool_follow",
           "upload_process", "upload_helper"]


def test_modules_import_only_the_standard_library() -> None:
    # -S: no site packages at all, so anything third-party would fail to import; python_udfs is on the
    # path so that an import of churnml would succeed, and be seen
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'python_udfs')!r}, {str(REPO / 'loaders')!r}]\n"
        f"for m in {MODULES!r}: __import__('churnml_loaders.' + m)\n"
        "outside = sorted({n.split('.')[0] for n in sys.modules} - set(sys.stdlib_module_names)"
        " - {'churnml_loaders', '__main__'})\n"
        "print(','.join(outside))\n"
    )
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
