"""A trainable network from a shipped detector ONNX file (needs the `train` extra).

Why: the torch checkpoints a shipped model was trained from are work files, not shipped,
and may be gone; fine-tuning the shipped model must still be possible. The ONNX export
folds each batch norm into the convolution before it, so the network rebuilt here carries
the folded weights and biases, and its batch norms are set to pass values through
(mean 0, variance 1 - eps, scale 1) with the folded bias as their shift. Such a network
must be trained with its batch-norm statistics frozen; `sitewatch train --init-from
MODEL.onnx` does so, and records it in its checkpoints (`FOLDED_BN`) for a resume. Its
scales and shifts still learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from torch import nn

from sitewatch.errors import ModelError
from sitewatch.training.network import ExportWrapper, build_network

FOLDED_BN = "folded_batch_norm"


def _execution_order(net: nn.Module, size: int = 64) -> list[nn.Module]:
    """The network's convolutions and batch norms in the order a forward pass runs them."""
    order: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, _i, _o: order.append(m))
             for m in net.modules() if isinstance(m, nn.Conv2d | nn.BatchNorm2d)]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    return order


def network_from_onnx(path: Path | str) -> nn.Module:
    """The detector network of `path` with its (folded) weights, ready to fine-tune.

    ModelError when the file's convolutions do not line up with this version's network."""
    path = Path(path)
    model = onnx.load(str(path))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    net, _ = build_network(pretrained=False)
    order = _execution_order(net)
    torch_convs = [(m, order[k + 1] if k + 1 < len(order) and isinstance(order[k + 1], nn.BatchNorm2d) else None)
                   for k, m in enumerate(order) if isinstance(m, nn.Conv2d)]
    if len(convs) != len(torch_convs):
        raise ModelError(str(path), f"{len(convs)} convolutions in the file, {len(torch_convs)} in this network")
    with torch.no_grad():
        for node, (conv, bn) in zip(convs, torch_convs):
            w = weights.get(node.input[1])
            b = weights.get(node.input[2]) if len(node.input) > 2 else None
            if w is None or tuple(w.shape) != tuple(conv.weight.shape):
                raise ModelError(str(path), f"convolution {node.name}: weight shape "
                                            f"{None if w is None else tuple(w.shape)}, network expects "
                                            f"{tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(w)))
            bias = torch.from_numpy(np.array(b)) if b is not None else torch.zeros(w.shape[0])
            if bn is None:
                conv.bias.copy_(bias)
                continue
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return net


def largest_difference(path: Path | str, net: nn.Module, seed: int = 0, size: int = 96) -> float:
    """The largest difference between the ONNX file's outputs and the rebuilt network's (as
    exported) on a random image: near zero when the rebuild is right. The heat map is
    compared where both keep a peak: on a near-flat map (an untrained network) rounding
    alone decides which of two equal neighbours is the peak."""

    x = np.random.default_rng(seed).uniform(0, 255, (1, 3, size, size)).astype(np.float32)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {session.get_inputs()[0].name: x})
    with torch.no_grad():
        got = [t.numpy() for t in ExportWrapper(net.eval())(torch.from_numpy(x))]
    both_peaks = (want[0] > 0) & (got[0] > 0)
    diffs = [float(np.abs(want[0] - got[0])[both_peaks].max(initial=0.0))]
    return max(diffs + [float(np.abs(a - b).max()) for a, b in zip(want[1:], got[1:])])
