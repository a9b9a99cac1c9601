"""Time tlcore.metrics against straightforward per-class numpy implementations written from the papers.

    python benchmarks/metrics.py                     # N=20,000, D=2,048, C=100, 1,000 source classes
    python benchmarks/metrics.py --n 2000 --d 256 --c 20

Each reference below follows its paper's formula (and, where one exists, the structure of the authors' code) with a
Python loop over classes, and computes the same quantity as tlcore: where tlcore departs from the authors' code
(see each metric's docstring) the reference departs in the same way, so the values can be compared to 1e-6. The
features are seeded class means plus Gaussian noise, in float32 as a model would produce them; the source-model
probabilities are the float32 softmax of a random linear head. tlcore runs on CUDA when one is available.
Timings are single-threaded unless ``--threads`` says otherwise (see benchmarks/README.md for why). NLEEP is not
timed: its cost is sklearn's PCA and EM, identical in any implementation. The references of SFDA, ETran, NCTI, PED
and k-NN accuracy take their structure from the authors' code too (SFDA: a covariance per class and the
generalised eigenproblem ``scipy.linalg.eigh(S_b, S)``; NCTI: sklearn's PCA and LDA, per-class nuclear norms; PED:
a loop over pairs of classes at every step, then the LogME reference; k-NN: a full sort of every distance row).
"""
from __future__ import annotations

import argparse
import math
import time
from typing import Callable, Sequence

import numpy as np
import ot
import scipy.linalg
import scipy.special
import torch
from sklearn.covariance import ledoit_wolf
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

import tlcore.metrics as tm
from tlcore.metrics.knn import _canonical_order

GBC_VARIANCE_FLOOR = 1e-4


def reference_h_score(features: np.ndarray, labels: np.ndarray) -> float:
    """Bao et al. (2019), as in their code: tr(pinv(cov f) cov g) with g the class mean of each sample."""
    f = features.astype(np.float64)
    g = np.zeros_like(f)
    for c in range(labels.max() + 1):
        g[labels == c] = f[labels == c].mean(axis=0)
    return float(np.trace(np.linalg.pinv(np.cov(f, rowvar=False), rcond=1e-15) @ np.cov(g, rowvar=False)))


def reference_h_score_shrinkage(features: np.ndarray, labels: np.ndarray) -> float:
    """Ibrahim et al. (2022): tr(pinv(cov_a f) (1 - a) cov g) with sklearn's Ledoit-Wolf estimate (both covariances
    maximum-likelihood, i.e. divided by N)."""
    f = features.astype(np.float64)
    f = f - f.mean(axis=0)
    covariance, shrinkage = ledoit_wolf(f)
    g = np.zeros_like(f)
    for c in range(labels.max() + 1):
        g[labels == c] = f[labels == c].mean(axis=0)
    between = np.cov(g, rowvar=False, bias=True)
    return float(np.trace(np.linalg.pinv(covariance, rcond=1e-15) @ ((1 - shrinkage) * between)))


def reference_nce(source_labels: np.ndarray, target_labels: np.ndarray) -> float:
    """Tran et al. (2019): sum over (z, y) of P(z, y) log P(y | z), cell by cell."""
    total = 0.0
    for z in np.unique(source_labels):
        in_z = source_labels == z
        for y in np.unique(target_labels):
            p_zy = np.mean(in_z & (target_labels == y))
            if p_zy > 0:
                total += p_zy * math.log(p_zy / in_z.mean())
    return total


def reference_leep(probs: np.ndarray, labels: np.ndarray) -> float:
    """Nguyen et al. (2020): empirical joint class by class, then the expected prediction sample by sample."""
    theta = probs.astype(np.float64)
    n = len(labels)
    joint = np.stack([theta[labels == y].sum(axis=0) / n for y in range(labels.max() + 1)])
    conditional = joint / joint.sum(axis=0, keepdims=True)
    return float(np.mean([math.log(theta[i] @ conditional[labels[i]]) for i in range(n)]))


