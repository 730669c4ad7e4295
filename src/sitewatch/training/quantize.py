"""Static int8 quantisation of an exported model (offline; needs onnx).

ONNX Runtime's QDQ static quantisation, per-channel int8 weights and uint8 activations,
calibrated on chips of the training set. On this project's 2-core CPU it runs the network
about 2.4 times faster than float32. The metadata is carried over, with `quantized`
recording how it was made.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from sitewatch.training import targets as tg


class _Chips:
    """Calibration batches: chips of a dataset folder, as the model sees them."""

    def __init__(self, folder: Path, count: int, size: int, gsd_m: float, seed: int = 0):
        items = tg.load_chip_dir(folder, gsd_m)
        rng = np.random.default_rng(seed)
        picks = rng.choice(len(items), size=min(count, len(items)), replace=False)
        self.arrays = []
        for i in picks:
            s = tg.read_sample(*items[int(i)], gsd_m)
            s = tg.crop_or_pad(s, size, rng)
            self.arrays.append(s.image.transpose(2, 0, 1)[None].astype(np.float32))
        self.pos = 0

    def get_next(self):
        if self.pos >= len(self.arrays):
            return None
        self.pos += 1
        return {"image": self.arrays[self.pos - 1]}


def quantize_model(src: Path, dst: Path, calibration: Path, count: int = 32, size: int = 384) -> Path:
    model = onnx.load(str(src))
    meta = {p.key: p.value for p in model.metadata_props}
    chips = _Chips(Path(calibration), count, size, float(meta["gsd_m"]))

    class Reader(CalibrationDataReader):
        def get_next(self):
            return chips.get_next()

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        out = Path(tmp) / "q.onnx"
        quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        q = onnx.load(str(out))
    del q.metadata_props[:]
    meta["quantized"] = json.dumps({"method": "onnxruntime static QDQ, per-channel int8 weights, uint8 activations",
                                    "calibration_chips": len(chips.arrays), "calibration_data": str(calibration)})
    for k, v in meta.items():
        e = q.metadata_props.add()
        e.key, e.value = k, v
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(q, str(dst))
    return Path(dst)
