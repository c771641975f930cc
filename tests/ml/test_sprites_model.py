"""SpriteNet with tiny random weights: shapes, ONNX parity, safetensors round trips."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genstudio.ml import common  # noqa: E402
from genstudio.ml.sprites import data  # noqa: E402
from genstudio.ml.sprites.model import SpriteNetConfig, build  # noqa: E402


def tiny_cfg() -> SpriteNetConfig:
    return SpriteNetConfig(
        attr_keys=["a", "b"],
        attr_sizes=[3, 5],
        n_classes=9,
        n_poses=6,
        z_dim=4,
        emb_dim=8,
        code_dim=32,
        pose_dim=8,
        ch=(16, 16, 16, 16),
    )


def test_shapes_and_identity_code_shared_across_poses():
    torch.manual_seed(0)
    net, export_cls = build(tiny_cfg())
    attrs = torch.tensor([[0, 1], [2, 4]])
    z = torch.randn(2, 4)
    pose = torch.arange(6)[None].expand(2, 6)
    logits = net(attrs, z, pose)
    assert logits.shape == (2, 6, 9, 32, 32)
    mu, logvar = net.encoder(torch.zeros(2, 3, 9, 32, 32), pose[:, :3])
    assert mu.shape == (2, 4) and logvar.shape == (2, 4)
    idx = export_cls(net)(attrs, z)
    assert idx.shape == (2, 6, 32, 32) and idx.dtype == torch.int64
    assert int(idx.max()) < 9


def test_onnx_export_matches_torch(tmp_path):
    import onnxruntime as ort

    torch.manual_seed(1)
    net, export_cls = build(tiny_cfg())
    net.eval()
    attrs = torch.tensor([[0, 1], [2, 4], [1, 0]])
    z = torch.randn(3, 4)
    path = tmp_path / "m.onnx"
    common.export_onnx(
        export_cls(net),
        (attrs[:2], z[:2]),
        path,
        input_names=["attrs", "z"],
        output_names=["indices"],
        dynamic_axes={"attrs": {0: "b"}, "z": {0: "b"}, "indices": {0: "b"}},
    )
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"attrs": attrs.numpy(), "z": z.numpy()})
    with torch.no_grad():
        want = export_cls(net)(attrs, z).numpy()
    # argmax ties can flip on float noise: demand near-total agreement, not bit equality
    assert got.shape == want.shape
    assert (got == want).mean() > 0.999


def test_checkpoint_round_trip_is_safetensors(tmp_path):
    torch.manual_seed(2)
    net, _ = build(tiny_cfg())
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss = net(
        torch.tensor([[0, 1]]), torch.zeros(1, 4), torch.zeros(1, 2, dtype=torch.long)
    ).mean()
    loss.backward()
    opt.step()
    path = tmp_path / "ck.safetensors"
    common.save_checkpoint(path, common.flat_state(net, opt), {"step": 7})
    assert path.read_bytes()[:1] != b"\x80"  # not a pickle
    net2, _ = build(tiny_cfg())
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-3)
    tensors, meta = common.load_checkpoint(path)
    common.restore_state(net2, opt2, tensors)
    assert meta == {"step": 7}
    for (k, a), (_, b) in zip(net.state_dict().items(), net2.state_dict().items()):
        assert torch.equal(a, b), k
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_training_targets_are_the_procedural_material_codes():
    attrs, frames = data.batch("train", 3, 2, data.vocabulary())
    assert attrs.shape == (2, 15) and frames.shape == (2, 24, 32, 32)
    assert frames.dtype == np.int64 and 0 <= frames.min() and frames.max() < data.n_codes()
    from genstudio.generators.sprites import procedural

    a, seed = data.character("train", 4)
    want = procedural.render_sheet(a, seed).reshape(24, 32, 32, 4)
    assert np.array_equal(procedural.color_lut(a)[frames[1]], want)  # codes + ramps = the sheet


def test_class_weights_favour_rare_codes():
    freq = np.array([0.7, 0.2, 0.09, 0.01, 0.0])
    w = data.class_weights(freq, power=0.5, lo=0.25, hi=4.0)
    assert w[4] == 1.0  # never seen
    assert w[0] < w[1] < w[2] < w[3] <= 4.0 and w[0] >= 0.25
    assert np.allclose(data.class_weights(freq, power=0.0)[:4], 1.0)
