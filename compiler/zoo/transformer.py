"""A BERT-tiny-sized transformer encoder as torch.onnx.export writes a Hugging Face
``BertModel`` at opset 17: embedding Gathers (word, position, token type), LayerNormalization,
the extended attention mask (Unsqueeze, Cast, Sub, Mul), per layer MatMul + Add projections,
the head split through ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` and Transpose,
batched MatMul, Div by sqrt(head size), Add of the mask, Softmax, the Erf-based Gelu of the
feed-forward block, residual Adds; the pooler (Gather of the first token, MatMul + Add,
Tanh)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_builder import OnnxBuilder

__all__ = ["bert_tiny", "BERT_TINY"]

BERT_TINY = {"layers": 2, "hidden": 128, "heads": 2, "intermediate": 512, "vocab": 30522,
             "positions": 512, "sequence": 128}
"""Google's BERT-tiny (L=2, H=128, A=2) dimensions, at sequence length 128."""


def bert_tiny(seed: int = 0, sequence: int = BERT_TINY["sequence"]) -> Any:
    """The encoder with seeded weights; inputs ``input_ids``, ``attention_mask``,
    ``token_type_ids`` (int64 ``[1, sequence]``), outputs ``last_hidden_state`` and
    ``pooler_output``."""
    cfg = BERT_TINY
    hid, heads, inter = cfg["hidden"], cfg["heads"], cfg["intermediate"]
    hd = hid // heads
    b = OnnxBuilder("bert_tiny", seed, opset=17)
    i64 = np.int64
    ids = b.input("input_ids", (1, sequence), "int64")
    mask = b.input("attention_mask", (1, sequence), "int64")
    types = b.input("token_type_ids", (1, sequence), "int64")

    def table(rows: int, name: str) -> str:
        return b.const(b.rng.normal(0, 0.02, (rows, hid)), name)

    def layer_norm(x: str, name: str) -> str:
        g = b.const(b.rng.uniform(0.8, 1.2, hid), f"{name}.weight")
        bb = b.const(b.rng.normal(0, 0.02, hid), f"{name}.bias")
        return b.node("LayerNormalization", [x, g, bb], f"{name}/LayerNormalization",
                      axis=-1, epsilon=1e-12)

    # Embeddings: position ids sliced from the registered buffer to the input's length.
    emb = "/embeddings"
    word = b.node("Gather", [table(cfg["vocab"], "embeddings.word_embeddings.weight"), ids],
                  f"{emb}/word_embeddings/Gather")
    shape = b.node("Shape", [ids], f"{emb}/Shape")
    seq = b.node("Gather", [shape, b.const(1, f"{emb}/Constant", i64)], f"{emb}/Gather",
                 axis=0)
    seq_u = b.node("Unsqueeze", [seq, b.const([0], f"{emb}/Constant_1", i64)],
                   f"{emb}/Unsqueeze")
    buffer = b.const(np.arange(cfg["positions"])[None, :], "embeddings.position_ids", i64)
    pos_ids = b.node("Slice", [buffer, b.const([0], f"{emb}/Constant_2", i64), seq_u,
                               b.const([1], f"{emb}/Constant_3", i64),
                               b.const([1], f"{emb}/Constant_4", i64)], f"{emb}/Slice")
    tok = b.node("Gather", [table(2, "embeddings.token_type_embeddings.weight"), types],
                 f"{emb}/token_type_embeddings/Gather")
    x = b.node("Add", [word, tok], f"{emb}/Add")
    pos = b.node("Gather", [table(cfg["positions"], "embeddings.position_embeddings.weight"),
                            pos_ids], f"{emb}/position_embeddings/Gather")
    x = b.node("Add", [x, pos], f"{emb}/Add_1")
    x = layer_norm(x, f"{emb}/LayerNorm")
    # Extended attention mask: (1 - mask[:, None, None, :]) * finfo(float32).min
    m = b.node("Unsqueeze", [mask, b.const([1], "/Constant", i64)], "/Unsqueeze")
    m = b.node("Unsqueeze", [m, b.const([2], "/Constant_1", i64)], "/Unsqueeze_1")
    m = b.node("Cast", [m], "/Cast", to=1)
    m = b.node("Sub", [b.const(1.0, "/Constant_2"), m], "/Sub")
    ext = b.node("Mul", [m, b.const(np.finfo(np.float32).min, "/Constant_3")], "/Mul")

    def heads_split(y: str, p: str) -> str:
        s = b.node("Shape", [y], f"{p}/Shape")
        b0 = b.node("Gather", [s, b.const(0, f"{p}/Constant", i64)], f"{p}/Gather", axis=0)
        s1 = b.node("Gather", [s, b.const(1, f"{p}/Constant_1", i64)], f"{p}/Gather_1", axis=0)
        parts = [b.node("Unsqueeze", [v, b.const([0], f"{p}/Constant_{2 + k}", i64)],
                        f"{p}/Unsqueeze_{k}") for k, v in enumerate((b0, s1))]
        new = b.node("Concat", [*parts, b.const([heads], f"{p}/Constant_4", i64),
                                b.const([hd], f"{p}/Constant_5", i64)], f"{p}/Concat", axis=0)
        r = b.node("Reshape", [y, new], f"{p}/Reshape", allowzero=0)
        return b.node("Transpose", [r], f"{p}/Transpose", perm=[0, 2, 1, 3])

    for layer in range(cfg["layers"]):
        p = f"/encoder/layer.{layer}"
        a = f"{p}/attention/self"
        q = heads_split(b.matmul_add(x, hid, hid, f"{a}/query", gain=1.0), f"{a}/q")
        k = heads_split(b.matmul_add(x, hid, hid, f"{a}/key", gain=1.0), f"{a}/k")
        v = heads_split(b.matmul_add(x, hid, hid, f"{a}/value", gain=1.0), f"{a}/v")
        kt = b.node("Transpose", [k], f"{a}/Transpose_3", perm=[0, 1, 3, 2])
        scores = b.node("MatMul", [q, kt], f"{a}/MatMul")
        scores = b.node("Div", [scores, b.const(np.sqrt(hd), f"{a}/Constant_6")], f"{a}/Div")
        scores = b.node("Add", [scores, ext], f"{a}/Add")
        probs = b.node("Softmax", [scores], f"{a}/Softmax", axis=-1)
        ctx = b.node("MatMul", [probs, v], f"{a}/MatMul_1")
        ctx = b.node("Transpose", [ctx], f"{a}/Transpose_4", perm=[0, 2, 1, 3])
        s = b.node("Shape", [ctx], f"{a}/Shape_3")
        g0 = b.node("Gather", [s, b.const(0, f"{a}/Constant_7", i64)], f"{a}/Gather_6",
                    axis=0)
        g1 = b.node("Gather", [s, b.const(1, f"{a}/Constant_8", i64)], f"{a}/Gather_7",
                    axis=0)
        u = [b.node("Unsqueeze", [v2, b.const([0], f"{a}/Constant_{9 + j}", i64)],
                    f"{a}/Unsqueeze_{6 + j}") for j, v2 in enumerate((g0, g1))]
        new = b.node("Concat", [*u, b.const([hid], f"{a}/Constant_11", i64)],
                     f"{a}/Concat_3", axis=0)
        ctx = b.node("Reshape", [ctx, new], f"{a}/Reshape_3", allowzero=0)
        out = b.matmul_add(ctx, hid, hid, f"{p}/attention/output/dense", gain=1.0)
        x = layer_norm(b.node("Add", [out, x], f"{p}/attention/output/Add"),
                       f"{p}/attention/output/LayerNorm")
        f = b.matmul_add(x, hid, inter, f"{p}/intermediate/dense", gain=1.0)
        g = f"{p}/intermediate/intermediate_act_fn"
        e = b.node("Div", [f, b.const(np.sqrt(2.0), f"{g}/Constant")], f"{g}/Div")
        e = b.node("Erf", [e], f"{g}/Erf")
        e = b.node("Add", [e, b.const(1.0, f"{g}/Constant_1")], f"{g}/Add")
        e = b.node("Mul", [f, e], f"{g}/Mul")
        e = b.node("Mul", [e, b.const(0.5, f"{g}/Constant_2")], f"{g}/Mul_1")
        out = b.matmul_add(e, inter, hid, f"{p}/output/dense", gain=1.0)
        x = layer_norm(b.node("Add", [out, x], f"{p}/output/Add"), f"{p}/output/LayerNorm")
    b.nodes[-1].output[0] = "last_hidden_state"
    x = "last_hidden_state"
    first = b.node("Gather", [x, b.const(0, "/pooler/Constant", i64)], "/pooler/Gather",
                   axis=1)
    pooled = b.matmul_add(first, hid, hid, "/pooler/dense", gain=1.0)
    b.node("Tanh", [pooled], "/pooler/activation/Tanh")
    b.nodes[-1].output[0] = "pooler_output"
    b.output("last_hidden_state", (1, sequence, hid))
    b.output("pooler_output", (1, hid))
    return b.model()
