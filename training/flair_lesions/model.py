"""Small nnU-Net-shaped 3-D U-Net for binary FLAIR lesion segmentation.

Three resolution levels (8, 16, 32 channels), two conv blocks per level,
downsampling by stride-2 convolution, upsampling by ConvTranspose3d(k=2, s=2),
skip connections by concatenation, 1x1x1 conv to 2 logits (background, lesion).
Every op maps to a plain ONNX op (Conv, InstanceNormalization, LeakyRelu,
ConvTranspose, Concat), so the exported graph runs in tract.
"""
import math

import torch
from torch import nn

CHANNELS = (8, 16, 32)
NUM_CLASSES = 2
PATCH = 64  # input edge length; must be divisible by 2 ** (len(CHANNELS) - 1)
LESION_PRIOR = 0.01  # initial predicted lesion probability (head bias init), see UNet3D.__init__


class ConvBlock(nn.Sequential):
    """Conv3d 3x3x3 -> InstanceNorm3d(affine) -> LeakyReLU(0.01)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__(
            # No bias: instance norm removes any per-channel constant anyway.
            nn.Conv3d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.InstanceNorm3d(c_out, affine=True, eps=1e-5),
            nn.LeakyReLU(0.01, inplace=True),
        )


class UNet3D(nn.Module):
    def __init__(self, in_channels: int = 1, channels=CHANNELS, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for level, c in enumerate(channels):
            stride = 1 if level == 0 else 2  # nnU-Net style: the first conv of a level downsamples
            self.encoders.append(nn.Sequential(ConvBlock(c_prev, c, stride), ConvBlock(c, c)))
            c_prev = c
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for c_low, c_high in zip(channels[:0:-1], channels[-2::-1]):
            self.ups.append(nn.ConvTranspose3d(c_low, c_high, kernel_size=2, stride=2))
            self.decoders.append(nn.Sequential(ConvBlock(2 * c_high, c_high), ConvBlock(c_high, c_high)))
        self.head = nn.Conv3d(channels[0], num_classes, kernel_size=1)
        # Start from the class prior instead of p = 0.5 everywhere (as in RetinaNet): with the
        # short CPU training budget this saves the first few hundred steps of learning "background".
        with torch.no_grad():
            self.head.bias.zero_()
            self.head.bias[1] = math.log(LESION_PRIOR / (1 - LESION_PRIOR))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        x = skips.pop()  # bottleneck
        for up, dec in zip(self.ups, self.decoders):
            x = dec(torch.cat([up(x), skips.pop()], dim=1))
        return self.head(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
