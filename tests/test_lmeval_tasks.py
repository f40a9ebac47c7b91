"""Slow: our task numbers against lm-eval 0.4 on the same model directory and examples.

Runs ``bench/bench_tasks_vs_lmeval.py``'s comparison on the BIG-bench tasks bundled in
tests/data (with the Pythia tokenizer, also bundled): every choice log-likelihood
within 1e-5 and brier within 2e-6 (what docs/tasks.md states), accuracy / accuracy_norm (vs
acc_bytes and, on ASCII, acc_norm) equal, and on the generative task exact match and the
generated strings equal. A second test lets lm-eval render the BIG-bench prompts itself.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _bench():
    pytest.importorskip("lm_eval")
    spec = importlib.util.spec_from_file_location("bench_tasks_vs_lmeval",
                                                  ROOT / "bench" / "bench_tasks_vs_lmeval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_tasks_equal_lm_eval(tmp_path):
    bench = _bench()
    comparisons = bench.compare(tmp_path, list(bench.DEFAULT_TASKS), limit=30, batch_size=16)
    bench.print_table(comparisons)
    assert {c.kind for c in comparisons} == {"multiple_choice", "generative"}
    for comparison in comparisons:
        assert comparison.max_abs_ll_diff < 1e-5, comparison  # docs/tasks.md
        assert all(comparison.metrics_equal.values()), comparison
        if comparison.kind == "multiple_choice":
            assert comparison.max_brier_diff < 2e-6, comparison
        else:
            assert math.isnan(comparison.max_brier_diff)


def _bigbench_doc_to_text(data: dict) -> str:
    """BIG-bench's documented rendering (docs/tasks.md) as an lm-eval Jinja template:
    task_prefix + example_input_prefix + input + example_output_prefix. Written from the
    task.json here, not from tracker's ``context()``; lm-eval renders every prompt itself."""
    assert not data.get("append_choices_to_input", True), "no appended choice list here"
    return (data.get("task_prefix", "") + data.get("example_input_prefix", "\nQ: ")
            + "{{input}}" + data.get("example_output_prefix", "\nA: "))


@pytest.mark.parametrize("task_name", ["navigate", "sports_understanding"])
def test_lm_eval_renders_bigbench_prompts_itself(tmp_path, task_name):
    """lm-eval renders the BIG-bench prompts from the raw examples (dataset_path: json over
    a JSONL of input/choices/gold) with two equivalent conventions: BIG-bench's literally
    (output prefix ending in a space, target_delimiter "") and lm-eval's own (the prefix's
    trailing space moved into target_delimiter " ", as its bigbench multiple_choice
    template does). Every choice's log-likelihood from lm-eval's sample logs (resps) equals
    tracker's within the 1e-5 docs/tasks.md states, and accuracy agrees per example."""
    import json

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracker.evals.interface import EvalSettings
    from tracker.lm.loading import LoadedModel
    from tracker.tasks import resolve_tasks

    bench = _bench()
    limit = 24
    path = bench.BIGBENCH / task_name / "task.json"
    data = json.loads(path.read_text())
    raw = data["examples"][:limit]
    rows = []
    for record in raw:
        choices = list(record["target_scores"])
        scores = [record["target_scores"][c] for c in choices]
        rows.append({"input": record["input"], "choices": choices,
                     "gold": scores.index(max(scores))})
    task_dir = tmp_path / "lmeval_tasks"
    task_dir.mkdir()
    (task_dir / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    literal = _bigbench_doc_to_text(data)
    assert literal.endswith(" ")
    variants = {"bigbench_literal": (literal, ""), "lmeval_delimiter": (literal[:-1], " ")}
    for name, (doc_to_text, delimiter) in variants.items():
        (task_dir / f"{name}.yaml").write_text(
            f"task: {name}\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
            f"    test: {task_dir / 'docs.jsonl'}\ntest_split: test\n"
            f"output_type: multiple_choice\ndoc_to_text: {json.dumps(doc_to_text)}\n"
            "doc_to_choice: \"{{choices}}\"\ndoc_to_target: gold\n"
            f"target_delimiter: {json.dumps(delimiter)}\n"
            "metric_list:\n  - metric: acc\n")

    model_dir = bench.build_model_dir(tmp_path / "model")
    lm = LoadedModel.wrap(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                          AutoTokenizer.from_pretrained(model_dir))
    task = resolve_tasks([str(path)])[0]
    examples = task.examples(limit)
    ours_lls = bench.our_choice_lls(lm, task, examples, batch_size=16)
    ours = task.evaluate(lm, EvalSettings(batch_size=16, limit=limit, progress=False)).examples
    assert [e.answer for e in examples] == [r["gold"] for r in rows]
    assert [list(e.choices) for e in examples] == [r["choices"] for r in rows]

    samples, _ = bench.run_lmeval(bench.lmeval_model(model_dir, 16), task_dir, list(variants))
    for name, (_, delimiter) in variants.items():
        logged = samples[name]
        assert [s["doc_id"] for s in logged] == list(range(limit))
        for sample, example, mine in zip(logged, examples, ours_lls, strict=True):
            # lm-eval's own rendering of the prompt is tracker's, up to where the space goes
            contexts = {arg[0] if isinstance(arg, list | tuple) else arg["arg_0"]
                        for arg in (sample["arguments"].values()
                                    if isinstance(sample["arguments"], dict)
                                    else sample["arguments"])}
            expected = example.context().removesuffix(delimiter)
            assert contexts == {expected}, (name, contexts, expected)
            theirs = [float(resp[0][0]) for resp in sample["resps"]]
            assert len(theirs) == len(mine)
            diffs = [abs(a - b) for a, b in zip(mine, theirs, strict=True)]
            assert max(diffs) < 1e-5, (name, sample["doc_id"], mine, theirs)
        worst = max(abs(a - b) for sample, mine in zip(logged, ours_lls, strict=True)
                    for a, b in zip(mine, [float(r[0][0]) for r in sample["resps"]],
                                    strict=True))
        print(f"{task_name} {name}: {limit} examples, max |ll diff| {worst:.2e}")
        lm_acc = np.array([s["acc"] for s in logged], dtype=float)
        assert np.array_equal(ours["accuracy"].to_numpy(dtype=float), lm_acc), name
