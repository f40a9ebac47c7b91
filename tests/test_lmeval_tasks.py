"""Slow: our task numbers against lm-eval 0.4 on the same model directory and examples.

Runs ``bench/bench_tasks_vs_lmeval.py``'s comparison on the BIG-bench tasks bundled in
tests/data (with the Pythia tokenizer, also bundled): every choice log-likelihood
within 1e-4, accuracy / accuracy_norm (vs acc_bytes and, on ASCII, acc_norm) equal, brier
within 1e-6, and on the generative task exact match and the generated strings equal.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _bench():
    pytest.importorskip("lm_eval")
    spec = importlib.util.spec_from_file_location("bench_tasks_vs_lmeval",
                                                  ROOT / "bench" / "bench_tasks_vs_lmeval.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_tasks_equal_lm_eval(tmp_path):
    bench = _bench()
    comparisons = bench.compare(tmp_path, list(bench.DEFAULT_TASKS), limit=30, batch_size=16)
    bench.print_table(comparisons)
    assert {c.kind for c in comparisons} == {"multiple_choice", "generative"}
    for comparison in comparisons:
        assert comparison.max_abs_ll_diff < 1e-4, comparison
        assert all(comparison.metrics_equal.values()), comparison
        if comparison.kind == "multiple_choice":
            assert comparison.max_brier_diff < 1e-6, comparison
        else:
            assert math.isnan(comparison.max_brier_diff)
