"""Hostile inputs, smaller faults: images past Pillow's decompression-bomb limit under ``--deep``,
symlinks that lead out of the dataset, DOCTYPE text in comments/CDATA, unbounded finding
messages, and a tile size that makes millions of tiles. Every input is made here, small."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import Rectangle
from matplotlib.text import Annotation
from PIL import Image

import sodaudit.figures.tiles as tiles
from sodaudit import imageinfo, regular
from sodaudit.analyzers import integrity, integrity_pixels, run_all
from sodaudit.catalogue import Severity
from sodaudit.config import Config
from sodaudit.dataset import Dataset, LoadIssue
from sodaudit.findings import MAX_EXAMPLE_CHARS, MAX_EXAMPLES, MAX_MESSAGE_CHARS, Finding, Rule, apply_rules
from sodaudit.gallery import smallest_labels
from sodaudit.loaders import voc
from sodaudit.loaders.xmlsafe import parse_xml
from sodaudit.pipeline import assemble
from sodaudit.recommend.tilesim import axis_starts

SECRET = (201, 13, 77)
"""The colour of every image outside the dataset: it must never reach a report."""


def _png(path: Path, size: tuple[int, int], color: tuple[int, int, int] = (40, 160, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def _dataset(root: Path, files: list[tuple[str, str, tuple[int, int]]], boxes=None) -> Dataset:
    """files: (name under root, split, (w, h) as the header gives it); one 2x2 box per image
    unless ``boxes`` is given."""
    images = pd.DataFrame(
        {
            "image_id": range(len(files)),
            "file_name": [f[0] for f in files],
            "path": [str(root / f[0]) for f in files],
            "split": [f[1] for f in files],
            "width": [float(f[2][0]) for f in files],
            "height": [float(f[2][1]) for f in files],
            "status": "ok",
        }
    )
    if boxes is None:
        boxes = pd.DataFrame(
            {"image_id": range(len(files)), "class_id": 0, "x": 10.0, "y": 10.0, "w": 2.0, "h": 2.0}
        )
    return Dataset.build(root=root, format="test", boxes=boxes, images=images, classes={0: "dot"})


def _codes(result) -> dict[str, Finding]:
    return {f.code: f for f in result.findings}


# --- 1. --deep and Pillow's decompression-bomb limit ---------------------------------------------


@pytest.fixture
def small_bomb_limit(monkeypatch):
    """Pillow warns past 1,000 pixels and refuses past 2,000 (twice ``MAX_IMAGE_PIXELS``)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)


def test_deep_names_images_past_the_bomb_limit(tmp_path, small_bomb_limit):
    _png(tmp_path / "small.png", (8, 8))  # 64 px: decoded
    _png(tmp_path / "warned.png", (40, 40))  # 1,600 px: Pillow only warns, decoded
    _png(tmp_path / "big.png", (64, 50))  # 3,200 px > 2,000: refused
    files = [
        ("small.png", "train", (8, 8)),
        ("warned.png", "train", (40, 40)),
        ("big.png", "train", (64, 50)),
    ]
    result = integrity.analyze(_dataset(tmp_path, files), Config(deep=True))
    d = result.stats.deep_decode
    assert (d.images_decoded, d.failed, d.skipped_too_large) == (2, 0, 1)
    assert "integrity.image_corrupt" not in _codes(result)  # not known to be corrupt
    finding = _codes(result)["integrity.image_not_decoded"]
    assert finding.count == 1 and finding.value == 1.0
    assert finding.message == (
        "1 image file was not decoded by --deep: past Pillow's decompression-bomb limit of 2,000 "
        "pixels (e.g. big.png: 3,200 pixels), so whether it is intact is unknown, and Pillow-based "
        "loaders refuse such images at this limit"
    )
    assert finding.examples == (
        "big.png: 3,200 pixels, past Pillow's decompression-bomb limit of 2,000 pixels; not decoded",
    )


