"""``lm-eval:NAME[@DIR]``: a task, tag or group of lm-eval's registry, rendered by lm-eval and
scored by tracker.

lm-eval builds the requests (its prompts, few-shot draws, filters); tracker scores them with
its batched scorer and stores one unit per (checkpoint, task or group) with the continuous
twins (:mod:`tracker.tasks.lmeval_rows`). Few-shot: lm-eval's own, from the split its YAML
names, ``random.Random(seed)`` via ``set_fewshot_seed`` (the count: ``--num-fewshot`` if
given, else the YAML's ``num_fewshot``, else 0; a YAML that pins 0 keeps 0, as
``simple_evaluate`` does). A group's score is lm-eval's: the mean over its leaf tasks,
weighted by their sizes when its ``aggregate_metric_list`` says so, with lm-eval's pooled
standard error; each leaf's scores are kept in ``extras["subtasks"]``.

Example:
    >>> # task = lmeval_task("arc_easy@rows/arc_easy")[0]; task.evaluate(lm, settings)
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.errors import TrackerError
from tracker.evals.interface import MetricScore, UnitResult
from tracker.tasks.examples import Example, GenerativeExample, MultipleChoiceExample
from tracker.tasks.lmeval_offline import LmEvalSource, resolve_source

if TYPE_CHECKING:
    from tracker.evals.interface import EvalSettings
    from tracker.lm.requests import LoadedModel

PREFIX = "lm-eval:"
log = logging.getLogger(__name__)


def lmeval_task(spec: str, *, num_fewshot: int | None = None, seed: int = 1234
                ) -> list[LmEvalTask]:
    """The task(s) of ``NAME[@DIR]`` (``lm-eval:`` already removed); a tag gives one per
    task. ``num_fewshot`` None keeps each YAML's count."""
    return [LmEvalTask(source, num_fewshot, seed) for source in resolve_source(spec)]


