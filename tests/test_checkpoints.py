"""Checkpoint loading: what is passed to transformers, and failures as clear errors."""

import pytest
import torch

from tests.helpers import save_local_family, trained_tokenizer
from tracker.errors import CheckpointLoadError, TrackerError
from tracker.families.catalog import load_family
from tracker.lm.loading import load_checkpoint, resolve_device


def test_hub_checkpoint_passes_revision_and_keeps_remote_code_off(monkeypatch, tmp_path):
    local = save_local_family(tmp_path / "fam", trained_tokenizer(), sizes=("s1",), steps=(0,))
    seen = []
    import transformers

    real_model = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer = transformers.AutoTokenizer.from_pretrained

    def fake_model(location, **kwargs):
        seen.append(("model", location, kwargs))
        return real_model(local / "s1" / "step0", dtype=kwargs["dtype"])

    def fake_tokenizer(location, **kwargs):
        seen.append(("tokenizer", location, kwargs))
        return real_tokenizer(local / "s1" / "step0")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", fake_tokenizer)
    checkpoint = load_family("pythia").checkpoints(sizes=["70m"], steps=[2000])[0]
    lm = load_checkpoint(checkpoint, dtype="bfloat16", context_length=16)
    assert [(kind, location) for kind, location, _ in seen] == [
        ("tokenizer", "EleutherAI/pythia-70m"), ("model", "EleutherAI/pythia-70m")]
    for _, _, kwargs in seen:
        assert kwargs["revision"] == "step2000"
        assert kwargs["trust_remote_code"] is False
    assert seen[1][2]["dtype"] is torch.bfloat16
    assert lm.max_length == 16 and lm.dtype == "bfloat16" and not lm.model.training


def test_unreachable_hub_checkpoint_is_a_load_error():
    checkpoint = load_family("pythia").checkpoints(sizes=["14m"], steps=[0])[0]
    with pytest.raises(CheckpointLoadError, match=r"cannot load pythia/14m@step0: "):
        load_checkpoint(checkpoint)  # HF_HUB_OFFLINE=1 in tests


def test_unknown_dtype_and_missing_cuda_are_clear():
    checkpoint = load_family("pythia").checkpoints(sizes=["14m"], steps=[0])[0]
    with pytest.raises(TrackerError, match="unknown --dtype 'fp8'"):
        load_checkpoint(checkpoint, dtype="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(TrackerError, match="sees no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("auto").type in ("cpu", "cuda")
