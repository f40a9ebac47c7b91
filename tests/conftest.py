"""Every test runs offline: nothing may reach for the model or dataset hub by accident.

``--dtype auto`` (and ``training.precision: auto``) resolve to float32 in every test
(``$TRACKER_AUTO_DTYPE``), whatever this CPU's probe would pick: the parity tests compare
float32 scores, and no test writes the dtype cache. tests/test_dtype.py unpins it.

Shared fixtures, built once per session: ``lm``, a tiny GPT-NeoX with a trained BPE
tokenizer (tests/helpers_tasks.py), and ``family``, a directory holding a local family
(``family/<s1|s2>/step<0|4>/``, plain ``save_pretrained`` checkpoints) beside a
``validation.jsonl``. Neither may be modified by a test.
"""

import os

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["TRACKER_AUTO_DTYPE"] = "float32"


@pytest.fixture(scope="session")
def lm():
    from tests.helpers_tasks import tiny_lm

    return tiny_lm()


@pytest.fixture(scope="session")
def family(tmp_path_factory):
    from tests.helpers import SAMPLE_DOCUMENTS, save_local_family, trained_tokenizer, write_jsonl

    root = tmp_path_factory.mktemp("family")
    save_local_family(root / "family", trained_tokenizer(), sizes=("s1", "s2"), steps=(0, 4))
    write_jsonl(root / "validation.jsonl", SAMPLE_DOCUMENTS)
    return root
