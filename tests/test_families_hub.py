"""Hub family files: every file loads, and each hub family's revisions, steps and tokens are the
ones its cited source gives (the values below are copied from the sources named in each YAML)."""

import time

import pytest
import torch
from transformers import AutoModelForCausalLM, GPTNeoXConfig, LlamaConfig, Olmo2Config

from tracker.families.catalog import family_names, load_family

PYTHIA_PARAMS = {  # EleutherAI/pythia README size table + model-card non-embedding column
    "14m": 14067712, "31m": 30494720, "70m": 70426624, "160m": 162322944, "410m": 405334016,
    "1b": 1011781632, "1.4b": 1414647808, "2.8b": 2775208960, "6.9b": 6857302016,
    "12b": 11846072320,
}
# Pythia paper (Biderman et al. 2023, arXiv:2304.01373) Table 1, "Non-Embedding Params"; these do
# not depend on the vocabulary, so they check the layer shapes independently of the padding below.
PYTHIA_NON_EMBEDDING = {
    "70m": 18915328, "160m": 85056000, "410m": 302311424, "1b": 805736448, "1.4b": 1208602624,
    "2.8b": 2517652480, "6.9b": 6444163072, "12b": 11327027200,
}

# Published shapes, offline. Pythia: EleutherAI/pythia models/<N>/pythia-<size>.yml
# (https://github.com/EleutherAI/pythia): num-layers, hidden-size, num-attention-heads,
# max-position-embeddings 2048, rotary-pct 0.25, no-weight-tying, and the HF GPTNeoXConfig's
# intermediate_size = 4 x hidden. GPT-NeoX pads the 50,277-token 20B tokenizer to a multiple of
# 128 x model-parallel-size: 50304 (mp 1), 50432 (6.9b, mp 2), 50688 (12b, mp 4), the vocab_size
# of the hub config.json files. Only these paddings reproduce the totals above (checked: 50304 for
# 6.9b/12b is 1,048,576 / 3,932,160 short). The deduped models share the standard shapes.
PYTHIA_SHAPES = {  # size: (num_hidden_layers, hidden_size, num_attention_heads, vocab_size)
    "14m": (6, 128, 4, 50304), "31m": (6, 256, 8, 50304), "70m": (6, 512, 8, 50304),
    "160m": (12, 768, 12, 50304), "410m": (24, 1024, 16, 50304), "1b": (16, 2048, 8, 50304),
    "1.4b": (24, 2048, 16, 50304), "2.8b": (32, 2560, 32, 50304),
    "6.9b": (32, 4096, 32, 50432), "12b": (36, 5120, 40, 50688),
}


def _pythia(size: str) -> GPTNeoXConfig:
    layers, hidden, heads, vocab = PYTHIA_SHAPES[size]
    return GPTNeoXConfig(
        vocab_size=vocab, num_hidden_layers=layers, hidden_size=hidden,
        num_attention_heads=heads, intermediate_size=4 * hidden, rotary_pct=0.25,
        max_position_embeddings=2048, use_parallel_residual=True, tie_word_embeddings=False,
    )


def _amber() -> LlamaConfig:
    # LLM360/Amber model card "Model Hyperparameter" table: hidden 4096, intermediate 11008,
    # 32 heads, 32 layers, max seq length 2048, vocab 32000, "same architecture as LLaMA-7B"
    # (untied lm_head; LLM360/amber-train main.py builds it from huggyllama/llama-7b's config).
    return LlamaConfig(
        vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=2048,
        rms_norm_eps=1e-6, tie_word_embeddings=False,
    )


def _olmo2_7b() -> Olmo2Config:
    # allenai/OLMo-2-1124-7B model card (32 layers, hidden 4096, 32 heads, context 4096) and its
    # config.json (Olmo2ForCausalLM: intermediate 11008, 32 KV heads, vocab 100352, untied).
    return Olmo2Config(
        vocab_size=100352, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096,
        rms_norm_eps=1e-6, tie_word_embeddings=False,
    )


