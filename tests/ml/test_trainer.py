"""The one trainer shape (genstudio.ml.trainer) on the music task, with a tiny real base pack.

Real torch training on CPU, real safetensors checkpoints, real ONNX export; the only fakes are a
raised exception standing in for a kill (the real SIGKILLs are in test_train_child.py and
tests/campaigns/train_kill.py) and an out-of-memory error raised on CPU, because there is no GPU
here (the CUDA path itself is unverified without one).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from genstudio.core.errors import GenStudioError, InvalidParamsError  # noqa: E402
from genstudio.generators.music import dataset  # noqa: E402
from genstudio.generators.training import latest_checkpoint, list_runs, read_log  # noqa: E402
from genstudio.ml import lora, trainer  # noqa: E402
from genstudio.ml.music.finetune import MusicTask  # noqa: E402
from genstudio.runtime import registry  # noqa: E402
from genstudio.runtime.packs import find_packs, load_pack  # noqa: E402
from tests.helpers.training import tiny_base, write_pieces  # noqa: E402


class Kill(BaseException):
    """Stands in for SIGKILL inside the process: nothing after it runs (no except Exception)."""


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train")
    data = root / "midi"
    write_pieces(data, 6)
    return data, tiny_base(root / "base")


def _cfg(method: str = "full", **kw) -> trainer.TrainConfig:
    c = dict(method=method, max_steps=10, batch=4, save_every=3, eval_every=5, preview_every=5)
    c.update(kw)
    return trainer.TrainConfig(**c)


def _train(material, run: Path, out: Path, cfg, *, fault=None, ctx=None):
    data, base = material
    task = MusicTask([str(data)], base=base, name="Test")
    return trainer.train(task, run, cfg, ctx or trainer.ConsoleContext(), out=out, fault=fault)


def _weights(pack: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(pack / "weights.safetensors"))


def _max_diff(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return max(float(np.abs(wa[k] - wb[k]).max()) for k in wa)


def test_config_describes_itself_and_refuses_bad_values():
    rows = {r["name"]: r for r in trainer.describe()}
    assert rows["method"]["choices"] == ["auto", "lora", "full"]
    assert rows["rank"]["range"] == [1, 256] and rows["rank"]["help"]
    for bad in ({"rank": 0}, {"lr": float("nan")}, {"method": "qlora"}, {"batch": 2.5},
                {"max_steps": 0, "minutes": 0}, {"device": "tpu"}):  # fmt: skip
        with pytest.raises(InvalidParamsError):
            trainer.TrainConfig.from_dict({"max_steps": 5, **bad})
    with pytest.raises(InvalidParamsError, match="Unknown training setting"):
        trainer.TrainConfig.from_dict({"max_steps": 5, "learning_rate": 1})


@pytest.mark.parametrize("method", ["full", "lora"])
def test_killed_and_resumed_run_ends_with_the_same_weights(material, tmp_path, method):
    ref = _train(material, tmp_path / "ra", tmp_path / "pa", _cfg(method))
    assert ref.status == "done" and ref.step == 10

    def kill(point, step):
        if point == "step" and step == 8:  # after the checkpoint at 6, before the one at 9
            raise Kill()

    with pytest.raises(Kill):
        _train(material, tmp_path / "rb", tmp_path / "pb", _cfg(method), fault=kill)
    assert not (tmp_path / "pb").exists()
    assert latest_checkpoint(tmp_path / "rb")[1]["step"] == 6
    again = _train(material, tmp_path / "rb", tmp_path / "pb", _cfg(method))
    assert again.step == 10
    assert _max_diff(tmp_path / "pa", tmp_path / "pb") == 0.0  # bit-exact on CPU
    rows = read_log(tmp_path / "rb")
    assert any(r.get("event") == "resumed" and r["step"] == 6 for r in rows)
    pack = load_pack(tmp_path / "pb")
    assert pack.raw["training"]["method"] == method
    assert ("adapter.safetensors" in pack.files) == (method == "lora")


def test_kill_between_tensors_and_marker_falls_back_to_the_previous_checkpoint(material, tmp_path):
    ref = _train(material, tmp_path / "ra", tmp_path / "pa", _cfg())

    def kill(point, step):
        if point == "checkpoint" and step == 6:  # tensors written, marker not yet
            raise Kill()

    with pytest.raises(Kill):
        _train(material, tmp_path / "rb", tmp_path / "pb", _cfg(), fault=kill)
    assert (tmp_path / "rb/checkpoints/step-0000006.safetensors").exists()
    assert latest_checkpoint(tmp_path / "rb")[1]["step"] == 3
    _train(material, tmp_path / "rb", tmp_path / "pb", _cfg())
    assert _max_diff(tmp_path / "pa", tmp_path / "pb") == 0.0
    assert ref.step == 10


def test_a_damaged_checkpoint_is_never_resumed_from(material, tmp_path):
    def kill(point, step):
        if point == "step" and step == 7:
            raise Kill()

    with pytest.raises(Kill):
        _train(material, tmp_path / "r", tmp_path / "p", _cfg(), fault=kill)
    newest = tmp_path / "r/checkpoints/step-0000006.safetensors"
    data = bytearray(newest.read_bytes())
    data[-10] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert latest_checkpoint(tmp_path / "r")[1]["step"] == 3
    assert _train(material, tmp_path / "r", tmp_path / "p", _cfg()).step == 10


def test_kill_during_export_leaves_no_pack_listed_and_resume_finishes_it(material, tmp_path):
    models = tmp_path / "models"

    def kill(point, step):
        if point == "export":
            raise Kill()

    with pytest.raises(Kill):
        _train(material, models / ".runs/x", models / "music-x", _cfg(), fault=kill)
    assert not (models / "music-x").exists()
    assert (models / ".music-x.partial" / "model.json").exists()  # complete but not in place
    assert find_packs(models) == []
    registry.set_project_models(models)
    try:
        assert "music-test" not in [e.id for e in registry.list_packs("music")]
        res = _train(material, models / ".runs/x", models / "music-x", _cfg())
        assert res.status == "done"
        entry = {e.id: e for e in registry.list_packs("music")}["music-test"]
        assert entry.source == "project" and entry.styles[0]["title"] == "My style: Test"
    finally:
        registry.set_project_models(None)


def test_disk_full_during_a_checkpoint_is_a_clear_error_and_nothing_is_lost(
    material, tmp_path, monkeypatch
):
    real = trainer.atomic_write_bytes
    calls = {"n": 0}

    def full(path, data, *a, **k):
        if Path(path).name == "step-0000006.safetensors":
            calls["n"] += 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data, *a, **k)

    monkeypatch.setattr(trainer, "atomic_write_bytes", full)
    with pytest.raises(trainer.TrainingError, match="disk is full") as e:
        _train(material, tmp_path / "r", tmp_path / "p", _cfg())
    assert "resume from step 3" in e.value.message and calls["n"] == 1
    assert json.loads((tmp_path / "r/run.json").read_text())["status"] == "failed"
    monkeypatch.setattr(trainer, "atomic_write_bytes", real)
    assert _train(material, tmp_path / "r", tmp_path / "p", _cfg()).step == 10


def test_out_of_memory_splits_the_batch_and_training_goes_on(material, tmp_path, monkeypatch):
    """No GPU here: the task raises torch's CUDA out-of-memory error for pieces above 2."""
    events = []
    ref = _train(material, tmp_path / "ra", tmp_path / "pa", _cfg(max_steps=4))
    real_loss = MusicTask.loss

    def loss(self, net, batch):
        if len(batch[0]) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_loss(self, net, batch)

    monkeypatch.setattr(MusicTask, "loss", loss)
    ctx = trainer.ConsoleContext(lambda n, d: events.append((n, d)))
    res = _train(material, tmp_path / "rb", tmp_path / "pb", _cfg(max_steps=4), ctx=ctx)
    assert res.status == "done"
    ooms = [d for n, d in events if n == "oom"]
    assert [d["micro_batch"] for d in ooms] == [2] and "training goes on" in ooms[0]["message"]
    # gradient accumulation: the same batches (each piece's mean loss weighted by its share,
    # other dropout draws), so training ends where the unsplit run does, not bit for bit
    assert res.metrics["nll"] == pytest.approx(ref.metrics["nll"], abs=0.05)
    assert 0 < _max_diff(tmp_path / "pa", tmp_path / "pb") < 0.01
    assert ref.step == res.step == 4


