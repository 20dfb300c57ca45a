"""churnml: the Python that runs inside the PostgreSQL backend (PL/Python).

Every module here is importable and unit-testable outside PostgreSQL; only the
`udf` entry points touch `plpy`, and they receive it as an argument.
The `cli` subpackage is the client side (embedded server, demo data) and is
never imported by the backend.
"""

from churnml.version import VERSION as __version__

__all__ = ["__version__"]
