"""Security: checkpoints, configs and names are other people's input.

- pickle-only weights are refused unless ``--allow-pickle``, and then load with
  ``torch.load(weights_only=True)`` (a pickle that would run code does not);
- ``trust_remote_code`` only where a family opts in, with a warning naming the repository;
- user text (task, family, size, metric names) is escaped in report.html, checked in the
  page source and in the DOM headless Chromium builds from it;
- no ``shell=True`` in the package; no name places a unit file, failure file or figure
  outside the run (report) directory.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tests.helpers import (
    SAMPLE_DOCUMENTS,
    NamedEvaluation,
    tiny_gpt_neox,
    trained_tokenizer,
    write_jsonl,
)
from tracker.cli import main
from tracker.evals.interface import MetricScore, UnitResult
from tracker.families.catalog import Checkpoint, load_family, local_family
from tracker.lm.loading import load_checkpoint, remote_code_warnings
from tracker.store.run_store import RunStore
from tracker.store.units import Unit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


# --- pickle weights -------------------------------------------------------------------

@pytest.fixture(scope="module")
def pickled_family(tmp_path_factory):
    """``pickled/s1/step0`` with pytorch_model.bin only (transformers 5 always saves
    safetensors, so the .bin is written with torch.save), the same weights as
    safetensors in ``safe/s1/step0``, and a validation file."""
    root = tmp_path_factory.mktemp("pickle")
    tokenizer = trained_tokenizer()
    model = tiny_gpt_neox(len(tokenizer), seed=7)
    pickled, safe = root / "pickled" / "s1" / "step0", root / "safe" / "s1" / "step0"
    model.save_pretrained(safe)
    pickled.mkdir(parents=True)
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    for directory in (pickled, safe):
        tokenizer.save_pretrained(directory)
    write_jsonl(root / "validation.jsonl", SAMPLE_DOCUMENTS[:3])
    return root


def eval_family(root: Path, family: str, run: Path, *extra: str) -> int:
    return main(["eval", "--family", str(root / family), "--validation",
                 str(root / "validation.jsonl"), "--run", str(run), "--device", "cpu",
                 "--no-report", "--quiet", "--context-length", "16", *extra])


def test_pickle_only_weights_are_refused_in_one_line(pickled_family, tmp_path, capsys):
    assert not list((pickled_family / "pickled").rglob("*.safetensors"))
    run = tmp_path / "run"
    assert eval_family(pickled_family, "pickled", run) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 1
    assert failed[0].startswith("  FAILED pickled/s1@step0 validation: cannot load "
                                "pickled/s1@step0: its weights are pickle files only "
                                "(pytorch_model.bin in ")
    assert "--allow-pickle" in failed[0] and "weights_only=True" in failed[0]
    failure = json.loads(next((run / "failed").glob("*.json")).read_text())
    assert "--allow-pickle" in failure["error"]


def test_allow_pickle_loads_with_weights_only(pickled_family, tmp_path, monkeypatch):
    calls = []
    real_load = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    assert eval_family(pickled_family, "pickled", tmp_path / "pickled", "--allow-pickle") == 0
    assert calls and all(weights_only is True for weights_only in calls)
    assert eval_family(pickled_family, "safe", tmp_path / "safe") == 0
    loss = [RunStore(tmp_path / name).records()[0]["scores"][0]["score"]
            for name in ("pickled", "safe")]
    assert loss[0] == loss[1]  # the very same weights, read from the pickle


class RunsCode:
    """Unpickling this creates a file: what a malicious pytorch_model.bin does."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_does_not_run_even_when_allowed(pickled_family, tmp_path):
    marker = tmp_path / "code-ran"
    checkpoint_dir = tmp_path / "evil" / "s1" / "step0"
    shutil.copytree(pickled_family / "pickled" / "s1" / "step0", checkpoint_dir)
    torch.save({"gpt_neox.embed_in.weight": RunsCode(marker)},
               checkpoint_dir / "pytorch_model.bin")
    (checkpoint, ) = local_family(tmp_path / "evil").checkpoints()
    from tracker.errors import CheckpointLoadError

    with pytest.raises(CheckpointLoadError, match="cannot load evil/s1@step0"):
        load_checkpoint(checkpoint, allow_pickle=True)
    assert not marker.exists()
    torch.load(checkpoint_dir / "pytorch_model.bin", weights_only=False)  # the control:
    assert marker.exists()  # a plain unpickling runs the payload