@dataclass(frozen=True)
class LmEvalTask:
    """An :class:`~tracker.results.Evaluation` over lm-eval-built requests."""

    source: LmEvalSource
    requested_fewshot: int | None = None
    seed: int = 1234
    _built: dict = field(default_factory=dict, compare=False, repr=False)
    _request_hashes: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return PREFIX + self.source.name

    @property
    def kind(self) -> str:
        return "lm-eval " + self.source.kind

    @property
    def version(self) -> str:
        config = self.source.leaves[0].config if self.source.kind == "task" else \
            _group_config(self.source)
        return str((config.get("metadata") or {}).get("version", "0"))

    def fewshot_by_task(self) -> dict[str, int]:
        return {leaf.name: leaf.num_fewshot(self.requested_fewshot)
                for leaf in self.source.leaves}

    def identity(self) -> dict[str, Any]:
        """The task, lm-eval's version, config and data hashes, effective few-shot and seed."""
        counts = self.fewshot_by_task()
        identity = {"task": self.name, "kind": self.kind, "version": self.version,
                    "source": self.source.identity(), "seed": self.seed,
                    "num_fewshot": next(iter(counts.values()))
                    if len(set(counts.values())) == 1 else None}
        if len(counts) > 1:
            identity["num_fewshot_by_task"] = counts
        return identity

    def built(self, limit: int | None) -> dict[str, Any]:
        """lm-eval's built tasks and groups (``TaskManager.load``), requests built for
        ``limit``; built once per limit, reused for every checkpoint."""
        if limit not in self._built:
            self._built[limit] = _build(self.source, self.fewshot_by_task(), self.seed, limit)
        return self._built[limit]

    def requests_hash(self, limit: int | None) -> str:
        """:func:`requests_sha256` of the requests built for ``limit``, computed once."""
        if limit not in self._request_hashes:
            self._request_hashes[limit] = requests_sha256(self.built(limit)["tasks"])
        return self._request_hashes[limit]

    def stored_mismatch(self, record: dict[str, Any], limit: int | None) -> str | None:
        """What differs between a stored unit's requests and those lm-eval builds now (the
        sweep's resume check, :func:`tracker.sweep.is_stored`); None when they are the same.
        A unit without the hash counts as different: the check is not skipped by its
        absence."""
        stored = (record.get("extras") or {}).get("requests_sha256")
        now = self.requests_hash(limit)
        if stored == now:
            return None
        was = f"sha256 {stored[:12]}" if isinstance(stored, str) else "no requests hash"
        return (f"lm-eval now builds other requests for '{self.name}' ({was} stored, "
                f"sha256 {now[:12]} now) under the same config, data, few-shot and lm-eval "
                "version, so its rendering is not reproducible here; evaluate it into a "
                "new --run directory to keep the two apart")

    def examples(self, limit: int | None = None) -> tuple[Example, ...]:
        """The rendered documents as tracker examples (for ``tracker tasks show``); a
        document with one context per choice shows each whole pair as a choice."""
        loaded = self.built(limit)
        return tuple(_as_example(task, doc_id, instances)
                     for task in loaded["tasks"].values()
                     for doc_id, instances in _by_doc(task).items())

    def evaluate(self, lm: LoadedModel, settings: EvalSettings) -> UnitResult:
        import pandas as pd

        from tracker.tasks.lmeval_rows import score_instances, task_rows, task_scores

        loaded = self.built(settings.limit)
        tasks = loaded["tasks"]
        started = time.perf_counter()
        scored = score_instances(lm, tasks, settings.batch_size)
        frames, per_task = [], {}
        for task_name, task in tasks.items():
            rows, n_choices = task_rows(lm, task, scored, settings.limit)
            frame = pd.DataFrame(rows)
            per_task[task_name] = task_scores(task, frame, n_choices)
            frames.append(frame.assign(subtask=task_name) if len(tasks) > 1 else frame)
        seconds = time.perf_counter() - started
        frame = pd.concat(frames, ignore_index=True)
        subgroups: dict[str, tuple[MetricScore, ...]] = {}
        if len(tasks) > 1:
            frame["example_id"] = frame["subtask"] + "/" + frame["example_id"]
            scores = nested_group_scores(self.source.name, per_task, loaded, subgroups)
        else:
            scores = next(iter(per_task.values()))
        extras = {"n_examples": len(frame), "seconds": seconds,
                  "examples_per_second": len(frame) / seconds if seconds > 0 else float("inf"),
                  "requests_sha256": self.requests_hash(settings.limit)}
        if len(tasks) > 1:
            extras["subtasks"] = {name: {s.metric: s.score for s in task_scores}
                                  for name, task_scores in per_task.items()}
        if subgroups:
            extras["subgroups"] = {name: {s.metric: s.score for s in group}
                                   for name, group in subgroups.items()}
        return UnitResult(self.name, scores, frame, extras)


def nested_group_scores(name: str, per_task: dict[str, tuple[MetricScore, ...]],
                        loaded: dict[str, Any], subgroups: dict[str, tuple[MetricScore, ...]],
                        *, top: bool = True) -> tuple[MetricScore, ...]:
    """A group's scores bottom-up, as lm-eval aggregates a group of groups (``mmlu`` over
    ``mmlu_stem``, ... over their subjects): each group over its children's scores, by its
    own ``weight_by_size`` rule (:func:`group_scores`); every inner group's scores are
    added to ``subgroups``. A top group lm-eval gives no children for is taken over every
    leaf."""
    children = (loaded.get("group_map") or {}).get(name)
    if not children:
        if not top or name not in loaded["groups"]:
            raise TrackerError(f"lm-eval gave no members for its group '{name}'")
        return group_scores(per_task, _weight_by_size(loaded["groups"][name]))
    parts = {}
    for child in children:
        if child in per_task:
            parts[child] = per_task[child]
        else:
            parts[child] = subgroups[child] = nested_group_scores(
                child, per_task, loaded, subgroups, top=False)
    return group_scores(parts, _weight_by_size(loaded["groups"][name]))


def group_scores(per_task: dict[str, tuple[MetricScore, ...]], weight_by_size: bool
                 ) -> tuple[MetricScore, ...]:
    """Each metric over the leaf tasks as lm-eval's ``Group.aggregate`` does: the mean of
    the tasks' means (weighted by size, or not), with its pooled standard error."""
    from lm_eval.api.metrics import (
        aggregate_subtask_metrics,
        pooled_sample_stderr,
        unweighted_mean_stderr,
    )

    first = next(iter(per_task.values()))
    combined = []
    for spec in first:
        parts = [next(s for s in scores if s.metric == spec.metric)
                 for scores in per_task.values()]
        sizes = [part.n for part in parts]
        stderrs = [part.stderr for part in parts]
        stderr = (pooled_sample_stderr(stderrs, sizes) if weight_by_size
                  else unweighted_mean_stderr(stderrs))
        chance = (aggregate_subtask_metrics([p.chance for p in parts], sizes, weight_by_size)
                  if all(p.chance is not None for p in parts) else None)
        combined.append(MetricScore(
            spec.metric, float(aggregate_subtask_metrics([p.score for p in parts], sizes,
                                                         weight_by_size)),
            float(stderr), sum(sizes), spec.higher_is_better, chance))
    return tuple(combined)


