"""`tracker import lm-eval`: Pythia's published files (shipped), lm-eval 0.4 output with
sample logs from a tiny local model (against `tracker eval` on the same questions), MMLU
pooling, example counts from standard errors, and the one-line errors for bad input."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tracker.cli import main
from tracker.imports.checkpoints import CheckpointMapper
from tracker.imports.files import ResultSource, parse_result
from tracker.imports.lmeval import published_sources
from tracker.imports.scores import MMLU_SUBJECTS, n_from_stderr, pooled_stderr
from tracker.store.run_store import RunStore

PYTHIA_STEPS = (0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000, 3000, *range(13000, 143001,
                                                                                10000))
TOKENS_PER_STEP = 2097152
FEW_TASKS = ("arc_easy", "lambada_openai", "piqa", "hendrycksTest-anatomy",
             "hendrycksTest-virology")


@pytest.fixture(scope="module")
def published() -> dict[str, ResultSource]:
    return {source.label: source for source in published_sources("pythia-v1")}


def write_files(root: Path, sources, *, tasks=None, edit=None) -> list[Path]:
    """Write result sources under ``root`` by their archive paths, keeping only ``tasks``
    and applying ``edit(data)`` when given."""
    paths = []
    for source in sources:
        data = json.loads(source.text)
        if tasks is not None:
            data["results"] = {k: v for k, v in data["results"].items() if k in tasks}
            data["versions"] = {k: v for k, v in data["versions"].items() if k in tasks}
        if edit is not None:
            edit(data)
        path = root / source.label
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1))
        paths.append(path)
    return paths


def run_import(*args) -> int:
    return main(["import", "lm-eval", *map(str, args), "--quiet"])


def source_metric_count(sources) -> int:
    """Numeric metrics (not standard errors) in the old-format files, counted from the JSON."""
    return sum(1 for source in sources
               for entry in json.loads(source.text)["results"].values()
               for key, value in entry.items()
               if not key.endswith("_stderr") and isinstance(value, int | float))


# --- Pythia's published zero-shot files ----------------------------------------------

def test_archive_holds_432_files_of_16_models_and_27_steps(published):
    assert len(published) == 432
    models = {label.split("/")[0] for label in published}
    assert len(models) == 16
    steps = {int(re.search(r"step(\d+)\.json$", label).group(1)) for label in published}
    assert steps == set(PYTHIA_STEPS)


def test_every_published_file_maps_to_its_own_checkpoint(published):
    mapper = CheckpointMapper()
    checkpoints = {label: mapper.checkpoint(parse_result(source))
                   for label, source in published.items()}
    keys = {(c.family, c.size, c.step) for c in checkpoints.values()}
    assert len(keys) == 432
    assert {c.family for c in checkpoints.values()} == {"pythia", "pythia-deduped"}

    deduped = checkpoints["pythia-160m-deduped/zero-shot/160m-deduped_step3000.json"]
    assert (deduped.family, deduped.size, deduped.step) == ("pythia-deduped", "160m", 3000)
    assert deduped.location == "EleutherAI/pythia-v1.1-160m-deduped"
    assert deduped.revision == "step3000"
    assert deduped.params == 162322944 and deduped.tokens_seen == 3000 * TOKENS_PER_STEP
    bf16 = checkpoints["pythia-1b-bf16/zero-shot/1b-bf16-5shot_step1000.json"]
    assert (bf16.family, bf16.size, bf16.step, bf16.params) == ("pythia", "1b-bf16", 1000,
                                                                1011781632)

    # the default path pattern alone (no model_args) gives the same checkpoints
    for label, source in published.items():
        data = json.loads(source.text)
        data["config"]["model_args"] = ""
        bare = mapper.checkpoint(parse_result(ResultSource(label, json.dumps(data))))
        expected = checkpoints[label]
        assert (bare.family, bare.size, bare.step, bare.params, bare.tokens_seen) == (
            expected.family, expected.size, expected.step, expected.params,
            expected.tokens_seen), label


@pytest.mark.slow
def test_all_published_files_import_and_a_reimport_imports_nothing(
        published, tmp_path, capsys):
    run = tmp_path / "published"
    assert main(["import", "lm-eval", "--published", "pythia-v1", "--run", str(run),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    units = 432 * (87 + 2)  # 87 tasks, mmlu pooled, the proxy loss
    assert f"imported {units} units, 0 already stored (432 files, 432 checkpoints)" in out
    assert "loss axis: proxy_ln_lambada_openai_ppl" in out

    scores = RunStore(run).scores()
    checkpoints = set(zip(scores["family"], scores["size"], scores["step"], strict=True))
    assert len(checkpoints) == 432
    in_source = source_metric_count(published.values())
    imported = scores[~scores["task"].isin(["validation", "mmlu"])]
    with capsys.disabled():
        print(f"\n432 files -> {len(checkpoints)} checkpoints; metrics in the source files: "
              f"{in_source}, in the store: {len(imported)} (and "
              f"{int((scores['task'] == 'mmlu').sum())} pooled mmlu, "
              f"{int((scores['task'] == 'validation').sum())} loss)")
    assert len(imported) == in_source
    assert imported.groupby(["family", "size", "step"]).size().eq(in_source // 432).all()
    assert (scores["n"] > 0).all()

    points = RunStore(run).points()
    assert points["loss"].notna().all()
    assert set(points["loss_metric"]) == {"proxy_ln_lambada_openai_ppl"}

    assert main(["import", "lm-eval", "--published", "pythia-v1", "--run", str(run),
                 "--quiet"]) == 0
    assert f"imported 0 units, {units} already stored" in capsys.readouterr().out


def test_examples_count_from_standard_error(published):
    source = published["pythia-410m/zero-shot/410m_step143000.json"]
    entries = parse_result(source).tasks
    known = {"arc_easy": 2376, "arc_challenge": 1172, "piqa": 1838, "sciq": 1000,
             "winogrande": 1267, "lambada_openai": 5153, "logiqa": 651, "wsc": 104,
             "hendrycksTest-world_religions": 171, "crows_pairs_english": 1677}
    assert {task: n_from_stderr(entries[task]) for task in known} == known


def test_lambada_at_step0_takes_its_count_from_the_other_files(published, tmp_path, capsys):
    sources = [published[f"pythia-70m/zero-shot/70m_step{s}.json"] for s in (0, 143000)]
    step0 = json.loads(sources[0].text)["results"]["lambada_openai"]
    assert step0["acc"] == 0 and step0["acc_stderr"] == 0  # no count in this file alone
    paths = write_files(tmp_path / "in", sources, tasks=FEW_TASKS)
    assert run_import(*paths, "--run", tmp_path / "run") == 0
    scores = RunStore(tmp_path / "run").scores()
    lambada = scores[scores["task"] == "lambada_openai"]
    assert set(lambada["n"]) == {5153}
    assert set(lambada.loc[lambada["metric"] == "greedy_match", "chance"].isna()) == {True}


def test_mmlu_is_the_example_weighted_mean_of_its_subjects(published, tmp_path):
    source = published["pythia-1.4b/zero-shot/1.4b_step93000.json"]
    (path,) = write_files(tmp_path / "in", [source])
    assert run_import(path, "--run", tmp_path / "run") == 0
    scores = RunStore(tmp_path / "run").scores()

    results = json.loads(source.text)["results"]
    subjects = [results[f"hendrycksTest-{s}"] for s in MMLU_SUBJECTS]
    sizes = [round(e["acc"] * (1 - e["acc"]) / e["acc_stderr"] ** 2 + 1) for e in subjects]
    assert sum(sizes) == 14042  # MMLU's test set
    for ours, theirs in (("accuracy", "acc"), ("accuracy_norm", "acc_norm")):
        row = scores[(scores["task"] == "mmlu") & (scores["metric"] == ours)].iloc[0]
        by_hand = sum(n * e[theirs] for n, e in zip(sizes, subjects, strict=True)) / sum(sizes)
        assert row["score"] == pytest.approx(by_hand, rel=1e-12)
        assert row["n"] == 14042 and row["chance"] == 0.25
        stderrs = [e[f"{theirs}_stderr"] for e in subjects]
        assert row["stderr"] == pytest.approx(pooled_stderr(stderrs, sizes), rel=1e-12)
    # the subjects stay tasks of their own
    assert (scores["task"] == "hendrycksTest-anatomy").sum() == 2


def test_pooled_stderr_is_lm_evals():
    metrics = pytest.importorskip("lm_eval.api.metrics")
    stderrs, sizes = [0.03, 0.01, 0.05], [100, 1534, 31]
    assert pooled_stderr(stderrs, sizes) == pytest.approx(
        float(metrics.pooled_sample_stderr(stderrs, sizes)), rel=1e-12)


def test_subset_imports_then_status_export_fit_and_report_work(published, tmp_path, capsys):
    sources = [published[f"pythia-{size}/zero-shot/{size}_step{step}.json"]
               for size in ("70m", "160m", "410m") for step in PYTHIA_STEPS]
    paths = write_files(tmp_path / "evals", sources, tasks=("arc_easy", "lambada_openai"))
    run = tmp_path / "run"
    assert run_import(tmp_path / "evals", "--run", run, "--loss-from",
                      "lambada_openai:ppl") == 0
    assert f"imported {len(paths) * 3} units, 0 already stored" in capsys.readouterr().out

    assert main(["status", "--run", str(run)]) == 0
    assert (f"imported (tracker import; no eval plan): {len(paths) * 3} units stored "
            f"({len(paths) * 3} from lm-eval results), 0 failed") in capsys.readouterr().out
    out = tmp_path / "points.csv"
    assert main(["export", "--run", str(run), "--out", str(out)]) == 0
    points = pd.read_csv(out)
    loss = points[points["task"] == "validation"]
    lambada = points[(points["task"] == "lambada_openai") & (points["metric"] == "ppl")]
    merged = loss.merge(lambada, on=["size", "step"])
    assert np.allclose(merged["score_x"], np.log(merged["score_y"]))
    assert (points["loss_metric"] == "proxy_ln_lambada_openai_ppl").all()

    capsys.readouterr()
    assert main(["report", "--run", str(run), "--boot", "50"]) == 0
    thresholds = pd.read_csv(run / "thresholds.csv")
    assert "arc_easy" in set(thresholds["task"])
    # LAMBADA's perplexity is the proxy loss: never fitted against itself; its accuracy is
    fitted = set(zip(thresholds["task"], thresholds["metric"], strict=True))
    assert ("lambada_openai", "ppl") not in fitted
    assert ("lambada_openai", "greedy_match") in fitted
    assert "lambada_openai/ppl is the proxy loss itself" in capsys.readouterr().err
    assert "PROXY loss" in (run / "report.md").read_text()


def test_losses_csv_and_a_changed_file_supersedes_its_unit(published, tmp_path, capsys):
    sources = [published[f"pythia-70m-deduped/zero-shot/70m-deduped_step{s}.json"]
               for s in (1000, 143000)]
    paths = write_files(tmp_path / "in", sources, tasks=("arc_easy", "piqa"))
    losses = tmp_path / "losses.csv"
    losses.write_text("family,size,step,loss\npythia-deduped,70m,1000,3.1\n"
                      "pythia-deduped,70m,143000,2.4\npythia,70m,1000,9.9\n")
    run = tmp_path / "run"
    assert run_import(*paths, "--run", run, "--losses", losses) == 0
    assert "imported 6 units, 0 already stored" in capsys.readouterr().out
    points = RunStore(run).points()
    assert dict(zip(points["step"], points["loss"], strict=False)) == {1000: 3.1, 143000: 2.4}
    assert set(points["loss_metric"]) == {"loss"}

    data = json.loads(paths[0].read_text())
    data["results"]["piqa"]["acc"] = 0.75
    paths[0].write_text(json.dumps(data))
    assert run_import(*paths, "--run", run, "--losses", losses) == 0
    assert "imported 1 units, 5 already stored" in capsys.readouterr().out
    scores = RunStore(run).scores()
    piqa = scores[(scores["task"] == "piqa") & (scores["metric"] == "accuracy")]
    assert sorted(piqa["score"])[-1] == 0.75 and len(piqa) == 2  # the old unit moved aside
    assert len(list((run / "superseded").rglob("*.parquet"))) == 1


def test_without_a_loss_tasks_import_and_a_line_says_what_fit_needs(published, tmp_path,
                                                                     capsys):
    paths = write_files(tmp_path / "in", [published["pythia-70m/zero-shot/70m_step1.json"]],
                        tasks=("piqa",))
    assert run_import(*paths, "--run", tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "imported 1 units, 0 already stored" in out
    assert "need one; import again with --losses FILE.csv or --loss-from TASK:METRIC" in out


def test_pattern_names_checkpoints_of_files_without_model_args(published, tmp_path):
    source = published["pythia-70m/zero-shot/70m_step143000.json"]
    data = json.loads(source.text)
    data["config"]["model_args"] = "pretrained=/scratch/model"
    folder = tmp_path / "runs" / "mine" / "small"
    folder.mkdir(parents=True)
    (folder / "eval-step5.json").write_text(json.dumps(data))
    pattern = r"runs/(?P<family>[^/]+)/(?P<size>[^/]+)/eval-step(?P<step>\d+)\.json$"
    assert run_import(tmp_path / "runs", "--run", tmp_path / "run", "--pattern", pattern) == 0
    scores = RunStore(tmp_path / "run").scores()
    assert set(zip(scores["family"], scores["size"], scores["step"], strict=True)) == {
        ("mine", "small", 5)}


def modern_results() -> dict:
    """An lm-eval 0.4.x results file: two MMLU subjects under their groups (whose own
    numbers are deliberately not the subjects' mean), and a task with two filters."""
    leaves = {"mmlu_anatomy": (135, 0.30, 0.0395), "mmlu_virology": (166, 0.40, 0.0382)}
    results = {name: {"alias": name, "acc,none": acc, "acc_stderr,none": se}
               for name, (_, acc, se) in leaves.items()}
    results["mmlu_stem"] = {"alias": "stem", "acc,none": 0.9, "acc_stderr,none": 0.01}
    results["mmlu"] = {"alias": "mmlu", "acc,none": 0.9, "acc_stderr,none": 0.01}
    results["gsm8k"] = {"alias": "gsm8k", "exact_match,strict-match": 0.1,
                        "exact_match_stderr,strict-match": 0.01,
                        "exact_match,flexible-extract": 0.2,
                        "exact_match_stderr,flexible-extract": "N/A"}
    counts = {name: n for name, (n, _, _) in leaves.items()} | {"gsm8k": 1319}
    return {
        "results": results,
        "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": list(leaves), "gsm8k": []},
        "configs": {name: {"output_type": "multiple_choice", "target_delimiter": " "}
                    for name in leaves} | {"gsm8k": {"output_type": "generate_until"}},
        "versions": {name: 1.0 for name in counts},
        "n-shot": {name: 0 for name in counts} | {"gsm8k": 5},
        "higher_is_better": {name: {"acc": True} for name in leaves}
                            | {"gsm8k": {"exact_match": True}},
        "n-samples": {name: {"original": n, "effective": n} for name, n in counts.items()},
        "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m,dtype=bfloat16",
                   "model_revision": "step2000", "model_dtype": "torch.bfloat16",
                   "limit": None},
    }


