"""``--dtype auto``: the probe's decision (never a dtype it measured slower), its cache, the
CLI line that names the resolved dtype, unit keys in the resolved dtype, a run that keeps its
dtype, and the ladder's training precision.

The probe's timer (``time_matmuls``) and the CPU's identity are monkeypatched, so the tests
decide nothing from this machine's speed; the suite's ``$TRACKER_AUTO_DTYPE`` pin
(tests/conftest.py) is lifted where the probe itself is under test.
"""

import json

import pytest

from tracker.cli import main
from tracker.errors import TrackerError
from tracker.lm import dtype as probe
from tracker.lm.dtype import Choice, choose_dtype, cpu_identity, decide, model_shapes
from tracker.store.run_store import RunStore
from tracker.train.config import LadderConfig

AMX_CPU = ("Intel(R) Xeon(R) Platinum 8488C", frozenset({"avx512f", "amx_bf16", "amx_tile"}))
PLAIN_CPU = ("Intel(R) Xeon(R) CPU @ 2.60GHz", frozenset({"avx512f", "avx2"}))


@pytest.fixture()
def unpinned(monkeypatch, tmp_path):
    """The probe as a user gets it: no pin, the cache under a fresh XDG_CACHE_HOME."""
    monkeypatch.delenv("TRACKER_AUTO_DTYPE", raising=False)
    monkeypatch.delenv("TRACKER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "tracker" / "dtype.json"


def fake_probe(monkeypatch, cpu, milliseconds):
    """Patch the CPU identity and the timer; return the list of dtypes the timer timed."""
    timed = []

    def time_matmuls(dtype, shapes, repeats=probe.REPEATS):
        timed.append(dtype)
        return milliseconds[dtype]

    monkeypatch.setattr(probe, "cpu_identity", lambda: cpu)
    monkeypatch.setattr(probe, "time_matmuls", time_matmuls)
    return timed


@pytest.mark.parametrize(("float32_ms", "bfloat16_ms", "expected"), [
    (10.0, 2.0, "bfloat16"),   # 5x faster
    (10.0, 25.0, "float32"),   # measured slower: never chosen
    (10.0, 9.5, "float32"),    # faster, but within the margin
    (10.0, 10.0 / probe.BF16_MARGIN, "bfloat16"),  # exactly the margin
])
def test_decide_never_picks_a_dtype_measured_slower(float32_ms, bfloat16_ms, expected):
    choice = decide({"float32": float32_ms, "bfloat16": bfloat16_ms}, ["amx_bf16"])
    assert choice.dtype == expected
    assert choice.timings == {"float32": round(float32_ms, 3), "bfloat16": round(bfloat16_ms, 3)}
    assert "amx_bf16" in choice.reason


@pytest.mark.parametrize(("milliseconds", "expected"), [
    ({"float32": 12.0, "bfloat16": 30.0}, "float32"),
    ({"float32": 30.0, "bfloat16": 12.0}, "bfloat16"),
])
def test_the_probe_decides_on_a_bf16_cpu(unpinned, monkeypatch, milliseconds, expected):
    timed = fake_probe(monkeypatch, AMX_CPU, milliseconds)
    choice = choose_dtype("cpu")
    assert choice.dtype == expected and not choice.cached
    assert sorted(timed) == ["bfloat16", "float32"]
    assert choice.describe().startswith(f"{expected} (auto: ")


def test_a_cpu_without_bf16_instructions_is_float32_without_a_probe(unpinned, monkeypatch):
    timed = fake_probe(monkeypatch, PLAIN_CPU, {"float32": 30.0, "bfloat16": 1.0})
    choice = choose_dtype("cpu")
    assert choice.dtype == "float32" and "no bf16 instructions" in choice.reason
    assert timed == [] and not unpinned.exists()


def test_the_cache_is_hit_per_machine_and_shapes(unpinned, monkeypatch):
    timed = fake_probe(monkeypatch, AMX_CPU, {"float32": 30.0, "bfloat16": 12.0})
    first = choose_dtype("cpu")
    assert unpinned.is_file() and len(timed) == 2
    second = choose_dtype("cpu")
    assert len(timed) == 2 and second.cached and second.dtype == first.dtype
    assert second.timings == first.timings and second.describe().endswith(", cached)")
    choose_dtype("cpu", model_shapes(64, 256))  # other shapes: another probe
    assert len(timed) == 4
    monkeypatch.setattr(probe, "cpu_identity", lambda: ("another CPU", AMX_CPU[1]))
    choose_dtype("cpu")  # another machine kind: another probe
    assert len(timed) == 6 and len(json.loads(unpinned.read_text())) == 3


@pytest.mark.parametrize("corrupt", ["{not json", "[1, 2]", '{"k": {"dtype": "float32"}}', ""])
def test_a_corrupt_cache_is_ignored_and_rewritten(unpinned, monkeypatch, corrupt):
    unpinned.parent.mkdir(parents=True)
    unpinned.write_text(corrupt)
    timed = fake_probe(monkeypatch, AMX_CPU, {"float32": 30.0, "bfloat16": 12.0})
    assert choose_dtype("cpu").dtype == "bfloat16" and len(timed) == 2
    entries = json.loads(unpinned.read_text())
    assert [entry["dtype"] for entry in entries.values()] == ["bfloat16"]


def test_tracker_cache_dir_wins_over_xdg(unpinned, monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path / "mine"))
    fake_probe(monkeypatch, AMX_CPU, {"float32": 30.0, "bfloat16": 12.0})
    choose_dtype("cpu")
    assert (tmp_path / "mine" / "dtype.json").is_file() and not unpinned.exists()