def requests_sha256(tasks: dict[str, Any]) -> str:
    """A hash of every rendered request (task, document, index, type, arguments)."""
    digest = hashlib.sha256()
    for name, task in sorted(tasks.items()):
        for instance in task.instances:
            digest.update(json.dumps([name, instance.doc_id, instance.idx, instance.request_type,
                                      instance.args], default=str).encode())
    return digest.hexdigest()


def _build(source: LmEvalSource, fewshot: dict[str, int], seed: int, limit: int | None
           ) -> dict[str, Any]:
    from lm_eval.tasks import TaskManager

    with tempfile.TemporaryDirectory(prefix="tracker-lmeval-") as directory:
        source.write_overrides(Path(directory))
        try:
            # the datasets load here, in each task's constructor
            loaded = TaskManager(include_path=directory, include_defaults=False).load(
                [source.name])
            for name, task in loaded["tasks"].items():
                task.set_config(key="num_fewshot", value=fewshot[name])
                task.set_fewshot_seed(seed=seed)
                task.build_all_requests(limit=limit)
        except TrackerError:
            raise
        except Exception as error:  # noqa: BLE001 - any lm-eval failure becomes one line
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise TrackerError(f"lm-eval could not build '{source.name}' "
                               f"({type(error).__name__}): {first}") from error
    missing = set(fewshot) - set(loaded["tasks"])
    if missing:
        raise TrackerError(f"lm-eval built no task {sorted(missing)} for '{source.name}'")
    return dict(loaded)


def _weight_by_size(group: Any) -> bool:
    """The group's rule (its first aggregate metric's); pooled when it names none."""
    configured = group.aggregate_metric_list or []
    return bool(configured[0].weight_by_size) if configured else True


def _group_config(source: LmEvalSource) -> dict[str, Any]:
    from tracker.tasks.lmeval_offline import load_config

    return load_config(source.groups[0][1])


def _by_doc(task: Any) -> dict[int, list[Any]]:
    documents: dict[int, list[Any]] = {}
    for instance in task.instances:
        documents.setdefault(instance.doc_id, []).append(instance)
    return {doc_id: sorted(items, key=lambda i: i.idx) for doc_id, items in documents.items()}


def _as_example(task: Any, doc_id: int, instances: list[Any]) -> Example:
    from tracker.tasks.lmeval_rows import gold_index

    example_id = f"{task.task_name}/{doc_id}"
    doc = instances[0].doc
    if task.OUTPUT_TYPE == "multiple_choice":
        choices = task.doc_to_choice(doc)
        contexts = {i.args[0] for i in instances}
        delimiter = task.config.target_delimiter
        if len(contexts) == 1:
            return MultipleChoiceExample(example_id, instances[0].args[0], tuple(choices),
                                         gold_index(task, doc, choices), delimiter)
        return MultipleChoiceExample(example_id, "", tuple(i.args[0] + i.args[1]
                                                           for i in instances),
                                     gold_index(task, doc, choices))
    if task.OUTPUT_TYPE == "loglikelihood_rolling":  # one whole document, scored, no generation
        return GenerativeExample(example_id, "", (instances[0].args[0],), stop=(),
                                 max_new_tokens=0)
    context, second = instances[0].args[0], instances[0].args[1]
    if task.OUTPUT_TYPE == "loglikelihood":
        return GenerativeExample(example_id, context, (second,))
    target = task.doc_to_target(doc)
    targets = tuple(str(t) for t in target) if isinstance(target, list) else (str(target),)
    until = second.get("until") or ()
    return GenerativeExample(example_id, context, targets,
                             tuple([until] if isinstance(until, str) else until),
                             int(second.get("max_gen_toks", 256)))
