"""benchmarks/subnormals.py: its subnormal count and its command line (at toy size)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from factories import flushes_subnormals

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(_BENCHMARKS))  # it imports the model and data of finetune.py beside it
    try:
        spec = importlib.util.spec_from_file_location("benchmark_subnormals", _BENCHMARKS / "subnormals.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(_BENCHMARKS))


def test_subnormal_fraction_counts_nonzero_entries_below_the_smallest_normal(bench):
    tiny = torch.finfo(torch.float32).tiny
    model = torch.nn.Linear(2, 2)  # 4 weights + 2 biases
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[tiny / 4, 1.0], [0.0, -tiny / 2]]))
        model.bias.copy_(torch.tensor([tiny, 1e-3]))  # tiny itself is the smallest normal: not subnormal
    assert bench.subnormal_fraction(model) == pytest.approx(2 / 6)


def test_the_command_line_prints_the_three_rows_and_rejects_zero_steps(bench, capsys):
    bench.main(["--decay-steps", "2", "--steps", "1"])
    out = capsys.readouterr().out
    assert "% of the parameters are subnormal" in out
    assert [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "ms" not in line] == \
        ["undecayed (baseline)", "decayed", "decayed, flushed"]
    assert not flushes_subnormals()  # flushing is off again: a subnormal result is not read as zero
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0"])