def test_the_pin_and_cuda(monkeypatch):
    monkeypatch.setenv("TRACKER_AUTO_DTYPE", "bfloat16")
    assert choose_dtype("cpu") == Choice("bfloat16", "$TRACKER_AUTO_DTYPE=bfloat16")
    monkeypatch.setenv("TRACKER_AUTO_DTYPE", "fp8")
    with pytest.raises(TrackerError, match="TRACKER_AUTO_DTYPE is 'fp8'; use float32"):
        choose_dtype("cpu")
    monkeypatch.delenv("TRACKER_AUTO_DTYPE")
    for supported, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr("torch.cuda.is_bf16_supported", lambda s=supported: s)
        assert choose_dtype("cuda").dtype == expected


def test_cpu_identity_reads_the_first_processor(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512_bf16\n\n"
                       "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n")
    assert cpu_identity(cpuinfo) == ("AMD EPYC", frozenset({"fpu", "avx512_bf16"}))
    assert cpu_identity(tmp_path / "absent") == ("unknown", frozenset())


def eval_validation(family, run, *extra):
    return main(["eval", "--family", str(family / "family"), "--validation",
                 str(family / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--tasks", "none", "--quiet", "--context-length", "16", "--steps", "0",
                 *extra])


def stored_dtypes(run):
    return {record["identity"]["dtype"] for record in RunStore(run).records()}


def probe_picks(monkeypatch, dtype):
    monkeypatch.setattr(probe, "choose_dtype",
                        lambda device, shapes=(), **_: Choice(dtype, "measured (test)"))


def test_eval_prints_the_resolved_dtype_and_keys_units_by_it(family, tmp_path, capsys,
                                                              monkeypatch):
    run = tmp_path / "run"
    assert eval_validation(family, run) == 0
    out = capsys.readouterr().out
    assert out.count("dtype: ") == 1
    assert "dtype: float32 (auto: $TRACKER_AUTO_DTYPE=float32)" in out
    assert stored_dtypes(run) == {"float32"}

    probe_picks(monkeypatch, "bfloat16")
    fresh = tmp_path / "fresh"
    assert eval_validation(family, fresh) == 0
    out = capsys.readouterr().out
    assert "dtype: bfloat16 (auto: measured (test))" in out and "computed 2 units" in out
    assert stored_dtypes(fresh) == {"bfloat16"}  # the resolved dtype, never "auto"
    assert eval_validation(family, fresh, "--dtype", "float32") == 0  # another setting
    assert "dtype: float32\n" in capsys.readouterr().out
    assert stored_dtypes(fresh) == {"float32", "bfloat16"}


def test_a_run_keeps_the_dtype_it_was_started_in(family, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert eval_validation(family, run, "--dtype", "float32") == 0
    capsys.readouterr()
    probe_picks(monkeypatch, "bfloat16")
    assert eval_validation(family, run) == 0
    out = capsys.readouterr().out
    assert "computed 0 units, 2 already stored" in out
    assert "dtype: float32 (auto: 2 units of this plan are stored in float32" in out
    assert stored_dtypes(run) == {"float32"}


def ladder(**training) -> LadderConfig:
    return LadderConfig.model_validate({
        "training": {"max_steps": 4, **training},
        "checkpoints": {"log_until": 0, "every": 2},
        "sizes": [{"label": "a", "architecture": "llama", "hidden_size": 32, "layers": 1,
                   "heads": 2, "intermediate_size": 64}]})


def test_training_precision_resolves_auto_and_keeps_deterministic_fp32(monkeypatch):
    from tracker.train.loop import training_precision
    from tracker.train.precision import resolved_precision

    asked = []
    monkeypatch.setattr("tracker.train.precision.choose_dtype",
                        lambda device, shapes, threads: asked.append((shapes, threads))
                        or Choice("bfloat16", "measured (test)"))
    config, why = resolved_precision(ladder(threads=2))
    assert config.training.precision == "bf16" and why == "bf16 (bfloat16 (auto: measured " \
                                                          "(test)))"
    assert asked == [(model_shapes(32, 64, 16 * 128), 2)]  # a step's tokens, its threads
    assert training_precision(config.training) == "bf16"
    assert resolved_precision(ladder(deterministic=True))[0].training.precision == "fp32"
    assert resolved_precision(ladder(precision="fp32"))[1] == "fp32 (training.precision)"
    assert len(asked) == 1  # neither asked the probe
    with pytest.raises(TrackerError, match="unresolved"):
        training_precision(ladder().training)
