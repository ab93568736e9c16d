"""Visibility at model input (--pixels): SCR, gradient energy kept, blur, JPEG quality, upscaling."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from sodaudit.analyzers import visibility
from sodaudit.analyzers import visibility_pixels as vp
from sodaudit.config import Config, VisibilityConfig
from sodaudit.dataset import Dataset
from sodaudit.errors import ConfigError
from sodaudit.findings import MAX_MESSAGE_CHARS
from sodaudit.jsonable import jsonable


def _square(bg: np.ndarray | float = 50.0, value: float = 200.0) -> np.ndarray:
    img = np.full((40, 40), 50.0) if np.isscalar(bg) else np.array(bg, dtype=np.float64)
    img[10:16, 10:16] = value
    return img


def test_scr_of_a_bright_square_on_a_flat_background():
    # Box mean 200, ring mean 50, ring std 0 -> the floor MIN_STD = 1 grey level: 150 / 1.
    img = _square()
    cov = vp.coverage(10, 16, 0, 40)
    assert vp.scr(img, cov, cov) == pytest.approx(150.0)
    assert vp.MIN_STD == 1.0


def test_scr_with_a_ring_of_known_spread():
    # Columns alternate 40 / 60: the crop 4..21 and the box 10..15 hold as many of each, so the
    # ring has mean 50 and std 10 exactly: SCR = |200 - 50| / 10 = 15.
    bg = np.tile(np.where(np.arange(40) % 2 == 0, 40.0, 60.0), (40, 1))
    img = _square(bg)[4:22, 4:22]
    cov = vp.coverage(10, 16, 4, 18)
    assert vp.scr(img, cov, cov) == pytest.approx(15.0)


def test_scr_is_nan_without_a_ring():
    cov = np.ones(6)
    assert math.isnan(vp.scr(np.ones((6, 6)), cov, cov))


def test_coverage_of_a_fractional_box():
    np.testing.assert_allclose(vp.coverage(1.5, 3.25, 0, 5), [0, 0.5, 1, 0.25, 0])


def _checkerboard(cell: int = 3, side: int = 18, bg: float = 128.0, size: int = 64) -> np.ndarray:
    img = np.full((size, size), bg)
    yy, xx = np.mgrid[0:side, 0:side]
    img[20 : 20 + side, 20 : 20 + side] = np.where((yy // cell + xx // cell) % 2 == 0, 255.0, 0.0)
    return img


def _loop_kept(crop: np.ndarray, x0: int, box: tuple[int, int, int, int], factor: int) -> float:
    """Energy kept by plain loops: a factor x factor block mean (INTER_AREA at 1/factor on an
    aligned crop), linear interpolation back at the native pixel centres, squared differences
    over the box grown by factor + 1 px, the ratio divided by the scale 1/factor."""
    n = crop.shape[0]
    m = n // factor
    small = [[0.0] * m for _ in range(m)]
    for j in range(m):
        for i in range(m):
            total = 0.0
            for dy in range(factor):
                for dx in range(factor):
                    total += crop[j * factor + dy][i * factor + dx]
            small[j][i] = total / factor**2

    def weights(p: int) -> tuple[int, int, float]:
        t = (x0 + p + 0.5) / factor - 0.5 - x0 // factor
        t = min(max(t, 0.0), m - 1)
        lo = math.floor(t)
        return lo, min(lo + 1, m - 1), t - lo

    back = [[0.0] * n for _ in range(n)]
    for y in range(n):
        y_lo, y_hi, fy = weights(y)
        for x in range(n):
            x_lo, x_hi, fx = weights(x)
            top = small[y_lo][x_lo] * (1 - fx) + small[y_lo][x_hi] * fx
            bottom = small[y_hi][x_lo] * (1 - fx) + small[y_hi][x_hi] * fx
            back[y][x] = top * (1 - fy) + bottom * fy

    bx, by, bw, bh = box  # crop coordinates
    g = factor + 1
    inside = [
        [(bx - g <= x < bx + bw + g) and (by - g <= y < by + bh + g) for x in range(n)] for y in range(n)
    ]

    def energy(img) -> float:
        total = 0.0
        for y in range(n):
            for x in range(n):
                if x + 1 < n and inside[y][x] and inside[y][x + 1]:
                    total += (img[y][x + 1] - img[y][x]) ** 2
                if y + 1 < n and inside[y][x] and inside[y + 1][x]:
                    total += (img[y + 1][x] - img[y][x]) ** 2
        return total

    return energy(back) / energy(crop.tolist()) * factor


def test_checkerboard_loses_its_gradient_energy_when_shrunk_by_4():
    img = _checkerboard()
    bounds = (4, 4, 52, 52)  # aligned on the 4 px grid: the block means are exact
    measure = vp.measure_box(img, (20, 20, 18, 18), bounds, [1.0, 0.25], "area")
    assert measure.kept[0] == pytest.approx(1.0)  # scale 1 is the identity
    assert measure.kept[1] < 0.05
    crop = img[4:52, 4:52]
    expected = _loop_kept(crop, 4, (16, 16, 18, 18), 4)
    assert measure.kept[1] == pytest.approx(expected, rel=1e-9)


def test_a_large_square_keeps_its_contrast_when_shrunk():
    img = np.full((200, 200), 50.0)
    img[80:120, 80:120] = 200.0
    measure = vp.measure_box(img, (80, 80, 40, 40), (40, 40, 160, 160), [0.5], "area")
    assert measure.scr_native >= 100 and measure.scr[0] >= 100
    assert measure.kept[0] > 0.25
    dot = np.full((200, 200), 50.0)
    dot[80:82, 80:82] = 200.0
    small = vp.measure_box(dot, (80, 80, 2, 2), (50, 50, 112, 112), [0.5, 1 / 3], "area")
    assert small.kept[0] > 0.25 > small.kept[1]  # 1 model px keeps its energy, 2/3 px does not


def test_linear_resample_matches_opencv_sample_positions():
    # INTER_LINEAR at s = 0.5: output j samples (j + 0.5) * 2 - 0.5 = 2j + 0.5, halfway.
    down, back, j0 = vp.axis_resample(0, 8, 0.5, "linear")
    assert j0 == 0 and down.shape == (4, 8)
    np.testing.assert_allclose(down[1], [0, 0, 0.5, 0.5, 0, 0, 0, 0])
    np.testing.assert_allclose(back.sum(axis=1), 1.0)
    down, _, _ = vp.axis_resample(0, 8, 0.5, "area")
    np.testing.assert_allclose(down[1], [0, 0, 0.5, 0.5, 0, 0, 0, 0])
    down, _, _ = vp.axis_resample(0, 9, 1 / 3, "area")
    np.testing.assert_allclose(down[1], [0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0])


def test_variance_of_laplacian_orders_blurred_below_sharp():
    rng = np.random.default_rng(1)
    sharp = Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))
    blurred = sharp.filter(ImageFilter.GaussianBlur(2))
    assert vp.laplacian_variance(np.asarray(sharp, float)) > 10 * vp.laplacian_variance(
        np.asarray(blurred, float)
    )
    assert vp.laplacian_variance(np.full((10, 10), 7.0)) == 0.0


@pytest.mark.parametrize("quality", [50, 90, 25, 75])
def test_jpeg_quality_is_recovered(quality):
    rng = np.random.default_rng(quality)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    estimate = vp.jpeg_quality(Image.open(buf).quantization)
    assert abs(estimate - quality) <= 3
    assert estimate == quality  # Pillow writes libjpeg's tables: the match is exact


def test_jpeg_quality_without_tables():
    assert math.isnan(vp.jpeg_quality(None))
    assert math.isnan(vp.jpeg_quality({1: [1] * 64}))


def _upscaled(gray: np.ndarray) -> bool:
    return vp.looks_upscaled(vp.top_band_share(gray), vp.replica_null_depth(gray)[0], VisibilityConfig())


def test_upscaled_source_is_flagged_and_noise_is_not():
    rng = np.random.default_rng(2)
    noise = rng.uniform(0, 255, (256, 256))
    nearest = np.asarray(
        Image.fromarray(noise[:64, :64].astype(np.uint8)).resize((256, 256), Image.NEAREST), float
    )
    smooth = Image.fromarray(noise[:64, :64].astype(np.uint8)).filter(ImageFilter.GaussianBlur(1))
    bilinear = np.asarray(smooth.resize((256, 256), Image.BILINEAR), float)
    assert not _upscaled(noise)
    assert vp.top_band_share(noise) == pytest.approx(0.75, abs=0.05)  # white: 3/4 of the square band
    assert _upscaled(nearest)
    assert vp.replica_null_depth(nearest)[0] < 1e-6
    assert _upscaled(bilinear)
    assert vp.top_band_share(bilinear) < 0.002


def test_class_quotas_fill_evenly():
    np.testing.assert_array_equal(visibility.class_quotas(np.array([5, 500, 300]), 200, 2000), [5, 200, 200])
    np.testing.assert_array_equal(visibility.class_quotas(np.array([5, 500, 300]), 200, 105), [5, 50, 50])


def test_candidate_sizes():
    assert visibility.candidate_sizes(640, (1.0, 1.5, 2.0)) == [640, 960, 1280]
    assert visibility.candidate_sizes(600, (1.5, 1.0)) == [600, 928]


def _dataset(tmp_path: Path, n_images: int = 2, size: int = 256, imgsz: int = 64) -> Dataset:
    """PNG images of ``size`` px with twelve 4 px bright squares (class 'dot', 1 px at imgsz 64)
    and a 40 px dark square (class 'big', 10 px at imgsz 64: not small) on a noisy background."""
    rng = np.random.default_rng(3)
    paths, rows = [], []
    for i in range(n_images):
        img = np.clip(rng.normal(100, 3, (size, size)), 0, 255)
        for k in range(12):
            x, y = 10 + 20 * k, 30 + 40 * i
            img[y : y + 4, x : x + 4] = 220
            rows.append((i, 0, x, y, 4, 4, False))
        img[150:190, 100:140] = 30
        rows.append((i, 1, 100, 150, 40, 40, False))
        path = tmp_path / f"{i}.png"
        Image.fromarray(img.astype(np.uint8)).save(path)
        paths.append(str(path))
    images = pd.DataFrame(
        {
            "image_id": range(n_images),
            "file_name": [f"{i}.png" for i in range(n_images)],
            "path": paths,
            "split": ["train"] * n_images,
            "width": [float(size)] * n_images,
            "height": [float(size)] * n_images,
            "status": ["ok"] * n_images,
        }
    )
    boxes = pd.DataFrame(rows, columns=["image_id", "class_id", "x", "y", "w", "h", "ignore"])
    boxes["source_file"] = "labels.txt"
    boxes["source_line"] = np.arange(1, len(boxes) + 1)
    return Dataset.build(
        root=tmp_path, format="test", boxes=boxes, images=images, classes={0: "dot", 1: "big"}, imgsz=imgsz
    )


def test_not_run_without_pixels_reads_nothing(tmp_path, monkeypatch):
    ds = _dataset(tmp_path)

    def refuse(*args, **kwargs):
        raise AssertionError("a file was opened without --pixels")

    monkeypatch.setattr(vp, "open_binary", refuse)
    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr("sodaudit.analyzers.integrity_pixels.pixel_images", refuse)
    monkeypatch.setattr("sodaudit.pool.map_chunks", refuse)
    result = visibility.analyze(ds, Config())
    assert result.stats.status == "not_run"
    assert "--pixels" in result.stats.reason
    assert result.findings == [] and result.tables == {}


def test_small_dots_visible_natively_lost_at_imgsz(tmp_path):
    ds = _dataset(tmp_path)
    config = Config(pixels=True, visibility=VisibilityConfig(min_class_boxes=5))
    result = visibility.analyze(ds, config)
    s = result.stats
    assert s.status == "ok"
    assert s.small_side_px == 8.0  # yolov8's smallest stride
    assert s.small_boxes == 24 and s.sampled == 24 and s.measured == 24  # 'big' is not small
    assert s.candidate_imgsz == [64, 96, 128]
    assert s.visible_native == 24
    assert s.invisible_at_imgsz == 24  # 1 px at imgsz: under a quarter of the energy survives
    shares = [p.invisible_share for p in s.curve]
    assert shares[0] == 1.0 and shares[-1] < 0.5  # at imgsz 128 they are 2 px: most visible
    assert [c.class_name for c in s.classes] == ["dot"]
    assert s.quality.images == 2 and s.quality.jpeg_images == 0
    codes = [f.code for f in result.findings]
    assert codes.count("visibility.invisible_at_imgsz") == 1
    finding = result.findings[codes.index("visibility.invisible_at_imgsz")]
    assert finding.class_name == "dot" and finding.count == 24
    assert all(len(f.message) <= MAX_MESSAGE_CHARS for f in result.findings)
    assert set(result.tables) == {"boxes", "image_quality"}
    json.dumps(jsonable(s))
    msgspec.json.encode(s)


def test_sample_is_bounded_and_seeded(tmp_path):
    ds = _dataset(tmp_path, n_images=3)
    cfg = VisibilityConfig(max_boxes_per_class=5, max_boxes=4, max_images=2)
    first = visibility.analyze(ds, Config(pixels=True, visibility=cfg)).stats
    again = visibility.analyze(ds, Config(pixels=True, visibility=cfg)).stats
    assert first.sampled <= 4 and first.quality.images <= 2
    assert msgspec.json.encode(first) == msgspec.json.encode(again)


def test_unreadable_image_is_skipped(tmp_path):
    ds = _dataset(tmp_path)
    Path(ds.images["path"][0]).write_bytes(b"not an image")
    s = visibility.analyze(ds, Config(pixels=True)).stats
    assert s.images_failed == 1 and s.skipped_boxes == 12 and s.measured == 12


def test_unknown_resample_mode_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        visibility.analyze(
            _dataset(tmp_path), Config(pixels=True, visibility=VisibilityConfig(resample="cubic"))
        )


def test_workers_give_the_same_stats(tmp_path):
    ds = _dataset(tmp_path)
    one = visibility.analyze(ds, Config(pixels=True)).stats
    two = visibility.analyze(ds, Config(pixels=True, workers=2)).stats
    assert msgspec.json.encode(one) == msgspec.json.encode(two)


def test_image_linked_from_outside_the_dataset_is_not_read(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "ds"
    root.mkdir()
    ds = _dataset(outside)
    link = root / "0.png"
    link.symlink_to(outside / "0.png")
    images = ds.images.assign(path=[str(link), str(root / "1.png")])
    (root / "1.png").write_bytes((outside / "1.png").read_bytes())
    box_columns = ["image_id", "class_id", "x", "y", "w", "h", "ignore", "source_file", "source_line"]
    image_columns = ["image_id", "file_name", "path", "split", "width", "height", "status"]
    ds = Dataset.build(
        root=root,
        format="test",
        boxes=ds.boxes[box_columns],
        images=images[image_columns],
        classes=ds.classes,
        imgsz=ds.imgsz,
    )
    opened = []
    real = vp.open_binary
    monkeypatch.setattr(vp, "open_binary", lambda path: opened.append(path) or real(path))
    s = visibility.analyze(ds, Config(pixels=True)).stats
    assert opened == [str(root / "1.png")]
    assert s.small_boxes == 24 and s.measured == 12