def test_lora_starts_as_the_base_and_merges_into_plain_weights(material):
    from genstudio.ml import common
    from genstudio.ml.music.model import MusicGPTConfig, build

    _, base = material
    raw = json.loads((base / "model.json").read_text())
    cfg = MusicGPTConfig(**raw["training"]["net_config"])
    net, _ = build(cfg)
    net.load_state_dict(common.load_checkpoint(base / "weights.safetensors")[0])
    net.eval()
    x = torch.randint(0, cfg.vocab, (2, 20))
    before = net(x).detach()
    assert lora.apply(net, ("attn.qkv", "attn.proj", "mlp.0", "mlp.2"), rank=4, alpha=8) == 4
    assert torch.equal(net(x).detach(), before)  # B = 0: the base function exactly
    trainable = [n for n, p in net.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in n for n in trainable)
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith("lora_B"):
                p.normal_(0, 0.05)
    adapted = net(x).detach()
    assert not torch.allclose(adapted, before)
    plain, _ = build(cfg)
    plain.load_state_dict(lora.merged_state_dict(net))
    plain.eval()
    assert torch.allclose(plain(x), adapted, atol=1e-5)
    assert set(lora.adapter_state_dict(net)) == {n for n in net.state_dict() if ".lora_" in n}


def test_start_from_a_fine_tuned_pack(material, tmp_path):
    first = _train(material, tmp_path / "r1", tmp_path / "p1", _cfg(max_steps=4))
    data, _ = material
    task = MusicTask([str(data)], base=first.pack, name="Second")
    res = trainer.train(task, tmp_path / "r2", _cfg(max_steps=4), trainer.ConsoleContext(),
                        out=tmp_path / "p2")  # fmt: skip
    raw = load_pack(res.pack).raw
    assert raw["training"]["base"] == {"id": "music-test", "version": "ft.4"}
    # the style the first fine-tune learned is the starting point, not re-copied from the base
    assert raw["training"]["metrics_before"]["nll"] == pytest.approx(
        load_pack(first.pack).raw["training"]["metrics_after"]["nll"], abs=0.05
    )


