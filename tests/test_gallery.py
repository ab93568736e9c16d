"""The smallest-labels gallery: order, sources, crop pixels, limits, unreadable images."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import sodaudit.gallery as gallery
from sodaudit.dataset import Dataset
from sodaudit.gallery import OUTLINE, smallest_labels

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    im.load()
    return im.convert("RGB")


def _black_with_white(path: Path, size: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> None:
    """A black image with white rectangles (x, y, w, h) exactly where the labels are."""
    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    for x, y, w, h in rects:
        arr[y : y + h, x : x + w] = 255
    Image.fromarray(arr).save(path)


def _dataset(tmp_path: Path, images: list[dict], boxes: list[dict], classes=None) -> Dataset:
    return Dataset.build(
        root=tmp_path,
        format="test",
        boxes=pd.DataFrame(boxes),
        images=pd.DataFrame(images),
        classes=classes or {0: "car", 1: "person"},
    )


def _image(image_id: int, path: Path | str, w: float, h: float, status: str = "ok") -> dict:
    return {
        "image_id": image_id,
        "file_name": f"images/{Path(path).name}",
        "path": str(path),
        "split": "train",
        "width": float(w),
        "height": float(h),
        "status": status,
    }


def _box(image_id, class_id, x, y, w, h, line, ignore=False, source="labels/a.txt") -> dict:
    return {
        "image_id": image_id,
        "class_id": class_id,
        "x": float(x),
        "y": float(y),
        "w": float(w),
        "h": float(h),
        "ignore": ignore,
        "source_file": source,
        "source_line": line,
    }


def test_white_box_on_black_is_white_at_tile_centre(tmp_path):
    # 40x40 black image, white 3x3 label at (20, 20). Crop side max(2*3, 16) = 16 px,
    # integer zoom floor(96/16) = 6, window left = floor(21.5 - 8) = 13, so the box spans
    # tile pixels (20-13)*6 = 42 .. (23-13)*6 = 60 and the tile centre (48, 48) is inside.
    _black_with_white(tmp_path / "a.png", (40, 40), [(20, 20, 3, 3)])
    ds = _dataset(tmp_path, [_image(0, tmp_path / "a.png", 40, 40)], [_box(0, 0, 20, 20, 3, 3, 1)])
    (item,) = smallest_labels(ds)
    tile = _decode(item.data_uri)
    assert tile.size == (96, 96)
    assert item.zoom == 6.0
    assert tile.getpixel((48, 48)) == WHITE
    for p in (42, 50, 59):  # the whole 18x18 block of the box is white
        assert tile.getpixel((p, p)) == WHITE
    assert tile.getpixel((20, 20)) == BLACK  # context around it stays black
    assert tile.getpixel((41, 50)) == OUTLINE  # outline just outside the box, not over it
    assert tile.getpixel((60, 50)) == OUTLINE
    assert (item.class_name, item.w, item.h, item.source, item.image) == (
        "car",
        3.0,
        3.0,
        "labels/a.txt:1",
        "images/a.png",
    )
    # letterbox scale 640 / 40 = 16
    assert (item.w_model, item.h_model) == (48.0, 48.0)


def test_box_at_the_corner_shifts_the_window_inside(tmp_path):
    # A 2x2 label at (0, 0) in a 30x20 image: the 16 px window starts at 0 (not -7), zoom 6,
    # so the box covers tile pixels 0..11 and the tile row below 16 source rows is padding.
    _black_with_white(tmp_path / "c.png", (30, 20), [(0, 0, 2, 2)])
    ds = _dataset(tmp_path, [_image(0, tmp_path / "c.png", 30, 20)], [_box(0, 0, 0, 0, 2, 2, 1)])
    tile = _decode(smallest_labels(ds)[0].data_uri)
    assert tile.getpixel((0, 0)) == WHITE
    assert tile.getpixel((11, 11)) == WHITE
    assert tile.getpixel((13, 5)) == BLACK  # just past the outline at x = 12
    assert tile.getpixel((5, 12)) == OUTLINE


def test_large_label_is_shrunk_to_the_tile(tmp_path):
    # 100x100 label: crop 200 px > 96, so the zoom is 96 / 200 = 0.48.
    _black_with_white(tmp_path / "big.png", (300, 300), [(100, 100, 100, 100)])
    ds = _dataset(tmp_path, [_image(0, tmp_path / "big.png", 300, 300)], [_box(0, 0, 100, 100, 100, 100, 1)])
    (item,) = smallest_labels(ds)
    assert item.zoom == pytest.approx(0.48)
    tile = _decode(item.data_uri)
    assert tile.size == (96, 96)
    assert tile.getpixel((48, 48)) == WHITE
    assert tile.getpixel((5, 5)) == BLACK


@pytest.fixture
def two_images(tmp_path):
    rects_a = [(5, 5, 4, 4), (30, 30, 2, 2), (60, 10, 10, 10), (10, 60, 1, 1)]
    rects_b = [(20, 20, 3, 3), (50, 50, 6, 2)]
    _black_with_white(tmp_path / "a.png", (80, 80), rects_a)
    _black_with_white(tmp_path / "b.png", (80, 80), rects_b)
    images = [_image(0, tmp_path / "a.png", 80, 80), _image(1, tmp_path / "b.png", 80, 80)]
    boxes = [_box(0, i % 2, *r, i + 1, source="labels/a.txt") for i, r in enumerate(rects_a)]
    boxes += [_box(1, 1, *r, i + 1, source="labels/b.txt") for i, r in enumerate(rects_b)]
    # An ignored 1x1 label and a zero-width one: never in the gallery.
    boxes.append(_box(1, 0, 2, 2, 1, 1, 9, ignore=True, source="labels/b.txt"))
    boxes.append(_box(1, 0, 2, 2, 0, 5, 10, source="labels/b.txt"))
    return tmp_path, images, boxes


def test_sorted_by_size_with_sources(two_images):
    tmp_path, images, boxes = two_images
    items = smallest_labels(_dataset(tmp_path, images, boxes))
    # sqrt areas by hand: a1 4, a2 2, a3 10, a4 1, b1 3, b2 sqrt(12) = 3.46
    assert [i.source for i in items] == [
        "labels/a.txt:4",
        "labels/a.txt:2",
        "labels/b.txt:1",
        "labels/b.txt:2",
        "labels/a.txt:1",
        "labels/a.txt:3",
    ]
    assert [i.image for i in items] == ["images/a.png"] * 2 + ["images/b.png"] * 2 + ["images/a.png"] * 2
    assert [i.class_name for i in items] == ["person", "person", "person", "person", "car", "car"]
    sizes = [np.sqrt(i.w * i.h) for i in items]
    assert sizes == sorted(sizes)
    for item in items:  # every crop is centred on its white label
        assert _decode(item.data_uri).getpixel((48, 48)) == WHITE


def test_each_image_is_read_once(two_images, monkeypatch):
    tmp_path, images, boxes = two_images
    opened: list[str] = []
    real_open = gallery.open_binary

    def counting_open(path):
        opened.append(str(path))
        return real_open(path)

    monkeypatch.setattr(gallery, "open_binary", counting_open)
    smallest_labels(_dataset(tmp_path, images, boxes))
    assert sorted(opened) == sorted([str(tmp_path / "a.png"), str(tmp_path / "b.png")])


@pytest.mark.parametrize("limit", [0, 1, 3, 6, 100])
def test_limit(two_images, limit):
    tmp_path, images, boxes = two_images
    items = smallest_labels(_dataset(tmp_path, images, boxes), limit=limit)
    assert len(items) == min(limit, 6)
    # the first ``limit`` of the full order: a4 (1 px), a2 (2 px), b1 (3 px), ...
    assert [i.source for i in items] == [
        "labels/a.txt:4",
        "labels/a.txt:2",
        "labels/b.txt:1",
        "labels/b.txt:2",
        "labels/a.txt:1",
        "labels/a.txt:3",
    ][:limit]


def test_unreadable_and_missing_images_are_skipped(tmp_path):
    _black_with_white(tmp_path / "ok.png", (40, 40), [(10, 10, 5, 5)])
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg at all")
    images = [
        _image(0, tmp_path / "broken.jpg", 40, 40),
        _image(1, tmp_path / "gone.jpg", 40, 40),
        _image(2, tmp_path / "ok.png", 40, 40),
        _image(3, "", 40, 40, status="missing"),
    ]
    boxes = [
        _box(0, 0, 1, 1, 1, 1, 1, source="labels/broken.txt"),
        _box(1, 0, 1, 1, 1, 1, 1, source="labels/gone.txt"),
        _box(2, 0, 10, 10, 5, 5, 1, source="labels/ok.txt"),
        _box(3, 0, 1, 1, 1, 1, 1, source="labels/missing.txt"),
    ]
    items = smallest_labels(_dataset(tmp_path, images, boxes))
    assert [i.source for i in items] == ["labels/ok.txt:1"]


def test_no_boxes_and_no_images(tmp_path):
    images = [_image(0, tmp_path / "x.png", 10, 10)]
    no_boxes = pd.DataFrame(columns=["image_id", "class_id", "x", "y", "w", "h"])
    ds = Dataset.build(root=tmp_path, format="test", boxes=no_boxes, images=pd.DataFrame(images), classes={})
    assert smallest_labels(ds) == []
    boxes = [_box(0, 0, 1, 1, 2, 2, 1)]
    assert smallest_labels(_dataset(tmp_path, images, boxes)) == []  # file does not exist


def test_exif_orientation_is_applied(tmp_path):
    # Stored 20 wide x 40 tall with orientation 6 (rotate 90° clockwise to view): the dataset's
    # coordinates are in the 40x20 viewed image. A white 2x2 pixel block stored at column 3,
    # rows 30-31 (x=3..4, y=30..31) is, after the rotation, at x = 40 - 1 - 31 = 8 .. 9, y = 3 .. 4.
    arr = np.zeros((40, 20, 3), dtype=np.uint8)
    arr[30:32, 3:5] = 255
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif, quality=100, subsampling=0)
    ds = _dataset(tmp_path, [_image(0, tmp_path / "r.jpg", 40, 20)], [_box(0, 0, 8, 3, 2, 2, 1)])
    (item,) = smallest_labels(ds)
    # zoom 6, window x from floor(9 - 8) = 1, y from 0 (shifted inside): box at tile x 42..53, y 18..29
    tile = _decode(item.data_uri)
    assert min(tile.getpixel((48, 24))) > 200  # JPEG: nearly white
    assert max(tile.getpixel((48, 70))) < 60


def test_sample_data_gallery(sample_data):
    from sodaudit.loaders import load

    ds = load(sample_data / "yolo")
    items = smallest_labels(ds)
    assert len(items) == 48
    b = ds.boxes[ds.boxes["valid"] & ~ds.boxes["ignore"]]
    expected = np.sort(np.sqrt(b["w"].to_numpy() * b["h"].to_numpy()))[:48]
    assert np.allclose([np.sqrt(i.w * i.h) for i in items], expected)
    assert all(i.source.startswith(("train/labels/", "val/labels/")) for i in items)
    assert sum(len(i.data_uri) for i in items) < 200_000


def _many_images(tmp_path: Path, n_images: int, readable: set[int], rng) -> tuple[Dataset, list[dict]]:
    """Images 0..n-1 (only ``readable`` exist on disk), boxes with many tied sizes."""
    images, boxes = [], []
    for i in range(n_images):
        path = tmp_path / f"im{i}.png"
        if i in readable:
            Image.new("RGB", (64, 48), (i * 7 % 255, 80, 120)).save(path)
        images.append(_image(i, path, 64, 48))
    for i in range(n_images * 6):
        side = int(rng.integers(1, 5))  # few distinct sizes: many ties
        image = int(rng.integers(0, n_images))
        boxes.append(_box(image, 0, rng.integers(0, 50), rng.integers(0, 30), side, side, i + 1))
    return _dataset(tmp_path, images, boxes), boxes


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_unreadable_images_far_down_the_order_are_skipped(tmp_path, limit):
    # Most images are missing, so the gallery reads well past its first window of labels.
    ds, boxes = _many_images(tmp_path, 40, {3, 17, 31}, np.random.default_rng(limit))
    # Ties go by box id: boxes are numbered image by image, in label order within an image.
    readable = [b for b in boxes if b["image_id"] in {3, 17, 31}]
    expected = sorted((b["w"], b["image_id"], b["source_line"]) for b in readable)[:limit]
    items = smallest_labels(ds, limit=limit)
    assert [i.source for i in items] == [f"labels/a.txt:{line}" for _, _, line in expected]
    assert [i.image for i in items] == [f"images/im{img}.png" for _, img, _ in expected]
