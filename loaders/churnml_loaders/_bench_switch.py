"""TEMPORARY, for the one benchmark run that compares the hand-written S3 client with botocore (issue 20):
deleted with s3_client_legacy.py right after it. Off unless the backend's GUC churnml.bench_legacy_s3 is
'on' (read by sql_api.loaders), the helper's job says so, or the CLI's environment has CHURNML_S3_LEGACY=1."""

from __future__ import annotations

import os
from typing import Any

from churnml_loaders.s3_client import Encryption, S3Client
from churnml_loaders.s3_config import S3Config

LEGACY = False


def make(config: S3Config, encryption: Encryption | None = None) -> Any:
    if LEGACY or os.environ.get("CHURNML_S3_LEGACY") == "1":
        from churnml_loaders.s3_client_legacy import S3Client as Legacy

        return Legacy(config)
    return S3Client(config, encryption=encryption)
