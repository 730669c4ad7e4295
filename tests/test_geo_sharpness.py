"""The edge-blur estimate on images whose blur is known."""

import cv2
import numpy as np
import pytest

from sitewatch.geo.sharpness import SHARP_STEP_PX, edge_blur_px


def _blocks(seed: int = 0, side: int = 512) -> np.ndarray:
    """Sharp-edged rectangles of random brightness on a grey ground."""
    rng = np.random.default_rng(seed)
    img = np.full((side, side), 100.0, np.float32)
    for _ in range(60):
        x, y = rng.integers(0, side - 32, 2)
        w, h = rng.integers(8, 40, 2)
        img[y:y + h, x:x + w] = rng.uniform(20, 230)
    return img


@pytest.mark.parametrize("blur", [1.0, 1.5, 2.0, 3.0])
def test_estimate_follows_the_blur_added_to_sharp_edges(blur):
    """Blurred by sigma b, a sharp image reads about sqrt(b^2 + 0.8^2) px, noise or not."""
    img = cv2.GaussianBlur(_blocks(), (0, 0), blur)
    expected = np.hypot(blur, SHARP_STEP_PX)
    noisy = img + np.random.default_rng(1).normal(0, 2, img.shape).astype(np.float32)
    for image in (img, noisy):
        assert edge_blur_px(image) == pytest.approx(expected, rel=0.12)


def test_sharper_reads_sharper_and_flat_reads_nothing():
    img = _blocks()
    reads = [edge_blur_px(cv2.GaussianBlur(img, (0, 0), b)) for b in (0.5, 1.0, 2.0)]
    assert edge_blur_px(img) == pytest.approx(SHARP_STEP_PX, abs=0.15)
    assert reads == sorted(reads) and reads[0] < reads[-1] - 1.0
    assert edge_blur_px(np.full((64, 64), 7.0)) is None
    with pytest.raises(ValueError, match="2-D"):
        edge_blur_px(np.zeros((4, 4, 3)))


def test_sampled_estimate_reads_a_large_image_and_skips_crops_beyond_the_data():
    from sitewatch.geo.sharpness import sampled_edge_blur_px

    tiles = np.block([[_blocks(s) for s in range(k, k + 3)] for k in (0, 3, 6)])  # 1536 px a side
    rgb = np.repeat(cv2.GaussianBlur(tiles, (0, 0), 2.0)[..., None], 3, axis=2) + 10.0  # no zero pixel
    assert sampled_edge_blur_px(rgb) == pytest.approx(np.hypot(2.0, SHARP_STEP_PX), rel=0.12)
    # the data covers the left half only: a crop reaching the cut would read its edge (sharp)
    cut = rgb.copy()
    cut[:, 700:] = 0
    assert sampled_edge_blur_px(cut) == pytest.approx(np.hypot(2.0, SHARP_STEP_PX), rel=0.12)
    assert sampled_edge_blur_px(np.zeros((600, 600, 3))) is None
