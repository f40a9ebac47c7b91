"""Generated arithmetic tasks (Schaeffer et al. 2023's integer arithmetic), seeded.

Operands have exactly ``digits`` digits, each digit drawn uniformly (leading digit 1..9,
except 1-digit operands, which are 0..9). Two wordings:

- ``bigbench``: prompt ``"Q: What is 80 plus 29?\\nA:"``, target ``" 109"``
  (BIG-bench's question; the space before the answer belongs to the target);
- ``bare``: prompt ``"80+29="``, target ``"109"``.

``reversed`` writes the answer's digits least significant first (``80 plus 29`` ->
``" 901"``; a sign stays in front): the reverse format of Lee et al. 2023, "Teaching
arithmetic to small transformers", in which every answer digit depends only on the operand
digits of its place and the carry of the digit just written, so small models learn addition
from far fewer examples than with the answer in the usual order.

``answer_digits`` controls the target length: only problems whose answer has exactly that
many digits (sign excluded) are kept (rejection sampling), so the number of target tokens
is fixed while the operand size stays the same.

``choices=K`` makes the same problems a multiple-choice task: the true answer and K-1
near misses that differ from it in the tens digit (the answer plus or minus 10, then 20,
..., never negative), shuffled, each scored as a continuation of the prompt. The units
digit is the same in every choice: the question is the size of the sum, which a small model
gets before it gets the units digit right (docs/ladder.md).

Task names:
``arithmetic:OP:DIGITS[:bare][:reversed][:n=N][:answer_digits=L][:choices=K][:seed=S]``
with OP one of ``add``, ``sub``, ``mul``; e.g. ``arithmetic:add:2`` or
``arithmetic:mul:3:bare:n=200`` or ``arithmetic:add:2:reversed``.

In-context copying (the induction-head task of Olsson et al. 2022, in a Q/A format):
``copy:LENGTH[:n=N][:seed=S]``, prompt ``"Copy: q x b k f\nA:"``, target ``" q x b k f"``:
LENGTH distinct lowercase letters in random order, so the answer can only be read off the
prompt (no letter predicts the next one).

The training family uses :func:`arithmetic_examples`, :func:`copy_examples` and
:func:`example_text` for its training mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tracker.errors import TrackerError
from tracker.tasks.examples import GenerativeExample, LoadedExamples, MultipleChoiceExample
from tracker.tasks.task import Task

Operation = Literal["add", "sub", "mul"]
Wording = Literal["bigbench", "bare"]
OPERATIONS: dict[str, tuple[str, str]] = {"add": ("plus", "+"), "sub": ("minus", "-"),
                                          "mul": ("times", "*")}
DEFAULT_N = 1000
MAX_DRAWS_PER_EXAMPLE = 1000
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class ArithmeticSpec:
    """What one generated arithmetic task is: everything that determines its examples."""

    operation: Operation
    digits: int
    wording: Wording = "bigbench"
    n: int = DEFAULT_N
    seed: int = 1234
    answer_digits: int | None = None
    choices: int | None = None  # multiple choice with this many choices; None: generative
    reversed: bool = False  # answer digits least significant first (Lee et al. 2023)

    @property
    def name(self) -> str:
        parts = ["arithmetic", self.operation, str(self.digits)]
        parts += ["bare"] if self.wording == "bare" else []
        parts += ["reversed"] if self.reversed else []
        parts += [f"n={self.n}"] if self.n != DEFAULT_N else []
        parts += [f"answer_digits={self.answer_digits}"] if self.answer_digits else []
        parts += [f"choices={self.choices}"] if self.choices else []
        parts += [f"seed={self.seed}"] if self.seed != 1234 else []
        return ":".join(parts)


def _operand(rng: np.random.Generator, digits: int) -> int:
    first = int(rng.integers(0 if digits == 1 else 1, 10))
    rest = rng.integers(0, 10, size=digits - 1)
    return int("".join(str(d) for d in [first, *rest]))


def _compute(operation: Operation, a: int, b: int) -> int:
    return a + b if operation == "add" else a - b if operation == "sub" else a * b


def arithmetic_examples(
    operation: Operation, digits: int, n: int, seed: int, wording: Wording = "bigbench",
    *, answer_digits: int | None = None, reversed: bool = False,
) -> tuple[GenerativeExample, ...]:
    """``n`` problems drawn with ``numpy.random.default_rng(seed)``.

    Example:
        >>> arithmetic_examples("add", 2, 1, seed=0, wording="bare")[0].prompt
        '86+52='
    """
    if operation not in OPERATIONS or digits < 1 or n < 1:
        raise TrackerError(f"arithmetic needs an operation in {', '.join(OPERATIONS)}, "
                           f"digits >= 1 and n >= 1; got {operation}, {digits}, {n}")
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(n):
        a, b, result = _draw(rng, operation, digits, answer_digits)
        prompt, target = _render(operation, a, b, result, wording, reversed)
        examples.append(GenerativeExample(str(index), prompt, (target,), ("\n",),
                                          2 * digits + 4))
    return tuple(examples)


def _draw(rng: np.random.Generator, operation: Operation, digits: int,
          answer_digits: int | None) -> tuple[int, int, int]:
    for _ in range(MAX_DRAWS_PER_EXAMPLE):
        a, b = _operand(rng, digits), _operand(rng, digits)
        result = _compute(operation, a, b)
        if answer_digits is None or len(str(abs(result))) == answer_digits:
            return a, b, result
    raise TrackerError(f"{digits}-digit {operation} rarely or never gives {answer_digits}-digit "
                       f"answers; choose another answer_digits")


def _render(operation: Operation, a: int, b: int, result: int, wording: Wording,
            reversed: bool = False) -> tuple[str, str]:
    word, symbol = OPERATIONS[operation]
    answer = render_answer(result, reversed)
    if wording == "bare":
        return f"{a}{symbol}{b}=", answer
    return f"Q: What is {a} {word} {b}?\nA:", f" {answer}"


def render_answer(value: int, reversed: bool) -> str:
    """``value`` in decimal, its digits least significant first when ``reversed``.

    Example:
        >>> render_answer(109, True), render_answer(-23, True), parse_answer("901", True)
        ('901', '-32', 109)
    """
    digits = str(abs(value))
    return ("-" if value < 0 else "") + (digits[::-1] if reversed else digits)


def parse_answer(text: str, reversed: bool) -> int:
    """The integer an answer written by :func:`render_answer` stands for."""
    text = text.strip()
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text)
    return sign * int(digits[::-1] if reversed else digits)


def example_text(example: GenerativeExample) -> str:
    """One example as training text: prompt followed by its (first) target."""
    return example.prompt + example.targets[0]


def as_multiple_choice(example: GenerativeExample, n_choices: int, seed: int, *,
                       reversed: bool = False) -> MultipleChoiceExample:
    """The problem with its answer among ``n_choices - 1`` near misses (see the module
    docstring), in an order drawn from ``seed`` and the example's id.

    Example:
        >>> mc = as_multiple_choice(arithmetic_examples("add", 2, 1, seed=0)[0], 4, seed=0)
        >>> sorted(mc.choices), mc.choices[mc.answer]
        ([' 128', ' 138', ' 148', ' 158'], ' 138')
    """
    answer = parse_answer(example.targets[0], reversed)
    misses: list[int] = []
    step = 1
    while len(misses) < n_choices - 1:
        misses += [answer + delta for delta in (10 * step, -10 * step) if answer + delta >= 0]
        step += 1
    values = [answer, *misses[: n_choices - 1]]
    order = np.random.default_rng([seed, int(example.example_id)]).permutation(len(values))
    space = " " if example.targets[0].startswith(" ") else ""  # bare answers have none
    choices = tuple(space + render_answer(values[i], reversed) for i in order)
    return MultipleChoiceExample(example.example_id, example.prompt, choices,
                                 int(np.flatnonzero(order == 0)[0]))


def copy_examples(length: int, n: int, seed: int) -> tuple[GenerativeExample, ...]:
    r"""``n`` copying problems of ``length`` distinct letters, from ``default_rng(seed)``.

    Example:
        >>> example = copy_examples(4, 1, seed=0)[0]
        >>> example.prompt, example.targets
        ('Copy: t e k l\nA:', (' t e k l',))
    """
    if not 1 <= length <= len(LETTERS) or n < 1:
        raise TrackerError(f"copy needs 1 <= length <= {len(LETTERS)} and n >= 1; "
                           f"got length {length}, n {n}")
    rng = np.random.default_rng(seed)
    examples = []
    for index in range(n):
        letters = " ".join(LETTERS[i] for i in rng.permutation(len(LETTERS))[:length])
        examples.append(GenerativeExample(str(index), f"Copy: {letters}\nA:", (f" {letters}",),
                                          ("\n",), length + 2))
    return tuple(examples)


@dataclass(frozen=True)
class CopySpec:
    """What one generated copying task is."""

    length: int
    n: int = DEFAULT_N
    seed: int = 1234

    @property
    def name(self) -> str:
        parts = ["copy", str(self.length)]
        parts += [f"n={self.n}"] if self.n != DEFAULT_N else []
        parts += [f"seed={self.seed}"] if self.seed != 1234 else []
        return ":".join(parts)


def parse_spec(name: str, *, seed: int = 1234) -> ArithmeticSpec:
    """``arithmetic:add:2[:bare][:reversed][:n=N][:answer_digits=L][:choices=K][:seed=S]``
    as a spec."""
    parts = name.split(":")
    if len(parts) < 3 or parts[0] != "arithmetic" or parts[1] not in OPERATIONS \
            or not parts[2].isdigit():
        raise TrackerError(f"bad generator '{name}'; use arithmetic:OP:DIGITS[:bare][:reversed]"
                           f"[:n=N][:answer_digits=L][:choices=K][:seed=S] with OP one of add, "
                           f"sub, mul")
    options: dict = {"seed": seed}
    for part in parts[3:]:
        key, _, value = part.partition("=")
        if part in ("bare", "bigbench"):
            options["wording"] = part
        elif part == "reversed":
            options["reversed"] = True
        elif key in ("n", "answer_digits", "seed", "choices") and value.isdigit():
            options[key] = int(value)
        else:
            raise TrackerError(f"bad generator option '{part}' in '{name}'; use bare, reversed, "
                               f"n=N, answer_digits=L, choices=K or seed=S")
    if options.get("choices") is not None and options["choices"] < 2:
        raise TrackerError(f"'{name}': choices=K needs K >= 2")
    return ArithmeticSpec(parts[1], int(parts[2]), **options)  # type: ignore[arg-type]


def generator_spec(name: str, *, seed: int = 1234) -> ArithmeticSpec | CopySpec:
    """The spec of a generated task's name (``arithmetic:...`` or ``copy:...``)."""
    return parse_copy_spec(name, seed=seed) if name.startswith("copy:") \
        else parse_spec(name, seed=seed)