def test_lm_eval_04_results_groups_filters_and_revision(tmp_path, capsys):
    folder = tmp_path / "out" / "EleutherAI__pythia-160m"
    folder.mkdir(parents=True)
    (folder / "results_2024-05-01T10-00-00.000001.json").write_text(json.dumps(modern_results()))
    assert run_import(tmp_path / "out", "--run", tmp_path / "run") == 0
    captured = capsys.readouterr()
    assert "imported 4 units, 0 already stored (1 files, 1 checkpoints)" in captured.out
    assert "group results are not imported, their subtasks are: mmlu, mmlu_stem" in captured.err
    scores = RunStore(tmp_path / "run").scores()
    assert set(zip(scores["family"], scores["size"], scores["step"], scores["params"],
                   strict=True)) == {("pythia", "160m", 2000, 162322944)}
    assert set(scores["task"]) == {"mmlu_anatomy", "mmlu_virology", "mmlu", "gsm8k"}
    mmlu = scores[scores["task"] == "mmlu"].iloc[0]
    assert mmlu["score"] == pytest.approx((135 * 0.30 + 166 * 0.40) / 301)
    assert mmlu["n"] == 301 and mmlu["chance"] == 0.25
    gsm8k = scores[scores["task"] == "gsm8k"].set_index("metric")
    assert sorted(gsm8k.index) == ["exact_match[flexible-extract]", "exact_match[strict-match]"]
    assert math.isnan(gsm8k.loc["exact_match[flexible-extract]", "stderr"])
    assert (gsm8k["chance"] == 0).all() and (gsm8k["n"] == 1319).all()
    record = RunStore(tmp_path / "run").records()[0]
    assert record["dtype"] == "bfloat16"
    assert record["identity"]["evaluation"]["source"] == "lm-eval"

    assert run_import(tmp_path / "out", "--run", tmp_path / "renamed", "--family", "mine") == 0
    renamed = RunStore(tmp_path / "renamed").scores()
    assert set(zip(renamed["family"], renamed["params"], strict=True)) == {("mine", 162322944)}