def test_deep_too_large_and_corrupt_are_two_findings(tmp_path, small_bomb_limit):
    _png(tmp_path / "a.png", (8, 8))
    cut = _png(tmp_path / "cut.png", (30, 30), (1, 2, 3))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 30, 3), np.uint8)).save(cut)
    cut.write_bytes(cut.read_bytes()[:100])  # header intact, data cut
    for k in range(3):
        _png(tmp_path / f"big{k}.png", (50, 50))  # 2,500 px each
    files = [("a.png", "train", (8, 8)), ("cut.png", "train", (30, 30))]
    files += [(f"big{k}.png", "val", (50, 50)) for k in range(3)]
    result = integrity.analyze(_dataset(tmp_path, files), Config(deep=True))
    corrupt = _codes(result)["integrity.image_corrupt"]
    assert corrupt.count == 1  # cut.png
    assert corrupt.message == "1 image file is empty or corrupt (1 found by decoding every image)"
    assert [e.split(":")[0] for e in corrupt.examples] == ["cut.png"]
    not_decoded = _codes(result)["integrity.image_not_decoded"]
    assert not_decoded.count == 3  # 2,500 px each > 2,000
    assert not_decoded.message.startswith(
        "3 image files were not decoded by --deep: past Pillow's decompression-bomb limit of 2,000 "
        "pixels (e.g. big0.png: 2,500 pixels)"
    )
    assert [e.split(":")[0] for e in not_decoded.examples] == ["big0.png", "big1.png", "big2.png"]


def test_deep_applies_the_callers_limit_in_worker_processes(tmp_path, small_bomb_limit):
    for k in range(4):
        _png(tmp_path / f"{k}.png", (50, 50) if k % 2 else (8, 8))
    files = [(f"{k}.png", "train", (50, 50) if k % 2 else (8, 8)) for k in range(4)]
    pooled = integrity.analyze(_dataset(tmp_path, files), Config(deep=True, workers=2))
    d = pooled.stats.deep_decode
    assert (d.images_decoded, d.skipped_too_large) == (2, 2)


# --- 2. symlinks out of the dataset: never opened, never shown ---------------------------------


@pytest.fixture
def linked(tmp_path):
    """A dataset with two images of its own and two that symlinks take outside: a file link and
    an image under a directory link. The outside images are SECRET-coloured."""
    outside = tmp_path / "outside"
    secret = _png(outside / "secret.png", (48, 48), SECRET)
    root = tmp_path / "ds"
    _png(root / "images" / "own_a.png", (48, 48))
    _png(root / "images" / "own_b.png", (48, 48), (30, 30, 200))
    os.symlink(secret, root / "images" / "link.png")
    os.symlink(outside, root / "shared")
    files = [
        ("images/link.png", "train", (48, 48)),
        ("shared/secret.png", "val", (48, 48)),
        ("images/own_a.png", "train", (48, 48)),
        ("images/own_b.png", "val", (48, 48)),
    ]
    # The outside images carry the smallest labels: the gallery would show them first.
    boxes = pd.DataFrame(
        {"image_id": [0, 1, 2, 3], "class_id": 0, "x": 20.0, "y": 20.0, "w": [1.0, 1.0, 3.0, 3.0], "h": 3.0}
    )
    return _dataset(root, files, boxes), outside


@pytest.fixture
def opened(monkeypatch):
    """Every path Pillow opens or the hashing reads, resolved: pixel readers open files through
    ``sodaudit.regular.open_binary`` (which calls ``open_regular``) or hand Pillow a path."""
    paths: list[str] = []
    real_open = Image.open
    real_regular = regular.open_regular

    def record_image(fp, *args, **kwargs):
        if isinstance(fp, (str, os.PathLike)):
            paths.append(os.path.realpath(fp))
        return real_open(fp, *args, **kwargs)

    def record_file(file, *args, **kwargs):
        paths.append(os.path.realpath(file))
        return real_regular(file, *args, **kwargs)

    monkeypatch.setattr(Image, "open", record_image)
    monkeypatch.setattr(regular, "open_regular", record_file)
    return paths


def _pixels(uri: str) -> set[tuple[int, int, int]]:
    im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return {tuple(p) for p in np.asarray(im.convert("RGB")).reshape(-1, 3).tolist()}


def test_gallery_never_opens_or_shows_an_image_outside(linked, opened):
    ds, outside = linked
    items = smallest_labels(ds)
    assert [i.image for i in items] == ["images/own_a.png", "images/own_b.png"]
    assert not any(SECRET in _pixels(i.data_uri) for i in items)
    assert opened and not any(p.startswith(str(outside)) for p in opened)