def test_runs_list_says_what_can_be_resumed(material, tmp_path):
    models = tmp_path / "models"
    _train(material, models / ".runs/a", models / "music-a", _cfg(max_steps=3))

    def kill(point, step):
        if point == "step" and step == 5:
            raise Kill()

    with pytest.raises(Kill):
        _train(material, models / ".runs/b", models / "music-b", _cfg(), fault=kill)
    runs = {Path(r["folder"]).name: r for r in list_runs(models)}
    assert runs["a"]["status"] == "done" and not runs["a"]["resumable"]
    assert runs["b"]["resumable"] and runs["b"]["checkpoint_step"] == 3


def _material_error(sources) -> str:
    _, report = dataset.scan(sources)
    with pytest.raises(GenStudioError) as e:
        dataset.check_usable(report)
    return e.value.message


def test_bad_material_gets_clear_messages(tmp_path):
    from genstudio.generators.music import midi
    from genstudio.generators.music import score as sc

    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no material" in _material_error([empty]).lower()
    assert "does not exist" in _material_error([tmp_path / "missing"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("hello")
    (other / "zero.mid").write_bytes(b"")
    (other / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with open(other / "huge.mid", "wb") as f:
        f.truncate(midi.MAX_FILE_BYTES + 10)
    drums = sc.Score(
        tracks=[sc.Track("Drums", 0, is_drum=True)],
        notes=[sc.Note(i * 240, 36, 120, 90, 0) for i in range(64)],
    )
    midi.write_midi(drums, other / "drums.mid")
    msg = _material_error([other])
    assert "None of the 5 files can be used" in msg
    _, report = dataset.scan([other])
    why = {Path(f.path).name: f.reason for f in report.files}
    assert why["notes.txt"] == "not a MIDI file (by its name)"
    assert why["zero.mid"].startswith("empty file")
    assert "MB" in why["huge.mid"]
    assert why["drums.mid"].startswith("only drums")
    assert why["bad.mid"]


def test_one_piece_trains_with_a_warning(tmp_path, material):
    _, base = material
    one = tmp_path / "one"
    write_pieces(one, 1)
    task = MusicTask([str(one)], base=base, name="One")
    res = trainer.train(task, tmp_path / "r", _cfg(max_steps=2), trainer.ConsoleContext(),
                        out=tmp_path / "p")  # fmt: skip
    report = json.loads((tmp_path / "r/data-report.json").read_text())
    assert report["used"] == 1 and report["valid_is_train"]
    assert any("Only one piece" in p for p in report["problems"])
    assert res.status == "done"


def test_changed_material_is_not_mixed_into_a_run(tmp_path, material):
    _, base = material
    data = tmp_path / "d"
    write_pieces(data, 3)

    def kill(point, step):
        if point == "step" and step == 4:
            raise Kill()

    task = MusicTask([str(data)], base=base, name="C")
    with pytest.raises(Kill):
        trainer.train(task, tmp_path / "r", _cfg(), trainer.ConsoleContext(), fault=kill)
    write_pieces(data, 4, seed=7)  # files replaced by others
    task = MusicTask([str(data)], base=base, name="C")
    with pytest.raises(GenStudioError, match="changed since the run started"):
        trainer.train(task, tmp_path / "r", _cfg(), trainer.ConsoleContext())


def test_training_settings_are_declared_once():
    """The trainer's config, the studio's training job and ``train music``'s flags read one
    declaration (generators.training.TrainerSettings)."""
    from genstudio import cli
    from genstudio.generators import fields
    from genstudio.generators.training import TrainerSettings, TrainMusicParams

    for job_name, cfg_name in (("rank", "rank"), ("method", "method"), ("steps", "max_steps")):
        job, cfg = fields.field_info(TrainMusicParams, job_name), fields.field_info(trainer.TrainConfig, cfg_name)
        assert job.spec.lo == cfg.spec.lo and job.spec.hi == cfg.spec.hi
        assert job.spec.allowed() == cfg.spec.allowed() and job.default == cfg.default
    assert fields.field_info(trainer.TrainConfig, "rank") == fields.field_info(TrainerSettings, "rank")
    argv = ["train", "music", "--out", "o", "--data", "d", "--rank", "300"]
    args = cli.build_parser(argv).parse_args(argv)
    with pytest.raises(InvalidParamsError, match="(?i)rank"):
        TrainMusicParams.from_dict({**fields.from_args(args, TrainMusicParams), "out": "o", "run": "r"})