def reference_logme(features: np.ndarray, labels: np.ndarray, tol: float = 1e-8, max_iter: int = 1000) -> np.ndarray:
    """You et al. (2021), structured like the authors' ``_fit_fixed_point``: one truncated SVD, then each class's
    fixed point in a Python loop. Stopping rule, final evaluation and log det as in tlcore's LogME (see there).
    Returns the per-class maximum log evidence divided by N."""
    f = features.astype(np.float64)
    n, d = f.shape
    if n > d:  # the authors' truncated_svd: eigenpairs of F^T F from an SVD, then U = F V / s
        _, s, vh = np.linalg.svd(f.T @ f)
        s = np.sqrt(s)
        rank = int(np.sum(s > 1e-10))
        s, vh = s[:rank], vh[:rank]
        u = f @ vh.T / s
    else:
        u, s, vh = np.linalg.svd(f, full_matrices=False)
        rank = len(s)
    sigma = s**2
    evidences = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(np.float64)
        x2 = (u.T @ y) ** 2
        outside = y @ y - x2.sum()  # the part of y outside the column space of F
        alpha, beta, previous = 1.0, 1.0, -math.inf
        for _ in range(max_iter + 1):
            t = alpha / beta
            gamma = np.sum(sigma / (sigma + t))
            m2 = np.sum(sigma * x2 / (t + sigma) ** 2)
            res2 = np.sum(x2 * (t / (t + sigma)) ** 2) + outside
            log_det = np.sum(np.log(alpha + beta * sigma)) + (d - rank) * math.log(alpha)
            evidence = (
                d / 2 * math.log(alpha) + n / 2 * math.log(beta) - n / 2 * math.log(2 * math.pi)
                - beta / 2 * res2 - alpha / 2 * m2 - log_det / 2
            ) / n
            if abs(evidence - previous) <= tol:
                break
            previous = evidence
            alpha, beta = gamma / m2, (n - gamma) / res2
        evidences.append(evidence)
    return np.array(evidences)


def reference_transrate(features: np.ndarray, labels: np.ndarray, eps: float = 1e-4) -> float:
    """Huang et al. (2022), as in their code (a D x D log-determinant per class), with class-frequency weights and
    the features centred and scaled to unit root-mean-square norm."""

    def coding_rate(z: np.ndarray) -> float:
        n, d = z.shape
        return 0.5 * np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))[1]

    z = features.astype(np.float64)
    z = z - z.mean(axis=0)
    z = z / np.sqrt(np.sum(z**2) / len(z))
    conditional = sum(np.mean(labels == c) * coding_rate(z[labels == c]) for c in range(labels.max() + 1))
    return float(coding_rate(z) - conditional)


def reference_gbc(features: np.ndarray, labels: np.ndarray, covariance: str = "diagonal") -> float:
    """Pándy et al. (2022), as in their code: per-class statistics, then a loop over ordered pairs of classes."""
    f = features.astype(np.float64)
    d = f.shape[1]
    stats = []
    for c in range(labels.max() + 1):
        variance = np.maximum(f[labels == c].var(axis=0), GBC_VARIANCE_FLOOR)
        if covariance == "spherical":
            variance = np.full(d, variance.mean())  # sigma I: D equal entries in every determinant
        stats.append((f[labels == c].mean(axis=0), variance))
    total = 0.0
    for i, (mu_i, var_i) in enumerate(stats):
        for j, (mu_j, var_j) in enumerate(stats):
            if i != j:
                average = (var_i + var_j) / 2
                distance = np.sum((mu_i - mu_j) ** 2 / average) / 8 + 0.5 * (
                    np.sum(np.log(average)) - 0.5 * np.sum(np.log(var_i)) - 0.5 * np.sum(np.log(var_j))
                )
                total += math.exp(-distance)
    return -total


