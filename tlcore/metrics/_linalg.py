"""Linear-algebra kernels shared by the metrics: Gram matrices, per-class sums and log-determinants."""
from __future__ import annotations

import numpy as np
import torch


def gram(x: torch.Tensor, *, of_rows: bool = False) -> torch.Tensor:
    """``x.T @ x`` (D, D), or ``x @ x.T`` (N, N) when ``of_rows``, for a float (N, D) matrix ``x``; exactly symmetric.

    The product dominates H-score, LogME and TransRate on large inputs, so only one triangle is computed. On the CPU
    that is BLAS ``syrk`` (through SciPy, as torch does not expose it): half the flops of a full product, at the
    speed of GEMM. On other devices the upper block triangle is multiplied with torch and mirrored: (b + 1) / (2 b)
    of the flops (56% with b = 8 blocks).
    """
    if x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        return _syrk(x, of_rows)
    return _block_triangle_gram(x, of_rows)


def _block_triangle_gram(x: torch.Tensor, of_rows: bool) -> torch.Tensor:
    a = x.T if of_rows else x  # the Gram matrix of a's columns
    size = a.shape[1]
    blocks = max(1, min(8, size // 256))  # blocks narrower than 256 columns would run GEMM below its best speed
    edges = [size * i // blocks for i in range(blocks + 1)]
    out = torch.empty(size, size, dtype=a.dtype, device=a.device)
    for start, stop in zip(edges, edges[1:]):
        out[start:stop, start:] = a[:, start:stop].T @ a[:, start:]
    return _mirror_upper(out)


def _mirror_upper(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix with ``matrix``'s upper triangle (the rest of ``matrix`` is ignored)."""
    upper = matrix.triu()
    return upper + upper.triu(1).T


def _syrk(x: torch.Tensor, of_rows: bool) -> torch.Tensor:
    from scipy.linalg import blas

    syrk = blas.dsyrk if x.dtype == torch.float64 else blas.ssyrk
    # A C-ordered (N, D) array is the Fortran-ordered (D, N) array a = x.T, which BLAS reads without a copy:
    # trans=0 gives a a^T = x^T x, trans=1 gives a^T a = x x^T.
    upper = syrk(1.0, x.detach().contiguous().numpy().T, trans=int(of_rows))
    return _mirror_upper(torch.from_numpy(upper))  # BLAS leaves the other triangle unset


def eigh_projections(matrix: torch.Tensor, rhs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (D,) ascending of a symmetric (D, D) ``matrix`` and ``V^T @ rhs`` (D, K), the coordinates of the
    columns of ``rhs`` in its orthonormal eigenbasis V, as ``torch.linalg.eigh`` would give them.

    LogME and H-score need the eigenvectors only to project a few columns on them. On the CPU, in float64, V is never
    formed: LAPACK reduces the matrix to tridiagonal form ``Q^T A Q = T`` (``sytrd``), applies the reflectors of Q to
    the K columns only (``ormqr``), and solves the tridiagonal problem ``T = W diag(s) W^T`` by divide and conquer
    (``stevd``), so ``V^T rhs = W^T (Q^T rhs)``. That skips ``syevd``'s back-transformation of W into V, about
    2 D^3 flops: 0.54x the time at D = 2,048 with 100 columns (benchmarks/linalg.py).
    Elsewhere: ``torch.linalg.eigh``.
    """
    size = matrix.shape[0]
    if matrix.device.type != "cpu" or matrix.dtype != torch.float64 or size < 2:
        values, vectors = torch.linalg.eigh(matrix)
        return values, vectors.T @ rhs.to(vectors.dtype)
    from scipy.linalg import lapack

    reduced, diagonal, off_diagonal, tau, info = lapack.dsytrd(
        matrix.numpy(), lower=1, lwork=int(lapack.dsytrd_lwork(size, lower=1)[0])
    )
    _check_lapack("dsytrd", info)
    # With lower=1, Q = diag(1, Q') and Q' is stored like a QR factorisation of reduced[1:, :-1] (as in LAPACK's
    # orgtr), so ormqr applies Q'^T to the rows 1: of rhs.
    rotated = np.array(rhs.detach().cpu().numpy(), dtype=np.float64, order="F", copy=True)
    if rhs.shape[1]:
        reflectors = np.asfortranarray(reduced[1:, :-1])
        rotated[1:], _, info = lapack.dormqr("L", "T", reflectors, tau, rotated[1:], lwork=64 * rhs.shape[1],
                                             overwrite_c=1)
        _check_lapack("dormqr", info)
    values, tridiagonal_vectors, info = lapack.dstevd(diagonal, off_diagonal, compute_v=1)
    _check_lapack("dstevd", info)
    return torch.from_numpy(values), torch.from_numpy(tridiagonal_vectors.T @ rotated)


def _check_lapack(routine: str, info: int) -> None:
    if info != 0:
        raise RuntimeError(f"LAPACK {routine} failed with info={info}")


def smaller_gram(x: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of the smaller side of ``x``: same non-zero eigenvalues as ``x.T @ x``, fewer flops."""
    return gram(x, of_rows=x.shape[0] < x.shape[1])


def class_sums(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, D) sum of the rows of ``x`` (N, D) that carry each label; equals ``one_hot(labels).T @ x`` in O(N D)."""
    return torch.zeros(num_classes, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)


def logdet_identity_plus(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``log det(I + scale * x.T @ x)`` for ``scale > 0``, computed on the smaller Gram side.

    Sylvester's identity ``det(I_D + a X^T X) = det(I_N + a X X^T)`` lets a class of 200 samples in 2048 dimensions
    use a 200 x 200 matrix; the matrix is symmetric positive definite, so a Cholesky factor gives the determinant.
    """
    small = smaller_gram(x) * scale
    small.diagonal().add_(1.0)
    return 2 * torch.linalg.cholesky(small).diagonal().log().sum()
