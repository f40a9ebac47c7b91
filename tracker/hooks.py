"""Training hooks: score the live model at a save (or every N steps) without touching training.

Two adapters over one library call (:func:`tracker.sweep.evaluate_units`, the same path
``tracker eval`` takes, so the records are interchangeable and land in the same store):

- :class:`TrackerCallback`, a transformers ``TrainerCallback``;
- :func:`evaluate_model`, for any other loop (plain PyTorch, Accelerate, Lightning).

Training is left exactly as it was: scoring runs under ``torch.no_grad`` with autocast
off (float32 weights score in float32), in eval mode that is restored in a ``finally``,
and the torch (CPU and CUDA), numpy and Python ``random`` states are saved before and
restored after, so a run with the hook follows the same trajectory as one without.
Under torch.distributed (DDP, ``accelerate launch``) only the main process scores and
writes; the others return at once.

Tokens seen: ``TrackerCallback`` takes ``state.num_input_tokens_seen`` when the Trainer
counts it (``include_num_input_tokens_seen``), else ``step * tokens_per_step`` when given,
else it records None.

Tokenizer: ``TrackerCallback(..., tokenizer=tokenizer)``, else the Trainer's
``processing_class``, else the data collator's ``tokenizer`` (a Trainer built without
``processing_class``, its text tokenized in a ``datasets.map`` and the tokenizer given only
to ``DataCollatorForLanguageModeling``, works as it is).

Failures: the callback checks its configuration when training begins and raises a
one-line :class:`~tracker.errors.TrackerError` before the first step when it cannot work
(no tokenizer found, a validation file that does not exist, an unknown task). An error
while scoring later (out of memory, a bug in a task) never ends the training run: it is
logged as a warning on the ``tracker.hooks`` logger, and the checkpoint's units that were
not stored are recorded as failed in the store (``failed/``, ``RunStore.failures()``).
:func:`evaluate_model` itself raises; a loop that calls it decides what to do.

Example:
    >>> trainer = Trainer(model, args, train_dataset=data,            # doctest: +SKIP
    ...                   data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
    ...                   callbacks=[TrackerCallback("runs/mine", validation="val.jsonl",
    ...                                              tasks=["arithmetic:add:2"])])
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase, TrainerCallback

from tracker.errors import TrackerError, one_line
from tracker.evals.interface import EvalSettings, Evaluation
from tracker.evals.validation import ValidationLoss, ValidationSet, load_validation
from tracker.families.catalog import Checkpoint
from tracker.lm.requests import LoadedModel
from tracker.store.run_store import RunStore, read_record
from tracker.store.units import Unit
from tracker.sweep import evaluate_units

logger = logging.getLogger(__name__)

DEFAULT_SIZE = "model"
ValidationArg = ValidationSet | Evaluation | str | Path
TaskArg = Evaluation | str


@dataclass(frozen=True)
class HookResult:
    """What one call scored: the units computed now, and every score of this checkpoint's
    requested units (``scores[task][metric]``; stored ones included)."""

    checkpoint: Checkpoint
    computed: int
    scores: dict[str, dict[str, float]]


def evaluate_model(model: Any, tokenizer: Any, *, step: int, run_dir: Path | str,
                   validation: ValidationArg, tasks: Sequence[TaskArg] = (),
                   family: str = "run", size: str | None = None,
                   tokens_seen: int | None = None, location: str | None = None,
                   limit: int | None = None, batch_size: int | None = None) -> HookResult | None:
    """Score ``model`` at ``step`` on the validation set and ``tasks``; store the units
    under ``run_dir``. Returns None on processes other than the main one.

    ``validation`` is a file or config name, a :class:`ValidationSet`, or a ready
    evaluation; ``tasks`` are task names or evaluations. Build evaluations once with
    :func:`build_evaluations` when calling this many times (tokens are cached on them).
    """
    if not is_main_process():
        return None
    evaluations = build_evaluations(validation, tasks)
    checkpoint = live_checkpoint(model, step=step, run_dir=run_dir, family=family, size=size,
                                 tokens_seen=tokens_seen, location=location)
    store = RunStore(run_dir)
    settings = EvalSettings(batch_size=batch_size, limit=limit, progress=False)
    with untouched_training(model):
        lm = LoadedModel.wrap(model, tokenizer)
        computed = evaluate_units(lm, checkpoint, evaluations, store, settings)
        scores = _scores(store, lm, checkpoint, evaluations, limit)
    return HookResult(checkpoint, len(computed), scores)


def live_checkpoint(model: Any, *, step: int, run_dir: Path | str, family: str,
                    size: str | None, tokens_seen: int | None, location: str | None
                    ) -> Checkpoint:
    """The checkpoint a live model's units are keyed by: family, size, step and, where
    ``location`` holds the saved weights (a Trainer save, the ladder's step directory),
    their digest, so the units are the ones ``tracker eval`` computes from that directory."""
    return Checkpoint(
        family=family, size=size or DEFAULT_SIZE, step=step, tokens_seen=tokens_seen,
        location=location or str(Path(run_dir) / "live"), revision=None,
        params=sum(p.numel() for p in model.parameters()),
    )


def build_evaluations(validation: ValidationArg, tasks: Sequence[TaskArg] = ()
                      ) -> list[Evaluation]:
    """The validation loss first, then the tasks (names resolved with ``resolve_tasks``)."""
    if isinstance(validation, ValidationSet):
        loss: Evaluation = ValidationLoss(validation)
    elif isinstance(validation, str | Path):
        loss = ValidationLoss(load_validation(validation))
    else:
        loss = validation
    names = [task for task in tasks if isinstance(task, str)]
    resolved = iter(_resolve(names))
    return [loss, *(next(resolved) if isinstance(t, str) else t for t in tasks)]


def _resolve(names: list[str]) -> list[Evaluation]:
    if not names:
        return []
    from tracker.tasks import resolve_tasks

    # every Task is an Evaluation (read-only name and version); list is invariant, so the
    # list[Task] needs the cast
    return cast(list[Evaluation], resolve_tasks(names))


@contextlib.contextmanager
def untouched_training(model: torch.nn.Module) -> Iterator[None]:
    """No grad, no autocast, eval mode; train mode and every RNG state restored after."""
    was_training = model.training
    python_state = random.getstate()
    numpy_state = np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    device_type = next(model.parameters()).device.type
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad(), \
                torch.autocast(device_type=device_type, enabled=False):
            model.eval()
            yield
    finally:
        model.train(was_training)
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def is_main_process() -> bool:
    """Rank 0 under torch.distributed (DDP, ``accelerate launch``), else True."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank() == 0
    return True


def _scores(store: RunStore, lm: LoadedModel, checkpoint: Checkpoint,
            evaluations: Sequence[Evaluation], limit: int | None) -> dict[str, dict[str, float]]:
    from tracker.store.units import Unit

    scores: dict[str, dict[str, float]] = {}
    for evaluation in evaluations:
        path = store.path(Unit(checkpoint, evaluation, limit, lm.dtype))
        if path.is_file():
            record = read_record(path)
            scores[record["task"]] = {s["metric"]: s["score"] for s in record["scores"]}
    return scores


class TrackerCallback(TrainerCallback):
    """Score the live model on each save (``every="save"``) or every N optimizer steps
    (``every=N``), into the store at ``run_dir``; see the module docstring.

    ``size`` labels the run's rows (default ``"model"``); the checkpoint's location is
    the Trainer's ``output_dir/checkpoint-<step>`` on saves.

    ``forecast=True`` prints one line after each evaluation: when this run's loss,
    extrapolated against tokens seen, is expected to cross each threshold task's
    threshold (tracker.forecast.live; needs tokens seen, see above). Also kept in
    ``callback.forecasts``.

    ``tokenizer`` is the tokenizer to score with (a transformers tokenizer, or a processor
    that holds one). Without it the callback takes the
    Trainer's ``processing_class`` (or its tokenizer), else the data collator's
    ``tokenizer`` (``DataCollatorForLanguageModeling(tokenizer=...)``), as found when
    training begins.

    Failure policy: a configuration it cannot work with (no tokenizer found, a validation
    file that does not exist, an unknown task) raises :class:`~tracker.errors.TrackerError`
    at ``on_train_begin``, before the first training step. A scoring failure later (out of
    memory, a bug in a task) never ends training: it is logged as a warning on the
    ``tracker.hooks`` logger and the checkpoint's units that were not stored are recorded
    as failed in the store (``failed/``, see ``RunStore.failures``).
    """

    def __init__(self, run_dir: Path | str, *, validation: ValidationArg,
                 tasks: Sequence[TaskArg] = (), family: str = "run", size: str | None = None,
                 every: Literal["save"] | int = "save", limit: int | None = None,
                 batch_size: int | None = None, tokens_per_step: int | None = None,
                 tokenizer: Any = None, forecast: bool = False) -> None:
        if every != "save" and not (isinstance(every, int) and every > 0):
            raise ValueError(f"every must be 'save' or a positive number of steps, not {every!r}")
        self.run_dir = Path(run_dir)
        self.validation = validation
        self.tasks = tuple(tasks)
        self.family = family
        self.size = size
        self.every = every
        self.limit = limit
        self.batch_size = batch_size
        self.tokens_per_step = tokens_per_step
        self.tokenizer = tokenizer
        self.forecast = forecast
        self.forecasts: list[str] = []
        self.results: list[HookResult] = []
        self._evaluations: list[Evaluation] | None = None
        self._tokenizer: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        """Find the tokenizer and build the evaluations now, so that a configuration the
        callback cannot work with stops the run before its first step."""
        if state.is_world_process_zero:
            self._prepare(kwargs)

    def on_save(self, args, state, control, **kwargs):
        if self.every == "save":
            location = str(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            self._evaluate(state, kwargs, location)

    def on_step_end(self, args, state, control, **kwargs):
        if isinstance(self.every, int) and state.global_step % self.every == 0:
            self._evaluate(state, kwargs, None)

    def _prepare(self, kwargs: dict) -> None:
        self._tokenizer = self._find_tokenizer(kwargs)
        if self._evaluations is None:  # built once: tokenized text is cached on them
            try:
                self._evaluations = build_evaluations(self.validation, self.tasks)
            except TrackerError as error:
                raise TrackerError(f"TrackerCallback: {error}") from error
            except Exception as error:  # e.g. a task's dataset that cannot be read
                raise TrackerError(f"TrackerCallback could not build its evaluations: "
                                   f"{one_line(error)}") from error

    def _find_tokenizer(self, kwargs: dict) -> Any:
        if self.tokenizer is not None:
            tokenizer = _as_tokenizer(self.tokenizer)
            if tokenizer is None:
                raise TrackerError(
                    f"TrackerCallback(tokenizer=...) got a {type(self.tokenizer).__name__}, "
                    "not a transformers tokenizer: pass the tokenizer the model was trained with")
            return tokenizer
        collator = getattr(kwargs.get("train_dataloader"), "collate_fn", None)
        for candidate in (kwargs.get("processing_class"), kwargs.get("tokenizer"),
                          *_collators(collator)):
            tokenizer = _as_tokenizer(candidate)
            if tokenizer is not None:
                return tokenizer
        raise TrackerError(
            "TrackerCallback found no tokenizer: pass TrackerCallback(..., tokenizer=tokenizer) "
            "or build the Trainer with processing_class=tokenizer")

    def _evaluate(self, state, kwargs: dict, location: str | None) -> None:
        if not state.is_world_process_zero:
            return
        step, tokens_seen, model = state.global_step, self._tokens_seen(state), kwargs["model"]
        try:
            if self._evaluations is None:  # on_train_begin was not called (no Trainer.train)
                self._prepare(kwargs)
            assert self._evaluations is not None
            result = evaluate_model(
                model, self._tokenizer, step=step, run_dir=self.run_dir,
                validation=self._evaluations[0], tasks=self._evaluations[1:],
                family=self.family, size=self.size, tokens_seen=tokens_seen,
                location=location, limit=self.limit, batch_size=self.batch_size,
            )
        except Exception as error:  # noqa: BLE001 - scoring must never end the training run
            self._record_failure(error, model, step, tokens_seen, location)
            return
        if result is not None:
            self.results.append(result)
            if self.forecast:
                self._print_forecast(result)

    def _print_forecast(self, result: HookResult) -> None:
        """``forecast=True``: one line per evaluation saying when each threshold task's
        threshold is expected to be crossed (tracker.forecast.live); a failure here is a
        warning, never the end of training."""
        from tracker.forecast.live import crossing_line

        checkpoint = result.checkpoint
        try:
            line = crossing_line(self.run_dir, f"{checkpoint.family}/{checkpoint.size}",
                                 checkpoint.step)
        except Exception as error:  # noqa: BLE001 - a forecast must never end training
            logger.warning("TrackerCallback: forecast at step %d failed: %s",
                           checkpoint.step, one_line(error))
            return
        self.forecasts.append(line)
        print(line, flush=True)

    def _record_failure(self, error: Exception, model: Any, step: int,
                        tokens_seen: int | None, location: str | None) -> None:
        """Log one warning line and record the units of this checkpoint that were not
        stored as failed; whatever goes wrong here is logged too, never raised."""
        message = f"scoring step {step} during training failed: {one_line(error)}"
        with contextlib.suppress(Exception):
            if torch.cuda.is_available():  # give back what an out-of-memory left cached
                torch.cuda.empty_cache()
        try:
            units = self._unstored_units(model, step, tokens_seen, location)
            store = RunStore(self.run_dir)
            for unit in units:
                store.write_failure(unit, message)
            outcome = f"recorded {len(units)} failed unit(s) under {store.root / 'failed'}"
        except Exception as recording:  # noqa: BLE001
            outcome = f"and recording it failed too: {one_line(recording)}"
        logger.warning("TrackerCallback: %s; %s; training goes on", message, outcome)
        logger.debug("TrackerCallback: scoring step %d failed", step, exc_info=error)

    def _unstored_units(self, model: Any, step: int, tokens_seen: int | None,
                        location: str | None) -> list[Unit]:
        """This checkpoint's units that are not in the store, keyed as :func:`evaluate_model`
        keys them (:func:`live_checkpoint`; tests/test_hooks_trainer.py checks that a later
        ``evaluate_model`` stores under the recorded keys and clears the failures)."""
        if not self._evaluations:
            return []
        checkpoint = live_checkpoint(model, step=step, run_dir=self.run_dir,
                                     family=self.family, size=self.size,
                                     tokens_seen=tokens_seen, location=location)
        dtype = LoadedModel.wrap(model, self._tokenizer).dtype
        store = RunStore(self.run_dir)
        units = [Unit(checkpoint, e, self.limit, dtype) for e in self._evaluations]
        return [unit for unit in units if not store.has(unit)]

    def _tokens_seen(self, state) -> int | None:
        if getattr(state, "num_input_tokens_seen", 0):
            return int(state.num_input_tokens_seen)
        return state.global_step * self.tokens_per_step if self.tokens_per_step else None


def _as_tokenizer(candidate: Any) -> PreTrainedTokenizerBase | None:
    """``candidate`` if it is a tokenizer, the tokenizer of a processor, else None."""
    for item in (candidate, getattr(candidate, "tokenizer", None)):
        if isinstance(item, PreTrainedTokenizerBase):
            return item
    return None


def _collators(collator: Any) -> Iterator[Any]:
    """The data collator and what it wraps (the Trainer's ``RemoveColumnsCollator``, a
    ``functools.partial``), each with its tokenizer / processing_class attribute."""
    for _ in range(8):  # wrappers nest shallowly; a cycle must not loop forever
        if collator is None:
            return
        yield getattr(collator, "tokenizer", None)
        yield getattr(collator, "processing_class", None)
        collator = getattr(collator, "data_collator", None) or getattr(collator, "func", None)