# --- trust_remote_code ----------------------------------------------------------------

def recording_loaders(monkeypatch) -> list[bool]:
    """Record trust_remote_code of every from_pretrained call tracker makes."""
    import transformers

    seen: list[bool] = []
    for name in ("AutoModelForCausalLM", "AutoTokenizer"):
        cls = getattr(transformers, name)
        real = cls.from_pretrained

        def record(*args, _real=real, **kwargs):
            seen.append(kwargs.get("trust_remote_code"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", record)
    return seen


def test_remote_code_stays_off_unless_the_family_opts_in(pickled_family, tmp_path,
                                                          monkeypatch, capsys):
    seen = recording_loaders(monkeypatch)
    assert eval_family(pickled_family, "safe", tmp_path / "plain") == 0
    assert seen == [False, False]
    assert "warning" not in capsys.readouterr().err

    family_file = tmp_path / "remote.yaml"
    family_file.write_text(f"name: remote\narchitecture: other\nsource: local\n"
                           f"path: {pickled_family / 'safe'}\ntrust_remote_code: true\n")
    seen.clear()
    assert main(["eval", "--family", str(family_file), "--validation",
                 str(pickled_family / "validation.jsonl"), "--run", str(tmp_path / "remote"),
                 "--device", "cpu", "--no-report", "--quiet", "--context-length", "16"]) == 0
    assert seen == [True, True]
    err = capsys.readouterr().err.splitlines()
    assert err == [f"tracker: warning: family 'remote' sets trust_remote_code: Python code "
                   f"shipped with {(pickled_family / 'safe').resolve()} runs on this machine "
                   "when its checkpoints load; use only repositories you trust"]


def test_remote_code_warning_names_each_hub_repository():
    family = load_family("pythia")
    assert not family.config.trust_remote_code
    checkpoints = family.checkpoints(sizes=["70m", "160m"], steps=[0, 1000])
    assert remote_code_warnings(checkpoints) == []
    opted_in = [Checkpoint(**{**c.__dict__, "trust_remote_code": True}) for c in checkpoints]
    warnings = remote_code_warnings(opted_in)
    assert len(warnings) == 2
    assert "EleutherAI/pythia-70m runs" in warnings[0]
    assert "EleutherAI/pythia-160m runs" in warnings[1]


# --- report.html ----------------------------------------------------------------------

HOSTILE_TASKS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                 "../../../outside", "/tmp/absolute-task"]
HOSTILE_FAMILY = "<script>document.title='pwned'</script>"
HOSTILE_SIZE = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
HOSTILE_METRIC = "<script>alert(2)</script>"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    from tracker.fit.synthetic import demo_points
    from tracker.fit.table import fit_table
    from tracker.report import build_report

    points = demo_points(np.random.default_rng(3))
    tasks = sorted(points["task"].unique())
    points["task"] = points["task"].map(dict(zip(tasks, HOSTILE_TASKS, strict=True)))
    points["family"] = HOSTILE_FAMILY
    points.loc[points["size"] == "s0", "size"] = HOSTILE_SIZE
    extra = points[points["task"] == HOSTILE_TASKS[0]].copy()
    extra["metric"] = HOSTILE_METRIC  # a metric of unknown direction: named in a note
    points = pd.concat([points, extra.drop(columns=["higher_is_better"], errors="ignore")])
    out = tmp_path_factory.mktemp("hostile") / "report"
    table = fit_table(points, n_boot=50)
    assert any(HOSTILE_METRIC in note for note in table.notes)
    return build_report(table, out), out


def test_user_text_is_escaped_in_report_html(hostile_report):
    files, out = hostile_report
    page = files.html.read_text()
    assert "<script" not in page.lower()
    tags = re.findall(r"<img\b[^>]*>", page)
    assert len(tags) == len(files.figures)  # only the embedded figures: no tag from user text
    assert all(re.fullmatch(r"<img alt='[^'<>]*' src='data:image/png;base64,[^']*'>", tag)
               for tag in tags)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page  # metric name, and in a note


def test_hostile_task_names_keep_figures_in_the_report_directory(hostile_report):
    files, out = hostile_report
    figures = (out / "figures").resolve()
    forecast = [f for f in files.figures if f.name == "crossing.png"]  # thresholds found
    # the findings' panels, the onsets, the loss curve; per task its loss and tokens panels
    assert len(files.figures) == 3 + 2 * len(HOSTILE_TASKS) + len(forecast)
    for figure in files.figures:
        assert figure.resolve().parent == figures
    written = {p.resolve() for p in out.parent.rglob("*") if p.is_file()}
    assert written == {p.resolve() for p in files.figures} | {
        files.html.resolve(), files.markdown.resolve()}
    assert not Path("/tmp/absolute-task").exists() or not any(
        Path("/tmp/absolute-task").glob("*.png"))


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed")
def test_chromium_builds_no_element_from_user_text(hostile_report, tmp_path):
    files, _ = hostile_report
    command = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--disable-background-networking",
               "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
               files.html.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    dom = done.stdout
    assert done.returncode == 0 and "</html>" in dom, done.stderr[-2000:]
    assert "<script" not in dom.lower()  # no script element at all: the page has none
    assert len(re.findall(r"<img\b", dom)) == len(files.figures)
    assert not re.search(r"<img[^>]*\bsrc=\"x\"", dom)
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<title>Emergence report</title>" in dom  # no script changed the title
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text
    assert "&lt;img src=x onerror=alert(1)&gt;" in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom


# --- the package and its outputs --------------------------------------------------------

def test_no_shell_in_the_package():
    offenders = []
    for path in sorted((ROOT / "tracker").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"shell\s*=\s*True|os\.system\(|os\.popen\(", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []



HOSTILE_NAMES = ["..", ".", "...", "../../../../etc/passwd", "/etc/passwd", "a/../../b",
                 "..\\..\\windows", "~/x", "", "/", "x/" + "../" * 30 + "y", "\x00..\x00"]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_no_name_places_a_file_outside_the_run(tmp_path, name):
    run = tmp_path / "run"
    store = RunStore(run)
    checkpoint = Checkpoint(name, name, 0, None, "/x", None, 1)
    unit = Unit(checkpoint, NamedEvaluation(name), None, "float32")
    frame = pd.DataFrame({"example_id": ["0"], "accuracy": [1.0]})
    result = UnitResult(name, (MetricScore("accuracy", 1.0, 0.0, 1, True, 0.5),), frame)
    path = store.write(unit, result, params=1, duration_s=0, device="cpu")
    store.write_failure(unit, "boom")
    assert path.resolve().is_relative_to((run / "units").resolve())
    assert len(path.relative_to(run / "units").parts) == 4  # family/size/stepN/file
    assert store.failure_path(unit.key).resolve().parent == (run / "failed").resolve()
    everything = [p.resolve() for p in tmp_path.rglob("*") if p.is_file()]
    assert everything and all(p.is_relative_to(run.resolve()) for p in everything)
    assert store.has(unit) and store.records()[0]["task"] == name


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_figure_names_are_one_safe_component(name):
    from tracker.report.figures import safe_name

    stem = safe_name(name)
    assert "/" not in stem and "\\" not in stem and stem.strip(".") and "\x00" not in stem
