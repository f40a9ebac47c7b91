"""``lm-eval:TASK[@DIR]``: lm-eval renders the requests from local rows, tracker scores them.

Offline: rows written here, a tiny model built in the test. The hub tasks' prompts are checked
against lm-eval's own rendering of the same rows (byte for byte, zero-shot), and the scores
against an unbatched reference forward and against lm-eval's ``simple_evaluate``.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

from tests.helpers_tasks import encode_pair, reference_logprob, tiny_lm
from tests.test_tasks_hub import ARC, HELLASWAG, LAMBADA, MMLU, PIQA, SCIQ
from tracker.errors import TrackerError
from tracker.evals.interface import EvalSettings
from tracker.tasks import hub, resolve_tasks

pytest.importorskip("lm_eval")

ARC_ROWS = [
    ARC,
    {"id": "Q2", "question": "What do plants absorb?", "answerKey": "B",
     "choices": {"text": ["gold", "carbon dioxide", "sand", "iron"],
                 "label": ["A", "B", "C", "D"]}},
    {"id": "Q3", "question": "Which is warmest?", "answerKey": "2",
     "choices": {"text": ["ice", "fire", "snow"], "label": ["1", "2", "3"]}},
]
# hub task -> (lm-eval task, the split file lm-eval reads, rows)
COUNTERPARTS = {
    "mmlu": ("mmlu_elementary_mathematics", "test", [MMLU]),
    "hellaswag": ("hellaswag", "validation", [HELLASWAG]),
    "arc_easy": ("arc_easy", "test", ARC_ROWS),
    "arc_challenge": ("arc_challenge", "test", ARC_ROWS),
    "piqa": ("piqa", "validation", [PIQA]),
    "sciq": ("sciq", "test", [SCIQ]),
    "lambada": ("lambada_openai", "test", [LAMBADA]),
}


def write_rows(directory, split, rows):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return directory


@pytest.mark.parametrize("spec", hub.HUB_TASKS, ids=lambda s: s.name)
def test_hub_task_renders_as_lm_eval(tmp_path, spec):
    """Zero-shot, hub.py's contexts, continuations and gold equal lm-eval's byte for byte."""
    name, split, rows = COUNTERPARTS[spec.name]
    data = write_rows(tmp_path / name, split, rows)
    ours = [spec.convert(dict(row), i) for i, row in enumerate(rows)]
    theirs = resolve_tasks([f"lm-eval:{name}@{data}"])[0].examples()
    assert len(theirs) == len(ours)
    for mine, lm_evals in zip(ours, theirs, strict=True):
        assert mine.context() == lm_evals.context()
        if spec.kind == "multiple_choice":
            assert mine.continuations() == lm_evals.continuations()
            assert mine.answer == lm_evals.answer
        else:
            assert mine.targets == lm_evals.targets


def test_arc_easy_scores_every_choice(tmp_path):
    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)
    task = resolve_tasks([f"lm-eval:arc_easy@{data}"])[0]
    lm = tiny_lm()
    result = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    frame = result.examples
    assert list(frame["example_id"]) == ["0", "1", "2"]
    for row, example in zip(frame.itertuples(), task.examples(), strict=True):
        logprobs = np.array([reference_logprob(lm, *encode_pair(lm.tokenizer, example.context(),
                                                                choice))
                             for choice in example.continuations()])
        probabilities = np.exp(logprobs - logprobs.max())
        probabilities /= probabilities.sum()
        assert row.accuracy == float(np.argmax(logprobs) == example.answer)
        chars = np.array([len(c) for c in example.choices], dtype=float)
        assert row.acc_norm == float(np.argmax(logprobs / chars) == example.answer)
        assert row.p_correct == pytest.approx(probabilities[example.answer], abs=1e-4)
    assert {"accuracy", "accuracy_norm", "acc_norm", "brier"} <= {s.metric for s in result.scores}
    assert len(result.extras["requests_sha256"]) == 64


def test_identity_covers_fewshot_data_and_version(tmp_path):
    rows = [{**MMLU, "question": f"What is {i}+2?"} for i in range(6)]
    data = write_rows(tmp_path / "mmlu", "test", rows)
    write_rows(data, "dev", rows[:5])
    name = f"lm-eval:mmlu_elementary_mathematics@{data}"
    zero, two = (resolve_tasks([name], num_fewshot=k)[0] for k in (None, 2))
    assert zero.identity()["num_fewshot"] == 0 and two.identity()["num_fewshot"] == 2
    assert zero.identity()["source"]["lm_eval"] == two.identity()["source"]["lm_eval"]
    assert zero.identity() != two.identity()
    shots = two.examples()
    assert shots[0].context().count("Answer:") == 3  # two demonstrations from dev, then the query
    # first_n sampler (MMLU's YAML): the dev rows in order, whatever the seed
    assert "What is 0+2?" in shots[0].context() and "What is 1+2?" in shots[0].context()
    write_rows(data, "test", rows[:5])
    assert resolve_tasks([name])[0].identity()["source"]["data_sha256"] != \
        zero.identity()["source"]["data_sha256"]


def test_yaml_fewshot_count_is_kept_unless_given(tmp_path):
    data = write_rows(tmp_path / "gsm8k", "test", [{"question": "1+1?", "answer": "#### 2"}])
    write_rows(data, "train", [{"question": f"{i}+1?", "answer": f"#### {i + 1}"}
                               for i in range(6)])
    kept, given = (resolve_tasks([f"lm-eval:gsm8k@{data}"], num_fewshot=k)[0] for k in (None, 1))
    assert kept.identity()["num_fewshot"] == 5  # gsm8k's YAML
    assert given.identity()["num_fewshot"] == 1
    assert kept.examples()[0].context().count("Question:") == 6
    assert given.examples()[0].context().count("Question:") == 2


def test_generate_until_runs_lm_evals_filters(tmp_path):
    """gsm8k: tracker generates, lm-eval's two filter pipelines and exact match score it;
    the twins sit beside them."""
    rows = [{"question": f"What is {i} plus 1?", "answer": f"so #### {i + 1}"} for i in range(3)]
    data = write_rows(tmp_path / "gsm8k", "test", rows)
    task = resolve_tasks([f"lm-eval:gsm8k@{data}"], num_fewshot=0)[0]
    lm = tiny_lm(max_positions=512)
    result = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    names = {s.metric for s in result.scores}
    assert {"exact_match[strict-match]", "exact_match[flexible-extract]", "target_nll",
            "token_edit_distance"} <= names
    assert (result.examples["target_nll"] > 0).all()
    assert result.examples["generation"].map(type).eq(str).all()


def test_group_aggregates_as_lm_eval(tmp_path):
    """A group of two registered tasks (process_docs split one file by domain): scores are
    the size-weighted means of the subtasks', which are kept."""
    row = {"question": "Q?", "option_a": "a", "option_b": "b", "option_c": "c",
           "option_d": "d", "answer": 1}
    rows = [{**row, "question": f"Q{i}?", "domain": "Arts & Humanities" if i < 3
             else "Driving License"} for i in range(8)]
    data = write_rows(tmp_path / "he", "test", rows)
    task = resolve_tasks([f"lm-eval:include_base_44_hebrew@{data}"])[0]
    result = task.evaluate(tiny_lm(), EvalSettings(batch_size=8, progress=False))
    subtasks = result.extras["subtasks"]
    assert set(subtasks) == {"include_base_44_hebrew_arts_humanities",
                             "include_base_44_hebrew_driving_license"}
    frame = result.examples
    assert frame.groupby("subtask").size().to_dict() == {
        "include_base_44_hebrew_arts_humanities": 3, "include_base_44_hebrew_driving_license": 5}
    assert result.score("accuracy").score == pytest.approx(frame["accuracy"].mean())
    assert result.score("accuracy").n == 8


