"""The independent similarity (issue 14, item 5): built from images alone, it orders near > mid > far as the world
is constructed, and is none of the compared models' outcomes."""
import numpy as np
import pytest

from tlcore.analysis.similarity import BY_CONSTRUCTION, frechet_distance, image_similarity, similarity_frame


def test_image_similarity_orders_the_world_as_constructed():
    frame = similarity_frame(["glyphs_near", "glyphs_mid", "textures_far", "digits_real"])
    by_target = frame.set_index("target")
    assert by_target.image_similarity["glyphs_near"] > by_target.image_similarity["glyphs_mid"] \
        > by_target.image_similarity["textures_far"]
    constructed = list(BY_CONSTRUCTION)
    assert list(by_target.loc[constructed].image_similarity.rank()) == list(by_target.loc[constructed].constructed_rank)
    assert np.isnan(by_target.constructed_rank["digits_real"]) and 0 < by_target.image_similarity["digits_real"] < 1


def test_the_source_is_most_similar_to_itself():
    assert image_similarity("glyphs_source", "glyphs_source") == pytest.approx(1.0)


def test_frechet_distance_is_zero_for_one_sample_and_positive_for_a_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 1) == pytest.approx(3, rel=1e-6)
    with pytest.raises(ValueError, match="same D"):
        frechet_distance(a, a[:, :2])


def test_tables_gain_the_image_similarity_and_claims_prefer_it():
    import pandas as pd

    from tlcore.analysis.similarity import with_image_similarity
    from tlcore.claims.primary import similarity_by_target

    probes = pd.DataFrame({"target": ["glyphs_near", "glyphs_near", "textures_far"], "similarity": [0.0, 0.1, 0.9]})
    merged = with_image_similarity(probes)
    assert len(merged) == 3 and merged.image_similarity.notna().all()
    # the probe gain says far is the most similar here; the claims' x-axis does not use it
    assert similarity_by_target(merged).idxmax() == "glyphs_near"
    real = with_image_similarity(pd.DataFrame({"target": ["pets"], "similarity": [0.3]}))
    assert real.image_similarity.isna().all() and similarity_by_target(real)["pets"] == 0.3  # the real tier