def test_deep_decode_and_hashes_skip_images_outside_with_a_finding(linked, opened):
    ds, outside = linked
    # one size for both own images, so that the identical-file check reads them (it reads only
    # files whose size another file has); the outside ones are never opened either way
    shutil.copyfile(ds.root / "images" / "own_a.png", ds.root / "images" / "own_b.png")
    result = integrity.analyze(ds, Config(deep=True))
    s = result.stats
    assert s.deep_decode.images_decoded == 2
    assert s.image_hash.images_hashed == 2
    assert s.load_issues == {"load.path_outside_root": 2}
    finding = _codes(result)["load.path_outside_root"]
    assert finding.count == 2
    assert [e.split(":")[0] for e in finding.examples] == ["images/link.png", "shared/secret.png"]
    assert "symbolic link leading outside the dataset folder" in finding.examples[0]
    assert not any(p.startswith(str(outside)) for p in opened)
    assert len(opened) == 4  # own_a and own_b, each decoded once and hashed once


def test_tile_figure_never_opens_an_image_outside(linked, opened):
    ds, _ = linked
    config = Config(imgsz=32)  # every 48 px image is larger than one tile
    report = assemble(ds, config, run_all(ds, config))
    opened.clear()
    figure = tiles.tile_grid(replace(report, recommendations=(), plan=None))
    assert figure is not None and figure.caption.startswith("images/own_a.png")
    assert opened == [str((ds.root / "images" / "own_a.png").resolve())]


def test_leads_outside_by_case(tmp_path, monkeypatch):
    outside = _png(tmp_path / "elsewhere" / "x.png", (2, 2))
    real_root = tmp_path / "real"
    inside = _png(real_root / "a" / "in.png", (2, 2))
    os.symlink(inside, real_root / "a" / "alias.png")  # a link that stays inside
    os.symlink(outside, real_root / "a" / "out.png")
    os.symlink(tmp_path / "elsewhere", real_root / "b")
    os.symlink(real_root, tmp_path / "root_link")  # the root itself through a symlink
    root = tmp_path / "root_link"
    paths = [
        str(root / "a" / "in.png"),
        str(root / "a" / "alias.png"),
        str(root / "a" / "out.png"),
        str(root / "b" / "x.png"),
        str(root / "a" / ".." / "b" / "x.png"),
        str(outside),  # outside by name: the loader's decision, not a link
    ]
    expected = [False, False, True, True, True, False]
    assert imageinfo.symlinked_outside(paths, root) == expected
    assert [imageinfo.leads_outside(p, root) for p in paths] == expected
    monkeypatch.setattr(imageinfo, "SCANDIR_FROM", 2)  # one listing per folder: same answer
    assert imageinfo.symlinked_outside(paths, root) == expected


# --- 3. DOCTYPE text in comments and CDATA is text; a real DTD is refused -----------------------

ANNOTATION = (
    "<annotation><filename>a.jpg</filename>{note}"
    "<size><width>100</width><height>80</height><depth>3</depth></size>"
    "<object><name>car</name><bndbox><xmin>10</xmin><ymin>20</ymin><xmax>40</xmax><ymax>60</ymax>"
    "</bndbox></object></annotation>"
)
QUOTED_DTD = '<!DOCTYPE x [<!ENTITY a "b">]>'


def _parse(tmp_path: Path, data: bytes):
    path = tmp_path / "a.xml"
    path.write_bytes(data)
    issues: list[LoadIssue] = []
    root, _ = parse_xml(str(path), "a.xml", issues, 1.0, "annotation")
    return root, [(i.code, i.reason) for i in issues]


@pytest.mark.parametrize(
    ("data", "note"),
    [
        (ANNOTATION.format(note=f"<note><![CDATA[{QUOTED_DTD}]]></note>").encode(), QUOTED_DTD),
        (
            ('<?xml version="1.0"?>\n<!-- ' + QUOTED_DTD + " -->\n" + ANNOTATION.format(note="")).encode(),
            None,
        ),
        (ANNOTATION.format(note=f"<!-- {QUOTED_DTD} --><note>x</note>").encode(), "x"),
        (ANNOTATION.format(note=f"<note><![CDATA[{QUOTED_DTD}]]></note>").encode("utf-16"), QUOTED_DTD),
        (
            (
                '<?xml version="1.0" encoding="koi8-r"?>' + ANNOTATION.format(note="<note>машина</note>")
            ).encode("koi8-r"),
            "машина",
        ),
    ],
    ids=["cdata", "prolog_comment", "comment_in_root", "utf16_cdata", "koi8r"],
)
def test_doctype_quoted_in_comment_or_cdata_is_read(tmp_path, data, note):
    root, issues = _parse(tmp_path, data)
    assert issues == []
    assert root is not None and root.findtext("object/name") == "car"
    assert root.findtext("note") == note


BOMB = (
    '<!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    + ANNOTATION.format(note="<note>&b;</note>")
)


