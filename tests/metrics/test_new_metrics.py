"""SFDA, NCTI, ETran, PED and k-NN accuracy: agreement with loop transcriptions of the authors' formulas, the
properties the metrics claim, and the errors their inputs can raise; plus the shared magnitude check."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import torch
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.model_selection import StratifiedKFold

from tlcore.metrics import (
    ETranTerms,
    NCTITerms,
    etran,
    etran_combine,
    etran_terms,
    gbc,
    h_score,
    knn_accuracy,
    logme,
    ncti,
    ncti_combine,
    ncti_terms,
    ped,
    ped_features,
    sfda,
    transrate,
)
from tlcore.metrics.knn import _canonical_order

NUM_CLASSES = 4


def blobs(separation: float, *, n_per_class: int = 30, dim: int = 10, seed: int = 0, scale: float = 1.0):
    """One Gaussian blob per class (deviation ``scale``), centred ``separation`` apart along orthogonal axes."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_class)
    centres = separation * np.eye(NUM_CLASSES, dim)
    return centres[labels] + scale * rng.normal(size=(len(labels), dim)), labels


SEPARABLE = blobs(8.0)
RANDOM = blobs(0.0)
NEW_METRICS = {"sfda": sfda, "ncti": ncti, "etran": etran, "ped": ped, "knn": knn_accuracy}


def rotation(dim: int, seed: int = 1) -> np.ndarray:
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))[0]


# --- loop transcriptions of the published formulas --------------------------------------------------------------------


def reference_lda(x, y, shrinkage=None):
    """Bayes classifier in the regularised Fisher space, as the SFDA code builds it: per-class covariances weighted
    by the priors, shrinkage ``max(exp(-5 sigma_max), 1e-10)`` (sigma_max exact), ``scipy.linalg.eigh(S_b, S)``
    and ``coef = means W W^T``. Returns (log-posterior (N, C), shrinkage)."""
    d = x.shape[1]
    classes = np.unique(y)
    priors = np.array([np.mean(y == c) for c in classes])
    means = np.array([x[y == c].mean(axis=0) for c in classes])
    within = np.zeros((d, d))
    for c in classes:
        within += priors[c] * np.atleast_2d(np.cov(x[y == c].T, bias=True))
    if shrinkage is None:
        shrinkage = max(math.exp(-5 * np.linalg.eigvalsh(within)[-1]), 1e-10)

    def shrink(matrix):
        return (1 - shrinkage) * matrix + shrinkage * np.trace(matrix) / d * np.eye(d)

    total = shrink(np.atleast_2d(np.cov(x.T, bias=True)))
    within = shrink(within)
    _, vectors = scipy.linalg.eigh(total - within, within)
    coef = means @ vectors @ vectors.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    return scipy.special.log_softmax(x @ coef.T + intercept, axis=1), shrinkage


def reference_sfda(x, y, log=True):
    x = np.array(x, dtype=np.float64)
    n, classes = len(y), np.unique(y)
    log_posterior, shrinkage = reference_lda(x, y)
    soft = scipy.special.softmax(np.exp(log_posterior), axis=1)  # the code's second softmax
    means = np.array([x[y == c].mean(axis=0) for c in classes])
    for c in classes:
        others = (means.sum(axis=0) - means[c]) / (len(classes) - 1)
        rows = np.where(y == c)[0]
        weight = soft[rows, c][:, None]
        x[rows] = weight * x[rows] + (1 - weight) * others
    log_posterior, _ = reference_lda(x, y, shrinkage)
    own = log_posterior[np.arange(n), y]
    return own.mean() if log else np.exp(own).mean()


def reference_etran_terms(x, y, fraction=0.005):
    energies = sorted(math.log(sum(math.exp(v) for v in row)) for row in x)
    kept = max(1, int(fraction * len(x) + 1e-9))
    log_posterior, _ = reference_lda(x, y)
    return sum(energies[:kept]) / kept, np.exp(log_posterior[np.arange(len(y)), y]).mean()


