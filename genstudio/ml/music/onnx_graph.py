"""MusicGPT's inference graph, written node by node with ONNX Runtime's fused attention.

``torch.onnx.export`` of the step function gives ~120 nodes after ONNX Runtime's optimiser, a
third of them the reshapes, transposes, concatenations, mask and softmax of attention. At batch
1 and width 128 a step costs little more than the sum of its kernel launches, so this module
writes the same computation with one ``com.microsoft.MultiHeadAttention`` node per layer (its
``past_key``/``past_value`` inputs and ``present_*`` outputs are the KV cache; ``unidirectional``
makes it causal with the past offset) - about a quarter fewer nodes per token.

Cache layout (``model.json`` ``"kv_layout": "bhpd"``): keys and values both (B, H, P, Dh).
The weights come straight from the torch module's ``state_dict``; ``tests/ml/test_music_model.py``
checks the logits against torch's full forward, prompt and cached steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KV_LAYOUT = "bhpd"
OPSET = 17


def build_step_graph(state: dict[str, Any], cfg) -> bytes:
    """Serialized ONNX model: ``tokens`` (B, T) int64 + ``past_key_i``/``past_value_i``
    (B, H, P, Dh) -> ``logits`` (B, V) of the last position + ``present_*`` (B, H, P+T, Dh)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in state.items()}
    d, h, dh = cfg.d_model, cfg.n_head, cfg.d_model // cfg.n_head
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, ins: list[str], outs: list[str] | str, domain: str = "", **attrs) -> str:
        outs = [outs] if isinstance(outs, str) else outs
        nodes.append(helper.make_node(op, ins, outs, domain=domain or None, **attrs))
        return outs[0]

    def linear(x: str, prefix: str, out: str) -> str:
        wt = const(f"{prefix}.wT", w[f"{prefix}.weight"].T.copy())
        y = node("MatMul", [x, wt], f"{out}.mm")
        return node("Add", [y, const(f"{prefix}.b", w[f"{prefix}.bias"])], out)

    def layernorm(x: str, prefix: str, out: str) -> str:
        return node(
            "LayerNormalization",
            [
                x,
                const(f"{prefix}.w", w[f"{prefix}.weight"]),
                const(f"{prefix}.b", w[f"{prefix}.bias"]),
            ],
            out,
            axis=-1,
            epsilon=1e-5,
        )

    # positions P .. P+T-1 (P from the first value cache, T from the tokens)
    tok_emb = const("tok.weight", w["tok.weight"])
    node("Shape", ["past_value_0"], "pv_shape")
    node("Gather", ["pv_shape", const("i2", np.array(2, np.int64))], "P")
    node("Shape", ["tokens"], "tok_shape")
    node("Gather", ["tok_shape", const("i1", np.array(1, np.int64))], "T")
    node("Add", ["P", "T"], "PT")
    node("Range", ["P", "PT", const("one", np.array(1, np.int64))], "pos")
    node("Gather", [const("pos.weight", w["pos.weight"]), "pos"], "pos_emb")
    node("Gather", [tok_emb, "tokens"], "tok_e")
    x = node("Add", ["tok_e", "pos_emb"], "x0")
    for i in range(cfg.n_layer):
        p = f"blocks.{i}"
        a = layernorm(x, f"{p}.ln1", f"l{i}.ln1")
        qkv = linear(a, f"{p}.attn.qkv", f"l{i}.qkv")
        node("Split", [qkv, const(f"l{i}.split", np.array([d, d, d], np.int64))],
             [f"l{i}.q", f"l{i}.k", f"l{i}.v"], axis=2)  # fmt: skip
        node(
            "MultiHeadAttention",
            [f"l{i}.q", f"l{i}.k", f"l{i}.v", "", "", "", f"past_key_{i}", f"past_value_{i}"],
            [f"l{i}.att", f"present_key_{i}", f"present_value_{i}"],
            domain="com.microsoft",
            num_heads=h,
            unidirectional=1,
        )
        x = node("Add", [x, linear(f"l{i}.att", f"{p}.attn.proj", f"l{i}.proj")], f"l{i}.x1")
        m = layernorm(x, f"{p}.ln2", f"l{i}.ln2")
        m = linear(m, f"{p}.mlp.0", f"l{i}.fc1")
        m = node("Gelu", [m], f"l{i}.gelu", domain="com.microsoft")
        x = node("Add", [x, linear(m, f"{p}.mlp.2", f"l{i}.fc2")], f"l{i}.x2")
    node("Sub", ["T", "one"], "last")
    node("Gather", [x, "last"], "x_last", axis=1)  # (B, D)
    y = layernorm("x_last", "ln_f", "y")
    node("MatMul", [y, const("tok.wT", w["tok.weight"].T.copy())], "logits")

    f32 = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "new"])]
    outputs = [helper.make_tensor_value_info("logits", f32, ["batch", cfg.vocab])]
    for i in range(cfg.n_layer):
        for kind in ("key", "value"):
            inputs.append(
                helper.make_tensor_value_info(f"past_{kind}_{i}", f32, ["batch", h, "past", dh])
            )
            outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", f32, ["batch", h, "total", dh]))  # fmt: skip
    graph = helper.make_graph(nodes, "music_gpt_step", inputs, outputs, inits)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)],
        producer_name="genstudio",
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()