def test_tag_gives_one_task_each(tmp_path):
    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)
    names = [t.name for t in resolve_tasks([f"lm-eval:ai2_arc@{data}"])]
    assert names == ["lm-eval:arc_challenge", "lm-eval:arc_easy"]


@pytest.mark.parametrize(("name", "message"), [
    ("fda", "Python class task"),
    ("humaneval", "unsafe code"),
    ("mmmu_val_art", "multimodal"),
    ("arc_easyy", "did you mean 'arc_easy'"),
])
def test_refused_in_one_line(name, message):
    with pytest.raises(TrackerError, match=message) as caught:
        resolve_tasks([f"lm-eval:{name}"])
    assert "\n" not in str(caught.value)


def test_missing_split_file_is_one_line(tmp_path):
    data = write_rows(tmp_path / "arc", "validation", ARC_ROWS)
    data_empty = tmp_path / "empty"
    data_empty.mkdir()
    with pytest.raises(TrackerError, match="no file for its evaluation split") as caught:
        resolve_tasks([f"lm-eval:piqa@{data_empty}"])
    assert "\n" not in str(caught.value)
    # arc_easy reads its validation split when the test file is absent (lm-eval's rule)
    assert len(resolve_tasks([f"lm-eval:arc_easy@{data}"])[0].examples()) == 3