def reference_ncti_terms(x, y, pca_dim=64):
    """The authors' NCTI_Score, with an exact PCA."""
    components = min(pca_dim, *x.shape)
    pca = PCA(n_components=components, svd_solver="full")
    reduced = pca.fit_transform(x)
    shrinkage = max(math.exp(-pca.explained_variance_[:32].sum()), 1e-10)
    if shrinkage == 1e-10:
        lda = LinearDiscriminantAnalysis(solver="svd")
    else:
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=shrinkage)
    projected = lda.fit_transform(reduced, y)
    projected = projected - projected.mean(axis=0)
    posterior = lda.predict_proba(reduced)
    vc = math.log(sum(np.linalg.norm(posterior[y == c], ord="nuc") for c in np.unique(y)))
    return np.linalg.norm(projected, ord="nuc"), posterior[np.arange(len(y)), y].mean(), vc, reduced, shrinkage


def reference_ped_features(x, y, time_step=0.1, n_sigma=0.6, exit_ratio=0.5, constant=1.0):
    """The authors' PED_Score loop around One_Step_PED, standardising by the target features themselves."""
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    classes = np.unique(y)

    def one_step(features):
        z = (features - mean) / std
        means = np.array([z[y == c].mean(axis=0) for c in classes])
        radii = np.array([math.sqrt(z[y == c].var(axis=0).sum()) for c in classes])
        shift = np.zeros_like(means)
        for i in classes:
            for k in classes:
                if i == k:
                    continue
                difference = means[i] - means[k]
                distance = np.linalg.norm(difference)
                overlap = max(n_sigma * radii[i] + n_sigma * radii[k] - distance, 0)
                shift[i] += min(0.5 * time_step**2 * constant * overlap, overlap) * difference / distance
        return (z + shift[y]) * std + mean, np.abs(shift).sum()

    steps, first = 0, None
    while steps < 6:
        moved, change = one_step(x)
        first = change if steps == 0 else first
        if change / first > exit_ratio:
            x = moved
        else:
            break
        steps += 1
    return x, steps


def reference_knn(x, y, k, folds, seed):
    """Brute-force majority vote of the k nearest training samples, ties to the smallest label."""
    order = _canonical_order(x, y)
    x, y = x[order], y[order]
    correct = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        for i in test:
            distances = [math.sqrt(((x[i] - x[j]) ** 2).sum()) for j in train]
            nearest = train[np.argsort(distances, kind="stable")[:k]]
            correct += np.bincount(y[nearest], minlength=y.max() + 1).argmax() == y[i]
    return correct / len(y)


SMALL = blobs(0.6, n_per_class=6, dim=4, seed=2, scale=0.3)  # tight scatter: SFDA's lambda is well above its floor
WIDE = blobs(6.0, n_per_class=6, dim=4, seed=3, scale=2.5)  # a within-class variance above 4.6: lambda at its floor
# Variances of 2 (under 4.6) but correlation 0.9: sigma_max ~ 7.4 puts lambda at its floor through the eigenvalue.
CORRELATED = (np.random.default_rng(9).multivariate_normal(np.zeros(4), 0.2 * np.eye(4) + 1.8, size=24)
              + np.repeat(np.eye(4) * 3, 6, axis=0), np.repeat(np.arange(4), 6))
SFDA_CASES = {"shrunk": SMALL, "floor": WIDE, "floor-by-eigenvalue": CORRELATED}


@pytest.mark.parametrize("case", SFDA_CASES.keys())
@pytest.mark.parametrize("log", [True, False])
def test_sfda_matches_the_transcription(case, log):
    data = SFDA_CASES[case]
    assert sfda(*data, log=log) == pytest.approx(reference_sfda(*data, log=log), rel=1e-9)


def test_sfda_shrinkage_of_the_fixtures_is_where_their_names_say():
    assert reference_lda(*SMALL)[1] > 0.1
    assert reference_lda(*WIDE)[1] == 1e-10
    within_variances = [np.var(CORRELATED[0][CORRELATED[1] == c], axis=0).max() for c in range(NUM_CLASSES)]
    assert max(within_variances) < math.log(1e10) / 5 and reference_lda(*CORRELATED)[1] == 1e-10


