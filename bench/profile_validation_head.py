"""Where a validation text's scoring time goes on the family benchmark's models: the base
model, the output layer's matmul alone, and the matmul with its cross-entropy, at several
chunk sizes (docs/performance.md, the family benchmark). Prints seconds; no assertions.

    .venv/bin/python bench/profile_validation_head.py --validation-mb 0.05
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_eval_vs_lmeval as whole  # noqa: E402
from bench_family import SIZES  # noqa: E402


def main() -> int:
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from tests.helpers import pythia_tokenizer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--validation-mb", type=float, default=0.05)
    parser.add_argument("--chunks", default="256,512,2048")
    args = parser.parse_args()
    tokenizer = pythia_tokenizer()
    documents = whole.validation_documents(args.validation_mb)
    ids = [tokenizer(d)["input_ids"][:2048] for d in documents]
    print(f"{len(documents)} documents, {sum(map(len, ids))} tokens, "
          f"{torch.get_num_threads()} torch threads")
    for size, (hidden, layers) in SIZES.items():
        config = GPTNeoXConfig(vocab_size=len(tokenizer), hidden_size=hidden,
                               num_hidden_layers=layers, num_attention_heads=hidden // 64,
                               intermediate_size=4 * hidden, max_position_embeddings=2048)
        model = GPTNeoXForCausalLM(config).eval()
        weight = model.get_output_embeddings().weight
        with torch.inference_mode():
            started = time.perf_counter()
            states = torch.cat([model.base_model(input_ids=torch.tensor([x])).last_hidden_state[0]
                                for x in ids])
            base = time.perf_counter() - started
            targets = torch.randint(0, len(tokenizer), (len(states),))
            for chunk in (int(c) for c in args.chunks.split(",")):
                timings = {}
                for name in ("matmul", "matmul + cross-entropy"):
                    started = time.perf_counter()
                    for start in range(0, len(states), chunk):
                        logits = torch.nn.functional.linear(states[start:start + chunk], weight)
                        if name != "matmul":
                            torch.nn.functional.cross_entropy(
                                logits, targets[start:start + chunk], reduction="none")
                    timings[name] = time.perf_counter() - started
                flops = 2 * len(states) * hidden * weight.shape[0]
                print(f"size {size} ({hidden} x {layers}) chunk {chunk}: base {base:.2f} s, "
                      + ", ".join(f"{n} {s:.2f} s" for n, s in timings.items())
                      + f" ({flops / timings['matmul'] / 1e9:.0f} GFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
