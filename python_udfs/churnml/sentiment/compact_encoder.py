"""The sentiment engine's encoder: all-MiniLM-L6-v2 with int8 weights, one text at a time.

Why not SentenceTransformer.encode: for one short message (the call-center case) the
float32 model costs ~13-15 ms on one of these cores, and a message with clauses (the
MIXED rule scores each clause too) two or three times that. The matrix products are
compute-bound at 10-30 rows: float32 runs at ~30 GMAC/s here, int8 at ~120. So the
sentiment engine runs the same network with
- the Linear layers' weights quantized to int8 per output channel (dynamic quantization:
  activations are quantized per call, products accumulate in int32), Q, K and V fused
  into one product per layer;
- a forward pass written out in ~20 tensor operations per layer and compiled with
  TorchScript, so no HuggingFace module dispatch runs per call.
Embeddings, layer norms, attention and mean pooling stay float32. The shipped head is
trained on these embeddings (`train_head`); on the held-out sets it does at least as well
as the float32 model's head did (docs/sentiment.md has the figures). Dropping layers was
measured too and rejected: with 3 or 4 of the 6 layers the aggregate accuracy held, but
walkthrough messages flipped ("You charged me extra again!" read as positive).

One text per forward pass: dynamic quantization takes its activation scale from the
whole input tensor, so texts padded into one batch would change each other's
embeddings. Alone, a text's embedding depends on that text only: the same in a one-row
call and in a million-row statement. Batching would not be faster anyway: at these
sizes the cost is the arithmetic, and padding only adds to it.

Churn models' text features keep the float32 model (`encoder.embed`), so models trained
on them score exactly as before.
"""

from __future__ import annotations

import copy
import threading
import warnings
from typing import Any, ClassVar

from churnml.lazy_numpy import np

HIDDEN = 384
HEADS = 12
LAYER_NORM_EPS = 1e-12  # BertConfig.layer_norm_eps of all-MiniLM-L6-v2
# The embedding a head is trained on, recorded in its weights ("embedding"): heads are
# only ever applied to the embedding they were fitted to.
NAME = "all-MiniLM-L6-v2, int8 linear layers (per-channel dynamic quantization), mean pooling, L2-normalised"

_ENCODER: Any = None
_LOCK = threading.Lock()


def compact_encoder() -> Any:
    """The process's compact encoder (built from the float32 model on first use, ~0.5 s)."""
    global _ENCODER
    if _ENCODER is None:
        with _LOCK:
            if _ENCODER is None:
                from churnml.sentiment import encoder

                _ENCODER = _build(encoder.model())
    return _ENCODER


def _build(sentence_model: Any) -> Any:
    import torch

    module = _module_class()(sentence_model[0].auto_model)
    module.eval()
    # torch.ao's quantization API warns that it moves to torchao; the warning would land
    # in the server log on every backend's first message.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(module)
    return CompactEncoder(sentence_model.tokenizer, scripted, int(sentence_model.max_seq_length))


class CompactEncoder:
    """Word-piece tokenizer + scripted int8 network: one text -> its normalised embedding."""

    def __init__(self, tokenizer: Any, network: Any, max_tokens: int) -> None:
        # The `tokenizers` object under the HuggingFace wrapper, copied so that no other
        # caller's truncation or padding settings reach it: ~20 µs a text instead of the
        # wrapper's ~500 µs, which matters when a message is scored in 2-4 ms.
        self._tokenizer = copy.deepcopy(tokenizer.backend_tokenizer)
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._network = network
        self._max_tokens = max_tokens

    def ids(self, text: str) -> list[int]:
        """[CLS] word pieces [SEP], cut to the model's max_seq_length as sentence-transformers cuts."""
        ids = self._tokenizer.encode(text).ids
        if len(ids) > self._max_tokens:
            ids = ids[: self._max_tokens - 1] + ids[-1:]
        return ids

    def embed(self, texts: list[str]) -> Any:
        """float32 (len(texts), 384), L2-normalised; each text in a forward pass of its own."""
        import torch

        out = np.empty((len(texts), HIDDEN), dtype=np.float32)
        with torch.inference_mode():
            for i, text in enumerate(texts):
                out[i] = self._network(torch.tensor([self.ids(text)]))[0].numpy()
        return out


def _module_class() -> type:
    """The nn.Module, defined on first use so that importing this module needs no torch."""
    import torch
    from torch import nn
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    def quantized(weight: torch.Tensor, bias: torch.Tensor) -> nn.Module:
        linear = nn.Linear(weight.shape[1], weight.shape[0])
        linear.weight.data = weight.detach().clone()
        linear.bias.data = bias.detach().clone()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quantize_dynamic(nn.Sequential(linear), {nn.Linear: per_channel_dynamic_qconfig},
                                    dtype=torch.qint8)[0]

    def norm(layer_norm: nn.Module) -> nn.LayerNorm:
        out = nn.LayerNorm(HIDDEN, eps=LAYER_NORM_EPS)
        out.weight.data = layer_norm.weight.detach().clone()
        out.bias.data = layer_norm.bias.detach().clone()
        return out

    class Layer(nn.Module):
        __constants__: ClassVar = ["heads", "head_size", "hidden"]  # TorchScript: constants, not globals

        def __init__(self, bert_layer: nn.Module) -> None:
            super().__init__()
            self.heads, self.head_size, self.hidden = HEADS, HIDDEN // HEADS, HIDDEN
            attention = bert_layer.attention.self
            self.qkv = quantized(
                torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]),
                torch.cat([attention.query.bias, attention.key.bias, attention.value.bias]))
            self.attention_out = quantized(bert_layer.attention.output.dense.weight,
                                           bert_layer.attention.output.dense.bias)
            self.attention_norm = norm(bert_layer.attention.output.LayerNorm)
            self.intermediate = quantized(bert_layer.intermediate.dense.weight, bert_layer.intermediate.dense.bias)
            self.output = quantized(bert_layer.output.dense.weight, bert_layer.output.dense.bias)
            self.output_norm = norm(bert_layer.output.LayerNorm)

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            batch, tokens = hidden.shape[0], hidden.shape[1]
            qkv = self.qkv(hidden).view(batch, tokens, 3, self.heads, self.head_size).permute(2, 0, 3, 1, 4)
            context = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
            context = context.transpose(1, 2).reshape(batch, tokens, self.hidden)
            hidden = self.attention_norm(self.attention_out(context) + hidden)
            # BERT's "gelu" is the exact (erf) one
            return self.output_norm(self.output(nn.functional.gelu(self.intermediate(hidden))) + hidden)

    class Network(nn.Module):
        def __init__(self, bert: nn.Module) -> None:
            super().__init__()
            embeddings = bert.embeddings
            self.word = nn.Parameter(embeddings.word_embeddings.weight.detach(), requires_grad=False)
            self.position = nn.Parameter(embeddings.position_embeddings.weight.detach(), requires_grad=False)
            # every token is of segment 0: single texts, never pairs
            self.segment = nn.Parameter(embeddings.token_type_embeddings.weight.detach()[0].clone(),
                                        requires_grad=False)
            self.embedding_norm = norm(embeddings.LayerNorm)
            self.layers = nn.ModuleList([Layer(layer) for layer in bert.encoder.layer])

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            # one unpadded text: no attention mask, and the mean is over every token
            tokens = ids.shape[1]
            hidden = self.embedding_norm(self.word[ids] + self.position[:tokens] + self.segment)
            for layer in self.layers:
                hidden = layer(hidden)
            # sentence-transformers' mean pooling, then L2 normalisation
            return nn.functional.normalize(hidden.mean(1), p=2.0, dim=1)

    return Network