def test_without_lm_eval_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    with pytest.raises(TrackerError, match=r"pip install 'tracker\[lmeval\]'"):
        resolve_tasks(["lm-eval:arc_easy"])


def _simple_evaluate(model_dir, source, limit=None):
    """lm-eval's own run over the same override YAMLs (its HFLM on the saved model)."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    directory = model_dir.parent / "lmeval_tasks"
    directory.mkdir()
    source.write_overrides(directory)
    model = HFLM(pretrained=str(model_dir), dtype="float32", batch_size=4, device="cpu")
    return lm_eval.simple_evaluate(
        model=model, tasks=[source.name], log_samples=True, bootstrap_iters=0, limit=limit,
        task_manager=TaskManager(include_path=str(directory), include_defaults=False))


WIKITEXT_PAGES = [
    " = Valkyria Chronicles = \n Senjo no Valkyria 3 : Unrecorded Chronicles is a tactical "
    "role @-@ playing video game . It was released in 2011 , and sold 1 @,@ 000 copies . \n",
    " = Tower = \n The tower is 324 metres ( 1 @,@ 063 ft ) tall , about the same height as "
    "an 81 @-@ storey building . " * 12,
    " = Short = \n A line . \n",
]


def test_wikitext_equals_simple_evaluate(tmp_path):
    """A loglikelihood_rolling task (wikitext, its YAML's detokenizer and process_results):
    each document's log-likelihood, and bits per byte, byte and word perplexity, equal
    lm-eval's own run on the same saved model and rows; the long page rolls over several
    windows of the model's 64 positions."""
    data = write_rows(tmp_path / "wikitext", "test", [{"page": p} for p in WIKITEXT_PAGES])
    model_dir, lm = _saved_tiny_lm(tmp_path, seed=5, max_positions=64)
    task = resolve_tasks([f"lm-eval:wikitext@{data}"])[0]
    assert task.kind == "lm-eval task"
    ours = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    assert max(ours.examples["tokens"]) > 3 * lm.max_length  # several windows
    output = _simple_evaluate(model_dir, task.source)
    samples = sorted(output["samples"]["wikitext"], key=lambda s: s["doc_id"])
    theirs = [float(s["filtered_resps"][0]) for s in samples]
    mine = list(-ours.examples["nll_nats"])
    print(f"wikitext: per-document ll {mine} against lm-eval's {theirs}")
    assert mine == pytest.approx(theirs, rel=1e-6)
    results = output["results"]["wikitext"]
    for metric in ("bits_per_byte", "byte_perplexity", "word_perplexity"):
        assert ours.score(metric).score == pytest.approx(results[f"{metric},none"], rel=1e-6)
    # lm-eval counts the page before its detokenizer: the bytes are the raw page's
    assert list(ours.examples["bytes"]) == [len(p.encode("utf-8")) for p in WIKITEXT_PAGES]
    assert ours.score("bits_per_byte").stderr > 0
    from tracker.cli.tasks_cmd import describe

    shown = describe(task, n_examples=1)
    assert "document, scored whole (no generation): ' = Valkyria Chronicles =" in shown
    assert "max_new_tokens" not in shown


def _saved_tiny_lm(tmp_path, seed, max_positions=256):
    """A tiny model saved as a user's checkpoint directory, and tracker's model loaded from
    it (both sides read the same files)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tracker.lm.loading import LoadedModel

    model_dir = tmp_path / "model"
    built = tiny_lm(seed=seed, max_positions=max_positions)
    built.model.save_pretrained(model_dir)
    built.tokenizer.save_pretrained(model_dir)
    return model_dir, LoadedModel.wrap(AutoModelForCausalLM.from_pretrained(model_dir).eval(),
                                       AutoTokenizer.from_pretrained(model_dir))


def _choice_lls(lm, task, name):
    """tracker's log-likelihood of every choice, per document in doc order."""
    from tracker.tasks.lmeval_rows import score_instances

    tasks = task.built(None)["tasks"]
    scored = score_instances(lm, tasks, 4)
    return [[scored.loglikelihood[id(i)].logprob for i in instances]
            for instances in _instances_by_doc(tasks[name])]


def _their_lls(output, name):
    samples = sorted(output["samples"][name], key=lambda s: s["doc_id"])
    return [[float(r[0][0]) for r in s["resps"]] for s in samples], samples


OPENBOOKQA_ROWS = [
    {"id": f"7-{i}", "question_stem": stem, "answerKey": key,
     "choices": {"text": texts, "label": ["A", "B", "C", "D"]}}
    for i, (stem, texts, key) in enumerate([
        ("The sun is responsible for", ["puppies learning new tricks", "children growing up",
                                        "flowers wilting in a vase", "plants sprouting"], "D"),
        ("When food is reduced in the stomach", ["the mind needs time to digest",
                                                 "take a second to digest what I said",
                                                 "nutrients are being deconstructed",
                                                 "reader's digest is a body of works"], "C"),
        ("A magnet will stick to", ["a belt buckle", "a wooden table", "a plastic cup",
                                    "a paper plate"], "A"),
    ] * 3)]


@pytest.mark.parametrize(("name", "split_rows", "seed"), [
    ("arc_easy", lambda: [{**row, "id": f"{row['id']}-{i}"} for i in range(4)
                          for row in ARC_ROWS], 3),
    ("openbookqa", lambda: OPENBOOKQA_ROWS, 11),  # a registered task the issue does not name
])
def test_multiple_choice_equals_simple_evaluate(tmp_path, name, split_rows, seed):
    """Accuracy, acc_norm and every choice's log-likelihood equal lm-eval's own run on the
    same saved model and rows (docs/tasks.md states 1e-5)."""
    data = write_rows(tmp_path / name, "test", split_rows())
    model_dir, lm = _saved_tiny_lm(tmp_path, seed=seed)
    task = resolve_tasks([f"lm-eval:{name}@{data}"])[0]
    ours = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    output = _simple_evaluate(model_dir, task.source)
    theirs, samples = _their_lls(output, name)
    mine = _choice_lls(lm, task, name)
    worst = max(abs(a - b) for m, t in zip(mine, theirs, strict=True)
                for a, b in zip(m, t, strict=True))
    print(f"{name}: {len(samples)} documents, max |ll diff| {worst:.2e}")
    assert worst < 1e-5
    results = output["results"][name]
    assert ours.score("accuracy").score == pytest.approx(results["acc,none"], abs=1e-12)
    assert ours.score("acc_norm").score == pytest.approx(results["acc_norm,none"], abs=1e-12)
    assert list(ours.examples["accuracy"]) == [s["acc"] for s in samples]
    assert list(ours.examples["acc_norm"]) == [s["acc_norm"] for s in samples]


def test_generate_until_with_a_regex_filter_equals_simple_evaluate(tmp_path):
    """bbh_zeroshot_boolean_expressions (generate_until; its filters: take_first, and a regex
    that extracts True/False): tracker's greedy generations are lm-eval's byte for byte, and
    exact match under each filter equals lm-eval's, per document and in aggregate."""
    rows = [{"input": expression, "target": target} for expression, target in [
        ("not ( True ) and ( True ) is", "False"), ("True and not not ( not False ) is", "True"),
        ("not True or ( False and True ) is", "False"), ("False or not ( True ) and True is",
                                                          "False")]]
    data = write_rows(tmp_path / "bbh", "test", rows)
    model_dir, lm = _saved_tiny_lm(tmp_path, seed=12, max_positions=512)
    name = "bbh_zeroshot_boolean_expressions"
    task = resolve_tasks([f"lm-eval:{name}@{data}"])[0]
    ours = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    output = _simple_evaluate(model_dir, task.source)
    samples = sorted(output["samples"][name], key=lambda s: (s["filter"], s["doc_id"]))
    by_filter = {f: [s for s in samples if s["filter"] == f]
                 for f in ("strict-match", "flexible-extract")}
    generations = [s["resps"][0][0] for s in by_filter["strict-match"]]
    assert list(ours.examples["generation"]) == generations
    for filter_name, filtered in by_filter.items():
        column = f"exact_match[{filter_name}]"
        assert list(ours.examples[column]) == [float(s["exact_match"]) for s in filtered]
        assert ours.score(column).score == pytest.approx(
            output["results"][name][f"exact_match,{filter_name}"], abs=1e-12)


def test_group_equals_simple_evaluate(tmp_path):
    """A group (include_base_44_hebrew, two subtasks split from one file): the group's
    accuracy (its size-weighted mean), each subtask's accuracy, and every choice's
    log-likelihood equal lm-eval's own run."""
    row = {"question": "Q?", "option_a": "a", "option_b": "b", "option_c": "c",
           "option_d": "d", "answer": 1}
    rows = [{**row, "question": f"Question number {i}?", "answer": i % 4,
             "domain": "Arts & Humanities" if i < 3 else "Driving License"} for i in range(8)]
    data = write_rows(tmp_path / "he", "test", rows)
    model_dir, lm = _saved_tiny_lm(tmp_path, seed=13)
    name = "include_base_44_hebrew"
    task = resolve_tasks([f"lm-eval:{name}@{data}"])[0]
    ours = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    output = _simple_evaluate(model_dir, task.source)
    for subtask, scores in ours.extras["subtasks"].items():
        theirs, _ = _their_lls(output, subtask)
        mine = _choice_lls(lm, task, subtask)
        assert np.allclose(np.array(mine), np.array(theirs), atol=1e-5, rtol=0)
        assert scores["accuracy"] == pytest.approx(output["results"][subtask]["acc,none"],
                                                   abs=1e-12)
    group = output["results"][name]
    assert ours.score("accuracy").score == pytest.approx(group["acc,none"], abs=1e-12)


def test_group_of_groups_equals_simple_evaluate(tmp_path):
    """mmlu, a group of four groups of 57 subjects, each subject with its own rows
    (``DIR/<leaf>/test.jsonl``, 1-3 questions): the top group's accuracy and each inner
    group's equal lm-eval's own run, aggregated bottom-up as lm-eval does."""
    first = write_rows(tmp_path / "flat", "test", [MMLU])
    leaves = [leaf.name for leaf in resolve_tasks([f"lm-eval:mmlu@{first}"])[0].source.leaves]
    assert len(leaves) == 57
    data = tmp_path / "mmlu"
    for number, leaf in enumerate(leaves):
        write_rows(data / leaf, "test", [
            {**MMLU, "question": f"{MMLU['question']} ({leaf}, {i})", "answer": (number + i) % 4}
            for i in range(1 + number % 3)])
    model_dir, lm = _saved_tiny_lm(tmp_path, seed=14)
    task = resolve_tasks([f"lm-eval:mmlu@{data}"])[0]
    ours = task.evaluate(lm, EvalSettings(batch_size=8, progress=False))
    output = _simple_evaluate(model_dir, task.source)
    inner = {"mmlu_stem", "mmlu_other", "mmlu_social_sciences", "mmlu_humanities"}
    assert set(ours.extras["subgroups"]) == inner
    for group in inner:
        assert ours.extras["subgroups"][group]["accuracy"] == pytest.approx(
            output["results"][group]["acc,none"], abs=1e-12)
    assert ours.score("accuracy").score == pytest.approx(output["results"]["mmlu"]["acc,none"],
                                                         abs=1e-12)
    assert ours.score("accuracy").n == sum(1 + n % 3 for n in range(57))


def test_training_hook_takes_an_lm_eval_task(tmp_path):
    """The training hook's ``tasks`` take ``lm-eval:TASK@DIR`` as `tracker eval` does: the
    unit is stored with the same accuracy as the task scored directly, and a second call at
    the same step computes nothing."""
    from tests.helpers import SAMPLE_DOCUMENTS, write_jsonl
    from tracker.hooks import evaluate_model

    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)
    validation = write_jsonl(tmp_path / "validation.jsonl", SAMPLE_DOCUMENTS)
    lm = tiny_lm(seed=7)
    spec = f"lm-eval:arc_easy@{data}"
    first = evaluate_model(lm.model, lm.tokenizer, step=10, run_dir=tmp_path / "run",
                           validation=validation, tasks=[spec], size="tiny")
    assert first.computed == 2
    direct = resolve_tasks([spec])[0].evaluate(lm, EvalSettings(progress=False))
    assert first.scores["lm-eval:arc_easy"]["accuracy"] == direct.score("accuracy").score
    again = evaluate_model(lm.model, lm.tokenizer, step=10, run_dir=tmp_path / "run",
                           validation=validation, tasks=[spec], size="tiny")
    assert again.computed == 0


