"""report.html as a reader gets it: every dataset string escaped, readable sections, capped
tables with a count of what is left out, recommendations shown, and a report even when the
figure or gallery code fails."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sodaudit.gallery import GalleryItem
from sodaudit.pipeline import audit
from sodaudit.render import html as html_render
from sodaudit.render.blocks import label_table
from sodaudit.render.html import to_html

HOSTILE_CLASSES = [
    "<script>alert('c')</script>",
    "quo\"te's",
    "</style><img src=x onerror=alert(1)>",
    "plain",
]
HOSTILE_FILES = [
    "<script>alert('f')</script>.jpg",
    "a\"b'c.jpg",
    "</style><b id=injected>x</b>.jpg",
]


class Elements(HTMLParser):
    """Every element the browser would create, with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.script_text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in.append(tag)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        (self.script_text if self._in and self._in[-1] == "script" else self.text).append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    parser.close()
    return parser


def write_hostile_coco(root: Path) -> Path:
    """A COCO file whose class names and file names carry markup, quotes and </style>."""
    root.mkdir(parents=True, exist_ok=True)
    images = [
        {"id": i + 1, "file_name": name, "width": 640, "height": 480} for i, name in enumerate(HOSTILE_FILES)
    ]
    cats = [{"id": i + 1, "name": name} for i, name in enumerate(HOSTILE_CLASSES)]
    anns = []
    for k in range(24):
        image = k % len(images) + 1
        cat = k % len(cats) + 1
        size = 1 + k % 5  # tiny boxes so sub-threshold lists, examples and the gallery fill up
        anns.append(
            {
                "id": k + 1,
                "image_id": image,
                "category_id": cat,
                "bbox": [10 + 20 * k, 30, size, size],
                "area": size * size,
                "iscrowd": 0,
            }
        )
    anns.append({"id": 99, "image_id": 1, "category_id": 1, "bbox": [10, 30, 1, 1], "area": 1, "iscrowd": 0})
    anns.append({"id": 100, "image_id": 2, "category_id": 7, "bbox": [5, 5, 0, 3], "area": 0, "iscrowd": 0})
    path = root / "instances_hostile.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> str:
    path = write_hostile_coco(tmp_path_factory.mktemp("hostile") / "data")
    rec = {
        "kind": "labels",
        "summary": f"Drop class {HOSTILE_CLASSES[0]}",
        "params": {"class": HOSTILE_CLASSES[2]},
        "evidence": {"file": HOSTILE_FILES[2]},
        "effect": {},
    }
    return to_html(replace(audit(path), recommendations=(rec,)))


def test_hostile_strings_create_no_element(hostile_page: str):
    doc = parse(hostile_page)
    tags = [t for t, _ in doc.tags]
    assert tags.count("script") == 1, "only the report's own script"
    assert tags.count("style") == 1, "only the report's own stylesheet"
    assert not [a for t, a in doc.tags if t == "b" and a.get("id") == "injected"]
    assert not [a for _, a in doc.tags if any(k.startswith("on") for k in a)], "no event-handler attribute"
    img_srcs = [a.get("src") or "" for t, a in doc.tags if t == "img"]
    assert all(src.startswith("data:image/") for src in img_srcs), img_srcs
    # the report's own script is the one we ship, not a dataset string
    assert "alert" not in "".join(doc.script_text)
    for raw in ("<script>alert(", "</style><img", "</style><b id=injected>"):
        assert raw not in hostile_page


def test_hostile_strings_are_shown_as_text(hostile_page: str):
    text = "".join(parse(hostile_page).text)
    for name in HOSTILE_CLASSES + HOSTILE_FILES:
        assert name in text, name


def test_sections_and_first_screen(sample_data: Path):
    report = audit(sample_data / "yolo")
    page = to_html(report)
    doc = parse(page)
    ids = {a.get("id") for _, a in doc.tags}
    assert {"gate", "dataset", "findings"} <= ids
    for name in report.analyzers:
        assert f"analyzer-{name}" in ids
    # the first screen: verdict, what to change, the gate, then the dataset card and the sections
    order = ["verdict", "what-to-change", "gate", "dataset", "analyzer-integrity"]
    positions = [page.index(f'id="{name}"') for name in order]
    assert positions == sorted(positions)
    # a readable sentence, not a key dump: the parity number in words
    below = report.analyzers["subthreshold"].stats.below_3px_at_imgsz
    text = " ".join(" ".join(doc.text).split())
    assert f"{below:,} of" in text and "< 3 px at imgsz 640" in text
    assert "below 3px at imgsz" not in text, "raw stats keys are not shown"


