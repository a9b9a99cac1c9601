"""The near/mid/far order of the targets is a measurement, not an assumption."""
from tlcore import data, models
from tlcore.analysis.probes import linear_probe_accuracy, probe_similarity, similarity_order


def test_measured_similarity_orders_near_above_mid_above_far():
    frame = probe_similarity("glyph_resnet_narrow", ["glyphs_near", "glyphs_mid", "textures_far"], seeds=(0, 1))
    order = similarity_order(frame)
    assert order == ["glyphs_near", "glyphs_mid", "textures_far"], frame.groupby("target").mean(numeric_only=True)
    assert (frame.groupby("target")["similarity"].mean() > 0).all()


def test_linear_probe_is_better_than_chance_on_pretrained_features_of_near_letters():
    model = models.create("glyph_resnet_narrow", pretrained=True, progress=False).eval()
    train = data.load("glyphs_near", "train", 5, seed=0)
    val = data.load("glyphs_near", "val", seed=0)
    assert linear_probe_accuracy(model, train, val) > 3 / train.num_classes