def _instances_by_doc(task):
    documents: dict[int, list] = {}
    for instance in task.instances:
        documents.setdefault(instance.doc_id, []).append(instance)
    return [sorted(documents[d], key=lambda i: i.idx) for d in sorted(documents)]


def test_winogrande_scores_one_context_per_choice(tmp_path):
    """winogrande: the choices sit in the contexts, the continuation is shared; each
    (context, continuation) pair is scored as lm-eval builds it."""
    rows = [{"sentence": "The cup fell off the table because _ was wobbly.",
             "option1": "the cup", "option2": "the table", "answer": "2"}]
    data = write_rows(tmp_path / "wino", "validation", rows)
    task = resolve_tasks([f"lm-eval:winogrande@{data}"])[0]
    lm = tiny_lm()
    result = task.evaluate(lm, EvalSettings(batch_size=4, progress=False))
    instances = task.built(None)["tasks"]["winogrande"].instances
    contexts = [i.args[0] for i in instances]
    assert contexts == ["The cup fell off the table because the cup",
                        "The cup fell off the table because the table"]
    assert {i.args[1] for i in instances} == {" was wobbly."}
    logprobs = [reference_logprob(lm, *encode_pair(lm.tokenizer, *i.args)) for i in instances]
    assert result.examples["accuracy"].iloc[0] == float(np.argmax(logprobs) == 1)
    assert result.examples["logprob_correct"].iloc[0] == pytest.approx(logprobs[1], abs=1e-4)