def parse_copy_spec(name: str, *, seed: int = 1234) -> CopySpec:
    """``copy:LENGTH[:n=N][:seed=S]`` as a spec."""
    parts = name.split(":")
    if len(parts) < 2 or parts[0] != "copy" or not parts[1].isdigit():
        raise TrackerError(f"bad generator '{name}'; use copy:LENGTH[:n=N][:seed=S]")
    options: dict = {"seed": seed}
    for part in parts[2:]:
        key, _, value = part.partition("=")
        if key in ("n", "seed") and value.isdigit():
            options[key] = int(value)
        else:
            raise TrackerError(f"bad generator option '{part}' in '{name}'; use n=N or seed=S")
    return CopySpec(int(parts[1]), **options)


def arithmetic_task(spec: ArithmeticSpec, *, num_fewshot: int = 0) -> Task:
    """The generated task (examples made now: they are cheap)."""
    examples = arithmetic_examples(spec.operation, spec.digits, spec.n, spec.seed,
                                   spec.wording, answer_digits=spec.answer_digits,
                                   reversed=spec.reversed)
    description = {"generator": "arithmetic", "operation": spec.operation,
                   "digits": spec.digits, "wording": spec.wording, "n": spec.n,
                   "seed": spec.seed, "answer_digits": spec.answer_digits}
    if spec.reversed:  # only when set: the plain tasks keep their description (unit keys)
        description["reversed"] = True
    separator = "\n" if spec.wording == "bare" else "\n\n"
    if spec.choices:
        description["choices"] = spec.choices
        questions = tuple(as_multiple_choice(e, spec.choices, spec.seed, reversed=spec.reversed)
                          for e in examples)
        return Task(name=spec.name, kind="multiple_choice",
                    source=LoadedExamples(questions, description),
                    num_fewshot=num_fewshot, seed=spec.seed, fewshot_separator=separator)
    return Task(name=spec.name, kind="generative", source=LoadedExamples(examples, description),
                num_fewshot=num_fewshot, seed=spec.seed, fewshot_separator=separator)


def copy_task(spec: CopySpec, *, num_fewshot: int = 0) -> Task:
    """The generated copying task."""
    examples = copy_examples(spec.length, spec.n, spec.seed)
    description = {"generator": "copy", "length": spec.length, "n": spec.n, "seed": spec.seed}
    return Task(name=spec.name, kind="generative", source=LoadedExamples(examples, description),
                num_fewshot=num_fewshot, seed=spec.seed)