def test_sfda_does_not_modify_its_input():
    features = SMALL[0].copy()
    sfda(features, SMALL[1])
    np.testing.assert_array_equal(features, SMALL[0])


@pytest.mark.parametrize("fraction", [0.005, 0.25, 1.0])
def test_etran_terms_match_the_transcription(fraction):
    features, labels = SMALL
    terms = etran_terms(features, labels, energy_fraction=fraction)
    expected = reference_etran_terms(features, labels, fraction)
    assert terms.energy == pytest.approx(expected[0], rel=1e-12)
    assert terms.lda == pytest.approx(expected[1], rel=1e-9)
    assert etran(features, labels, energy_fraction=fraction) == pytest.approx(sum(expected), rel=1e-9)


def test_etran_authors_eigh_makes_their_classifier_euclidean():
    """The documented departure: eigh of the non-symmetric inv(S) S_b gives orthonormal W, so W W^T = I."""
    features, labels = SMALL
    within = sum(np.mean(labels == c) * np.cov(features[labels == c].T, bias=True) for c in range(NUM_CLASSES))
    between = np.cov(features.T, bias=True) - within
    _, vectors = np.linalg.eigh(np.linalg.inv(within) @ between)
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(features.shape[1]), atol=1e-12)


@pytest.mark.parametrize("scale", [0.05, 3.0], ids=["shrinkage", "svd-solver"])
def test_ncti_terms_match_the_transcription(scale):
    features, labels = blobs(2 * scale, n_per_class=12, dim=8, seed=4, scale=scale)
    seli, ncc, vc, reduced, shrinkage = reference_ncti_terms(features, labels)
    assert (shrinkage > 1e-10) == (scale < 1)
    terms = ncti_terms(features, labels)
    assert terms == pytest.approx((seli, ncc, vc), rel=1e-7)
    assert ncti(features, labels) == pytest.approx(seli + ncc - vc, rel=1e-7)
    if shrinkage > 1e-10:  # sklearn's eigen solver is the Bayes classifier of the shrunk scatter
        log_posterior, _ = reference_lda(reduced, labels, shrinkage)
        assert ncc == pytest.approx(np.exp(log_posterior[np.arange(len(labels)), labels]).mean(), rel=1e-9)


def test_ncti_keeps_at_most_pca_dim_components():
    features, labels = blobs(3.0, n_per_class=12, dim=8, seed=5)
    assert ncti_terms(features, labels, pca_dim=3) == pytest.approx(
        reference_ncti_terms(features, labels, pca_dim=3)[:3], rel=1e-7)
    wide = np.random.default_rng(6).normal(size=(16, 40)) + np.repeat(np.eye(4, 40) * 4, 4, axis=0)
    wide_labels = np.repeat(np.arange(4), 4)  # N < D: principal components from the Gram matrix of the samples
    # 16 centred samples span 15 dimensions: the 16th component is rounding noise, which tlcore drops.
    assert ncti_terms(wide, wide_labels) == pytest.approx(
        reference_ncti_terms(wide, wide_labels, pca_dim=15)[:3], rel=1e-6)


def test_combinations_over_models_follow_the_authors_scripts():
    ncti_rows = [NCTITerms(10.0, 0.5, 3.0), NCTITerms(30.0, 0.9, 2.0), NCTITerms(20.0, 0.7, 4.0)]
    # seli: 0, 1, .5; ncc: 0, 1, .5; vc: .5, 0, 1
    np.testing.assert_allclose(ncti_combine(ncti_rows), [-0.5, 2.0, 0.0], atol=1e-12)
    etran_rows = [ETranTerms(1.0, 0.2), ETranTerms(3.0, 0.6), ETranTerms(2.0, 1.0)]
    np.testing.assert_allclose(etran_combine(etran_rows), [0.0, 0.15 + 0.85 * 0.5, 0.15 * 0.5 + 0.85])
    assert list(ncti_combine([NCTITerms(1.0, 0.5, 2.0)] * 2)) == [0.0, 0.0]  # equal terms: no model stands out
    with pytest.raises(ValueError, match="terms contain NaN or inf"):
        etran_combine([ETranTerms(1.0, math.nan)])
    with pytest.raises(ValueError, match="non-empty sequence of \\(seli, ncc, vc\\) tuples"):
        ncti_combine([])


