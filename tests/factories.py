"""Tiny models and random image sets that the fine-tuning, regulariser and adaptation tests share."""
import torch
from torch import nn
from torch.utils.data import Dataset

from tlcore.data.base import ImageDataset
from tlcore.models import small_resnet


def tiny(num_classes=5, seed=0, channels=(4, 8, 8, 8)):
    """A small_resnet narrow enough to train in milliseconds, initialised from ``seed``."""
    torch.manual_seed(seed)
    return small_resnet(channels=channels, num_classes=num_classes)


def flushes_subnormals() -> bool:
    """Whether CPU arithmetic now treats float32 subnormals (below 1.2e-38) as zero (``torch.set_flush_denormal``)."""
    return (torch.tensor([torch.finfo(torch.float32).tiny]) / 4).item() == 0.0


def data(n, seed=0, classes=5, shift=0.0):
    """``n`` random 16x16 images (brightened by ``shift``, clipped to [0, 1]) with random labels."""
    g = torch.Generator().manual_seed(seed)
    return ImageDataset((torch.rand(n, 1, 16, 16, generator=g) + shift).clamp(0, 1),
                        torch.randint(0, classes, (n,), generator=g), [str(c) for c in range(classes)])


class CountingDataset(ImageDataset):
    """An ImageDataset that counts how often its images are read: the test split must be read once per run."""

    reads = 0

    @property
    def images(self):
        CountingDataset.reads += 1
        return self.__dict__["images"]

    @images.setter
    def images(self, value):
        self.__dict__["images"] = value


# Transferability metrics: a dataset whose first half of pixels carries the class, and models that see either half.
METRIC_CLASSES, PIXELS = 3, 16


class PatternDataset(Dataset):
    """Three classes of 1x4x4 images (for transferability metrics): the first half of the pixels shows a class template, the second half is pure noise."""

    def __init__(self, n: int = 90, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.labels = torch.arange(n) % METRIC_CLASSES
        templates = torch.zeros(METRIC_CLASSES, PIXELS)
        templates[:, : PIXELS // 2] = 3 * torch.randn(METRIC_CLASSES, PIXELS // 2, generator=generator)
        self.pixels = templates[self.labels] + torch.randn(n, PIXELS, generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.pixels[index].reshape(1, 4, 4), int(self.labels[index])


class TinyTimmNet(nn.Module):
    """timm's interface in miniature. ``looks_at`` picks which half of the pixels the embedding sees."""

    def __init__(self, looks_at: slice, num_source_classes: int = 5, seed: int = 0, width: int = 6) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Linear(PIXELS, width)
        with torch.no_grad():
            self.embed.weight[:, [i for i in range(PIXELS) if not looks_at.start <= i < looks_at.stop]] = 0
        self.fc = nn.Linear(width, num_source_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x.flatten(1))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.tanh(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def damage_record(root, key, *, replacement="{not json"):
    """Replace the line of record ``key`` in the results store under ``root`` by ``replacement`` (a damaged line, or
    a record planted by hand); returns the file it was in."""
    from pathlib import Path

    for path in Path(root).glob("*.jsonl"):
        lines = path.read_text().splitlines()
        if any(f'"key":"{key}"' in line for line in lines):
            path.write_text("".join((replacement if f'"key":"{key}"' in line else line) + "\n" for line in lines))
            return path
    raise KeyError(f"no record {key} under {root}")


def rekey_record(root, key, new_key):
    """Give record ``key`` the key ``new_key`` (as a record of another store version would have), in place."""
    import json
    from pathlib import Path

    for path in Path(root).glob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record["key"] == key:
                return damage_record(root, key, replacement=json.dumps({**record, "key": new_key}))
    raise KeyError(f"no record {key} under {root}")


def one_run_of_each_kind() -> dict:
    """A run of each kind (transfer, continual, adaptation) that trains in a second: 4 steps on 2 images per class."""
    from tlcore.finetune import Protocol
    from tlcore.runs.adaptation import AdaptationRun
    from tlcore.runs.continual import ContinualRun
    from tlcore.runs.transfer import TransferRun

    quick = Protocol(lr=0.05, steps=4, batch_size=16, eval_every=2)
    return {"transfer": TransferRun("glyphs_near", 2, False, "glyph_micro", quick, 0),
            "continual": ContinualRun("glyphs_near", 2, "finetune", "glyph_micro", quick, 0),
            "adaptation": AdaptationRun("glyphs_near", "glyphs_near_textured", 2, "source_only", 2, "glyph_micro",
                                        True, quick, 0, hidden=16)}
