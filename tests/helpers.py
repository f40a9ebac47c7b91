"""Shared test helpers: the bundled third-party data (tests/data), tiny models with random
weights built in the test, offline."""

from __future__ import annotations

import functools
import hashlib
import json
import lzma
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # third-party files, xz-compressed: see tests/data/NOTICE
CACHE = ROOT / ".cache" / "test-data"  # git-ignored

SAMPLE_DOCUMENTS = [
    "In the beginning was the Word, and the Word was with God, and the Word was God.",
    "The quick brown fox jumps over the lazy dog. " * 6,
    "Numbers: 12 + 30 = 42; 7 * 6 = 42. Unicode: naïve café, 東京, emoji \U0001f600.",
    "A short one.",
    "Bits per byte are comparable across tokenizers, which is why tracker reports them. " * 3,
]


@functools.cache
def unpacked_data() -> Path:
    """tests/data with every ``*.xz`` file decompressed, the same layout otherwise.

    Unpacked once into ``.cache/test-data/<content hash>/`` (renamed into place when
    complete, so parallel runs neither clash nor see half a directory)."""
    files = sorted(p for p in DATA.rglob("*") if p.is_file())
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(DATA).as_posix().encode() + b"\0" + path.read_bytes())
    target = CACHE / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=CACHE))
    for path in files:
        relative = path.relative_to(DATA)
        out = staging / (relative.with_suffix("") if path.suffix == ".xz" else relative)
        out.parent.mkdir(parents=True, exist_ok=True)
        raw = path.read_bytes()
        out.write_bytes(lzma.decompress(raw) if path.suffix == ".xz" else raw)
    try:
        staging.rename(target)
    except OSError:  # another run finished first: use its copy
        shutil.rmtree(staging)
    return target


def pythia_tokenizer_file() -> Path:
    """The GPT-NeoX-20B / Pythia ``20B_tokenizer.json`` (Apache-2.0, tests/data/NOTICE)."""
    return unpacked_data() / "20B_tokenizer.json"


def bigbench_dir() -> Path:
    """BIG-bench task directories: ``navigate/task.json``, ``arithmetic/<sub>/task.json``..."""
    return unpacked_data() / "bigbench"


def pythia_tokenizer():
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(pythia_tokenizer_file()),
        bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
    )


def trained_tokenizer(texts: list[str] | None = None, vocab_size: int = 300):
    """A byte-level BPE tokenizer trained in a second on the sample text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts or SAMPLE_DOCUMENTS * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>",
                                   eos_token="<|endoftext|>")


def tiny_gpt_neox(vocab_size: int, *, seed: int = 0, max_positions: int = 64):
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    config = GPTNeoXConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=64,
                           max_position_embeddings=max_positions, bos_token_id=0,
                           eos_token_id=0)
    return GPTNeoXForCausalLM(config).eval()


def tiny_llama(vocab_size: int, *, seed: int = 0, max_positions: int = 64):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, intermediate_size=64,
                         max_position_embeddings=max_positions, bos_token_id=0,
                         eos_token_id=0)
    return LlamaForCausalLM(config).eval()


def save_local_family(root: Path, tokenizer, *, sizes=("s1", "s2"), steps=(0, 10, 20),
                      max_positions: int = 64) -> Path:
    """Write ``root/<size>/step<N>/`` checkpoints (random weights differing per step)."""
    builders = {0: tiny_gpt_neox, 1: tiny_llama}
    for size_index, size in enumerate(sizes):
        for step in steps:
            build = builders[size_index % 2]
            model = build(len(tokenizer), seed=1000 * size_index + step,
                          max_positions=max_positions)
            target = root / size / f"step{step}"
            model.save_pretrained(target)
            tokenizer.save_pretrained(target)
            (target / "tracker_checkpoint.json").write_text(json.dumps({"tokens_seen": step * 64}))
    return root


def write_jsonl(path: Path, documents: list[str]) -> Path:
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    return path


LMEVAL_ROLLING_TASK = """\
task: tracker_validation
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: bits_per_byte
"""


def lm_eval_bits_per_byte(model_dir: Path, data: Path, task_dir: Path, max_length: int,
                          batch_size: int = 4) -> float:
    """lm-eval's own ``loglikelihood_rolling`` bits per byte for a jsonl of ``{"text"}``
    documents: the independent reference for our validation loss."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    (task_dir / "tracker_validation.yaml").write_text(LMEVAL_ROLLING_TASK.format(data=data))
    results = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={model_dir},dtype=float32,max_length={max_length}",
        tasks=["tracker_validation"], task_manager=TaskManager(include_path=str(task_dir)),
        device="cpu", batch_size=batch_size, verbosity="ERROR",
    )
    return results["results"]["tracker_validation"]["bits_per_byte,none"]


@dataclass(frozen=True)
class NamedEvaluation:
    """An evaluation that is only a name and a version: enough to key and store units."""

    name: str
    version: str = "1"

    def identity(self):
        return {"task": self.name, "version": self.version}

    def evaluate(self, lm, settings):  # pragma: no cover - not called here
        raise NotImplementedError