@pytest.mark.parametrize(("time_step", "steps"), [(0.1, 6), (1.5, 1)])
def test_ped_simulation_matches_the_transcription(time_step, steps):
    features, labels = blobs(1.0, n_per_class=10, dim=6, seed=7)
    moved, taken = ped_features(features, labels, time_step=time_step)
    expected, expected_steps = reference_ped_features(features, labels, time_step=time_step)
    assert taken == expected_steps == steps
    np.testing.assert_allclose(moved.numpy(), expected, rtol=1e-10, atol=1e-12)
    assert ped(features, labels, time_step=time_step) == pytest.approx(logme(expected, labels), rel=1e-9)


def test_ped_pushes_overlapping_classes_apart_and_keeps_each_class_rigid():
    features, labels = blobs(1.0, n_per_class=10, dim=6, seed=7)
    moved = ped_features(features, labels)[0].numpy()
    for c in range(NUM_CLASSES):
        rows = labels == c
        before, after = features[rows], moved[rows]
        np.testing.assert_allclose(after - after.mean(0), before - before.mean(0), atol=1e-12)
    centres = lambda x: np.array([x[labels == c].mean(axis=0) for c in range(NUM_CLASSES)])
    spread = lambda m: scipy.spatial.distance.pdist(m).min()
    assert spread(centres(moved)) > spread(centres(features))


def test_ped_leaves_separated_classes_alone():
    features, labels = SEPARABLE
    moved, steps = ped_features(features * 10, labels)  # balls of radius 0.6 sigma never touch 80 sigma apart
    assert steps == 0
    np.testing.assert_array_equal(moved.numpy(), features * 10)
    assert ped(features * 10, labels) == logme(features * 10, labels)


def test_ped_is_equivariant_to_per_dimension_affine_maps():
    features, labels = blobs(1.0, n_per_class=10, dim=6, seed=7)
    scale, shift = np.array([2.0, 0.5, 3.0, 1.0, 7.0, 0.25]), np.arange(6.0)
    moved = ped_features(features, labels)[0].numpy()
    np.testing.assert_allclose(ped_features(features * scale + shift, labels)[0].numpy(), moved * scale + shift,
                               rtol=1e-10, atol=1e-10)


def test_ped_reference_features_set_the_standardisation():
    features, labels = blobs(1.0, n_per_class=10, dim=6, seed=7)
    own = ped_features(features, labels)[0]
    assert torch.equal(ped_features(features, labels, reference_features=features)[0], own)
    # Only the ratios of the per-dimension deviations matter: a common scale and a shift cancel out.
    np.testing.assert_allclose(ped_features(features, labels, reference_features=features * 3 + 1)[0], own,
                               rtol=1e-12, atol=1e-12)
    stretched = ped_features(features, labels, reference_features=features * np.arange(1, 7))[0]
    assert not torch.allclose(stretched, own)


@pytest.mark.parametrize(("k", "folds", "seed"), [(1, 3, 0), (5, 5, 1), (4, 2, 2)])
def test_knn_accuracy_matches_the_transcription(k, folds, seed):
    features, labels = blobs(1.5, n_per_class=8, dim=5, seed=8)
    assert knn_accuracy(features, labels, k=k, folds=folds, seed=seed) == reference_knn(features, labels, k, folds,
                                                                                      seed)


def test_knn_accuracy_of_a_hand_sized_case():
    # Two classes on a line: 0s at 0, 1, 2, 3 and 1s at 10, 11, 12, 13. Any held-out point's nearest neighbour
    # in the other folds is of its own class.
    features = np.array([[0.0], [1.0], [2.0], [3.0], [10.0], [11.0], [12.0], [13.0]])
    assert knn_accuracy(features, np.array([0, 0, 0, 0, 1, 1, 1, 1]), k=1, folds=2) == 1.0
    # Six 0s and three 1s in 3 stratified folds: every training split holds four 0s and two 1s, so with k = 6 every
    # vote is the training majority, 0, and exactly the six 0s are right.
    features, labels = np.arange(9.0)[:, None], np.array([0, 1, 0, 0, 1, 0, 0, 1, 0])
    assert knn_accuracy(features, labels, k=6, folds=3) == pytest.approx(6 / 9)


