"""The benchmark script runs end to end on a small tree: both pipelines, one table (no timing is
asserted: speed is measured by the script, not by tests)."""

import json

import pytest

import benchmark
from speechlib.cache import load_cache

pytestmark = pytest.mark.slow  # a measuring child process per figure


def test_benchmark_runs_both_pipelines_on_one_tree(tmp_path, monkeypatch):
    tree, workdir = tmp_path / "sc", tmp_path / "sc.bench"
    benchmark.main(
        [
            "--tree",
            str(tree),
            "--clips",
            "700",
            "--batch-size",
            "8",
            "--only",
            "first_batch_warm,data_epoch",
            "--workdir",
            str(workdir),
        ]
    )
    results = json.loads((workdir / "results.json").read_text())
    assert set(results) == {
        f"{side}/{what}" for side in ("reference", "speechlib") for what in ("first_batch_warm", "data_epoch")
    }

    monkeypatch.setenv("SPEECHLIB_CACHE", str(workdir / "cache"))  # the cache the benchmark built
    cache = load_cache(tree, progress=False, verbose=False)
    training = cache.indices("training")
    full_length = int((cache.lengths[training] == 16000).sum())
    assert 0 < full_length < len(training)  # the tree has short clips, as the real set does
    # the reference drops them (the seed's refine pass); speechlib pads them
    assert results["reference/data_epoch"]["clips"] == full_length
    assert results["speechlib/data_epoch"]["clips"] == len(training)
    assert len(json.loads((workdir / "reference_kept.json").read_text())) == full_length

    rows = benchmark.table(results).splitlines()
    assert rows[0].startswith("| measurement | reference | speechlib |")
    assert any(row.startswith("| time to first batch, warm |") and "<= 2 s:" in row for row in rows)
    assert any(row.startswith("| peak RSS") for row in rows)
