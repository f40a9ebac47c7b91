"""The on-disk token cache: equal to encoding one text at a time (and to lm-eval's split, as
tracker.lm.encode_pair does it), read back from disk by a later process, rebuilt when
damaged, safe when writers race, harmless when the cache cannot be written."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.helpers import pythia_tokenizer, trained_tokenizer
from tests.helpers_tasks import encode, encode_pair
from tracker.lm import scoring, token_cache

PAIRS = [
    ("Q: What is 2 plus 2?\nA: ", "4"),
    ("Q: What is 2 plus 2?\nA:", " 4"),
    ("", "An empty context"),
    ("   ", "only spaces before"),
    ("Unicode: naïve café, 東京 ", "\U0001f600 yes"),
    ("Q: What is 2 plus 2?\nA: ", "5"),  # shares its context with the first
    ("trailing\n\n", "newlines"),
    ("x", ""),
]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path / "cache"))
    token_cache.clear_memory()
    yield tmp_path / "cache"
    token_cache.clear_memory()


@pytest.fixture(scope="module", params=["pythia", "trained"])
def tokenizer(request):
    return pythia_tokenizer() if request.param == "pythia" else trained_tokenizer()


def entries(cache):
    return sorted(cache.rglob("*.npz"))


def test_pairs_equal_encode_pair_one_at_a_time(tokenizer):
    prefix = scoring.prefix_token_id(tokenizer)
    ours = token_cache.encode_pairs(tokenizer, PAIRS, prefix)
    assert ours == [encode_pair(tokenizer, c, x) for c, x in PAIRS]


def test_texts_equal_encode_one_at_a_time(tokenizer):
    texts = [c + x for c, x in PAIRS]
    assert token_cache.encode_texts(tokenizer, texts) == [encode(tokenizer, t)
                                                          for t in texts]
    assert token_cache.encode_texts(tokenizer, texts, cache=False) == \
        token_cache.encode_texts(tokenizer, texts)
    assert token_cache.encode_texts(tokenizer, []) == []


def test_a_later_process_reads_the_disk_entry_without_tokenizing(cache, monkeypatch):
    tokenizer = pythia_tokenizer()
    texts = ["one document", "another document"]
    first = token_cache.encode_texts(tokenizer, texts)
    assert len(entries(cache)) == 1
    token_cache.clear_memory()  # as a new process would start

    def refuse(*args, **kwargs):
        raise AssertionError("tokenized again")

    monkeypatch.setattr(token_cache, "_batch_encode", refuse)
    assert token_cache.encode_texts(tokenizer, texts) == first
    with pytest.raises(AssertionError, match="tokenized again"):  # other texts: a new key
        token_cache.encode_texts(tokenizer, ["a third"])


def test_the_key_covers_tokenizer_kind_and_every_text(cache):
    pythia, trained = pythia_tokenizer(), trained_tokenizer()
    assert token_cache.tokenizer_fingerprint(pythia) != token_cache.tokenizer_fingerprint(trained)
    token_cache.encode_texts(pythia, ["a", "b"])
    token_cache.encode_texts(trained, ["a", "b"])
    token_cache.encode_texts(pythia, ["ab"])  # same characters, other split into texts
    token_cache.encode_texts(pythia, ["b", "a"])
    token_cache.encode_pairs(pythia, [("a", "b")], 0)
    assert len(entries(cache)) == 5
    assert len({path.parent.name for path in entries(cache)}) == 2  # one folder per tokenizer


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "offsets", "key"])
def test_a_damaged_entry_is_ignored_and_rebuilt(cache, damage):
    tokenizer = pythia_tokenizer()
    prefix = scoring.prefix_token_id(tokenizer)
    expected = token_cache.encode_pairs(tokenizer, PAIRS, prefix)
    [path] = entries(cache)
    if damage == "garbage":
        path.write_bytes(b"not an npz file at all")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as stored:
            arrays = {name: stored[name] for name in stored.files}
        if damage == "offsets":
            arrays["continuation_offsets"][-1] += 5
        else:
            arrays["key"] = np.array("0" * 32)
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
    token_cache.clear_memory()
    assert token_cache.encode_pairs(tokenizer, PAIRS, prefix) == expected
    token_cache.clear_memory()
    assert token_cache._read(path, path.stem, "pairs") is not None  # rewritten whole


def test_racing_writers_leave_one_whole_entry(cache):
    tokenizer = pythia_tokenizer()
    texts = [f"document number {i} " * 20 for i in range(50)]
    expected = [encode(tokenizer, t) for t in texts]
    results, errors = [], []

    def work():
        try:
            arrays = token_cache._texts_arrays(tokenizer, texts)
            key = token_cache._key(token_cache.tokenizer_fingerprint(tokenizer), "texts", texts)
            path = cache / "tokens" / token_cache.tokenizer_fingerprint(tokenizer) / f"{key}.npz"
            for _ in range(5):
                token_cache._write(path, key, arrays)
                read = token_cache._read(path, key, "texts")
                results.append(read is not None and
                               token_cache._unpack(read["ids"], read["offsets"]) == expected)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and all(results) and len(results) == 30
    assert len(entries(cache)) == 1
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp")]


def test_an_unwritable_cache_only_costs_tokenizing(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("x")
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(blocker))
    tokenizer = pythia_tokenizer()
    assert token_cache.encode_texts(tokenizer, ["some text"]) == [
        encode(tokenizer, "some text")]


def test_validation_and_tasks_go_through_the_cache(cache):
    """One checkpoint's validation and task scoring leave their entries; a second
    checkpoint with the same tokenizer adds none."""
    from tests.helpers import tiny_gpt_neox
    from tracker.evals.interface import EvalSettings
    from tracker.evals.validation import ValidationLoss, ValidationSet
    from tracker.lm.loading import LoadedModel

    tokenizer = trained_tokenizer()
    validation = ValidationLoss(ValidationSet("v", ("A first document.", "A second one.")))
    requests = [scoring.LoglikelihoodRequest(c, x) for c, x in PAIRS[:3]]
    generation = [scoring.GenerationRequest("Q: 1+1=", max_new_tokens=3)]
    for seed in (0, 1):
        lm = LoadedModel.wrap(tiny_gpt_neox(len(tokenizer), seed=seed), tokenizer)
        validation.evaluate(lm, EvalSettings(progress=False))
        scoring.loglikelihood(lm, requests)
        scoring.generate(lm, generation)
        if seed == 0:
            first = entries(cache)
            assert len(first) == 3
    assert entries(cache) == first