# --- bad input: one line each --------------------------------------------------------

def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tracker: error: ")
    return lines[0]


def test_a_json_that_is_not_lm_eval_output(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"architectures": ["GPTNeoXForCausalLM"]}))
    assert run_import(path, "--run", tmp_path / "run") == 2
    assert one_error_line(capsys) == (
        f"tracker: error: {path.as_posix()}: not lm-eval output (expected a JSON object with "
        "'results' and 'versions' or 'config', as lm-eval writes)")


def test_a_file_that_matches_no_pattern(published, tmp_path, capsys):
    data = json.loads(published["pythia-70m/zero-shot/70m_step1.json"].text)
    data["config"]["model_args"] = "pretrained=/scratch/model"
    path = tmp_path / "results" / "final.json"
    path.parent.mkdir()
    path.write_text(json.dumps(data))
    assert run_import(path, "--run", tmp_path / "run") == 2
    line = one_error_line(capsys)
    assert line.startswith(f"tracker: error: {path.as_posix()}: cannot tell which checkpoint")
    assert "pass --pattern REGEX with named groups family, size and step" in line
    assert "(?P<model>" in line  # the pattern tried is named


def test_a_losses_csv_missing_checkpoints(published, tmp_path, capsys):
    sources = [published[f"pythia-160m/zero-shot/160m_step{s}.json"] for s in PYTHIA_STEPS[:7]]
    paths = write_files(tmp_path / "in", sources, tasks=("piqa",))
    losses = tmp_path / "losses.csv"
    losses.write_text("family,size,step,loss\npythia,160m,0,10.5\n")
    assert run_import(*paths, "--run", tmp_path / "run", "--losses", losses) == 2
    assert one_error_line(capsys) == (
        f"tracker: error: losses file {losses} has no loss for 6 imported checkpoint(s): "
        "pythia/160m@step1, pythia/160m@step2, pythia/160m@step4, pythia/160m@step8, "
        "pythia/160m@step16 and 1 more")
    assert not (tmp_path / "run").exists()  # nothing written


