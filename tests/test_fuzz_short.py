"""The short CI version of the fuzzing campaign (tests/campaigns/fuzz.py, issue 11).

1. Every fuzz target replays its seed corpus (tests/campaigns/fuzz_seeds/<target>/) and every
   reproducer of an earlier finding (tests/campaigns/fuzz_repro/<target>/) through the real
   entry point, in this process: each input must end normally or with a GenStudioError that
   has a message, and no Pillow decoder outside the allow-list may be reached. No atheris
   needed.
2. A short coverage-guided run of every target (atheris; about 1 CPU-second each, two at a
   time): 0 tracebacks, 0 hangs over 5 s, 0 processes over 1 GiB. Skipped only when atheris is
   not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.campaigns import fuzz

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(fuzz.TARGETS))
def test_seed_corpus_and_reproducers_replay_without_findings(name: str, tmp_path: Path) -> None:
    seeds = fuzz.seed_files(name)
    assert seeds, f"no seeds for {name}: run python -m tests.campaigns.fuzz --make-seeds {name}"
    bad = fuzz.replay(name, seeds + fuzz.repro_files(name), tmp_path)
    assert not bad, "\n".join(f"{f.relative_to(REPO)}: {sig}: {msg}" for f, sig, msg in bad)


def test_every_parser_of_user_input_has_a_target() -> None:
    wanted = {
        *(f"image_{f}" for f in ("png", "jpeg", "webp", "bmp", "gif", "tiff")),
        *(f"palette_{f}" for f in ("gpl", "hex", "pal", "png")),
        "midi", "wav", "project_json", "sidecar", "model_json", "onnx", "thumbnail",
        "metadata_file", "metadata_a1111", "metadata_comfyui", "metadata_invokeai",
        "metadata_genstudio", "soundfont",
    }  # fmt: skip
    assert wanted <= set(fuzz.TARGETS)


def test_harness_reports_a_traceback_and_an_empty_message(tmp_path: Path) -> None:
    """The harness itself: an unexpected exception and a GenStudioError without a message are
    findings, a GenStudioError with a message is not."""
    from genstudio.core.errors import GenStudioError, InvalidParamsError

    def run(data: bytes, work: Path) -> None:
        if data == b"boom":
            raise KeyError("x")
        if data == b"empty":
            raise GenStudioError("")
        raise InvalidParamsError("A clear message.", hint="Do this.")

    h = fuzz.Harness(fuzz.Target("t", run, dict, ""), tmp_path)
    h.check(b"fine")
    with pytest.raises(KeyError):
        h.check(b"boom")
    with pytest.raises(fuzz.EmptyMessage):
        h.check(b"empty")


def test_harness_reports_an_input_that_spins_as_a_hang(tmp_path: Path) -> None:
    def run(data: bytes, work: Path) -> None:
        while True:
            pass

    h = fuzz.Harness(
        fuzz.Target("spin", run, dict, ""), tmp_path, tmp_path / "findings", cpu_timeout=0.2
    )
    h.one_input(b"x")
    (info,) = [json.loads(p.read_text()) for p in (tmp_path / "findings").glob("*.json")]
    assert info["exception"] == "Hang"


def test_forbidden_pillow_decoder_is_a_finding(tmp_path: Path) -> None:
    """EPS/ICO/... bytes opened without the format allow-list are caught (issue 11 #1)."""
    import io

    from PIL import Image, UnidentifiedImageError

    eps = (fuzz.SEEDS_DIR / "thumbnail" / "foreign.eps").read_bytes()
    Image.init()
    before = dict(Image.OPEN)
    restore = fuzz._guard_pillow()
    try:
        with pytest.raises(fuzz.ForbiddenDecoder):
            Image.open(io.BytesIO(eps))
        with pytest.raises(UnidentifiedImageError):  # the allow-list never reaches EPS
            Image.open(io.BytesIO(eps), formats=sorted(fuzz.ALLOWED_PIL_FORMATS))
    finally:
        restore()
    assert Image.OPEN == before


@pytest.mark.slow
def test_short_coverage_guided_run_of_every_target(tmp_path: Path) -> None:
    if importlib.util.find_spec("atheris") is None:
        pytest.skip("atheris is not installed (add it to the dev extras)")
    out = tmp_path / "fuzz.json"
    cmd = [
        sys.executable, "-m", "tests.campaigns.fuzz_all", "--seconds", "1", "--jobs", "2",
        "--workdir", str(tmp_path / "work"), "--out", str(out), "--max-children", "1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert out.is_file(), proc.stderr[-4000:]
    report = json.loads(out.read_text())
    problems = [
        f"{t['target']}: {f['kind']} {f['signature']} {f['message'][:200]} ({f['input']})"
        for t in report["targets"]
        for f in t["findings"]
    ]
    dead = [
        f"{t['target']}: {c.get('stderr_tail', '')[-600:]}"
        for t in report["targets"]
        for c in t["children"]
        if c["rc"] != 0 and not c["artifacts"]
    ]
    assert not dead, "\n".join(dead)
    assert not problems, "\n".join(problems)
    assert all(t["execs"] > 0 for t in report["targets"]), report["targets"]
    assert report["totals"]["max_peak_rss_mb"] < 1024


# --- findings fixed in the readers this campaign owns ------------------------------------------


def _run_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_image_metadata_reader_refuses_a_fifo_without_blocking(tmp_path: Path) -> None:
    """read_metadata on a FIFO used to block forever in open(); it is refused unread now."""
    import os

    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    code = (
        "from genstudio.generators.images import metadata as md\n"
        "for f in (md.read_metadata, md.png_text_chunks, md.read_genstudio_record):\n"
        "    try:\n"
        f"        f({str(fifo)!r})\n"
        "    except md.ImageMetadataError as e:\n"
        "        assert 'not a regular file' in e.message, e.message\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
        "print('ok')\n"
    )
    try:
        proc = _run_child(code)
    except subprocess.TimeoutExpired:
        pytest.fail("read_metadata blocked on a FIFO")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_image_metadata_reader_refuses_devices_and_folders(tmp_path: Path) -> None:
    from genstudio.generators.images import metadata as md

    with pytest.raises(md.ImageMetadataError, match="not a regular file"):
        md.read_metadata("/dev/zero")
    with pytest.raises(md.ImageMetadataError, match="a folder"):
        md.read_metadata(tmp_path)
    with pytest.raises(md.ImageMetadataError, match="cannot be read"):
        md.read_metadata("bad\0name.png")


def test_wav_reader_keeps_whole_frames_of_a_truncated_data_chunk() -> None:
    """fuzz_repro/wav/truncated_24bit.wav: a data chunk cut inside a 24-bit frame made the
    studio's reader raise ValueError (cannot reshape); audio_io.read_wav keeps whole frames."""
    from genstudio.generators.music import audio_io

    audio, rate = audio_io.read_wav(fuzz.REPRO_DIR / "wav" / "truncated_24bit.wav")
    assert rate == 8000 and audio.shape == (1, 1)
    assert audio[0, 0] == pytest.approx(0x030201 / float(1 << 23))


def test_wav_reader_round_trip_and_refusals(tmp_path: Path) -> None:
    import os

    import numpy as np

    from genstudio.core.errors import InvalidParamsError
    from genstudio.generators.music import audio_io

    x = np.stack([np.linspace(-1, 1, 101), np.linspace(1, -1, 101)], 1).astype(np.float32)
    path = audio_io.write_wav(tmp_path / "a.wav", x, 22050)
    audio, rate = audio_io.read_wav(path)
    assert rate == 22050 and audio.shape == (101, 2)
    assert np.abs(audio - x).max() <= 1.5 / 32767
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for bad, why in (
        (fifo, "not a regular file"),
        (tmp_path / "missing.wav", "does not exist"),
        (b"RIFF\0\0\0\0WAVEjunk", "damaged"),
        (b"ID3\x04 not a wav", "not a WAV file"),
    ):
        with pytest.raises(InvalidParamsError, match=why):
            audio_io.read_wav(bad)


def test_comfyui_graph_with_a_non_ascii_digit_node_id_is_still_read() -> None:
    """fuzz_repro/metadata_comfyui/superscript_node_id.json: "²".isdigit() is true but int()
    refuses it, so sorting the samplers raised ValueError and the whole graph read as None."""
    from genstudio.generators.images import metadata as md

    text = (fuzz.REPRO_DIR / "metadata_comfyui" / "superscript_node_id.json").read_text()
    png = fuzz._BASE_PNG()
    chunk = fuzz._png_chunk(b"tEXt", b"prompt\0" + text.encode("latin-1"))
    s = md.read_metadata(png[:33] + chunk + png[33:])
    assert s is not None and s.source == "comfyui" and s.seed == 2  # node "3" sorts first


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fmt", "mode", "call"),
    [
        ("GIF", "P", "load_mask(p, size=None)"),
        ("PNG", "I;16", "load_mask(p, size=None)"),
        ("PNG", "I;16", "load_init_image_and_size(p, size=(64, 64))"),
    ],
)
def test_image_readers_stay_under_1_gib_for_a_small_file_of_a_big_image(
    fmt: str, mode: str, call: str, tmp_path: Path
) -> None:
    """Fuzz finding (image_gif peak RSS): a 37 KB GIF of 7000x7000 (49 MP, under the 50 MP
    limit) made load_mask peak at 1.4 GB, a 95 KB 16-bit PNG 1.07 GB (issue 11: < 1 GB)."""
    from PIL import Image

    p = tmp_path / f"big.{fmt.lower()}"
    Image.new(mode, (7000, 7000)).save(p, fmt)
    assert p.stat().st_size < 200_000
    code = (
        "import resource\n"
        "from genstudio.generators.images import imageio\n"
        f"p = {str(p)!r}\n"
        "try:\n"
        f"    imageio.{call}\n"
        "except imageio.InvalidParamsError as e:\n"
        "    assert e.message\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork (a big
        # pytest process would be measured), while VmHWM belongs to the new address space
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')]\n"
        "print(int(hwm[0].split()[1]) // 1024 if hwm else "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    proc = _run_child(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) < 1024, f"peak {proc.stdout.split()[-1]} MB"


def test_wav_reader_turns_the_stdlib_runtimeerror_into_a_clear_error() -> None:
    """fuzz_repro/wav/chunk_seek_runtimeerror.wav: a chunk running past the data makes the
    stdlib wave module raise a bare RuntimeError."""
    from genstudio.core.errors import InvalidParamsError
    from genstudio.generators.music import audio_io

    with pytest.raises(InvalidParamsError, match=r"damaged or not PCM \(RuntimeError\)"):
        audio_io.read_wav(fuzz.REPRO_DIR / "wav" / "chunk_seek_runtimeerror.wav")


def test_soundfont_without_even_a_fallback_preset_is_a_soundfont_error(tmp_path: Path) -> None:
    """fuzz_repro/soundfont/no_fallback_preset.sf2: tinysoundfont loads it, but selecting the
    piano that replaces a missing preset raised a bare RuntimeError while rendering."""
    import shutil

    pytest.importorskip("tinysoundfont")
    from genstudio.generators.music import score as sc
    from genstudio.generators.music import soundfont

    font = tmp_path / "font.sf2"
    shutil.copyfile(fuzz.REPRO_DIR / "soundfont" / "no_fallback_preset.sf2", font)
    score = sc.Score(
        notes=[sc.Note(start=0, duration=120, pitch=69, velocity=100, track=0)],
        tracks=[sc.Track("lead", program=5)],
        tempo=240.0,
    )
    try:
        soundfont.render_soundfont(score, font, 8000)
    except soundfont.SoundFontError as e:
        assert "SoundFont" in e.message
