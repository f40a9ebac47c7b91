"""Validation loss: tracker versus lm-eval, side by side in one run, same model and text.

Prints a table: seconds, tokens/s and the speed ratio for one checkpoint, plus bits per
byte from both (they must agree to 1e-6 relative). Record the load average printed at the
top; discard runs where it is above the core count (the machine was contended).

    .venv/bin/python bench/bench_validation.py [--docs 64] [--context 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from tests.helpers import bigbench_dir, lm_eval_bits_per_byte, pythia_tokenizer  # noqa: E402


def documents(n: int) -> list[str]:
    """Real English text: inputs of the BIG-bench tasks bundled in tests/data."""
    texts: list[str] = []
    for path in sorted(bigbench_dir().glob("**/task.json")):
        examples = json.loads(path.read_text()).get("examples", [])
        texts.append("\n".join(str(e.get("input", "")) for e in examples[:40]))
    return [texts[i % len(texts)][: 3000 + 97 * i] for i in range(n)]


def build_model(directory: Path, hidden: int, layers: int, max_positions: int) -> None:
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tokenizer = pythia_tokenizer()
    torch.manual_seed(0)
    config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                           num_hidden_layers=layers, num_attention_heads=hidden // 64,
                           intermediate_size=4 * hidden, max_position_embeddings=max_positions)
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def run_tracker(model_dir: Path, data: Path, context: int, batch: int) -> tuple[float, float, int]:
    from tracker.evals.interface import EvalSettings
    from tracker.evals.validation import ValidationLoss, load_validation
    from tracker.families.catalog import local_family
    from tracker.lm.loading import load_checkpoint

    checkpoint = local_family(model_dir.parent.parent).checkpoints()[0]
    lm = load_checkpoint(checkpoint, context_length=context)
    started = time.perf_counter()
    result = ValidationLoss(load_validation(data)).evaluate(
        lm, EvalSettings(batch_size=batch, progress=False))
    elapsed = time.perf_counter() - started
    return elapsed, result.score("bits_per_byte").score, result.extras["total_tokens"]


def run_lm_eval(model_dir: Path, data: Path, context: int, batch: int, tmp: Path
                ) -> tuple[float, float]:
    started = time.perf_counter()
    bits_per_byte = lm_eval_bits_per_byte(model_dir, data, tmp, context, batch_size=batch)
    return time.perf_counter() - started, bits_per_byte


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=48)
    parser.add_argument("--context", type=int, default=512)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch

    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        model_dir = tmp / "family" / "bench" / "step0"
        build_model(model_dir, args.hidden, args.layers, args.context)
        data = tmp / "validation.jsonl"
        data.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents(args.docs)))
        rows = []
        for repeat in range(args.repeats):
            ours, our_bpb, tokens = run_tracker(model_dir, data, args.context, args.batch)
            theirs, their_bpb = run_lm_eval(model_dir, data, args.context, args.batch, tmp)
            rows.append((repeat, ours, theirs, tokens, our_bpb, their_bpb))
    print(f"\nmodel: GPT-NeoX hidden {args.hidden} x {args.layers} layers, Pythia tokenizer; "
          f"{args.docs} documents, context {args.context}, batch {args.batch}")
    print(f"{'run':>3} {'tracker s':>10} {'lm-eval s':>10} {'speed-up':>9} {'tracker tok/s':>14} "
          f"{'lm-eval tok/s':>14} {'bpb rel diff':>13}")
    for repeat, ours, theirs, tokens, our_bpb, their_bpb in rows:
        print(f"{repeat:>3} {ours:>10.2f} {theirs:>10.2f} {theirs / ours:>8.2f}x "
              f"{tokens / ours:>14,.0f} {tokens / theirs:>14,.0f} "
              f"{abs(our_bpb - their_bpb) / their_bpb:>13.1e}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
