"""Property-based tests (hypothesis) of tracker's parsers and of the fit.

Random and adversarial input (random JSON/YAML structures, near-valid files with keys
dropped, replaced by values of the wrong type or added, unicode, huge/NaN/inf numbers,
empty strings, duplicated rows) must end in a result or in a TrackerError whose message is
one line; never in another exception. Non-finite numbers are handled as documented:
tracker/points.py drops empty/NaN/inf loss or score rows and counts them in n_dropped;
fit_threshold drops non-finite (loss, score) pairs and counts them in n_dropped.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.errors import TrackerError
from tracker.families.catalog import FamilyConfig, load_family
from tracker.fit.core import fit_threshold
from tracker.imports.files import ResultSource, parse_result
from tracker.imports.scores import empty_examples, n_from_stderr, sample_rows, task_scores
from tracker.points import read_points_csv, validate_points
from tracker.tasks.bigbench import bigbench_tasks
from tracker.tasks.examples import GenerativeExample, MultipleChoiceExample
from tracker.tasks.jsonl import jsonl_task, parse_jsonl

FAST = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- building blocks ---------------------------------------------------------------------

WEIRD_TEXT = st.sampled_from(["", " ", "\n", "\t\n", "naïve café", "東京", "\U0001f600", "{",
                              "}", "{size}", "{step}", "#", ",", "\"", "\\", "\x00", "nan",
                              "inf", "-inf", "1e400", "null", "true", "a\nb", "(", "[x"])
TEXT = st.text(max_size=12) | WEIRD_TEXT
NUMBERS = (st.integers(min_value=-(10**30), max_value=10**30)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.sampled_from([0, 1, -1, 2**63, -(2**63), 1e308, -1e308, 5e-324]))
SCALARS = st.none() | st.booleans() | NUMBERS | TEXT
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(TEXT, inner, max_size=4), max_leaves=10)


@st.composite
def mutated(draw, base: dict) -> dict:
    """A near-valid mapping: each key of ``base`` (a dict of strategies) kept with a valid
    value, given a random JSON value of any type, or dropped; maybe an unknown key added."""
    out = {}
    for key, strategy in base.items():
        roll = draw(st.integers(0, 11))
        if roll == 0:
            continue
        out[key] = draw(JSON) if roll == 1 else draw(strategy)
    if draw(st.integers(0, 5)) == 0:
        out[draw(TEXT)] = draw(JSON)
    return out


def assert_one_line(error: TrackerError) -> None:
    message = str(error)
    assert message, "empty TrackerError message"
    assert "\n" not in message and "\r" not in message, repr(message)


def outcome(call, *args, **kwargs):
    """call(*args); a TrackerError is checked for one line and returned instead."""
    try:
        return call(*args, **kwargs)
    except TrackerError as error:
        assert_one_line(error)
        return error


def scratch() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="tracker-prop-")


# --- family config files ------------------------------------------------------------------

STEP_SCHEDULE = st.fixed_dictionaries({
    "log_until": st.integers(-2, 5000), "every": st.integers(-1, 10**5) | st.just(1000),
    "until": st.integers(-1, 10**6)})
SIZE = mutated({"label": TEXT | st.sampled_from(["70m", "1b"]),
                "params": st.integers(-5, 10**12), "repo": TEXT,
                "revisions": st.lists(TEXT | st.sampled_from(["step1", "step1000-tokens4B"]),
                                      max_size=3)})
FAMILY = mutated({
    "name": TEXT | st.just("f"),
    "architecture": st.sampled_from(["gpt_neox", "llama", "olmo", "olmo2", "other", "rnn"]),
    "source": st.sampled_from(["hub", "local", "cloud"]),
    "repo": st.sampled_from(["org/m-{size}", "org/m", "org/{", "org/{nope}"]) | TEXT,
    "path": TEXT, "revision": st.sampled_from(["step{step}", "{step}-x", "{", "{x}", "s{0}"]),
    "revisions": st.lists(TEXT | st.sampled_from(["step1", "step2000-tokens4B", "main"]),
                          max_size=3),
    "revision_regex": st.sampled_from([r"step(?P<step>\d+)", "(", "x", r"(?P<tokens>\d+)",
                                       r"step(?P<step>\d+)-tokens(?P<tokens>\d+)(?P<unit>[KMBT])",
                                       r"(?P<step>\w+)", ""]),
    "steps": st.lists(st.integers(-3, 10**9), max_size=4) | STEP_SCHEDULE,
    "tokens_per_step": st.integers(-1, 10**9), "tokens_step_offset": st.integers(-5, 5),
    "sizes": st.lists(SIZE, max_size=3), "trust_remote_code": st.booleans(),
    "allow_pickle": st.booleans(), "max_length": st.integers(-1, 10**6),
    "validation": TEXT, "tasks": st.lists(TEXT, max_size=2),
})


@FAST
@given(data=FAMILY | st.dictionaries(TEXT, JSON, max_size=4) | JSON)
def test_family_files_load_or_fail_in_one_line(data):
    with scratch() as tmp:
        path = Path(tmp) / "f.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        family = outcome(load_family, str(path))
        if isinstance(family, TrackerError):
            return
        assert isinstance(family.config, FamilyConfig)
        if family.config.source == "hub":  # revisions and steps are read when listed
            checkpoints = outcome(family.checkpoints)
            if not isinstance(checkpoints, TrackerError):
                assert all(isinstance(c.step, int) for c in checkpoints)


@FAST
@given(text=st.text(max_size=80) | st.sampled_from(["name: [f", "- a", "a: b: c", "\t", "%",
                                                    "!!python/object:os.system x", "&a [*a]"]))
def test_family_yaml_text_loads_or_fails_in_one_line(text):
    with scratch() as tmp:
        path = Path(tmp) / "f.yaml"
        path.write_text(text, encoding="utf-8")
        outcome(load_family, str(path))


# --- JSONL task files ----------------------------------------------------------------------

REGEX = st.sampled_from([r"(\d+)", "(", "[", "a", "(?P<x>", "*"])
MC_RECORD = mutated({"prompt": TEXT, "choices": st.lists(TEXT, max_size=4),
                     "answer": st.integers(-2, 5), "id": TEXT | st.integers(),
                     "metadata": JSON})
GEN_RECORD = mutated({"prompt": TEXT, "target": TEXT | st.lists(TEXT, max_size=3),
                      "stop": TEXT | st.lists(TEXT, max_size=3),
                      "max_new_tokens": st.integers(-2, 10**12), "output_regex": REGEX,
                      "id": TEXT | st.integers()})


def jsonl_line(draw_value) -> str:
    return json.dumps(draw_value, ensure_ascii=False)


@FAST
@given(records=st.lists(MC_RECORD | GEN_RECORD | JSON, min_size=0, max_size=6),
       duplicate=st.booleans(), junk=st.sampled_from(["", "   ", "{", "not json", "[]"]),
       fewshot=st.integers(0, 3))
def test_jsonl_tasks_parse_or_fail_in_one_line(records, duplicate, junk, fewshot):
    lines = [jsonl_line(r) for r in records]
    if duplicate and lines:
        lines.append(lines[0])
    lines.append(junk)
    with scratch() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8")
        task = outcome(jsonl_task, path, num_fewshot=fewshot)
        if isinstance(task, TrackerError):
            return
        examples = outcome(task.examples)
        if isinstance(examples, TrackerError):
            return
        for example in examples:
            check_example(example)


def check_example(example) -> None:
    """What a parsed example promises the scorer (checked at parse time, not mid-sweep)."""
    assert isinstance(example.context(), str)
    if isinstance(example, MultipleChoiceExample):
        assert len(example.choices) >= 2 and all(isinstance(c, str) for c in example.choices)
        assert 0 <= example.answer < len(example.choices)
    else:
        assert isinstance(example, GenerativeExample)
        assert example.targets and all(isinstance(t, str) and t.strip()
                                       for t in example.targets)
        assert all(isinstance(s, str) and s for s in example.stop)  # [] = no stop string
        assert isinstance(example.max_new_tokens, int) and example.max_new_tokens >= 1
        if example.output_regex is not None:
            re.compile(example.output_regex)  # a bad regex is a parse error, not a crash later


@FAST
@given(raw=st.binary(max_size=60) | st.text(max_size=60).map(lambda t: t.encode("utf-8")))
def test_jsonl_bytes_parse_or_fail_in_one_line(raw):
    with scratch() as tmp:
        path = Path(tmp) / "t.jsonl"
        path.write_bytes(raw)
        outcome(jsonl_task, path)
    outcome(parse_jsonl, raw.decode("utf-8", errors="replace"), "t.jsonl")


# --- BIG-bench task.json ---------------------------------------------------------------------

BB_RECORD = mutated({
    "input": TEXT,
    "target_scores": st.dictionaries(TEXT, NUMBERS | TEXT | st.none(), max_size=4)
    | st.just({"True": 1, "False": 0}),
    "target": TEXT | st.lists(TEXT, max_size=3),
})
BB_TASK = mutated({
    "name": TEXT | st.just("t"), "task_prefix": TEXT, "example_input_prefix": TEXT,
    "example_output_prefix": TEXT, "choice_prefix": TEXT,
    "append_choices_to_input": st.booleans(),
    "preferred_score": st.sampled_from(["multiple_choice_grade", "exact_str_match", "bleu"]),
    "stop_string": TEXT, "output_regex": REGEX,
    "examples": st.lists(BB_RECORD | JSON, min_size=1, max_size=5),
})


@FAST
@given(data=BB_TASK | JSON, kind=st.sampled_from([None, "multiple_choice", "generative"]),
       fewshot=st.integers(0, 2))
def test_bigbench_tasks_parse_or_fail_in_one_line(data, kind, fewshot):
    with scratch() as tmp:
        path = Path(tmp) / "t" / "task.json"
        path.parent.mkdir()
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        for target in (path, path.parent):
            tasks = outcome(bigbench_tasks, target, kind=kind, num_fewshot=fewshot)
            if isinstance(tasks, TrackerError):
                continue
            for task in tasks:
                examples = outcome(task.examples)
                if not isinstance(examples, TrackerError):
                    for example in examples:
                        check_example(example)


@FAST
@given(raw=st.binary(max_size=60) | st.sampled_from([b"\xff\xfe{", b"{\"examples\": [\xff]}",
                                                     b"\xef\xbb\xbf{}", b"[1]", b"1e999"]))
def test_bigbench_bytes_parse_or_fail_in_one_line(raw):
    with scratch() as tmp:
        path = Path(tmp) / "task.json"
        path.write_bytes(raw)
        outcome(bigbench_tasks, path)


# --- points CSV and frames -----------------------------------------------------------------

NUMERIC_CELLS = st.sampled_from(["", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", " 2.5 ",
                                 "0", "-0.0", "1e-300"]) \
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
BAD_CELLS = st.sampled_from(["abc", "1,5", "2.5.1", "--1", "١٢", "0x10", "nan!"])
BAD_CELLS_RE = re.compile(r"^(abc|1,5|2\.5\.1|--1|١٢|0x10|nan!)$")
ROW = st.fixed_dictionaries({
    "task": st.sampled_from(["t", "u", "validation", " validation ", "", " ", "東京", "a,b"]),
    "metric": st.sampled_from(["accuracy", "brier", "bits_per_byte", "made_up", ""]),
    "loss": NUMERIC_CELLS | BAD_CELLS, "score": NUMERIC_CELLS | BAD_CELLS,
    "n": NUMERIC_CELLS, "higher_is_better": st.sampled_from(["", "true", "False", "maybe"]),
})


def _float(cell: str) -> float:
    return float(cell.strip()) if cell.strip() else math.nan


@FAST
@given(rows=st.lists(ROW, min_size=0, max_size=8), copies=st.integers(1, 3),
       columns=st.permutations(["task", "metric", "loss", "score", "n", "higher_is_better"]))
def test_points_csv_drops_and_counts_non_finite_rows(rows, copies, columns):
    rows = rows * copies  # duplicated rows are kept as they are
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    with scratch() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_text(text.getvalue(), encoding="utf-8")
        points = outcome(read_points_csv, path)
    bad_text = any(not row[c].strip() for row in rows for c in ("task", "metric"))
    bad_number = any(BAD_CELLS_RE.search(row[c]) for row in rows for c in ("loss", "score"))
    if bad_text or bad_number:
        assert isinstance(points, TrackerError), rows
        return
    tasks = [row for row in rows if row["task"].strip() != "validation"]
    finite = [row for row in tasks
              if math.isfinite(_float(row["loss"])) and math.isfinite(_float(row["score"]))]
    if isinstance(points, TrackerError):
        assert not rows or not finite, (str(points), rows)
        return
    assert points.n_dropped == len(tasks) - len(finite)
    assert len(points.frame) == len(finite)
    assert np.isfinite(points.frame["loss"]).all() and np.isfinite(points.frame["score"]).all()
    assert "validation" not in set(points.frame["task"])
    assert (points.n_dropped > 0) == any("dropped" in note for note in points.notes)


@FAST
@given(text=st.text(max_size=120) | st.sampled_from([
    "task,metric,loss,score\n", "task,task,metric,loss,score\nt,t,accuracy,1,2\n",
    "task,metric,loss,score,loss\nt,accuracy,1,2,3\n", "\ufefftask,metric,loss,score\nt,a,1,2",
    "task,metric,loss,score\n\"t,accuracy,1,2\n", "\x00\x00", "a\rb\rc"]))
def test_points_csv_text_loads_or_fails_in_one_line(text):
    with scratch() as tmp:
        path = Path(tmp) / "p.csv"
        path.write_text(text, encoding="utf-8")
        outcome(read_points_csv, path)


CELL = st.none() | NUMBERS | TEXT


@FAST
@given(frame=st.dictionaries(st.sampled_from(["task", "metric", "loss", "score", "n", "chance",
                                              "step", "family", "higher_is_better", "x"]),
                             st.lists(CELL, min_size=3, max_size=3), max_size=10))
def test_points_frames_validate_or_fail_in_one_line(frame):
    outcome(validate_points, pd.DataFrame(frame))


# --- lm-eval result files ------------------------------------------------------------------

def _modern() -> dict:
    return {
        "results": {"arc_easy": {"alias": "arc_easy", "acc,none": 0.5, "acc_stderr,none": 0.01,
                                 "acc_norm,none": 0.55, "acc_norm_stderr,none": "N/A"},
                    "lambada_openai": {"perplexity,none": 30.0, "acc,none": 0.3}},
        "group_subtasks": {"arc_easy": [], "lambada_openai": []},
        "configs": {"arc_easy": {"output_type": "multiple_choice", "target_delimiter": " "}},
        "versions": {"arc_easy": 1.0, "lambada_openai": 1.0},
        "n-shot": {"arc_easy": 0}, "higher_is_better": {"arc_easy": {"acc": True}},
        "n-samples": {"arc_easy": {"original": 10, "effective": 10}},
        "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m",
                   "model_revision": "step2000", "limit": None},
    }


def _results_entry() -> st.SearchStrategy:
    keys = st.sampled_from(["acc,none", "acc_stderr,none", "acc_norm,none", "brier_score,none",
                            "exact_match,strict-match", "acc", "acc_stderr", "alias", ","])
    return st.dictionaries(keys | TEXT, NUMBERS | TEXT | st.none(), max_size=5)


RESULT = mutated({
    "results": st.dictionaries(st.sampled_from(["arc_easy", "mmlu_anatomy", "lambada_openai"])
                               | TEXT, _results_entry(), max_size=3)
    | st.just(_modern()["results"]),
    **{key: st.just(value) | JSON for key, value in _modern().items() if key != "results"},
})


@FAST
@given(data=RESULT | JSON)
def test_lmeval_result_files_parse_or_fail_in_one_line(data):
    text = json.dumps(data, ensure_ascii=False)
    result = outcome(parse_result, ResultSource("results.json", text))
    if isinstance(result, TrackerError):
        return
    for entry in result.tasks.values():
        n = n_from_stderr(entry)
        assert n is None or isinstance(n, int)
        scored = task_scores(entry, n or 0, empty_examples(), None)
        assert all(isinstance(score.score, float) for score in scored.scores)


@FAST
@given(text=st.text(max_size=80) | st.sampled_from(["{\"results\": []}", "NaN", "[]", "{",
                                                    "{\"results\": {}, \"versions\": 1}"]))
def test_lmeval_result_text_parses_or_fails_in_one_line(text):
    outcome(parse_result, ResultSource("results.json", text))


LL = st.sampled_from(["-1.5", "-0.25", "nan", "-inf", "x"]) | NUMBERS
SAMPLE = mutated({
    "doc_id": st.integers(0, 3) | TEXT,
    "target": st.integers(-1, 4) | TEXT,
    "arguments": st.just({"gen_args_0": {"arg_0": "Q", "arg_1": " a"},
                          "gen_args_1": {"arg_0": "Q", "arg_1": " b"}}) | JSON,
    "filtered_resps": st.lists(st.lists(LL | st.sampled_from(["True", "False", True, False]),
                                        min_size=2, max_size=2), max_size=3) | JSON,
    "acc": st.sampled_from([0.0, 1.0, 0.5]) | NUMBERS,
    "brier_score": st.tuples(st.integers(-1, 3), st.lists(NUMBERS, max_size=2)).map(list) | JSON,
    "metrics": st.just(["acc", "brier_score"]) | JSON,
    "filter": st.sampled_from(["none", "strict"]) | JSON,
})


@FAST
@given(samples=st.lists(SAMPLE, max_size=5),
       output_type=st.sampled_from(["multiple_choice", "loglikelihood", None]))
def test_lmeval_sample_logs_give_rows_or_fail_in_one_line(samples, output_type):
    data = _modern()
    data["configs"]["arc_easy"]["output_type"] = output_type
    entry = parse_result(ResultSource("results.json", json.dumps(data))).tasks["arc_easy"]
    rows = outcome(sample_rows, entry, samples)
    if isinstance(rows, TrackerError):
        return
    frame, choices, _ = rows
    assert "example_id" in frame.columns
    outcome(task_scores, entry, len(frame), frame, choices)


# --- the fit --------------------------------------------------------------------------------

VALUE = (st.floats(min_value=0.0, max_value=5.0)
         | st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 5e-324]))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(VALUE, VALUE), max_size=30),
       higher=st.booleans(), with_n=st.booleans(), with_groups=st.booleans(),
       binomial=st.booleans(), chance=st.none() | st.sampled_from([0.25, math.nan, math.inf]))
def test_fit_drops_and_counts_non_finite_pairs(pairs, higher, with_n, with_groups, binomial,
                                               chance):
    loss = np.array([p[0] for p in pairs], dtype=float)
    score = np.array([p[1] for p in pairs], dtype=float)
    n = np.full(len(pairs), 100.0) if with_n else None
    groups = np.arange(len(pairs)) % 3 if with_groups else None
    fit = outcome(fit_threshold, loss, score, n=n, groups=groups, higher_is_better=higher,
                  chance=chance, binomial=binomial, n_boot=50)
    finite_pairs = np.isfinite(loss) & np.isfinite(score)
    huge = bool(np.any(np.abs(np.r_[loss[finite_pairs], score[finite_pairs]]) > 1e100))
    assert not isinstance(fit, TrackerError), fit  # a series is a value, never an error
    assert (fit.verdict == "failed") == huge, fit  # documented: beyond +-1e100 not fitted
    if huge:
        assert "1e+100" in fit.note
        return
    finite = int(finite_pairs.sum())
    assert fit.n_dropped == len(pairs) - finite
    assert fit.n_points == finite
    assert fit.verdict in {"emerges", "weak", "rises", "flat", "insufficient"}
    if finite < 10:
        assert fit.verdict == "insufficient"


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_fit_of_a_clean_series_ignores_non_finite_extras(bad):
    """The documented example, plus non-finite pairs: same fit, the extras counted."""
    loss = np.linspace(1.5, 4.0, 100)
    score = 0.25 + 0.5 * np.maximum(2.5 - loss, 0)
    clean = fit_threshold(loss, score, n_boot=50)
    noisy = fit_threshold(np.r_[loss, bad, 2.0, bad], np.r_[score, 0.3, bad, bad], n_boot=50)
    assert clean.verdict == noisy.verdict == "emerges"
    assert noisy.n_dropped == 3 and noisy.n_points == clean.n_points == 100
    assert noisy.threshold == pytest.approx(clean.threshold)