def test_eval_resumes_and_keeps_fewshot_settings_apart(tmp_path, capsys):
    """`tracker eval --tasks lm-eval:arc_easy@ROWS` twice: nothing recomputed; a second
    --num-fewshot is a second setting stored beside the first."""
    from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl
    from tracker.cli import main
    from tracker.store import RunStore
    from tracker.store.settings import setting_of

    save_local_family(tmp_path / "family", trained_tokenizer(), sizes=("s1",), steps=(0, 1),
                      max_positions=128)
    write_jsonl(tmp_path / "validation.jsonl", SAMPLE_DOCUMENTS)
    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)
    write_rows(data, "train", ARC_ROWS)
    run = tmp_path / "run"
    args = ["eval", "--family", str(tmp_path / "family"), "--validation",
            str(tmp_path / "validation.jsonl"), "--run", str(run), "--device", "cpu",
            "--no-report", "--quiet", "--tasks", f"lm-eval:arc_easy@{data}"]
    assert main(args) == 0
    assert "computed 4 units, 0 already stored" in capsys.readouterr().out
    assert main(args) == 0
    assert "computed 0 units, 4 already stored" in capsys.readouterr().out
    assert main([*args, "--num-fewshot", "1"]) == 0
    assert "computed 2 units, 2 already stored" in capsys.readouterr().out
    records = [r for r in RunStore(run).records() if r["task"] == "lm-eval:arc_easy"]
    labels = sorted(setting_of(r["identity"]).label for r in records)
    assert labels == ["limit=all dtype=float32 fewshot=0"] * 2 + \
        ["limit=all dtype=float32 fewshot=1"] * 2