@pytest.mark.parametrize(
    "data",
    [
        BOMB.encode(),
        ("<!-- <!DOCTYPE in a comment --><?pi <!-- ?>\n  " + BOMB).encode(),  # after a comment and a PI
        ('<?xml version="1.0" encoding="koi8-r"?>' + BOMB).encode("koi8-r"),
        BOMB.encode("utf-16"),
        BOMB.encode("utf-16-be"),  # no BOM
        ("\ufeff" + BOMB).encode(),  # UTF-8 BOM
        ("<!doctype annotation>" + ANNOTATION.format(note="")).encode(),  # any case
        ('<!ENTITY a "b">' + ANNOTATION.format(note="")).encode(),  # an ENTITY alone
    ],
    ids=[
        "bomb",
        "after_comment_and_pi",
        "koi8r",
        "utf16",
        "utf16be_no_bom",
        "utf8_bom",
        "lowercase",
        "entity",
    ],
)
def test_a_dtd_in_the_prolog_is_refused_unparsed(tmp_path, monkeypatch, data):
    import sodaudit.loaders.xmlsafe as xmlsafe

    parsed: list[bytes] = []
    monkeypatch.setattr(xmlsafe.ET, "fromstring", lambda d: parsed.append(d))
    root, issues = _parse(tmp_path, data)
    assert root is None and parsed == []
    assert issues == [("load.xml_refused", "declares a DOCTYPE/ENTITY; refused, never expanded")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (ANNOTATION.format(note=QUOTED_DTD), "not well-formed XML: not well-formed (invalid token)"),
        (ANNOTATION.format(note="<note>&b;</note>"), "not well-formed XML: undefined entity"),
        (ANNOTATION.format(note="") + QUOTED_DTD, "not well-formed XML: junk after document element"),
    ],
    ids=["in_root", "undefined_entity", "after_root"],
)
def test_a_dtd_after_the_prolog_is_malformed_and_never_expanded(tmp_path, data, reason):
    root, issues = _parse(tmp_path, data.encode())
    assert root is None and issues == [("load.malformed_xml", reason)]


def test_voc_file_with_doctype_in_cdata_loads(tmp_path):
    (tmp_path / "Annotations").mkdir()
    _png(tmp_path / "JPEGImages" / "a.jpg", (100, 80))
    xml = ANNOTATION.format(note=f"<note><![CDATA[{QUOTED_DTD}]]></note>")
    (tmp_path / "Annotations" / "a.xml").write_text(xml)
    ds = voc.load(tmp_path)
    assert ds.issues == ()
    assert ds.boxes[["x", "y", "w", "h"]].values.tolist() == [[10.0, 20.0, 30.0, 40.0]]


# --- 4. finding messages are bounded -----------------------------------------------------------


def test_many_identical_images_give_a_bounded_message_with_the_counts(tmp_path):
    data = io.BytesIO()
    Image.new("L", (4, 4), 7).save(data, format="PNG")
    n_train, n_val = 150, 150
    name = "a_rather_long_folder_name/with_a_rather_long_image_file_name_{}_{:04d}.png"
    files = []
    for split, n in (("train", n_train), ("val", n_val)):
        for k in range(n):
            path = tmp_path / name.format(split, k)
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(data.getvalue())
            files.append((name.format(split, k), split, (4, 4)))
    result = integrity.analyze(_dataset(tmp_path, files), Config())
    finding = _codes(result)["integrity.cross_split_duplicate_image"]
    total = n_train + n_val
    assert len(finding.message) <= MAX_MESSAGE_CHARS
    assert finding.count == 1
    assert finding.message.startswith("1 image appears in more than one split")
    assert f"(same bytes; {total} files in all, up to {total} in one group)" in finding.message
    assert finding.message.endswith(f" = ... ({total - 2} more identical files)")  # two names shown
    more = total - integrity_pixels.GROUP_NAMES
    assert finding.examples[0].endswith(f" = ... ({more} more identical files)")
    assert len(finding.examples) == 1 and len(finding.examples[0]) <= MAX_EXAMPLE_CHARS
    assert len(result.tables["cross_split_duplicate_image"]) == total


