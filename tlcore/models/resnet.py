"""Small ResNets for 32x32 images, built from timm's ResNet so they share timm's interface.

timm's stem (7x7 stride-2 convolution and a max-pool) divides the resolution by four, too much for 32-pixel images;
here it is one 3x3 stride-2 convolution, so the four stages see 16, 8, 4 and 2 pixels. Everything else — stages
``layer1..layer4``, ``forward_features``, ``forward_head``, ``reset_classifier``, ``group_matcher`` — is timm's,
so layer-wise learning rates and freezing work the same for these and for any timm backbone.
"""
from __future__ import annotations

from timm.models.resnet import BasicBlock, ResNet
from torch import nn


def small_resnet(
    layers: tuple[int, ...] = (1, 1, 1, 1),
    channels: tuple[int, ...] = (16, 32, 64, 128),
    *,
    num_classes: int = 10,
    in_chans: int = 1,
    drop_rate: float = 0.0,
) -> ResNet:
    # A "deep" stem is the one whose width timm lets us set (2 * stem_width); it is then replaced by a single conv.
    model = ResNet(BasicBlock, layers, num_classes=num_classes, in_chans=in_chans, channels=channels,
                   stem_width=channels[0] // 2, stem_type="deep", drop_rate=drop_rate)
    model.conv1 = nn.Conv2d(in_chans, channels[0], kernel_size=3, stride=2, padding=1, bias=False)
    model.maxpool = nn.Identity()
    for info, reduction in zip(model.feature_info, (2, 2, 4, 8, 16)):
        info["reduction"] = reduction
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model
