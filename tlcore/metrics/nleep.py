"""Gaussian LEEP, N-LEEP (Li et al., 2021)."""
from __future__ import annotations

from typing import Any

from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ._validation import check_choice, check_features, check_labels
from .leep import leep

# Li et al. fit five Gaussian components per target class.
COMPONENTS_PER_CLASS = 5


def nleep(
    features: Any,
    target_labels: Any,
    n_components: int | None = None,
    pca_dim: int | float | None = 0.8,
    covariance_type: str = "full",
    seed: int = 0,
) -> float:
    """N-LEEP: LEEP computed on the posteriors of a Gaussian mixture fitted to the features. Higher is better.

    Li et al., "Ranking Neural Checkpoints" (CVPR 2021). The features are reduced with PCA, a Gaussian mixture is
    fitted to them by EM (sklearn ``GaussianMixture``, seeded), and its component posteriors take the place of the
    source model's softmax in :func:`leep`. Needs no classifier head, so it also ranks models trained without one.

    Args:
        features: (N, D) float features of the target samples.
        target_labels: (N,) int target labels in 0..C-1, every class present, C >= 2.
        n_components: Gaussian components; ``None`` uses 5 C, the paper's choice. At most N.
        pca_dim: PCA output dimension (int), fraction of variance to keep (float in (0, 1); 0.8 is the authors'
            choice), or ``None`` to skip PCA.
        covariance_type: ``GaussianMixture`` covariance: "full" (the paper, via sklearn's default), "diag",
            "spherical" or "tied".
        seed: seeds PCA's randomised solver and the mixture's k-means initialisation.

    The mixture depends on the sample order through its initialisation, so unlike LEEP the score is only reproducible
    for a fixed order and seed.
    """
    x = check_features(features)
    y, counts = check_labels(target_labels, len(x), device=x.device)
    check_choice(covariance_type, "covariance_type", ("full", "diag", "spherical", "tied"))
    n_components = COMPONENTS_PER_CLASS * len(counts) if n_components is None else n_components
    if not 1 <= n_components <= len(x):
        raise ValueError(f"n_components must lie in 1..N={len(x)}, got {n_components}")
    points = x.cpu().numpy()
    if pca_dim is not None:
        if isinstance(pca_dim, float) and not 0 < pca_dim < 1:
            raise ValueError(f"a float pca_dim is a fraction of variance in (0, 1), got {pca_dim}")
        if isinstance(pca_dim, int) and not 1 <= pca_dim <= min(points.shape):
            raise ValueError(f"an int pca_dim must lie in 1..min(N, D)={min(points.shape)}, got {pca_dim}")
        points = PCA(n_components=pca_dim, random_state=seed).fit_transform(points)
    # EM works on one small per-component matrix at a time, where BLAS threads gain nothing; their busy-waiting
    # after each call also stalls the torch threads of whatever runs next (sklearn's KMeans limits them likewise).
    with threadpool_limits(limits=1, user_api="blas"):
        mixture = GaussianMixture(n_components, covariance_type=covariance_type, random_state=seed).fit(points)
        posteriors = mixture.predict_proba(points)
    return leep(posteriors, y)
