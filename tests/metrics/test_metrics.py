"""Values of tlcore.metrics on fixtures small enough to work out by hand, and the properties each metric must have."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch

from tlcore.metrics import (
    LogME,
    emd_similarity,
    gbc,
    h_score,
    leep,
    logme,
    nce,
    nleep,
    pearson,
    top1_relative_accuracy,
    transrate,
    weighted_kendall_tau,
)

# The package re-exports the function ``gbc`` under its module's name; the module itself lives in sys.modules.
gbc_module = importlib.import_module("tlcore.metrics.gbc")

NUM_CLASSES = 4


def blobs(separation: float, *, n_per_class: int = 30, dim: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One unit-variance Gaussian blob per class, centred ``separation`` apart along orthogonal axes."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(NUM_CLASSES), n_per_class)
    centres = separation * np.eye(NUM_CLASSES, dim)
    return centres[labels] + rng.normal(size=(len(labels), dim)), labels


SEPARABLE = blobs(8.0)
RANDOM = blobs(0.0)  # same labels, features independent of them
FEATURE_METRICS = [h_score, logme, transrate, gbc]


def shuffled(features: np.ndarray, labels: np.ndarray, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(labels))
    return features[order], labels[order]


def renamed(labels: np.ndarray) -> np.ndarray:
    return np.array([2, 0, 3, 1])[labels]


# --- properties shared by the feature-based metrics ---------------------------------------------------------------


@pytest.mark.parametrize("metric", FEATURE_METRICS + [lambda f, y: h_score(f, y, shrinkage=True)])
def test_separable_features_score_higher_than_random_ones(metric):
    assert metric(*SEPARABLE) > metric(*RANDOM) + 0.1


@pytest.mark.parametrize("metric", FEATURE_METRICS + [lambda f, y: h_score(f, y, shrinkage=True)])
def test_invariant_to_sample_order_and_class_names(metric):
    features, labels = SEPARABLE
    expected = metric(features, labels)
    assert metric(*shuffled(features, labels)) == pytest.approx(expected, rel=1e-10)
    assert metric(features, renamed(labels)) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("metric", FEATURE_METRICS)
def test_torch_tensors_give_the_numpy_value(metric):
    features, labels = SEPARABLE
    expected = metric(features, labels)
    value = metric(torch.from_numpy(features).float(), torch.from_numpy(labels).int())
    assert isinstance(value, float)
    assert value == pytest.approx(metric(features.astype(np.float32), labels), rel=1e-12)
    assert value == pytest.approx(expected, rel=1e-5)  # the float32 rounding of the features, nothing more


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("metric", FEATURE_METRICS)
def test_cuda_tensors_give_the_cpu_value(metric):
    features, labels = (torch.from_numpy(a) for a in SEPARABLE)
    assert metric(features.cuda(), labels.cuda()) == pytest.approx(metric(features, labels), rel=1e-9)


# --- NCE -----------------------------------------------------------------------------------------------------------


def test_nce_of_a_two_by_two_joint():
    # joint P(z, y): (0,0) 1/4, (0,1) 1/4, (1,1) 1/2 -> -H(Y|Z) = 1/4 log 1/2 + 1/4 log 1/2 + 1/2 log 1
    assert nce([0, 0, 1, 1], [0, 1, 1, 1]) == pytest.approx(-0.5 * math.log(2), rel=1e-12)


def test_nce_is_minus_the_target_entropy_for_independent_labels():
    assert nce([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-math.log(2), rel=1e-12)


def test_nce_is_zero_when_the_target_is_a_function_of_the_source():
    # Several source classes map to one target class, and the source labels are arbitrary integers.
    assert nce([5, 5, 9, 2, 2, 7], [0, 0, 1, 1, 1, 0]) == 0.0


def test_nce_invariant_to_order_and_renaming_on_either_side():
    rng = np.random.default_rng(0)
    source, target = rng.integers(0, 6, 200), rng.integers(0, NUM_CLASSES, 200)
    expected = nce(source, target)
    order = rng.permutation(200)
    assert nce(source[order], target[order]) == pytest.approx(expected, rel=1e-12)
    assert nce(source * 10 + 3, renamed(target)) == pytest.approx(expected, rel=1e-12)


# --- LEEP ------------------------------------------------------------------------------------------------------------


def test_leep_of_three_samples_by_hand():
    theta = [[0.8, 0.2], [0.4, 0.6], [0.1, 0.9]]
    # P(y, z) * 3 = [[0.8, 0.2], [0.5, 1.5]]; P(z) * 3 = [1.3, 1.7]
    expected_predictions = [
        0.8 * 0.8 / 1.3 + 0.2 * 0.2 / 1.7,
        0.4 * 0.5 / 1.3 + 0.6 * 1.5 / 1.7,
        0.1 * 0.5 / 1.3 + 0.9 * 1.5 / 1.7,
    ]
    assert leep(theta, [0, 1, 1]) == pytest.approx(np.mean(np.log(expected_predictions)), rel=1e-12)


def test_leep_is_zero_for_one_hot_predictions_that_determine_the_label():
    labels = np.repeat(np.arange(NUM_CLASSES), 5)
    source_class = np.array([3, 0, 5, 1])[labels]  # a different source class per target class
    assert leep(np.eye(6)[source_class], labels) == pytest.approx(0.0, abs=1e-10)


def test_leep_is_log_one_over_c_for_uniform_predictions():
    labels = np.repeat(np.arange(NUM_CLASSES), 5)
    assert leep(np.full((len(labels), 7), 1 / 7), labels) == pytest.approx(math.log(1 / NUM_CLASSES), rel=1e-9)


def test_leep_invariant_to_sample_order_and_to_renaming_either_class_set():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(60) % NUM_CLASSES)
    logits = rng.normal(size=(60, 5)) + 2 * np.eye(NUM_CLASSES, 5)[labels]
    theta = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = leep(theta, labels)
    assert leep(*shuffled(theta, labels)) == pytest.approx(expected, rel=1e-12)
    assert leep(theta[:, [4, 2, 0, 1, 3]], renamed(labels)) == pytest.approx(expected, rel=1e-12)
    assert leep(theta, labels) > leep(theta, rng.permutation(labels))  # the informative pairing scores higher


def test_leep_accepts_float32_softmax_rows():
    logits = torch.randn(50, 1000, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(50) % 5
    probs = torch.softmax(logits, dim=1)
    assert leep(probs, labels) == pytest.approx(leep(probs.double() / probs.double().sum(1, keepdim=True), labels))


# --- N-LEEP ----------------------------------------------------------------------------------------------------------


def test_nleep_prefers_separable_features_and_is_a_log_likelihood():
    separable, random = nleep(*SEPARABLE, pca_dim=None), nleep(*RANDOM, pca_dim=None)
    assert random < separable <= 0
    assert separable > -0.1  # blobs 8 sigma apart: the mixture recovers the classes
    assert random < math.log(1 / NUM_CLASSES) + 0.3


def test_nleep_is_reproducible_and_invariant_to_class_names():
    features, labels = SEPARABLE
    first = nleep(features, labels, n_components=8, pca_dim=4, seed=3)
    assert nleep(features, labels, n_components=8, pca_dim=4, seed=3) == first
    assert nleep(features, renamed(labels), n_components=8, pca_dim=4, seed=3) == pytest.approx(first, rel=1e-12)


def test_nleep_variance_fraction_keeps_fewer_dimensions_than_the_input():
    features, labels = SEPARABLE
    # 80% of the variance of these blobs lies in the 4 class axes, so PCA must not be a no-op.
    assert nleep(features, labels, pca_dim=0.8) == pytest.approx(nleep(features, labels, pca_dim=4), rel=1e-9)


# --- H-score -------------------------------------------------------------------------------------------------------


def test_h_score_of_one_dimensional_features_by_hand():
    # cov f = var[0, 0, 2, 2] = 1 and the class means -1, +1 (centred) have variance 1.
    assert h_score([[0.0], [0.0], [2.0], [2.0]], [0, 0, 1, 1]) == pytest.approx(1.0, rel=1e-12)
    # var[0, 1, 2, 3] = 5/4 while the class means 0.5, 2.5 still have variance 1.
    assert h_score([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]) == pytest.approx(0.8, rel=1e-12)


def test_h_score_lies_between_zero_and_c_minus_one():
    # cov f = within + between, so the eigenvalues of cov(f)^-1 between lie in [0, 1] and at most C - 1 are non-zero.
    assert NUM_CLASSES - 1 > h_score(*SEPARABLE) > 0.9 * (NUM_CLASSES - 1)
    assert 0 < h_score(*RANDOM) < 0.5


def test_h_score_invariant_to_invertible_feature_maps():
    features, labels = SEPARABLE
    mixing = np.random.default_rng(1).normal(size=(10, 10))
    assert h_score(features @ mixing, labels) == pytest.approx(h_score(features, labels), rel=1e-8)


def test_h_score_pseudo_inverse_ignores_redundant_features():
    # Exact duplicates, collinear columns and columns equal to others up to 1e-8 make directions of cov f whose
    # variance (<= 1e-16) lies below what float64 resolves next to the largest (~17); inverting them would add noise.
    features, labels = SEPARABLE
    near_copies = features[:, :5] + 1e-8 * np.random.default_rng(1).normal(size=(len(labels), 5))
    redundant = np.hstack([features, features, features[:, :3] - 2 * features[:, 3:6], near_copies])
    assert h_score(redundant, labels) == pytest.approx(h_score(features, labels), rel=1e-9)


def test_h_score_shrinkage_matches_sklearn_ledoit_wolf():
    from sklearn.covariance import ledoit_wolf

    rng = np.random.default_rng(0)
    labels = np.arange(25) % 3
    features = rng.normal(size=(25, 40)) + np.eye(3, 40)[labels] * 2  # N < D: the plain covariance is singular
    centred = features - features.mean(axis=0)
    covariance, shrinkage = ledoit_wolf(centred)
    class_means = np.stack([centred[labels == c].mean(axis=0) for c in range(3)])
    weights = np.bincount(labels) / len(labels)
    between = (class_means.T * weights) @ class_means
    expected = (1 - shrinkage) * np.trace(np.linalg.solve(covariance, between))
    assert 0 < shrinkage < 1
    assert h_score(features, labels, shrinkage=True) == pytest.approx(expected, rel=1e-9)


# --- LogME ---------------------------------------------------------------------------------------------------------


def brute_force_log_evidence(features: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """The evidence formula of You et al. with explicit D x D matrices, divided by N."""
    n, d = features.shape
    a = alpha * np.eye(d) + beta * features.T @ features
    m = beta * np.linalg.solve(a, features.T @ y)
    log_det = np.linalg.slogdet(a)[1]
    return (
        d / 2 * math.log(alpha) + n / 2 * math.log(beta) - n / 2 * math.log(2 * math.pi)
        - beta / 2 * np.sum((y - features @ m) ** 2) - alpha / 2 * m @ m - log_det / 2
    ) / n


@pytest.mark.parametrize("n_per_class", [30, 4], ids=["N>D", "N<D"])
def test_logme_evidence_is_the_formula_at_the_solvers_alpha_beta(n_per_class):
    features, labels = blobs(1.5, n_per_class=n_per_class, dim=24)
    model = LogME().fit(features, labels)
    for c in range(NUM_CLASSES):
        y = (labels == c).astype(float)
        expected = brute_force_log_evidence(features, y, model.alpha_[c], model.beta_[c])
        assert model.evidence_[c] == pytest.approx(expected, rel=1e-9)
        # and (alpha, beta) is a maximum, up to the solver's tolerance: moving either by 5% gains nothing
        for d_alpha, d_beta in [(1.05, 1), (1 / 1.05, 1), (1, 1.05), (1, 1 / 1.05)]:
            moved = brute_force_log_evidence(features, y, model.alpha_[c] * d_alpha, model.beta_[c] * d_beta)
            assert moved < model.evidence_[c] + model.tol
    assert model.score_ == pytest.approx(model.evidence_.mean(), rel=1e-15)


def test_logme_regression_on_one_hot_targets_equals_classification():
    features, labels = SEPARABLE
    one_hot = np.eye(NUM_CLASSES)[labels]
    assert logme(features, one_hot, regression=True) == pytest.approx(logme(features, labels), rel=1e-10)
    single = LogME(regression=True).fit(features, one_hot[:, 2])
    assert single.evidence_ == pytest.approx(LogME().fit(features, labels).evidence_[2], rel=1e-10)


def test_logme_renaming_classes_permutes_the_per_class_evidence():
    features, labels = SEPARABLE
    evidence = LogME().fit(features, labels).evidence_
    assert LogME().fit(features, renamed(labels)).evidence_[[2, 0, 3, 1]] == pytest.approx(evidence, rel=1e-10)


def test_logme_converges_when_the_features_carry_no_signal():
    # For an unpredictable target the maximum sits at alpha -> inf; the evidence must still settle without warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = LogME().fit(*RANDOM)
    assert np.all(np.isfinite(model.evidence_)) and model.n_iter_ < LogME().max_iter


# --- TransRate -----------------------------------------------------------------------------------------------------


def test_transrate_of_two_orthogonal_classes_by_hand():
    eps = 1e-4
    features = [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]  # centred, unit RMS norm already
    # R(Z) = 1/2 logdet(I + diag(2, 2) / (4 eps)); each class: 1/2 logdet(I + diag(2, 0) / (2 eps))
    expected = math.log(1 + 1 / (2 * eps)) - 0.5 * math.log(1 + 1 / eps)
    assert transrate(features, [0, 0, 1, 1], eps=eps) == pytest.approx(expected, rel=1e-12)


def test_transrate_weights_class_rates_by_frequency():
    eps = 1e-3
    # [-2, 1, 1] is centred with mean square 2: z = [-sqrt 2, 1/sqrt 2, 1/sqrt 2]
    rate = 0.5 * math.log(1 + 1 / eps)
    class_rates = [0.5 * math.log(1 + 2 / eps), 0.5 * math.log(1 + 1 / (2 * eps))]
    expected = rate - (class_rates[0] / 3 + 2 * class_rates[1] / 3)
    assert transrate([[-2.0], [1.0], [1.0]], [0, 1, 1], eps=eps) == pytest.approx(expected, rel=1e-12)


def test_transrate_is_non_negative_and_invariant_to_similarity_transforms():
    features, labels = SEPARABLE
    expected = transrate(features, labels)
    rotation = np.linalg.qr(np.random.default_rng(2).normal(size=(10, 10)))[0]
    assert transrate(37.0 * features @ rotation + 5.0, labels) == pytest.approx(expected, rel=1e-9)
    assert transrate(*RANDOM) >= 0


# --- GBC -----------------------------------------------------------------------------------------------------------


def test_gbc_of_two_gaussians_by_hand():
    # Class means (0, 0) and (3, 0), per-dimension variances (1, 4) in both classes.
    features = [[-1.0, -2.0], [1.0, 2.0], [2.0, -2.0], [4.0, 2.0]]
    labels = [0, 0, 1, 1]
    # diagonal: DB = 9 / 1 / 8 + 0; spherical: variance 2.5 in both, DB = 9 / 2.5 / 8 + 0. Two ordered pairs.
    assert gbc(features, labels) == pytest.approx(-2 * math.exp(-9 / 8), rel=1e-12)
    assert gbc(features, labels, covariance="spherical") == pytest.approx(-2 * math.exp(-0.45), rel=1e-12)


def test_gbc_is_near_zero_for_separated_classes_and_negative_for_overlapping_ones():
    pairs = NUM_CLASSES * (NUM_CLASSES - 1)
    assert -1e-3 < gbc(*SEPARABLE) <= 0
    assert gbc(*RANDOM) < -0.5 * pairs
    assert gbc(*RANDOM) >= -pairs


def test_gbc_spherical_determinants_count_every_dimension():
    # Class means (0, 0) and (3, 0) with variances 1 and 4 in both dimensions, so both covariance types agree:
    # DB = 9 / 2.5 / 8 + 1/2 * D * (log 2.5 - (log 1 + log 4) / 2) with D = 2.
    features = [[-1.0, -1.0], [1.0, 1.0], [1.0, -2.0], [5.0, 2.0]]
    labels = [0, 0, 1, 1]
    expected = -2 * math.exp(-(0.45 + math.log(2.5 / 2)))
    assert gbc(features, labels, covariance="spherical") == pytest.approx(expected, rel=1e-12)
    assert gbc(features, labels) == pytest.approx(expected, rel=1e-12)


def test_gbc_blockwise_pairs_equal_one_block(monkeypatch):
    features, labels = blobs(1.0)
    expected = gbc(features, labels)
    monkeypatch.setattr(gbc_module, "_BLOCK_ELEMENTS", 25)  # 1 class per block here
    assert gbc(features, labels) == pytest.approx(expected, rel=1e-12)


# --- EMD similarity ------------------------------------------------------------------------------------------------


def test_emd_similarity_is_one_for_identical_domains():
    features, labels = SEPARABLE
    assert emd_similarity(features, labels, features, labels) == 1.0
    assert emd_similarity(*shuffled(features, labels), features, renamed(labels)) == 1.0


def test_emd_similarity_of_a_translation_is_exp_of_minus_gamma_times_its_length():
    features, labels = SEPARABLE
    shift = np.zeros(10)
    similarities = []
    for length in [1.0, 2.0, 4.0]:
        shift[0] = length
        similarities.append(emd_similarity(features, labels, features + shift, labels, gamma=0.05))
        assert similarities[-1] == pytest.approx(math.exp(-0.05 * length), rel=1e-9)
    assert similarities == sorted(similarities, reverse=True)


def test_emd_similarity_single_classes_by_hand():
    assert emd_similarity([[0.0, 0.0]], [0], [[3.0, 4.0]], [0]) == pytest.approx(math.exp(-0.05), rel=1e-12)


# --- ranking evaluation --------------------------------------------------------------------------------------------

ACCURACIES = np.array([0.62, 0.71, 0.55, 0.80, 0.68])


def test_ranking_helpers_on_a_perfect_ranking():
    scores = 3 * ACCURACIES - 1  # any increasing map of the accuracies
    assert weighted_kendall_tau(scores, ACCURACIES) == pytest.approx(1.0)
    assert pearson(scores, ACCURACIES) == pytest.approx(1.0)
    assert top1_relative_accuracy(scores, ACCURACIES) == 1.0


def test_ranking_helpers_on_a_reversed_ranking():
    assert weighted_kendall_tau(-ACCURACIES, ACCURACIES) == pytest.approx(-1.0)
    assert pearson(-ACCURACIES, ACCURACIES) == pytest.approx(-1.0)
    assert top1_relative_accuracy(-ACCURACIES, ACCURACIES) == pytest.approx(0.55 / 0.80)


def test_weighted_tau_penalises_swaps_at_the_top_more_than_at_the_bottom():
    ranks = np.argsort(np.argsort(ACCURACIES)).astype(float)  # 0 = worst
    top_swapped, bottom_swapped = ranks.copy(), ranks.copy()
    top_swapped[[3, 1]] = top_swapped[[1, 3]]  # best and second best
    bottom_swapped[[2, 0]] = bottom_swapped[[0, 2]]  # worst and second worst
    assert weighted_kendall_tau(top_swapped, ACCURACIES) < weighted_kendall_tau(bottom_swapped, ACCURACIES) < 1


def test_top1_relative_accuracy_counts_ties_pessimistically():
    scores = np.array([1.0, 2.0, 0.0, 2.0, 1.0])  # models 1 and 3 tie for the top
    assert top1_relative_accuracy(scores, ACCURACIES) == pytest.approx(0.71 / 0.80)
    assert top1_relative_accuracy(scores[::-1], ACCURACIES[::-1]) == pytest.approx(0.71 / 0.80)