def test_resume_stops_on_other_requests(tmp_path, capsys, monkeypatch):
    """Stored lm-eval units are checked on resume: when lm-eval renders other requests
    under the same identity, `tracker eval` stops in one line, exits non-zero, computes
    nothing and leaves the stored units as they were."""
    from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl
    from tracker.cli import main
    from tracker.tasks import lmeval

    save_local_family(tmp_path / "family", trained_tokenizer(), sizes=("s1",), steps=(0,),
                      max_positions=128)
    write_jsonl(tmp_path / "validation.jsonl", SAMPLE_DOCUMENTS)
    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)
    run = tmp_path / "run"
    args = ["eval", "--family", str(tmp_path / "family"), "--validation",
            str(tmp_path / "validation.jsonl"), "--run", str(run), "--device", "cpu",
            "--no-report", "--quiet", "--tasks", f"lm-eval:arc_easy@{data}"]
    assert main(args) == 0
    capsys.readouterr()
    before = {p: p.read_bytes() for p in (run / "units").rglob("*.parquet")}
    real = lmeval.requests_sha256
    monkeypatch.setattr(lmeval, "requests_sha256", lambda tasks: "f" * 64)
    assert main(args) != 0
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and err[0].startswith("tracker: error: stored unit "), err
    assert "lm-eval now builds other requests for 'lm-eval:arc_easy'" in err[0]
    assert "sha256 ffffffffffff now" in err[0] and "new --run directory" in err[0]
    assert {p: p.read_bytes() for p in (run / "units").rglob("*.parquet")} == before
    monkeypatch.setattr(lmeval, "requests_sha256", real)
    assert main(args) == 0
    assert "computed 0 units, 2 already stored" in capsys.readouterr().out


