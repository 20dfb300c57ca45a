"""The text encoder churn models use for text features (e.g. the latest call transcript).

Feature specs record the encoder's name; scoring refuses a spec trained with
another encoder. The encoder (torch + sentence-transformers) is imported only when
a model with a text feature is trained or scored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ENCODER_NAME = "all-MiniLM-L6-v2"


def _minilm(texts: list[str]) -> Any:
    from churnml.sentiment import embed

    return embed(texts)


_minilm.encoder_name = ENCODER_NAME  # type: ignore[attr-defined]  # the name train's NOTICE shows


def has_text_features(spec: Any) -> bool:
    return any(f.group == "text" for f in spec.features)


def embedder_for(spec: Any) -> Callable[[list[str]], Any] | None:
    """The encoder a spec needs, or None when it has no text feature (so torch stays unloaded)."""
    return _minilm if has_text_features(spec) else None
