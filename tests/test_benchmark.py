"""The benchmark script runs end to end on a small tree: both pipelines, one table (no timing is
asserted: speed is measured by the script, not by tests)."""

import json

import pytest

import benchmark
from speechlib.cache import load_cache


@pytest.mark.slow  # a measuring child process per figure
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


def test_a_warm_measurement_first_builds_what_it_expects_untimed(tmp_path, monkeypatch):
    """`--only first_batch_warm` on a tree without a cache once timed the build and called it warm."""
    calls = []

    def fake_child(side, what, tree, workdir, batch_size):
        calls.append((side, what))
        return {"seconds": 1.0, "peak_rss_gb": 0.1}

    monkeypatch.setattr(benchmark, "_run_child", fake_child)
    benchmark.run_all(tmp_path / "sc", tmp_path, 8, ["first_batch_warm", "data_epoch"], drop_caches=False)
    assert calls == [
        ("speechlib", "prepare"),  # the cache, built (or checked) before the warm start is timed
        ("speechlib", "first_batch_warm"),
        ("reference", "prepare"),  # its refine pass, which the reference's epochs need
        ("reference", "first_batch_warm"),
        ("speechlib", "prepare"),
        ("speechlib", "data_epoch"),
        ("reference", "prepare"),  # the fake child wrote no reference_kept.json
        ("reference", "data_epoch"),
    ]
    assert set(json.loads((tmp_path / "results.json").read_text())) == {
        f"{side}/{what}" for side in ("speechlib", "reference") for what in ("first_batch_warm", "data_epoch")
    }  # the untimed preparations are not results

    calls.clear()
    (tmp_path / "reference_kept.json").write_text("[]")  # a reference run already made it
    benchmark.run_all(tmp_path / "sc", tmp_path, 8, ["first_batch_cold"], drop_caches=False)
    assert calls == [("speechlib", "first_batch_cold"), ("reference", "first_batch_cold")]  # cold: nothing made first


def test_the_overhead_row_shows_the_cnn_epoch_from_the_cache_against_tensors_in_memory():
    overhead = {"seconds": 10.4, "in_memory_seconds": 10.0, "ratio": 1.04, "cpu_ratio": 1.02, "epochs_each": 2}
    overhead["clips"] = 100
    results = {"speechlib/cnn_epoch_in_memory": {**overhead, "peak_rss_gb": 0.5}}
    (row,) = [row for row in benchmark.table(results).splitlines() if "random tensors already in memory" in row]
    assert "(100 clips, mean of 2 each)" in row and "10.40 s / 10.00 s" in row
    assert "1.040 (cache / in memory; CPU time 1.020)" in row and row.endswith("| <= 1.05 | yes |")
    results["speechlib/cnn_epoch_in_memory"]["ratio"] = 1.06
    assert benchmark.table(results).count("| <= 1.05 | **no** |") == 1
    results["speechlib/data_epoch"] = {"seconds": 1.0, "peak_rss_gb": 0.25}
    (peak,) = [row for row in benchmark.table(results).splitlines() if row.startswith("| peak RSS")]
    assert "| 0.25 GB |" in peak  # the overhead row's random batches do not count as the pipeline's memory


def test_in_memory_batches_have_the_loaders_sizes_and_skip_the_reference(tmp_path, monkeypatch):
    import torch

    dataset = torch.utils.data.TensorDataset(torch.zeros(21, 1, 16000), torch.zeros(21, dtype=torch.long))
    batches = list(benchmark.InMemoryBatches(torch.utils.data.DataLoader(dataset, batch_size=8), 4, pool=2))
    assert [tuple(waveforms.shape) for waveforms, _ in batches] == [(8, 1, 16000), (8, 1, 16000), (5, 1, 16000)]
    assert not torch.equal(batches[0][0], batches[1][0]) and torch.equal(batches[2][0], batches[0][0][:5])
    assert all(targets.max() < 4 for _, targets in batches)

    calls = []
    monkeypatch.setattr(benchmark, "_run_child", lambda side, what, *rest: calls.append((side, what)) or {})
    benchmark.run_all(tmp_path / "sc", tmp_path, 8, ["cnn_epoch_in_memory"], drop_caches=False)
    assert calls == [("speechlib", "prepare"), ("speechlib", "cnn_epoch_in_memory")]  # no reference side
