"""The weight digest that names a local checkpoint in unit keys, and hashing it ahead."""

import hashlib
import threading

import pytest

from tracker.families import weights


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "family" / "s" / "step1"
    directory.mkdir(parents=True)
    (directory / "model-00002.safetensors").write_bytes(bytes(range(256)) * 5000)
    (directory / "model-00001.safetensors").write_bytes(b"first shard" * 1000)
    (directory / "config.json").write_text("{}")  # not a weight file
    return directory


def by_hand(directory) -> str:
    """The documented digest: sha256 over (name, NUL, sha256 of the bytes) per weight
    file, in name order."""
    outer = hashlib.sha256()
    for name in ("model-00001.safetensors", "model-00002.safetensors"):
        outer.update(name.encode() + b"\0" + hashlib.sha256((directory / name).read_bytes())
                     .digest())
    return f"sha256:{outer.hexdigest()}"


def test_digest_is_over_the_weight_files_names_and_bytes(checkpoint, tmp_path):
    assert weights.weights_digest(checkpoint) == by_hand(checkpoint)
    assert weights.weights_digest(tmp_path) is None  # no weight files


def test_digest_ahead_gives_the_same_digest_and_hashes_once(checkpoint, monkeypatch):
    hashed: list[str] = []
    real = hashlib.file_digest
    release = threading.Event()

    def counting(handle, name):  # noqa: ANN001, ANN202
        release.wait(timeout=10)  # the caller asks while the thread is still hashing
        hashed.append(handle.name)
        return real(handle, name)

    monkeypatch.setattr(hashlib, "file_digest", counting)
    weights.digest_ahead([checkpoint, str(checkpoint)])  # the same directory twice
    threading.Timer(0.2, release.set).start()
    assert weights.weights_digest(str(checkpoint) + "/") == by_hand(checkpoint)
    assert len(hashed) == 2  # two files, each read once, by the thread
    assert weights.weights_digest(checkpoint) == by_hand(checkpoint)  # now from the cache
    assert len(hashed) == 2


def test_a_digest_that_failed_ahead_is_computed_again_by_the_caller(checkpoint, monkeypatch):
    calls = []
    real = weights.weight_files

    def failing_once(directory):  # noqa: ANN001, ANN202
        calls.append(directory)
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return real(directory)

    monkeypatch.setattr(weights, "weight_files", failing_once)
    weights.digest_ahead([checkpoint])
    assert weights.weights_digest(checkpoint) == by_hand(checkpoint)
    assert len(calls) == 2


def test_a_digest_that_fails_for_the_caller_too_raises(checkpoint, monkeypatch):
    def failing(directory):  # noqa: ANN001, ANN202
        raise PermissionError(f"cannot read {directory}")

    monkeypatch.setattr(weights, "weight_files", failing)
    weights.digest_ahead([checkpoint])
    with pytest.raises(PermissionError, match="cannot read"):
        weights.weights_digest(checkpoint)


def test_weights_rewritten_after_the_digest_ahead_get_their_new_digest(checkpoint):
    weights.digest_ahead([checkpoint])
    shard = checkpoint / "model-00001.safetensors"
    old = by_hand(checkpoint)
    assert weights._AHEAD[weights._key(checkpoint)].wait(timeout=10)  # hashed the old bytes
    shard.write_bytes(b"retrained in place" * 1000)
    assert by_hand(checkpoint) != old
    assert weights.weights_digest(checkpoint) == by_hand(checkpoint)


def test_an_unconsumed_digest_ahead_is_not_reused_for_new_weights(checkpoint):
    """A command that stopped before planning leaves its digest pending; a later command
    in the same process (a notebook, the tests) must not take it for retrained weights."""
    weights.digest_ahead([checkpoint])
    assert weights._AHEAD[weights._key(checkpoint)].wait(timeout=10)
    (checkpoint / "model-00002.safetensors").write_bytes(b"new")
    weights.digest_ahead([checkpoint])  # already pending: not queued again
    assert weights.weights_digest(checkpoint) == by_hand(checkpoint)