def test_label_tables_are_capped_with_a_count(sample_data: Path, monkeypatch):
    report = audit(sample_data / "yolo")
    total = len(report.analyzers["subthreshold"].tables["labels"])
    assert total > 10
    monkeypatch.setattr(html_render, "HTML_TABLE_ROWS", 7)
    page = to_html(report, figures=False)
    start = page.index('id="table-subthreshold-labels"')
    block = page[start : page.index("</table>", start)]
    assert block.count("<tr>") == 1 + 7  # header + capped rows
    assert f"Showing the first 7 of {total:,}; {total - 7:,} more are left out here." in " ".join(
        block.split()
    )
    assert "tables/subthreshold.labels.csv" in block


def test_recommendations_render_generically(sample_data: Path):
    recs = (
        {
            "kind": "resolution",
            "summary": "Train at imgsz 1280: 91% of boxes reach 8 px (now 40%), 4.0x the compute.",
            "params": {"imgsz": 1280, "sahi": {"slice_height": 640, "overlap_height_ratio": 0.2}},
            "evidence": {
                "candidates": [
                    {"imgsz": 640, "share": 0.4, "cost": 1.0},
                    {"imgsz": 1280, "share": 0.91, "cost": 4.0},
                ]
            },
            "effect": {"share_after": 0.91, "boxes_recovered": 512},
        },
        {"kind": "none", "summary": "Nothing to change.", "params": {}, "evidence": {}, "effect": {}},
    )
    page = to_html(replace(audit(sample_data / "yolo"), recommendations=recs), figures=False)
    text = " ".join(" ".join(parse(page).text).split())
    assert page.index('id="what-to-change"') < page.index('id="findings"')
    assert "Train at imgsz 1280: 91% of boxes reach 8 px" in text
    assert "Nothing to change." in text
    assert "share after 91.0%" in text  # shares as percentages
    assert "slice height 640; overlap height ratio 0.2" in text  # nested dict as one line
    rec = page[page.index('id="what-to-change"') : page.index('id="findings"')]
    assert rec.count("<caption>candidates</caption>") == 1  # list of records as a table
    assert ">1,280 px<" in rec  # pixels with their unit


@dataclass(frozen=True)
class FakeFigure:
    key: str
    section: str
    title: str
    caption: str
    data_uri: str
    alt: str


PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_figures_and_gallery_are_placed_in_their_sections(sample_data: Path, monkeypatch):
    import sodaudit.figures
    import sodaudit.gallery

    figs = [
        FakeFigure("hist", "sizes", "Size histogram", "caption <b>", PIXEL, "alt"),
        FakeFigure("card", "dataset", "Dataset figure", "", PIXEL, "alt"),
    ]
    items = [GalleryItem(PIXEL, "<script>x</script>", 1.0, 2.0, 0.3, 0.7, "a.txt:3", "a.jpg", 32.0)]
    monkeypatch.setattr(sodaudit.figures, "build_figures", lambda report: figs)
    monkeypatch.setattr(sodaudit.gallery, "smallest_labels", lambda dataset, limit=48, **kw: items)
    page = to_html(audit(sample_data / "yolo"))
    sizes = page[page.index('id="analyzer-sizes"') : page.index('id="analyzer-subthreshold"')]
    assert 'id="fig-hist"' in sizes and "caption &lt;b&gt;" in sizes
    dataset = page[page.index('id="dataset"') : page.index('id="findings"')]
    assert 'id="fig-card"' in dataset
    sub = page[page.index('id="analyzer-subthreshold"') : page.index('id="analyzer-class_overlap"')]
    assert 'id="gallery"' in sub and "&lt;script&gt;x&lt;/script&gt;" in sub and "a.txt:3" in sub


def test_report_survives_failing_figures_and_gallery(sample_data: Path, monkeypatch):
    import sodaudit.figures
    import sodaudit.gallery

    def boom(*args, **kwargs):
        raise RuntimeError("no backend")

    monkeypatch.setattr(sodaudit.figures, "build_figures", boom)
    monkeypatch.setattr(sodaudit.gallery, "smallest_labels", boom)
    page = to_html(audit(sample_data / "yolo"))
    assert 'id="analyzer-sizes"' in page
    assert "Figures could not be drawn (RuntimeError: no backend)" in page
    assert "could not be made (RuntimeError: no backend)" in page