def reference_emd_similarity(
    source_features: np.ndarray,
    source_labels: np.ndarray,
    target_features: np.ndarray,
    target_labels: np.ndarray,
    gamma: float = 0.01,
) -> float:
    """Cui et al. (2018): EMD between frequency-weighted class means, Euclidean ground distance."""

    def class_means(features: np.ndarray, labels: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        f = features.astype(np.float64)
        classes = range(labels.max() + 1)
        return [f[labels == c].mean(axis=0) for c in classes], np.array([np.mean(labels == c) for c in classes])

    source_means, source_weights = class_means(source_features, source_labels)
    target_means, target_weights = class_means(target_features, target_labels)
    cost = np.array([[np.linalg.norm(s - t) for t in target_means] for s in source_means])
    return math.exp(-gamma * ot.emd2(source_weights, target_weights, cost))


def reference_lda_log_posterior(
    features: np.ndarray, labels: np.ndarray, shrinkage: float | None = None
) -> tuple[np.ndarray, float]:
    """The Bayes classifier in SFDA's regularised Fisher space, built like the authors' ``SFDA._solve_eigen``: a
    covariance per class weighted by the priors, shrinkage ``max(exp(-5 sigma_max), 1e-10)`` (sigma_max exact, as in
    tlcore), the generalised eigenvectors W of ``(S_b, S)`` and ``coef = means W W^T``. Returns (log-posterior,
    shrinkage)."""
    f = features.astype(np.float64)
    d = f.shape[1]
    classes = range(labels.max() + 1)
    priors = np.array([np.mean(labels == c) for c in classes])
    means = np.stack([f[labels == c].mean(axis=0) for c in classes])
    within = np.zeros((d, d))
    for c in classes:
        within += priors[c] * np.cov(f[labels == c], rowvar=False, bias=True)
    if shrinkage is None:
        shrinkage = max(math.exp(-5 * np.linalg.eigvalsh(within)[-1]), 1e-10)

    def shrink(matrix: np.ndarray) -> np.ndarray:
        return (1 - shrinkage) * matrix + shrinkage * np.trace(matrix) / d * np.eye(d)

    within = shrink(within)
    _, vectors = scipy.linalg.eigh(shrink(np.cov(f, rowvar=False, bias=True)) - within, within)
    coef = means @ vectors @ vectors.T
    intercept = -0.5 * np.sum(means * coef, axis=1) + np.log(priors)
    return scipy.special.log_softmax(f @ coef.T + intercept, axis=1), shrinkage


def reference_sfda(features: np.ndarray, labels: np.ndarray) -> float:
    """Shao et al. (2022), as ``SFDA_Score``: fit, soften the posterior with a second softmax, ConfMix class by
    class towards the mean of the other classes' means, refit with the same shrinkage; the mean log-probability of
    the true class (the paper's log-likelihood, as tlcore)."""
    f = features.astype(np.float64)  # a copy: the ConfMix loop writes into it
    classes = range(labels.max() + 1)
    log_posterior, shrinkage = reference_lda_log_posterior(f, labels)
    soft = scipy.special.softmax(np.exp(log_posterior), axis=1)
    means = np.stack([f[labels == c].mean(axis=0) for c in classes])
    for c in classes:
        rows = np.where(labels == c)[0]
        weight = soft[rows, c][:, None]
        f[rows] = weight * f[rows] + (1 - weight) * (means.sum(axis=0) - means[c]) / (len(means) - 1)
    log_posterior, _ = reference_lda_log_posterior(f, labels, shrinkage)
    return float(log_posterior[np.arange(len(labels)), labels].mean())


def reference_etran_terms(features: np.ndarray, labels: np.ndarray, fraction: float = 0.005) -> np.ndarray:
    """Gholami et al. (2023): the log-sum-exp of each sample's features in a loop over samples, the mean of the
    lowest ``fraction`` (at least one), and the mean true-class probability of the SFDA reference's classifier."""
    f = features.astype(np.float64)
    energies = np.sort([scipy.special.logsumexp(row) for row in f])
    log_posterior, _ = reference_lda_log_posterior(f, labels)
    kept = max(1, int(fraction * len(f) + 1e-9))
    return np.array([energies[:kept].mean(), np.exp(log_posterior[np.arange(len(labels)), labels]).mean()])


def reference_ncti_terms(features: np.ndarray, labels: np.ndarray, pca_dim: int = 64) -> np.ndarray:
    """Wang et al. (2023), as ``NCTI_Score``: sklearn's PCA (exact SVD here, for reproducible values), LDA with the
    shrinkage from the first 32 variances, the nuclear norm of the centred projection, the mean true-class
    probability and the log of the per-class nuclear norms, class by class."""
    f = features.astype(np.float64)
    pca = PCA(n_components=min(pca_dim, *f.shape), svd_solver="full")
    reduced = pca.fit_transform(f)
    shrinkage = max(math.exp(-pca.explained_variance_[:32].sum()), 1e-10)
    if shrinkage == 1e-10:
        lda = LinearDiscriminantAnalysis(solver="svd")
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
    projected = lda.fit_transform(reduced, labels)
    posterior = lda.predict_proba(reduced)
    seli = np.linalg.norm(projected - projected.mean(axis=0), ord="nuc")
    vc = math.log(sum(np.linalg.norm(posterior[labels == c], ord="nuc") for c in range(labels.max() + 1)))
    return np.array([seli, posterior[np.arange(len(labels)), labels].mean(), vc])


def reference_ped(features: np.ndarray, labels: np.ndarray, time_step: float = 0.1, n_sigma: float = 0.6) -> float:
    """Li et al. (2023), as ``PED_Score`` around ``One_Step_PED`` (standardised by the target features, as tlcore
    does without reference features): a loop over ordered pairs of classes at every step, then the LogME reference
    on the moved features."""
    f = features.astype(np.float64)
    mean, std = f.mean(axis=0), np.maximum(f.std(axis=0), 1e-3)
    classes = range(labels.max() + 1)

    def one_step(x: np.ndarray) -> tuple[np.ndarray, float]:
        z = (x - mean) / std
        means = np.stack([z[labels == c].mean(axis=0) for c in classes])
        radii = [math.sqrt(z[labels == c].var(axis=0).sum()) for c in classes]
        shift = np.zeros_like(means)
        for i in classes:
            for k in classes:
                if i != k:
                    difference = means[i] - means[k]
                    distance = np.linalg.norm(difference)
                    overlap = max(n_sigma * (radii[i] + radii[k]) - distance, 0.0)
                    shift[i] += min(time_step**2 / 2 * overlap, overlap) * difference / distance
        return (z + shift[labels]) * std + mean, float(np.abs(shift).sum())

    steps, first = 0, None
    while steps < 6:
        moved, change = one_step(f)
        first = change if first is None else first
        if first == 0 or change / first <= 0.5:
            break
        f, steps = moved, steps + 1
    return float(reference_logme(f, labels).mean())


def reference_knn_accuracy(features: np.ndarray, labels: np.ndarray, k: int = 5, folds: int = 5) -> float:
    """k-NN accuracy over the same stratified folds as tlcore (same canonical order, same seed): per fold, every
    squared distance from the dot-product expansion, a full stable sort of each row, a vote per test sample."""
    order = _canonical_order(features.astype(np.float64), labels)
    f, y = features.astype(np.float64)[order], labels[order]
    correct = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=0).split(f, y):
        distances = (f[test] ** 2).sum(axis=1)[:, None] - 2 * f[test] @ f[train].T + (f[train] ** 2).sum(axis=1)
        nearest = y[train][np.argsort(distances, axis=1, kind="stable")[:, :k]]
        for row, truth in zip(nearest, y[test]):
            correct += int(np.bincount(row).argmax() == truth)
    return correct / len(y)


