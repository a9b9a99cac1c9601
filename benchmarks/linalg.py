"""Time the kernels under LogME and H-score against the routes they replaced, in the same run.

    python benchmarks/linalg.py                  # N=20,000, D=2,048, 100 columns, one thread
    python benchmarks/linalg.py --n 4000 --d 512

* ``eigh_projections`` (tridiagonal reduction, reflectors applied to the columns only, tridiagonal eigenproblem)
  against ``scipy.linalg.eigh(driver="evd")`` followed by ``V.T @ rhs``, with the largest difference of the
  eigenvalues and of the squared projections (eigenvectors are defined up to sign);
* the float64 conversion of float32 features as the metrics do it (numpy) against ``tensor.to(torch.float64)``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from scipy.linalg import eigh
from threadpoolctl import threadpool_limits

from tlcore.metrics._linalg import eigh_projections, gram
from tlcore.metrics._validation import _to_float64


def median_time(call, repeats: int) -> float:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--d", type=int, default=2_048)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    features = torch.from_numpy(rng.standard_normal((args.n, args.d), dtype=np.float32))
    with threadpool_limits(limits=args.threads):
        matrix = gram(features.double())
        rhs = torch.from_numpy(rng.standard_normal((args.d, args.columns)))

        def baseline():
            values, vectors = eigh(matrix.numpy(), driver="evd", check_finite=False)
            return values, vectors.T @ rhs.numpy()

        ours_s = median_time(lambda: eigh_projections(matrix, rhs), args.repeats)
        base_s = median_time(baseline, args.repeats)
        values, projections = eigh_projections(matrix, rhs)
        base_values, base_projections = baseline()
        value_diff = float(np.max(np.abs(values.numpy() - base_values)) / np.max(np.abs(base_values)))
        projection_diff = float(np.max(np.abs(projections.numpy() ** 2 - base_projections**2))
                                / np.max(base_projections**2))
        print(f"D={args.d} columns={args.columns} threads={args.threads} median of {args.repeats}")
        print(f"| kernel | s | ratio |\n|---|---|---|")
        print(f"| syevd + V.T @ rhs (baseline) | {base_s:.3f} | 1.00 |")
        print(f"| eigh_projections | {ours_s:.3f} | {ours_s / base_s:.3f} |")
        print(f"largest relative difference: eigenvalues {value_diff:.1e}, squared projections {projection_diff:.1e}")

        torch_s = median_time(lambda: features.to(torch.float64), args.repeats)
        numpy_s = median_time(lambda: _to_float64(features), args.repeats)
        assert torch.equal(_to_float64(features), features.to(torch.float64))
        print(f"\n| float64 copy of ({args.n}, {args.d}) float32 | s | ratio |\n|---|---|---|")
        print(f"| tensor.to(torch.float64) (baseline) | {torch_s:.3f} | 1.00 |")
        print(f"| tlcore (numpy) | {numpy_s:.3f} | {numpy_s / torch_s:.3f} |")


if __name__ == "__main__":
    main()
