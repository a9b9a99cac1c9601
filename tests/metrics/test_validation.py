"""Every invalid input to tlcore.metrics raises a ValueError that names the problem."""
from __future__ import annotations

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
    rank_models,
    top1_relative_accuracy,
    transrate,
    weighted_kendall_tau,
)
from tlcore.metrics._validation import check_features

RNG = np.random.default_rng(0)
FEATURES = RNG.normal(size=(12, 3))
LABELS = np.arange(12) % 3
PROBS = np.full((12, 4), 0.25)


def with_entry(array: np.ndarray, index: tuple[int, ...], value: float) -> np.ndarray:
    changed = array.astype(float)
    changed[index] = value
    return changed


FEATURE_METRICS = {
    "h_score": h_score,
    "logme": logme,
    "transrate": transrate,
    "gbc": gbc,
    "nleep": lambda f, y: nleep(f, y, n_components=3, pca_dim=None),
    # EMD checks each domain with the same rules; here the target side is the one at fault
    "emd_similarity": lambda f, y: emd_similarity(FEATURES, LABELS, f, y),
}
LABEL_METRICS = FEATURE_METRICS | {"leep": lambda f, y: leep(PROBS, y), "nce": lambda f, y: nce(LABELS, y)}

BAD_FEATURES = {
    "1-D": (FEATURES[:, 0], "must be 2-D with shape \\(N, D\\)"),
    "3-D": (FEATURES[None], "must be 2-D with shape \\(N, D\\)"),
    "no samples": (np.zeros((0, 3)), "is empty"),
    "no dimensions": (np.zeros((12, 0)), "is empty"),
    "NaN": (with_entry(FEATURES, (4, 1), np.nan), "contains NaN or inf \\(first at index \\(4, 1\\)\\)"),
    "inf": (with_entry(FEATURES, (0, 2), np.inf), "contains NaN or inf"),
    "strings": (FEATURES.astype(str), "must be numeric"),
    "complex": (FEATURES.astype(complex), "must be real numbers"),
}

BAD_LABELS = {
    "too short": (LABELS[:-1], "has 11 samples but .* has 12"),
    "float": (LABELS.astype(float), "must be integers"),
    "negative": (LABELS - 1, "must lie in 0..C-1, got the negative label -1"),
    "gap": (np.where(LABELS == 1, 3, LABELS), "are not contiguous: class\\(es\\) 1 of 0..3 have no samples"),
    "one class": (np.zeros(12, dtype=int), "hold 1 class\\(es\\); at least 2 are needed"),
    "2-D": (LABELS[:, None], "must be 1-D with shape \\(N,\\)"),
    "empty": (np.zeros(0, dtype=int), "is empty"),
}


@pytest.mark.parametrize("metric", FEATURE_METRICS.values(), ids=FEATURE_METRICS.keys())
@pytest.mark.parametrize("case", BAD_FEATURES.keys())
def test_bad_feature_matrices_are_rejected(metric, case):
    features, message = BAD_FEATURES[case]
    with pytest.raises(ValueError, match=message):
        metric(features, LABELS)


@pytest.mark.parametrize("metric", LABEL_METRICS.values(), ids=LABEL_METRICS.keys())
@pytest.mark.parametrize("case", BAD_LABELS.keys())
def test_bad_labels_are_rejected(metric, case):
    labels, message = BAD_LABELS[case]
    if case == "one class" and metric is LABEL_METRICS["emd_similarity"]:
        assert 0 < metric(FEATURES, labels) <= 1  # a domain with one class is valid for EMD
        return
    with pytest.raises(ValueError, match=message):
        metric(FEATURES, labels)


def test_long_lists_of_missing_classes_are_abbreviated():
    labels = np.arange(30) // 2 * 2  # 0, 0, 2, 2, ..., 28, 28
    with pytest.raises(ValueError, match="class\\(es\\) 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, ... of 0..28"):
        h_score(np.ones((30, 2)), labels)


