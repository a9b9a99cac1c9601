"""Batch Spectral Shrinkage (Chen, Wang, Fu, Long & Wang, NeurIPS 2019)."""
from __future__ import annotations

import torch

from ..finetune.regularizer import StepContext, TransferRegularizer


class BSS(TransferRegularizer):
    """L_bss(F) = sum_{i=1..k} sigma_{-i}^2: the k smallest squared singular values of the batch's feature matrix
    F (batch, features), the spectral components that carry non-transferable, untrainable-on-small-data directions.

    The squared singular values of F are the eigenvalues of the smaller of F F^T (b x b) and F^T F (d x d), so the
    penalty is one symmetric eigenvalue problem (``eigvalsh``, whose gradient U diag(g) U^T stays finite when
    eigenvalues coincide, unlike an SVD's). The Gram matrix is formed in float64: squaring singular values squares
    the condition number, and the smallest ones are what we want.
    """

    def __init__(self, k: int = 1):
        super().__init__()
        if k < 1:
            raise ValueError(f"BSS needs k >= 1 singular values, got {k}")
        self.k = k

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: (batch, dim); returns a scalar in ``features``' floating dtype (float32 under autocast)."""
        if features.ndim != 2:
            raise ValueError(f"BSS expects (batch, features), got shape {tuple(features.shape)}")
        if self.k > min(features.shape):
            raise ValueError(f"BSS k={self.k} exceeds min(batch, dim) = {min(features.shape)}")
        f = features.double()
        gram = f @ f.T if f.shape[0] <= f.shape[1] else f.T @ f
        eigenvalues = torch.linalg.eigvalsh(gram)  # ascending
        out_dtype = torch.float32 if features.dtype in (torch.float16, torch.bfloat16) else features.dtype
        return eigenvalues[: self.k].clamp_min(0).sum().to(out_dtype)

    def penalty(self, ctx: StepContext) -> torch.Tensor:
        return self(ctx.features)
