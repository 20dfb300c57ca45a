"""The `churnml` command: the embedded server, demo data, reports, Dask training, export
and load through object storage, the local S3 server.

A client of the extension: it uses the backend's packages (`churnml`, `churnml_loaders`)
as libraries, and nothing here runs inside PostgreSQL or is installed into its runtime.
"""

from churnml.version import VERSION

__all__ = ["VERSION"]
