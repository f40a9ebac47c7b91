"""How neox-tiny_log_history.csv was made: a causal-LM `Trainer` as the Hugging Face docs
build one (a tiny random GPT-NeoX, the Pythia tokenizer, the GPL-3 text's lines), eval every
20 steps, then the log history written out with pandas.

    .venv/bin/python tests/data/imports/hf-trainer/make_log.py OUT.csv
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import (  # noqa: E402
    DataCollatorForLanguageModeling,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tests.helpers import pythia_tokenizer_file  # noqa: E402


def token_accuracy(prediction) -> dict[str, float]:
    logits, labels = prediction
    predicted, target = logits[:, :-1].argmax(-1), labels[:, 1:]
    mask = target != -100
    return {"token_accuracy": float((predicted[mask] == target[mask]).mean())}


def main(out: str) -> None:
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(pythia_tokenizer_file()),
                                        eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    text = Path("/usr/share/common-licenses/GPL-3").read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    rows = Dataset.from_dict({"text": lines}).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=64), batched=True,
        remove_columns=["text"])
    split = rows.train_test_split(test_size=0.1, seed=0)
    model = GPTNeoXForCausalLM(GPTNeoXConfig(
        vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=256, max_position_embeddings=128))
    args = TrainingArguments(
        str(Path(out).parent / "trainer-out"), max_steps=120, per_device_train_batch_size=16,
        eval_strategy="steps", eval_steps=20, logging_steps=20, save_strategy="no",
        report_to="none", learning_rate=1e-3, use_cpu=True)
    trainer = Trainer(model=model, args=args, train_dataset=split["train"],
                      eval_dataset=split["test"],
                      data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
                      compute_metrics=token_accuracy)
    trainer.train()
    pd.DataFrame(trainer.state.log_history).to_csv(out, index=False)


if __name__ == "__main__":
    main(sys.argv[1])