def test_a_huge_label_is_reported_without_counting_up_to_it():
    with pytest.raises(ValueError, match="not contiguous: the largest label is 1000000000000 but there are only 12"):
        h_score(FEATURES, np.where(LABELS == 2, 10**12, LABELS))


def test_emd_similarity_checks_both_domains_and_their_dimensions():
    with pytest.raises(ValueError, match="source_labels has 11 samples but source_features has 12"):
        emd_similarity(FEATURES, LABELS[:-1], FEATURES, LABELS)
    with pytest.raises(ValueError, match="source_features contains NaN"):
        emd_similarity(with_entry(FEATURES, (0, 0), np.nan), LABELS, FEATURES, LABELS)
    with pytest.raises(ValueError, match="source_features have 3 dimensions but target_features have 2"):
        emd_similarity(FEATURES, LABELS, FEATURES[:, :2], LABELS)
    with pytest.raises(ValueError, match="gamma must be a positive number"):
        emd_similarity(FEATURES, LABELS, FEATURES, LABELS, gamma=0.0)


@pytest.mark.parametrize(
    ("probs", "message"),
    [
        (with_entry(PROBS, (2, 0), -0.1), "must be probabilities \\(softmax outputs\\), got a negative entry -0.1"),
        (PROBS * 0.9, "rows must sum to 1 \\(softmax outputs, not logits\\); row 0 sums to 0.9"),
        (with_entry(PROBS, (5, 3), 0.3), "row 5 sums to 1.05"),
        (with_entry(PROBS, (1, 1), np.nan), "source_probs contains NaN or inf"),
        (PROBS[0], "source_probs must be 2-D"),
    ],
)
def test_leep_rejects_anything_but_probability_rows(probs, message):
    with pytest.raises(ValueError, match=message):
        leep(probs, LABELS)


def test_leep_tolerates_float_rounding_in_row_sums():
    assert np.isfinite(leep(with_entry(PROBS, (5, 3), 0.25 + 1e-5), LABELS))


def test_nce_checks_both_label_vectors():
    with pytest.raises(ValueError, match="source_labels must be integers"):
        nce(LABELS.astype(float), LABELS)
    with pytest.raises(ValueError, match="source_labels must be 1-D"):
        nce(LABELS[:, None], LABELS)
    with pytest.raises(ValueError, match="target_labels has 11 samples but source_labels has 12"):
        nce(LABELS, LABELS[:-1])
    with pytest.raises(ValueError, match="target_labels are not contiguous"):
        nce(LABELS, LABELS * 2)
    with pytest.raises(ValueError, match="at least 2 are needed"):
        nce(LABELS, np.zeros(12, dtype=int))


def test_parameter_values_are_checked():
    with pytest.raises(ValueError, match="eps must be a positive number, got -1"):
        transrate(FEATURES, LABELS, eps=-1)
    with pytest.raises(ValueError, match="covariance must be one of 'diagonal', 'spherical'; got 'full'"):
        gbc(FEATURES, LABELS, covariance="full")
    with pytest.raises(ValueError, match="tol must be a positive number"):
        LogME(tol=0).fit(FEATURES, LABELS)
    with pytest.raises(ValueError, match="covariance_type must be one of"):
        nleep(FEATURES, LABELS, covariance_type="diagonal")
    with pytest.raises(ValueError, match="n_components must lie in 1..N=12, got 15"):
        nleep(FEATURES, LABELS)  # 5 components per class by default
    with pytest.raises(ValueError, match="a float pca_dim is a fraction of variance in \\(0, 1\\), got 1.5"):
        nleep(FEATURES, LABELS, n_components=3, pca_dim=1.5)
    with pytest.raises(ValueError, match="an int pca_dim must lie in 1..min\\(N, D\\)=3, got 4"):
        nleep(FEATURES, LABELS, n_components=3, pca_dim=4)