def test_a_revision_that_contradicts_the_path(published, tmp_path, capsys):
    source = published["pythia-160m/zero-shot/160m_step1000.json"]
    path = tmp_path / "pythia-160m" / "zero-shot" / "160m_step3000.json"
    path.parent.mkdir(parents=True)
    path.write_text(source.text)
    assert run_import(path, "--run", tmp_path / "run") == 2
    assert one_error_line(capsys) == (
        f"tracker: error: {path.as_posix()}: model_args names revision step1000 (step 1000) "
        "but the path says step 3000; the file is misnamed or holds another checkpoint's "
        "results")


# --- lm-eval 0.4.x with sample logs, against tracker eval ----------------------------

MC_QUESTIONS = [{"prompt": f"Q: Is {i} a small number?\nA:", "choices": [" yes", " no", " maybe"],
                 "answer": i % 3} for i in range(10)]
LL_QUESTIONS = [{"prompt": f"The number after {i} is", "target": f" {i + 1}"} for i in range(8)]

LMEVAL_HEAD = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
doc_to_text: "{{{{prompt}}}}"
target_delimiter: ""
"""
LMEVAL_MC = LMEVAL_HEAD + """\
output_type: multiple_choice
doc_to_choice: "{{{{choices}}}}"
doc_to_target: answer
metric_list:
  - metric: acc
  - metric: acc_norm