def make_data(n: int, d: int, c: int, source_classes: int, seed: int) -> dict[str, np.ndarray]:
    """Class means plus unit Gaussian noise (float32), a source-domain set, and source-model probabilities."""
    rng = np.random.default_rng(seed)

    def labelled_features(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(count) % c)  # balanced, every class present
        means = rng.normal(scale=0.1, size=(c, d))
        return (means[labels] + rng.normal(size=(count, d))).astype(np.float32), labels

    features, labels = labelled_features(n)
    source_features, source_labels = labelled_features(n // 2)
    logits = torch.from_numpy(features) @ torch.from_numpy(rng.normal(size=(d, source_classes)).astype(np.float32))
    probs = torch.softmax(logits / math.sqrt(d), dim=1).numpy()
    return dict(
        features=features, labels=labels, source_features=source_features, source_labels=source_labels,
        probs=probs, source_argmax=probs.argmax(axis=1),
    )


Case = tuple[str, Callable[[], object], Callable[[], object]]


def cases(data: dict[str, np.ndarray], device: torch.device) -> list[Case]:
    """(metric, tlcore call, reference call) triples; tlcore sees tensors already on ``device``."""
    on_device = {key: torch.from_numpy(value).to(device) for key, value in data.items()}
    f, y, t = on_device["features"], on_device["labels"], data
    return [
        ("logme", lambda: tm.LogME().fit(f, y).evidence_, lambda: reference_logme(t["features"], t["labels"])),
        ("h_score", lambda: tm.h_score(f, y), lambda: reference_h_score(t["features"], t["labels"])),
        (
            "h_score_shrinkage",
            lambda: tm.h_score(f, y, shrinkage=True),
            lambda: reference_h_score_shrinkage(t["features"], t["labels"]),
        ),
        ("transrate", lambda: tm.transrate(f, y), lambda: reference_transrate(t["features"], t["labels"])),
        ("gbc", lambda: tm.gbc(f, y), lambda: reference_gbc(t["features"], t["labels"])),
        (
            "gbc_spherical",
            lambda: tm.gbc(f, y, covariance="spherical"),
            lambda: reference_gbc(t["features"], t["labels"], covariance="spherical"),
        ),
        ("leep", lambda: tm.leep(on_device["probs"], y), lambda: reference_leep(t["probs"], t["labels"])),
        ("nce", lambda: tm.nce(on_device["source_argmax"], y), lambda: reference_nce(t["source_argmax"], t["labels"])),
        (
            "emd_similarity",
            lambda: tm.emd_similarity(on_device["source_features"], on_device["source_labels"], f, y),
            lambda: reference_emd_similarity(t["source_features"], t["source_labels"], t["features"], t["labels"]),
        ),
        ("sfda", lambda: tm.sfda(f, y), lambda: reference_sfda(t["features"], t["labels"])),
        ("etran_terms", lambda: tm.etran_terms(f, y), lambda: reference_etran_terms(t["features"], t["labels"])),
        ("ncti_terms", lambda: tm.ncti_terms(f, y), lambda: reference_ncti_terms(t["features"], t["labels"])),
        ("ped", lambda: tm.ped(f, y), lambda: reference_ped(t["features"], t["labels"])),
        ("knn", lambda: tm.knn_accuracy(f, y), lambda: reference_knn_accuracy(t["features"], t["labels"])),
    ]


def best_time(call: Callable[[], object], repeats: int) -> tuple[float, np.ndarray]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        value = call()
        times.append(time.perf_counter() - start)
    return min(times), np.atleast_1d(np.asarray(value, dtype=np.float64))


def main(argv: Sequence[str] | None = None) -> list[dict[str, float | str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="samples")
    parser.add_argument("--d", type=int, default=2_048, help="feature dimension")
    parser.add_argument("--c", type=int, default=100, help="target classes")
    parser.add_argument("--source-classes", type=int, default=1_000, help="classes of the source model (LEEP, NCE)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per implementation; the best counts")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch and for numpy's BLAS. 1 by default: on a machine whose cores are shared, "
        "multi-threaded LAPACK eigensolvers (both libraries) stall at every barrier and swamp what is being compared",
    )
    args = parser.parse_args(argv)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with threadpool_limits(limits=args.threads):
            return _run(args)
    finally:
        torch.set_num_threads(threads_before)


def _run(args: argparse.Namespace) -> list[dict[str, float | str]]:
    device = torch.device(args.device)
    data = make_data(args.n, args.d, args.c, args.source_classes, args.seed)
    print(
        f"N={args.n} D={args.d} C={args.c} source classes={args.source_classes} device={device} "
        f"threads={args.threads} repeats={args.repeats}",
        flush=True,
    )
    # Untimed pass on toy data: loads and initialises the lazily set-up parts of torch, LAPACK and POT.
    for _, our_call, reference_call in cases(make_data(64, 8, 4, 8, args.seed), device):
        our_call(), reference_call()
    names, ours, references = zip(*cases(data, device))
    # One phase per implementation: right after a numpy (OpenBLAS) call its threads busy-wait for a while and stall
    # torch's OpenMP threads, and the other way round, so alternating the two would charge each for the other.
    our_results = [best_time(call, args.repeats) for call in ours]
    time.sleep(1.0)
    reference_results = [best_time(call, args.repeats) for call in references]

    header = f"{'metric':<18} {'tlcore s':>9} {'reference s':>12} {'speed-up':>9} {'max rel diff':>13}"
    print(header, "-" * len(header), sep="\n")
    rows = []
    for name, (our_seconds, our_values), (reference_seconds, reference_values) in zip(
        names, our_results, reference_results
    ):
        difference = float(np.max(np.abs(our_values - reference_values) / np.abs(reference_values)))
        rows.append(dict(metric=name, tlcore_s=our_seconds, reference_s=reference_seconds, rel_diff=difference))
        print(
            f"{name:<18} {our_seconds:>9.3f} {reference_seconds:>12.3f} "
            f"{reference_seconds / our_seconds:>8.1f}x {difference:>13.1e}"
        )
    return rows


if __name__ == "__main__":
    main()