def test_degenerate_features_are_rejected_where_the_metric_is_undefined():
    with pytest.raises(ValueError, match="features are constant across samples"):
        transrate(np.ones((12, 3)), LABELS)
    with pytest.raises(ValueError, match="features are all zero"):
        logme(np.zeros((12, 3)), LABELS)


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (with_entry(FEATURES, (3, 0), np.inf), "targets contains NaN or inf"),
        (FEATURES[None], "targets must have shape \\(N,\\) or \\(N, K\\)"),
        (FEATURES[:-1], "targets has 11 samples but features has 12"),
        (np.zeros((12, 0)), "targets is empty"),
    ],
)
def test_logme_regression_targets_are_checked(targets, message):
    with pytest.raises(ValueError, match=message):
        logme(FEATURES, targets, regression=True)


RANKING_HELPERS = [weighted_kendall_tau, pearson, top1_relative_accuracy]


@pytest.mark.parametrize("helper", RANKING_HELPERS)
@pytest.mark.parametrize(
    ("scores", "accuracies", "message"),
    [
        ([0.1, 0.2, 0.3], [0.5, 0.6], "scores has 3 entries but accuracies has 2"),
        ([0.1], [0.5], "scores must hold at least two models, got 1"),
        ([[0.1, 0.2]], [0.5, 0.6], "scores must be 1-D \\(one entry per model\\)"),
        ([0.1, np.nan], [0.5, 0.6], "scores contains NaN or inf"),
        ([0.1, 0.2], [0.5, np.inf], "accuracies contains NaN or inf"),
    ],
)
def test_ranking_helpers_check_their_vectors(helper, scores, accuracies, message):
    with pytest.raises(ValueError, match=message):
        helper(scores, accuracies)


@pytest.mark.parametrize("helper", [weighted_kendall_tau, pearson])
def test_correlations_of_constant_vectors_are_rejected(helper):
    with pytest.raises(ValueError, match="scores are all equal; a rank correlation is undefined"):
        helper([1.0, 1.0, 1.0], [0.5, 0.6, 0.7])
    with pytest.raises(ValueError, match="accuracies are all equal"):
        helper([1.0, 2.0, 3.0], [0.5, 0.5, 0.5])


def test_top1_relative_accuracy_needs_a_positive_best_accuracy():
    with pytest.raises(ValueError, match="accuracies must be non-negative with a positive maximum"):
        top1_relative_accuracy([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="accuracies must be non-negative"):
        top1_relative_accuracy([1.0, 2.0], [-0.1, 0.5])


def test_rank_models_checks_its_arguments():
    with pytest.raises(ValueError, match="unknown metric\\(s\\) \\['logmee'\\]; choose from"):
        rank_models({}, None, metrics=("logmee",))
    with pytest.raises(ValueError, match="metrics is empty"):
        rank_models({}, None, metrics=())
    with pytest.raises(ValueError, match="models is empty"):
        rank_models({}, None)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.int32, torch.int64, torch.float64])
def test_features_become_float64_with_their_values_for_every_input_dtype_and_layout(dtype):
    base = (torch.arange(60).reshape(6, 10) % 7 - 3).to(dtype)
    for features in (base, base.T, base[:, ::2]):  # contiguous, transposed, strided
        converted = check_features(features)
        assert converted.dtype == torch.float64 and converted.shape == features.shape
        assert torch.equal(converted, features.to(torch.float64))


def test_rank_models_says_when_the_images_do_not_have_the_models_channels():
    from torch.utils.data import TensorDataset

    from tlcore.models import small_resnet

    greyscale_model = small_resnet(channels=(4, 8, 8, 8), num_classes=3, in_chans=1)
    rgb_images = TensorDataset(torch.rand(6, 3, 16, 16), torch.arange(6) % 3)
    with pytest.raises(ValueError, match="'glyphs' reads 1-channel images but the dataset's images have shape"):
        rank_models({"glyphs": greyscale_model}, rgb_images, metrics=("logme",), progress=False)
