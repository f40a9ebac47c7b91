"""Bits per byte equal lm-eval's ``loglikelihood_rolling`` bits_per_byte (independent
reference): same jsonl, same local model directory, same max length, windows that roll."""

import pytest

from tests.helpers import SAMPLE_DOCUMENTS, lm_eval_bits_per_byte, pythia_tokenizer, write_jsonl

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("max_length", [16, 64])
def test_bits_per_byte_equals_lm_eval(tmp_path, max_length):
    from tests.helpers import tiny_gpt_neox
    from tracker.evals.interface import EvalSettings
    from tracker.evals.validation import ValidationLoss, load_validation
    from tracker.families.catalog import local_family
    from tracker.lm.loading import load_checkpoint

    tokenizer = pythia_tokenizer()
    model_dir = tmp_path / "family" / "tiny" / "step1"
    tiny_gpt_neox(len(tokenizer), seed=3, max_positions=128).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    documents = [*SAMPLE_DOCUMENTS, "Long document. " * 40]
    data = write_jsonl(tmp_path / "validation.jsonl", documents)

    checkpoint = local_family(tmp_path / "family").checkpoints()[0]
    lm = load_checkpoint(checkpoint, context_length=max_length)
    ours = ValidationLoss(load_validation(data)).evaluate(lm, EvalSettings(progress=False))
    theirs = lm_eval_bits_per_byte(model_dir, data, tmp_path, max_length)
    assert ours.score("bits_per_byte").score == pytest.approx(theirs, rel=1e-6)