PUBLISHED_CONFIGS = {  # hub family -> size label -> transformers config of the published shapes
    "pythia": {size: _pythia(size) for size in PYTHIA_SHAPES},
    "pythia-deduped": {size: _pythia(size) for size in PYTHIA_SHAPES
                       if size not in ("14m", "31m")},
    "amber": {"7b": _amber()},
    "olmo2-1124": {"7B": _olmo2_7b()},
}
PUBLISHED_PARAMS = {
    **{("pythia", size): n for size, n in PYTHIA_PARAMS.items()},
    **{("pythia-deduped", size): n for size, n in PYTHIA_PARAMS.items()
       if size not in ("14m", "31m")},
    # LLaMA-7B shapes (Amber = LLaMA-7B architecture, model card "Total Parameters 6.7B"):
    # 6,738,415,616, the count of huggyllama/llama-7b that amber-train initialises from.
    ("amber", "7b"): 6738415616,
    # Hugging Face model API, allenai/OLMo-2-1124-7B safetensors.total (revision 7df9a825...).
    ("olmo2-1124", "7B"): 7298617344,
}
MODEL_TYPE = {"gpt_neox": "gpt_neox", "llama": "llama", "olmo2": "olmo2"}


def _hub_sizes() -> list[tuple[str, str]]:
    pairs = []
    for name in family_names():
        config = load_family(name).config
        if config.source == "hub":
            pairs += [(name, size.label) for size in config.sizes]
    return pairs


def _build_on_meta(config):
    """The model of ``config`` with every parameter on the meta device (no memory, no download);
    returns it and the seconds the build took."""
    start = time.perf_counter()
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model, time.perf_counter() - start


@pytest.mark.parametrize("name", family_names())
def test_every_family_file_loads(name):
    family = load_family(name)
    assert family.name == name
    if family.config.source == "hub":
        assert family.config.trust_remote_code is False
        for size in family.size_labels():
            checkpoints = family.checkpoints(sizes=[size])
            assert checkpoints, f"{name}/{size} has no checkpoints"
            steps = [c.step for c in checkpoints]
            assert len(set(steps)) == len(steps), f"{name}/{size} repeats a step"
            tokens = [c.tokens_seen for c in checkpoints if c.tokens_seen is not None]
            assert tokens == sorted(tokens), f"{name}/{size}: tokens_seen decreases with step"


def test_amber_revisions_follow_the_model_card():
    family = load_family("amber")
    assert family.config.architecture == "llama"
    assert family.size_labels() == ["7b"]
    checkpoints = family.checkpoints()
    # "pass a revision with a value between ckpt_000 and ckpt_358" (ckpt_359 is main)
    assert len(checkpoints) == 359
    assert {c.location for c in checkpoints} == {"LLM360/Amber"}
    assert (checkpoints[0].revision, checkpoints[0].step) == ("ckpt_000", 0)
    assert (checkpoints[1].revision, checkpoints[1].step) == ("ckpt_001", 1)
    assert (checkpoints[-1].revision, checkpoints[-1].step) == ("ckpt_358", 358)
    assert [c.revision for c in checkpoints] == [f"ckpt_{i:03d}" for i in range(359)]
    # ckpt_NNN is saved after NNN + 1 chunks of 1,706,976 x 2048 tokens (amber-train main.py)
    assert checkpoints[0].tokens_seen == 3_495_886_848
    assert checkpoints[-1].tokens_seen == 359 * 1_706_976 * 2048
    assert all(c.tokens_seen == (c.step + 1) * 1_706_976 * 2048 for c in checkpoints)