def test_knn_canonical_order_breaks_projection_ties_by_the_rows():
    lattice = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    labels = np.zeros(4, dtype=int)
    orders = {tuple(map(tuple, lattice[p][_canonical_order(lattice[p], labels)])) for p in
              ([0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2])}
    assert len(orders) == 1


# --- properties --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", NEW_METRICS.values(), ids=NEW_METRICS.keys())
def test_separable_features_score_higher_than_random_ones(metric):
    assert metric(*SEPARABLE) > metric(*RANDOM) + 0.1


@pytest.mark.parametrize("metric", NEW_METRICS.values(), ids=NEW_METRICS.keys())
def test_invariant_to_sample_order(metric):
    features, labels = blobs(2.0)  # overlapping classes: PED moves them, k-NN makes mistakes
    order = np.random.default_rng(3).permutation(len(labels))
    assert metric(features[order], labels[order]) == pytest.approx(metric(features, labels), rel=1e-9)


@pytest.mark.parametrize("metric", [sfda, ncti, etran, ped], ids=["sfda", "ncti", "etran", "ped"])
def test_invariant_to_class_names(metric):
    # Not k-NN: a tied vote goes to the smallest label, so renaming classes can change its accuracy.
    features, labels = blobs(2.0)
    assert metric(features, np.array([2, 0, 3, 1])[labels]) == pytest.approx(metric(features, labels), rel=1e-9)


@pytest.mark.parametrize("metric", [sfda, ncti, lambda f, y: etran_terms(f, y).lda], ids=["sfda", "ncti", "etran-lda"])
def test_invariant_to_rotating_and_translating_the_features(metric):
    features, labels = blobs(2.0)
    expected = metric(features, labels)
    moved = features @ rotation(features.shape[1]) + 5.0
    assert metric(moved, labels) == pytest.approx(expected, rel=1e-7)


def test_etran_energy_reads_the_coordinates():
    features, labels = blobs(2.0)
    assert etran_terms(features + 1.0, labels).energy == pytest.approx(etran_terms(features, labels).energy + 1.0)


def test_ranges_of_the_scores():
    for data in (SEPARABLE, RANDOM):
        assert sfda(*data) <= 0 and 0 < sfda(*data, log=False) <= 1
        assert 0 <= knn_accuracy(*data) <= 1 and 0 < etran_terms(*data).lda <= 1
    assert sfda(*RANDOM) == pytest.approx(math.log(1 / NUM_CLASSES), abs=0.05)  # chance for features with no signal
    assert knn_accuracy(*SEPARABLE) == 1.0