def test_finding_text_is_capped_whatever_the_analyzer_built():
    long = "".join(f"file_{k:06d}.png, " for k in range(10_000))  # as the duplicate-file list did
    assert len(long) == 170_000
    finding = Finding.of("integrity.image_missing", long, "integrity", examples=("x" * 5000,) * 50)
    assert len(finding.message) <= MAX_MESSAGE_CHARS
    kept, note = finding.message.split("…")
    assert long.startswith(kept)
    cut = int(re.fullmatch(r" \(([\d,]+) more characters not shown\)", note).group(1).replace(",", ""))
    assert len(kept) + cut == len(long)
    assert len(finding.examples) == MAX_EXAMPLES
    assert all(len(e) <= MAX_EXAMPLE_CHARS for e in finding.examples)
    # Rules rebuild a finding: the cut text stays as it is.
    (ruled,) = apply_rules([finding], {"integrity.image_missing": Rule("error")})
    assert ruled.severity == Severity.ERROR and ruled.message == finding.message
    short = Finding.of("integrity.image_missing", "2 images named in the annotations are not on disk", "i")
    assert short.message == "2 images named in the annotations are not on disk"


# --- 5. a tiny tile: millions of tiles, a bounded drawing ----------------------------------------


def test_tile_count_and_starts_in_closed_form_match_the_loop():
    for length in (1, 5, 63, 64, 65, 100, 641, 1920):
        for tile in (1, 2, 7, 64, 640):
            for overlap in {0, tile // 5, tile - 1}:
                loop = axis_starts(length, tile, overlap)
                n = tiles.axis_count(length, tile, overlap)
                assert n == len(loop), (length, tile, overlap)
                assert tiles.axis_starts_at(np.arange(n), n, length, tile, overlap).tolist() == loop.tolist()


def test_inside_a_tile_matches_every_tile_checked():
    rng = np.random.default_rng(3)
    for length, tile, overlap in ((1920, 640, 128), (100, 7, 2), (50, 64, 12), (641, 64, 0)):
        start = rng.uniform(-5, length, 400)
        size = rng.uniform(0, tile * 1.2, 400)
        starts = axis_starts(length, tile, overlap)
        brute = ((start[:, None] >= starts) & (start[:, None] + size[:, None] <= starts + tile)).any(axis=1)
        assert (tiles.inside_a_tile(start, size, length, tile, overlap) == brute).all()


@pytest.mark.parametrize(("nx", "ny"), [(1, 1), (44, 45), (400, 300), (10**9, 1), (1, 10**6), (3, 10**5)])
def test_drawn_tiles_are_bounded_and_span_the_grid(nx, ny):
    cols, rows = tiles.drawn_indices(nx, ny)
    assert 1 <= len(cols) * len(rows) <= tiles.MAX_GRID_TILES
    assert (cols[0], cols[-1], rows[0], rows[-1]) == (0, nx - 1, 0, ny - 1)
    if nx * ny <= tiles.MAX_GRID_TILES:
        assert len(cols) * len(rows) == nx * ny


@pytest.mark.parametrize("header_width", [400, 10**9])
def test_one_pixel_tiles_draw_a_bounded_figure(tmp_path, monkeypatch, header_width):
    """A header may claim any width (the file here is 400 px): the tiles are counted, not made."""
    _png(tmp_path / "big.png", (400, 300))
    boxes = pd.DataFrame(
        {"image_id": [0, 0], "class_id": 0, "x": [10.0, 20.0], "y": 10.0, "w": [0.5, 3.0], "h": 0.5}
    )
    ds = _dataset(tmp_path, [("big.png", "train", (400, 300))], boxes)
    report = assemble(ds, Config(), run_all(ds, Config()))
    claimed = _dataset(tmp_path, [("big.png", "train", (header_width, 300))], boxes)
    one_px = ({"kind": "tiling", "summary": "", "params": {"tile_size": 1, "overlap_px": 0}},)
    drawn = []
    monkeypatch.setattr(tiles, "encode", lambda fig: drawn.append(fig) or "data:image/png;base64,")
    figure = tiles.tile_grid(replace(report, dataset=claimed, recommendations=one_px))
    (fig,) = drawn
    ax = fig.axes[0]
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    numbers = [t for t in ax.texts if isinstance(t, Annotation)]
    n_tiles = header_width * 300
    assert 0 < len(rectangles) <= tiles.MAX_GRID_TILES and numbers == []
    assert f"cut into {header_width} x 300 = {n_tiles} tiles of 1 px with 0 px overlap" in figure.caption
    assert f"Only {len(rectangles)} of the {n_tiles} tiles are drawn" in figure.caption
    assert "Tiles are not numbered" in figure.caption
    # A 0.5 px box fits a 1 px tile when it lies within one: x 10..10.5 does, x 20..23 does not.
    assert "1 of 2 labels lie wholly inside at least one tile" in figure.caption
