"""Tiny ONNX models built with onnx.helper, for runtime tests (no downloads, no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def linear_model(
    path: Path,
    *,
    in_dim: int = 4,
    out_dim: int = 3,
    seed: int = 0,
    external_data: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write ``y = x @ W + b`` (x: (N, in_dim) float32) to ``path``; returns (W, b).

    With ``external_data``, the initializers are stored in that file beside the model.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((in_dim, out_dim)).astype(np.float32)
    b = rng.standard_normal((out_dim,)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y"]),
        ],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", in_dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", out_dim])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external_data:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=external_data,
            size_threshold=0,
        )
    else:
        onnx.save_model(model, str(path))
    return w, b


def if_model_with_subgraph_tensor(path: Path) -> None:
    """``y = If(cond, then: W, else: -W)`` where W lives in the then-branch subgraph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    then_graph = helper.make_graph(
        [helper.make_node("Identity", ["Wsub"], ["t_out"])],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [2, 3])],
        initializer=[numpy_helper.from_array(w, "Wsub")],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["e_out"], value=numpy_helper.from_array(-w, "neg"))],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [2, 3])],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], then_branch=then_graph, else_branch=else_graph)],
        "branchy",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))


def point_external_data_at(onnx_path: Path, location: str, *, tensor: str | None = None) -> None:
    """Rewrite the external-data location of ``tensor`` (default: every external tensor; a
    named tensor that is stored inline is turned into an external one) - like an attacker
    editing a downloaded model."""
    import onnx

    from genstudio.runtime.packs import _iter_node_tensors, _iter_tensors

    model = onnx.load(str(onnx_path), load_external_data=False)
    tensors = list(_iter_tensors(model.graph))
    for fn in model.functions:
        for node in fn.node:
            tensors.extend(_iter_node_tensors(node))
    hit = False
    for t in tensors:
        if tensor is not None and t.name != tensor:
            continue
        if tensor is None and t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        t.ClearField("raw_data")
        t.data_location = onnx.TensorProto.EXTERNAL
        del t.external_data[:]
        entry = t.external_data.add()
        entry.key, entry.value = "location", location
        hit = True
    assert hit, "no tensor rewritten"
    onnx_path.write_bytes(model.SerializeToString())