"""
LMEVAL_LL = LMEVAL_HEAD + """\
output_type: loglikelihood
doc_to_target: "{{{{target}}}}"
metric_list:
  - metric: perplexity
  - metric: acc
"""


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_lm_eval(model_dir: Path, tasks_dir: Path, out_dir: Path) -> None:
    """lm-eval as its CLI runs it with --output_path and --log_samples."""
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.tasks import TaskManager

    tracker = EvaluationTracker(output_path=str(out_dir))
    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_dir},dtype=float32",
        tasks=["mc_probe", "ll_probe"], task_manager=TaskManager(include_path=str(tasks_dir)),
        device="cpu", batch_size=4, log_samples=True, evaluation_tracker=tracker,
        verbosity="ERROR")
    samples = results.pop("samples")
    tracker.save_results_aggregated(results=results, samples=samples)
    for task in results["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])


@pytest.mark.slow
def test_lm_eval_run_with_samples_imports_tracker_evals_scores(tmp_path, capsys):
    pytest.importorskip("lm_eval")
    from tests.helpers import SAMPLE_DOCUMENTS, tiny_gpt_neox, trained_tokenizer, write_jsonl

    tokenizer = trained_tokenizer()
    family = tmp_path / "tinyfam"
    model_dir = family / "s1" / "step10"
    tiny_gpt_neox(len(tokenizer), seed=7).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    mc = _jsonl(tmp_path / "mc_probe.jsonl", MC_QUESTIONS)
    ll = _jsonl(tmp_path / "ll_probe.jsonl", LL_QUESTIONS)
    (tasks / "mc_probe.yaml").write_text(LMEVAL_MC.format(name="mc_probe", data=mc))
    (tasks / "ll_probe.yaml").write_text(LMEVAL_LL.format(name="ll_probe", data=ll))
    run_lm_eval(model_dir, tasks, tmp_path / "lm-eval-out")
    assert len(list((tmp_path / "lm-eval-out").rglob("samples_*.jsonl"))) == 2

    imported = tmp_path / "imported"
    assert run_import(tmp_path / "lm-eval-out", "--run", imported, "--loss-from",
                      "ll_probe:perplexity") == 0
    assert "imported 3 units, 0 already stored" in capsys.readouterr().out
    evaluated = tmp_path / "evaluated"
    validation = write_jsonl(tmp_path / "validation.jsonl", SAMPLE_DOCUMENTS)
    (tmp_path / "gen").mkdir()  # tracker names a JSONL task after its file
    generative = _jsonl(tmp_path / "gen" / "ll_probe.jsonl",
                        [{**row, "stop": ["\n"], "max_new_tokens": 3} for row in LL_QUESTIONS])
    assert main(["eval", "--family", str(family), "--validation", str(validation),
                 "--tasks", f"{mc},{generative}", "--run", str(evaluated), "--device", "cpu",
                 "--no-report", "--quiet"]) == 0

    ours, theirs = RunStore(evaluated), RunStore(imported)
    scores = theirs.scores()
    assert set(zip(scores["family"], scores["size"], scores["step"], strict=True)) == {
        ("tinyfam", "s1", 10)}
    assert scores["params"].iloc[0] == ours.scores()["params"].iloc[0]
    rows = {(r.task, r.metric): r for r in scores.itertuples()}
    assert rows[("validation", "proxy_ln_ll_probe_perplexity")].n == len(LL_QUESTIONS)
    assert rows[("mc_probe", "accuracy")].chance == pytest.approx(1 / 3)

    mine = ours.examples().pivot_table(index=["task", "example_id"], columns="metric",
                                       values="value")
    other = theirs.examples().pivot_table(index=["task", "example_id"], columns="metric",
                                          values="value")
    mc_mine, mc_other = mine.loc["mc_probe"], other.loc["mc_probe"]
    assert len(mc_other) == len(MC_QUESTIONS)
    assert (mc_mine["accuracy"] == mc_other["accuracy"]).all()
    assert (mc_mine["accuracy_norm"] == mc_other["accuracy_norm"]).all()  # ASCII: per byte
    for metric in ("p_correct", "brier"):
        assert np.abs(mc_mine[metric] - mc_other[metric]).max() < 1e-5, metric
    assert np.abs(mc_mine["logprob_correct"] - mc_other["logprob_correct"]).max() < 1e-4
    ll_mine, ll_other = mine.loc["ll_probe"], other.loc["ll_probe"]
    assert np.abs(ll_mine["target_nll"] - ll_other["target_nll"]).max() < 1e-4
    assert (ll_mine["greedy_match"] == ll_other["greedy_match"]).all()

    aggregate_mine = {(r.task, r.metric): r.score for r in ours.scores().itertuples()}
    for key in (("mc_probe", "accuracy"), ("mc_probe", "p_correct"), ("mc_probe", "brier")):
        assert math.isclose(rows[key].score, aggregate_mine[key], abs_tol=1e-5), key