def test_olmo2_revisions_parse_to_their_steps_and_tokens():
    family = load_family("olmo2-1124")
    assert family.config.architecture == "olmo2"
    assert family.size_labels() == ["7B"]
    checkpoints = family.checkpoints()
    assert len(checkpoints) == 12
    assert {c.location for c in checkpoints} == {"allenai/OLMo-2-1124-7B"}
    first, last = checkpoints[0], checkpoints[-1]
    assert first.revision == "stage1-step150-tokens1B"
    assert (first.step, first.tokens_seen) == (150, 1_000_000_000)
    assert last.revision == "stage1-step928646-tokens3896B"
    assert (last.step, last.tokens_seen) == (928646, 3_896_000_000_000)
    by_step = {c.step: c for c in checkpoints}
    assert by_step[812000].revision == "stage1-step812000-tokens3406B"
    assert by_step[812000].tokens_seen == 3_406_000_000_000
    # names are ceil(step * 1024 * 4096 / 1e9) billions (OLMo-2 7B batch)
    for c in checkpoints:
        assert c.tokens_seen == -(-c.step * 4_194_304 // 10**9) * 10**9


@pytest.mark.parametrize("name", ["pythia", "pythia-deduped"])
def test_pythia_param_counts_match_the_published_table(name):
    family = load_family(name)
    for size in family.config.sizes:
        assert size.params == PYTHIA_PARAMS[size.label], size.label
    labels = family.size_labels()
    if name == "pythia-deduped":  # 14M and 31M were trained on the standard Pile only
        assert "14m" not in labels and "31m" not in labels
    checkpoints = family.checkpoints(sizes=["70m"])
    assert len(checkpoints) == 154
    assert (checkpoints[0].revision, checkpoints[0].tokens_seen) == ("step0", 0)
    last = checkpoints[-1]
    assert (last.revision, last.tokens_seen) == ("step143000", 299_892_736_000)


def test_every_family_has_published_shapes_or_is_local():
    hub = {name for name in family_names() if load_family(name).config.source == "hub"}
    assert set(PUBLISHED_CONFIGS) == hub
    for name in set(family_names()) - hub:  # ladder: trained here, nothing published to check
        assert load_family(name).config.source == "local", name
    for name in hub:
        assert set(PUBLISHED_CONFIGS[name]) == set(load_family(name).size_labels()), name


@pytest.mark.parametrize(("name", "size"), _hub_sizes())
def test_published_shapes_reproduce_the_family_param_count(name, size):
    family = load_family(name)
    config = PUBLISHED_CONFIGS[name][size]
    assert config.model_type == MODEL_TYPE[family.config.architecture]
    if family.config.max_length is not None:
        assert family.config.max_length == config.max_position_embeddings
    model, seconds = _build_on_meta(config)
    parameters = list(model.parameters())
    assert {p.device.type for p in parameters} == {"meta"}  # nothing allocated
    assert seconds < 5, f"{name}/{size}: meta build took {seconds:.1f} s"
    count = sum(p.numel() for p in parameters)
    assert count == PUBLISHED_PARAMS[(name, size)]
    assert {c.params for c in family.checkpoints(sizes=[size])} == {count}
    if family.config.architecture == "gpt_neox" and size in PYTHIA_NON_EMBEDDING:
        embeddings = (model.get_input_embeddings().weight.numel()
                      + model.get_output_embeddings().weight.numel())
        assert count - embeddings == PYTHIA_NON_EMBEDDING[size]


# Pythia schedule: models/*/pythia-*.yml "extra-save-iters": [0, 1, 2, 4, ..., 512],
# "checkpoint-factor": 1000, "train-iters": 143000 -> 154 checkpoints; batch 1024 sequences x 2048
# tokens = 2,097,152 tokens per step, 299,892,736,000 in all (README: "Each model saw
# 299,892,736,000 ~= 300B tokens").
PYTHIA_STEPS = [0] + [2**i for i in range(10)] + list(range(1000, 143001, 1000))


@pytest.mark.parametrize(("name", "suffix"), [("pythia", ""), ("pythia-deduped", "-deduped")])
def test_pythia_steps_and_tokens_follow_the_published_schedule(name, suffix):
    assert len(PYTHIA_STEPS) == 154 and PYTHIA_STEPS[:12] == [0, 1, 2, 4, 8, 16, 32, 64, 128,
                                                               256, 512, 1000]
    family = load_family(name)
    assert family.config.tokens_per_step == 2_097_152 == 1024 * 2048
    for size in family.size_labels():
        checkpoints = family.checkpoints(sizes=[size])
        assert [c.step for c in checkpoints] == PYTHIA_STEPS, size
        assert [c.revision for c in checkpoints] == [f"step{s}" for s in PYTHIA_STEPS], size
        assert [c.tokens_seen for c in checkpoints] == [s * 1024 * 2048 for s in PYTHIA_STEPS]
        assert checkpoints[-1].tokens_seen == 299_892_736_000
        assert {c.location for c in checkpoints} == {f"EleutherAI/pythia-{size}{suffix}"}
