"""The near/mid/far order of the targets is a measurement, not an assumption."""
from tlcore import data, models
from tlcore.analysis.probes import linear_probe_accuracy, probe_frame, probe_similarity, similarity_order


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


def test_per_seed_pretraining_probes_seed_s_on_pretraining_s(tmp_results):
    shared = probe_frame(["glyph_micro"], ["glyphs_near"], n_per_class=4, seeds=[0, 1])
    own = probe_frame(["glyph_micro"], ["glyphs_near"], n_per_class=4, seeds=[0, 1], per_seed_pretraining=True)
    assert list(shared["pretrain_seed"]) == [0, 0] and list(own["pretrain_seed"]) == [0, 1]
    assert own["probe_accuracy"].iloc[0] == shared["probe_accuracy"].iloc[0]  # seed 0: the same model and sample
    model = models.create("glyph_micro", pretrained=True, pretrain_seed=1, progress=False).eval()
    expected = linear_probe_accuracy(model, data.load("glyphs_near", "train", 4, seed=1),
                                     data.load("glyphs_near", "test", seed=1))
    assert own["probe_accuracy"].iloc[1] == expected
