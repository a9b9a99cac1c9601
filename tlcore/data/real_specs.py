"""The real tier's datasets as they define themselves: each one's official splits and the images per class in them,
and the generated stand-ins (:mod:`tlcore.data.standins`) with the split structures of the datasets they replace."""
from __future__ import annotations

from dataclasses import dataclass

from .standins import STANDINS


@dataclass(frozen=True)
class RealSpec:
    """A torchvision dataset as the dataset defines it: the constructor keywords of each official split (``None``
    where the dataset has no such split and it is carved by seed from the training part: ``carve_val`` and
    ``carve_test`` images per class), and ``per_class``, the fewest images any class has in each official split."""

    name: str
    torchvision_class: str
    splits: dict  # "train" / "val" / "test" -> torchvision keywords, or None: carved from the "train" part
    per_class: dict  # official split -> images per class in its smallest class (see the table's sources below)
    description: str
    carve_val: int = 10
    carve_test: int = 0
    image_size: int = 224  # the side a model sees (``load``'s default)
    standin: bool = False  # generated here (:mod:`tlcore.data.standins`): an ImageFolder per official part
    classes: int = 0  # how many classes the dataset has (from the sources below), known without its files

    def official(self, split: str) -> bool:
        return self.splits.get(split) is not None


def _standin_spec(standin) -> "RealSpec":
    """A generated stand-in (:mod:`tlcore.data.standins`) with its dataset's split structure, at 64 px; val is
    carved (4 per class) where the stand-in, like its dataset, has no official val part."""
    parts = {"train": "trainval" if "trainval" in standin.parts else "train", "val": "val", "test": "test"}
    splits = {split: ({"part": part} if part in standin.parts else None) for split, part in parts.items()}
    per_class = {split: standin.parts[part] for split, part in parts.items() if part in standin.parts}
    return RealSpec(standin.name, "ImageFolder", splits, per_class,
                    f"generated stand-in for {standin.stands_for} ({standin.classes} classes of coloured "
                    f"{standin.content})", carve_val=4, image_size=64, standin=True,
                    classes=standin.classes)


# Per-class counts, smallest class of each official split. Sources: torchvision's dataset docs (pytorch.org/vision,
# datasets.Flowers102 / DTD / FGVCAircraft / OxfordIIITPet / StanfordCars / CIFAR10 / CIFAR100 / Caltech101) and the
# datasets' own pages and papers.
# - Flowers-102 (Nilsback & Zisserman 2008): train 1,020 and val 1,020 images = 10 per class; test 6,149, at least 20
#   per class (every class has 40 to 258 images).
# - DTD (Cimpoi et al. 2014): 5,640 images, 120 per class; each of the 10 partitions splits them 40 / 40 / 40 into
#   train / val / test (partition 1 here).
# - FGVC-Aircraft (Maji et al. 2013), variant level: 100 images of each of 100 variants split into train 3,334 /
#   val 3,333 / test 3,333, i.e. 33 or 34 per class in each.
# - Oxford-IIIT Pets (Parkhi et al. 2012): trainval 3,680 / test 3,669 over 37 breeds, about 100 per breed in each;
#   a few breeds have fewer. 93 (trainval) and 88 (test) are conservative lower bounds, not re-counted from the
#   annotation files here (the loader counts the real classes and says so when one is short).
# - Stanford Cars (Krause et al. 2013): train 8,144 / test 8,041 over 196 models (41.6 per class on average, "roughly
#   50-50" per class); the smallest class has 24 training images (recalled from the annotation files, not re-counted
#   here; the test count is the same conservative bound).
# - CIFAR-10 / CIFAR-100: 5,000 / 500 training and 1,000 / 100 test images per class.
# - MNIST: 60,000 / 10,000; its smallest class (the digit 5) has 5,421 training and 892 test images. USPS: 7,291 /
#   2,007; smallest classes 542 (the 8s) and 147 (the 7s). SVHN: 73,257 / 26,032; smallest classes about 4,659 and
#   1,595 (recalled from the label files, not re-counted here; the loader checks the real counts).
# - Caltech-101 (Fei-Fei et al. 2004): no official split; 31 to 800 images per category, so after the carved 20 test
#   and 10 val images its smallest class keeps 1 training image.
REAL: dict[str, RealSpec] = {
    spec.name: spec
    for spec in (
        RealSpec("pets", "OxfordIIITPet", {"train": {"split": "trainval"}, "val": None, "test": {"split": "test"}},
                 {"train": 93, "test": 88}, "Oxford-IIIT Pets, 37 breeds", classes=37),
        RealSpec("flowers102", "Flowers102",
                 {"train": {"split": "train"}, "val": {"split": "val"}, "test": {"split": "test"}},
                 {"train": 10, "val": 10, "test": 20}, "Oxford 102 Flowers", classes=102),
        RealSpec("dtd", "DTD", {"train": {"split": "train", "partition": 1}, "val": {"split": "val", "partition": 1},
                                "test": {"split": "test", "partition": 1}},
                 {"train": 40, "val": 40, "test": 40}, "Describable Textures, 47 classes", classes=47),
        RealSpec("stanford_cars", "StanfordCars", {"train": {"split": "train"}, "val": None, "test": {"split": "test"}},
                 {"train": 24, "test": 24}, "Stanford Cars, 196 models", classes=196),
        RealSpec("fgvc_aircraft", "FGVCAircraft",
                 {"train": {"split": "train"}, "val": {"split": "val"}, "test": {"split": "test"}},
                 {"train": 33, "val": 33, "test": 33}, "FGVC Aircraft, 100 variants", classes=100),
        RealSpec("cifar10", "CIFAR10", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 5000, "test": 1000}, "CIFAR-10", classes=10),
        RealSpec("cifar100", "CIFAR100", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 500, "test": 100}, "CIFAR-100", classes=100),
        RealSpec("caltech101", "Caltech101", {"train": {}, "val": None, "test": None}, {"train": 31},
                 "Caltech-101 (no official split: val and test carved by seed)", carve_test=20,
                 classes=101),
        # Digit domains for domain adaptation (chapter 9): the same ten classes in three looks.
        RealSpec("mnist", "MNIST", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 5421, "test": 892}, "MNIST handwritten digits (grey, 28 px)", classes=10),
        RealSpec("usps", "USPS", {"train": {"train": True}, "val": None, "test": {"train": False}},
                 {"train": 542, "test": 147}, "USPS handwritten digits (grey, 16 px)", classes=10),
        RealSpec("svhn", "SVHN", {"train": {"split": "train"}, "val": None, "test": {"split": "test"}},
                 {"train": 4659, "test": 1595}, "Street View House Numbers (colour photographs)", classes=10),
        *(_standin_spec(standin) for standin in STANDINS.values()),
    )
}


def per_class_available(name: str, split: str) -> int:
    """Images per class that ``load(name, split)`` can give (its smallest class), from the table above: an official
    split's own count; a carved val or test block's size; the training part less the blocks carved from it."""
    spec = REAL[name]
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}")
    if split != "train":
        return spec.per_class[split] if spec.official(split) else spec.carve_val if split == "val" else spec.carve_test
    return spec.per_class["train"] - (0 if spec.official("val") else spec.carve_val) - \
        (0 if spec.official("test") else spec.carve_test)