def test_a_view_that_cannot_read_its_stats_raises(sample_data: Path):
    """A changed stats layout is a bug the tests must see, not a page with a raw dump."""
    report = audit(sample_data / "yolo")
    broken = replace(report.analyzers["strides"], stats={"models": "not a mapping", "imgsz": 640})
    report = replace(report, analyzers={**report.analyzers, "strides": broken})
    with pytest.raises(AttributeError):
        to_html(report, figures=False)


def test_label_table_cells():
    df = pd.DataFrame(
        {
            "box_id": [1, 2, 3, 4],
            "iou": [0.71234, 1.0, np.nan, np.inf],
            "zoom": [12.0, 3.25, -np.inf, 0.04],
            "w_model": [0.5, 10.0, 3.14159, np.nan],
            "flag": [True, False, True, False],
            "class_name": pd.Categorical(["a", "b", None, "a"]),
            "note": ["x", None, float("nan"), "y"],
            "count": pd.array([1, None, 3, 4], dtype="Int64"),
        }
    )
    table = label_table("integrity", "duplicate_box", df, 3)
    assert table.total == 4 and table.left_out == 1
    assert table.columns == ["box id", "iou", "zoom", "w model", "flag", "class name", "note", "count"]
    # iou to 3 digits, zoom to 1, other floats to 1, trailing zeros dropped; missing values empty
    assert table.rows == [
        ["1", "0.712", "12", "0.5", "True", "a", "x", "1"],
        ["2", "1", "3.2", "10", "False", "b", "", ""],
        ["3", "", "-inf", "3.1", "True", "", "", "3"],
    ]
    assert table.numeric == [True, True, True, True, False, False, False, True]
    assert label_table("x", "y", df[[]], 10).rows == [[], [], [], []]


def test_python_api(sample_data: Path):
    import sodaudit

    report = sodaudit.audit(sample_data / "yolo", imgsz=1280)
    assert isinstance(report, sodaudit.AuditReport)
    assert report.config.imgsz == 1280
    data = json.loads(report.to_json())
    assert data["config"]["imgsz"] == 1280
    assert report.passed is data["gate"]["passed"]
    assert [f.code for f in report.findings] == [f["code"] for f in data["findings"]]
    assert report.to_html().startswith("<!DOCTYPE html>")
    frame = report._repr_html_()
    assert frame.startswith("<iframe") and "<script>" not in frame  # the page is escaped in srcdoc


def test_verdict_states_the_share_below_the_smallest_stride(sample_data: Path):
    """The verdict's number, recomputed from the boxes: short side x (640 / long image side)
    below yolov8's smallest stride (8 px), over valid, non-ignored boxes in images of known size."""
    report = audit(sample_data / "yolo")
    b = report.dataset.box_columns("valid", "ignore", "w", "h", "img_w", "img_h")
    judged = b[b["valid"] & ~b["ignore"] & (b["img_w"] > 0) & (b["img_h"] > 0)]
    short = np.minimum(judged["w"], judged["h"]) * 640 / np.maximum(judged["img_w"], judged["img_h"])
    below = int((short < 8 - 1e-3).sum())
    page = to_html(report, figures=False)
    doc = parse(page)
    start = page.index('id="verdict"')
    sentence = html.unescape(" ".join(page[start : page.index("</section>", start)].split()))
    assert f"{below / len(judged):.1%} of {len(judged):,} boxes have a short side < 8 px" in sentence
    assert "imgsz 1280 (4.0x compute)" in sentence  # the plan the what-to-change list starts with
    text = " ".join(" ".join(doc.text).split())
    assert "Gate passed" in text and "the gate does not fail on" in text  # passed, and qualified
    # one definition: the strides finding and the size histogram's caption count the same boxes
    [stride_finding] = [f for f in report.findings if f.code == "strides.below_smallest_stride"]
    assert stride_finding.message.startswith(f"{below} of {len(judged)} boxes")
    from sodaudit.figures.sizes import size_histogram

    assert f"{below} of {len(judged)} labels" in size_histogram(report).caption


def test_a_finding_without_an_analyzer_section_is_listed_once_with_its_examples(sample_data: Path):
    """The plan's findings (thin cells) have no section below the list: each shows once, its
    examples in the list, and every link of the list leads to a section that exists."""
    import re

    report = audit(sample_data / "yolo")
    page = to_html(report, figures=False)
    plan = [f for f in report.findings if f.analyzer not in report.analyzers]
    assert plan  # sample_data/yolo has thin size cells
    for f in plan:
        assert page.count(f"<code>{f.code}</code>") == 1
        assert all(html.escape(e) in page for e in f.examples)
    links = set(re.findall(r'href="#(analyzer-[^"]+)"', page))
    assert links and all(f'id="{target}"' in page for target in links)