def test_the_registry_index_is_cached_on_disk_and_rebuilt_when_unreadable(tmp_path,
                                                                         monkeypatch):
    """The 9 s registry scan runs once per installed lm-eval: a second process reads the
    cached index (here: TaskManager made to fail, and the index still comes back, equal);
    a corrupt cache file is rebuilt, not trusted."""
    import lm_eval.tasks

    from tracker.tasks import lmeval_offline

    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path))
    lmeval_offline.registry_index.cache_clear()
    built = lmeval_offline.registry_index()
    assert built["arc_easy"].kind == "TASK" and built["arc_easy"].yaml_path.is_file()
    assert built["mmlu"].kind == "GROUP"
    (cached,) = (tmp_path / "lmeval").glob("index-*.json")

    def no_scan(*args, **kwargs):
        raise AssertionError("the registry was scanned again")

    monkeypatch.setattr(lm_eval.tasks, "TaskManager", no_scan)
    lmeval_offline.registry_index.cache_clear()
    assert lmeval_offline.registry_index() == built

    cached.write_text("{not json")
    lmeval_offline.registry_index.cache_clear()
    with pytest.raises(AssertionError, match="scanned again"):
        lmeval_offline.registry_index()
    monkeypatch.undo()
    lmeval_offline.registry_index.cache_clear()


@pytest.mark.slow
def test_eval_killed_mid_family_resumes_with_nothing_recomputed(tmp_path):
    """`tracker eval --tasks lm-eval:arc_easy@ROWS` killed (SIGKILL) once a task unit is
    stored, then run again: every unit stored before the kill counts as already stored
    (none recomputed), the rest are computed, and the export equals an uninterrupted run's."""
    import re
    import signal
    import subprocess
    import time

    from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl

    save_local_family(tmp_path / "family", trained_tokenizer(), sizes=("s1",),
                      steps=(0, 1, 2, 3), max_positions=128)
    write_jsonl(tmp_path / "validation.jsonl", SAMPLE_DOCUMENTS)
    data = write_rows(tmp_path / "arc", "test", ARC_ROWS)

    def args(run):
        return [sys.executable, "-m", "tracker", "eval", "--family", str(tmp_path / "family"),
                "--validation", str(tmp_path / "validation.jsonl"), "--run", str(run),
                "--device", "cpu", "--dtype", "float32", "--no-report", "--quiet",
                "--tasks", f"lm-eval:arc_easy@{data}"]

    def units(run):
        return sorted(p.relative_to(run) for p in run.glob("units/**/*.parquet"))

    killed = tmp_path / "killed"
    process = subprocess.Popen(args(killed), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not any("arc_easy" in str(p) for p in units(killed)) and process.poll() is None:
        assert time.monotonic() < deadline, "no lm-eval unit stored within 300 s"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = units(killed)
    assert 0 < len(before) < 8, before  # 4 checkpoints x (validation + arc_easy)

    again = subprocess.run(args(killed), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    computed, already = map(int, re.search(r"computed (\d+) units, (\d+) already stored",
                                           again.stdout).groups())
    assert (computed, already) == (8 - len(before), len(before))
    assert set(before) <= set(units(killed)) and len(units(killed)) == 8

    whole = tmp_path / "whole"
    assert subprocess.run(args(whole), capture_output=True).returncode == 0
    exported = []
    for run in (killed, whole):
        out = tmp_path / f"{run.name}.csv"
        assert subprocess.run([sys.executable, "-m", "tracker", "export", "--run", str(run),
                               "--out", str(out)], capture_output=True).returncode == 0
        exported.append(out.read_bytes())
    assert exported[0] == exported[1]