@pytest.mark.parametrize("metric", NEW_METRICS.values(), ids=NEW_METRICS.keys())
def test_torch_tensors_give_the_numpy_value(metric):
    features, labels = SEPARABLE
    value = metric(torch.from_numpy(features), torch.from_numpy(labels))
    assert isinstance(value, float) and value == pytest.approx(metric(features, labels), rel=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("metric", NEW_METRICS.values(), ids=NEW_METRICS.keys())
def test_cuda_tensors_give_the_cpu_value(metric):
    features, labels = (torch.from_numpy(a) for a in blobs(2.0))
    assert metric(features.cuda(), labels.cuda()) == pytest.approx(metric(features, labels), rel=1e-9)


def test_ped_takes_any_base_metric():
    features, labels = blobs(1.0, n_per_class=10, dim=6, seed=7)
    moved = ped_features(features, labels)[0]
    assert ped(features, labels, metric=h_score) == pytest.approx(h_score(moved, labels), rel=1e-12)


# --- input validation ------------------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(12, 3))
LABELS = np.arange(12) % 3
VALIDATED = NEW_METRICS | {"knn": lambda f, y: knn_accuracy(f, y, folds=3), "h_score": h_score, "gbc": gbc,
                           "transrate": transrate, "logme": logme}


def with_entry(array: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    changed = array.astype(float)
    changed[index] = value
    return changed


BAD_INPUTS = {
    "1-D features": (FEATURES[:, 0], LABELS, "features must be 2-D with shape \\(N, D\\)"),
    "3-D features": (FEATURES[None], LABELS, "features must be 2-D"),
    "NaN": (with_entry(FEATURES, (4, 1), np.nan), LABELS, "features contains NaN or inf \\(first at index \\(4, 1\\)"),
    "one class": (FEATURES, np.zeros(12, dtype=int), "hold 1 class\\(es\\); at least 2 are needed"),
    "short labels": (FEATURES, LABELS[:-1], "labels has 11 samples but features has 12"),
    "huge": (FEATURES * 1e160, LABELS, ("features have entries of magnitude 2.33e\\+160; above 1e\\+50 their "
                                        "squares and Gram matrices overflow float64")),
    "tiny": (FEATURES * 1e-160, LABELS, ("features have entries of magnitude at most 2.33e-160; below 1e-50 their "
                                         "squares and Gram matrices underflow float64")),
}


@pytest.mark.parametrize("metric", VALIDATED.values(), ids=VALIDATED.keys())
def test_valid_inputs_give_finite_scores_even_at_the_edges_of_the_magnitude_range(metric):
    for scale in (1.0, 1e49, 1e-49):
        assert math.isfinite(metric(FEATURES * scale, LABELS))


@pytest.mark.parametrize("metric", VALIDATED.values(), ids=VALIDATED.keys())
@pytest.mark.parametrize("case", BAD_INPUTS.keys())
def test_bad_inputs_are_rejected_with_a_message(metric, case):
    features, labels, message = BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        metric(features, labels)


def test_all_zero_features_are_left_to_each_metric():
    with pytest.raises(ValueError, match="features are all zero"):
        logme(np.zeros((12, 3)), LABELS)
    with pytest.raises(ValueError, match="constant within every class \\(zero within-class scatter\\)"):
        sfda(np.zeros((12, 3)), LABELS)
    with pytest.raises(ValueError, match="constant within every class"):
        etran(np.repeat(np.eye(3), 4, axis=0), np.repeat(np.arange(3), 4))
    with pytest.raises(ValueError, match="features are constant across samples; NCTI"):
        ncti(np.ones((12, 3)), LABELS)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: etran(FEATURES, LABELS, energy_fraction=0), "energy_fraction must lie in \\(0, 1\\], got 0"),
        (lambda: etran(FEATURES, LABELS, energy_fraction=1.5), "energy_fraction must lie in \\(0, 1\\]"),
        (lambda: ncti(FEATURES, LABELS, pca_dim=0), "pca_dim must be a positive integer, got 0"),
        (lambda: knn_accuracy(FEATURES, LABELS), "folds must lie in 2..4 \\(the size of the smallest class, class 0\\)"),
        (lambda: knn_accuracy(FEATURES, LABELS, folds=1), "folds must lie in 2..4"),
        (lambda: knn_accuracy(FEATURES, LABELS, folds=3, k=0), "k must be at least 1, got 0"),
        (lambda: knn_accuracy(FEATURES, LABELS, folds=3, k=9), "k must be at most 8, the size of the smallest "),
        (lambda: knn_accuracy(FEATURES, LABELS, folds=2.0), "folds must be an integer, got 2.0"),
        (lambda: ped(FEATURES, LABELS, time_step=0), "time_step must be a positive number, got 0"),
        (lambda: ped(FEATURES, LABELS, n_sigma=-1), "n_sigma must be a positive number"),
        (lambda: ped(FEATURES, LABELS, exit_ratio=math.nan), "exit_ratio must be a positive number"),
        (lambda: ped(FEATURES, LABELS, max_steps=-1), "max_steps must be a non-negative integer, got -1"),
        (lambda: ped(FEATURES, LABELS, reference_features=FEATURES[:, :2]),
         "reference_features have 2 dimensions but features have 3"),
        (lambda: ped(FEATURES, LABELS, reference_features=with_entry(FEATURES, (0, 0), np.inf)),
         "reference_features contains NaN or inf"),
    ],
)
def test_parameters_are_checked(call, message):
    with pytest.raises(ValueError, match=message):
        call()
