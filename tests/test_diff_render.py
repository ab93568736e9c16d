"""diff.json, diff.html and the diff CSVs: a copy of sample_data/coco with known edits (shifts,
deletions, class changes, one added label) yields exactly those counts in the JSON, CSVs and
page; the gate follows the small-class jitter limit and the per-code rules; the page is one
self-contained document that escapes a hostile class name."""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from sodaudit.config import Config
from sodaudit.diff import DiffConfig, diff_datasets
from sodaudit.findings import Rule
from sodaudit.loaders import load
from sodaudit.render.diff import diff_report, label_tables, write_diff_outputs

SRC = "annotations/instances_train.json"
HOSTILE = "<script>alert('x')</script>"
K, J, R, D = 9, 4, 3, 2.0  # shifted by D px, removed, relabelled; plus one added label


@dataclass
class Perturbed:
    """A copy of sample_data/coco and what the test did to it, worked out from the raw JSON."""

    old_root: Path
    new_root: Path
    shifted: list[int]
    removed: list[int]
    relabelled: list[int]
    added_source: str
    expected_iou: dict[int, float]
    small_classes: set[str]
    class_of: dict[int, str]
    """Class name of each train annotation, by its index in OLD's file."""
    val_classes: list[str]
    n_train: int
    n_val: int
    ann_id: list[int]
    """The id of each train annotation, by its index in OLD's file."""

    def source(self, idx: int, pos: int | None = None) -> str:
        """How a finding names OLD's train annotation ``idx``, at index ``pos`` of its file
        (``idx`` in OLD's file by default)."""
        return f"{SRC}#annotations[{idx if pos is None else pos}] (id {self.ann_id[idx]})"


def _raw_small_classes(root: Path, threshold: float = 32.0) -> tuple[set[str], float]:
    """Classes whose median sqrt(w*h) over both annotation files (boxes with w, h > 0) is below
    ``threshold``, and the smallest distance of any median to it (the test needs a margin)."""
    sizes: dict[str, list[float]] = {}
    for part in ("train", "val"):
        doc = json.loads((root / "annotations" / f"instances_{part}.json").read_text())
        cats = {c["id"]: c["name"] for c in doc["categories"]}
        for a in doc["annotations"]:
            w, h = a["bbox"][2:]
            if w > 0 and h > 0:
                sizes.setdefault(cats[a["category_id"]], []).append(math.sqrt(w * h))
    medians = {name: statistics.median(v) for name, v in sizes.items()}
    margin = min(abs(m - threshold) for m in medians.values())
    return {name for name, m in medians.items() if m < threshold}, margin


def perturb(sample_data: Path, tmp_path: Path, seed: int = 5, hostile: bool = False) -> Perturbed:
    """OLD is a plain copy (with the first class renamed when ``hostile``); NEW is OLD with K
    boxes shifted along x by D px, J deleted, R given another class and one box added."""
    old_root, new_root = tmp_path / "old", tmp_path / "new"
    shutil.copytree(sample_data / "coco", old_root)
    defects = json.loads((sample_data / "scene.json").read_text())["defects"]
    defect_images = {d["file_name"] for d in defects}
    ann_file = old_root / "annotations" / SRC.split("/")[1]
    doc = json.loads(ann_file.read_text())
    if hostile:
        for part in ("train", "val"):
            path = old_root / "annotations" / f"instances_{part}.json"
            d = json.loads(path.read_text())
            d["categories"][0]["name"] = HOSTILE
            path.write_text(json.dumps(d))
        doc = json.loads(ann_file.read_text())
    shutil.copytree(old_root, new_root)
    val = json.loads((old_root / "annotations" / "instances_val.json").read_text())
    val_cats = {c["id"]: c["name"] for c in val["categories"]}
    val_classes = [val_cats[a["category_id"]] for a in val["annotations"]]

    names = {im["id"]: im["file_name"] for im in doc["images"]}
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    class_of = {idx: cats[a["category_id"]] for idx, a in enumerate(doc["annotations"])}
    rng = np.random.default_rng(seed)
    # Shift along x by D: IoU (w - D) / (w + D) with w >= 3 D keeps the pair above 0.5.
    candidates = [
        idx
        for idx, a in enumerate(doc["annotations"])
        if names[a["image_id"]] not in defect_images and a["bbox"][2] >= 3 * D and a["bbox"][3] > 0
    ]
    chosen = [int(c) for c in rng.choice(candidates, K + J + R, replace=False)]
    shifted, removed, relabelled = chosen[:K], chosen[K : K + J], chosen[K + J :]
    new_doc = json.loads(ann_file.read_text())
    anns = new_doc["annotations"]
    expected_iou = {}
    for idx in shifted:
        w = anns[idx]["bbox"][2]
        anns[idx]["bbox"][0] += D
        expected_iou[idx] = (w - D) / (w + D)
    cat_ids = sorted(cats)
    for idx in relabelled:
        current = anns[idx]["category_id"]
        anns[idx]["category_id"] = next(c for c in cat_ids if c != current)
    kept = [a for idx, a in enumerate(anns) if idx not in set(removed)]
    # One new label far from every other box of a clean image: nothing can pair with it.
    clean = next(im for im in new_doc["images"] if im["file_name"] not in defect_images)
    kept.append(
        {
            "id": 10**6,
            "image_id": clean["id"],
            "category_id": cat_ids[0],
            "bbox": [1.0, 1.0, 5.0, 5.0],
            "area": 25.0,
            "iscrowd": 0,
        }
    )
    assert not any(
        a["image_id"] == clean["id"] and a["bbox"][0] < 8 and a["bbox"][1] < 8 for a in doc["annotations"]
    ), "the added box must not overlap an existing one"
    new_doc["annotations"] = kept
    (new_root / "annotations" / SRC.split("/")[1]).write_text(json.dumps(new_doc))
    small, margin = _raw_small_classes(old_root)
    assert margin > 2.0, "a class median near the threshold would make the expected set fragile"
    return Perturbed(
        old_root,
        new_root,
        shifted,
        removed,
        relabelled,
        f"{SRC}#annotations[{len(kept) - 1}] (id {10**6})",
        expected_iou,
        small,
        class_of,
        val_classes,
        len(doc["annotations"]),
        len(val_classes),
        [a["id"] for a in doc["annotations"]],
    )


def run(p: Perturbed, out: Path, diff_config: DiffConfig | None = None, config: Config | None = None):
    diff_config, config = diff_config or DiffConfig(), config or Config()
    old, new = load(p.old_root, "coco"), load(p.new_root, "coco")
    result = diff_datasets(old, new, diff_config)
    written = write_diff_outputs(result, old, new, config, out)
    return result, written, json.loads((out / "diff.json").read_text())


def expected_small_jitter(p: Perturbed) -> tuple[int, int]:
    """(jittered, paired) over the small classes: every box of OLD stays paired with its own
    class except the removed and relabelled ones; a shifted box jitters when
    (w - D) / (w + D) < 0.9."""
    gone = set(p.removed) | set(p.relabelled)
    paired = sum(1 for idx in range(p.n_train) if idx not in gone and p.class_of[idx] in p.small_classes)
    paired += sum(1 for name in p.val_classes if name in p.small_classes)
    jittered = sum(1 for idx in p.shifted if p.expected_iou[idx] < 0.9 and p.class_of[idx] in p.small_classes)
    return jittered, paired


@pytest.fixture(scope="module")
def perturbed(sample_data: Path, tmp_path_factory) -> Perturbed:
    return perturb(sample_data, tmp_path_factory.mktemp("perturbed"))


@pytest.fixture(scope="module")
def outputs(perturbed: Perturbed, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result, written, doc = run(perturbed, out)
    return out, result, written, doc


# --- diff.json ------------------------------------------------------------------------------------


def test_json_carries_exactly_the_known_counts(perturbed: Perturbed, outputs):
    out, _, written, doc = outputs
    assert doc["schema_version"] == "1.0"
    assert doc["tool"]["name"] == "sodaudit" and doc["tool"]["created"]
    assert doc["old"] == {
        "path": str(perturbed.old_root),
        "format": "coco",
        "num_images": 30,
        "num_boxes": perturbed.n_train + perturbed.n_val,
    }
    assert doc["new"]["num_boxes"] == perturbed.n_train + perturbed.n_val - J + 1
    boxes = doc["stats"]["boxes"]
    jittered = sum(1 for iou in perturbed.expected_iou.values() if iou < 0.9)
    assert (boxes["added"], boxes["removed"], boxes["relabelled"], boxes["moved"], boxes["jittered"]) == (
        1,
        J,
        R,
        K,
        jittered,
    )
    assert boxes["matched"] == perturbed.n_train + perturbed.n_val - J - R
    assert {f["code"]: f["count"] for f in doc["findings"]} == {
        "diff.added": 1,
        "diff.removed": J,
        "diff.relabelled": R,
        "diff.moved": K,
        **({"diff.jitter_small_classes": jittered} if jittered else {}),
    }
    keys = {"code", "severity", "message", "analyzer", "value", "threshold", "class_name", "examples"}
    assert all(keys <= set(f) for f in doc["findings"])
    assert doc["config"]["diff"] == {
        "match_iou": 0.5,
        "jitter_iou": 0.9,
        "moved_px": 1.0,
        "small_jitter_fail": 0.1,
        "small_class_px": 32.0,
    }
    assert doc["config"]["fail_on"] == "error" and doc["config"]["imgsz"] == 640
    assert set(doc) == {"schema_version", "tool", "old", "new", "config", "stats", "findings", "gate"}
    # Written atomically: exactly the returned files, no temporary left behind.
    on_disk = {p for p in out.rglob("*") if p.is_file()}
    assert on_disk == set(written)
    assert {p.relative_to(out).as_posix() for p in written} >= {
        "diff.json",
        "diff.html",
        "tables/diff.added.csv",
        "tables/diff.removed.csv",
        "tables/diff.relabelled.csv",
        "tables/diff.moved.csv",
    }


def test_csvs_name_the_edited_labels_in_both_versions(perturbed: Perturbed, outputs):
    out = outputs[0]

    def rows(name: str) -> list[dict[str, str]]:
        with (out / "tables" / f"diff.{name}.csv").open(newline="") as handle:
            return list(csv.DictReader(handle))

    new_pos = {
        old: pos for pos, old in enumerate(i for i in range(perturbed.n_train) if i not in perturbed.removed)
    }
    moved = rows("moved")
    assert sorted(r["old_source"] for r in moved) == sorted(perturbed.source(i) for i in perturbed.shifted)
    assert sorted(r["new_source"] for r in moved) == sorted(
        perturbed.source(i, new_pos[i]) for i in perturbed.shifted
    )
    assert {float(r["shift_px"]) for r in moved} == {D}
    assert sorted(r["old_source"] for r in rows("removed")) == sorted(
        perturbed.source(i) for i in perturbed.removed
    )
    rel = rows("relabelled")
    assert sorted(r["old_source"] for r in rel) == sorted(perturbed.source(i) for i in perturbed.relabelled)
    assert all(r["old_class"] != r["new_class"] for r in rel)
    added = rows("added")
    assert [(r["new_source"], r["new_x"], r["new_w"]) for r in added] == [
        (perturbed.added_source, "1.0", "5.0")
    ]
    assert rows("images_only_old") == [] and rows("images_only_new") == []


def test_small_class_jitter_rate_matches_a_count_from_the_raw_file(perturbed: Perturbed, outputs):
    doc = outputs[3]
    jittered, paired = expected_small_jitter(perturbed)
    small = doc["stats"]["small_classes"]
    assert set(small["classes"]) == perturbed.small_classes
    assert (small["jittered"], small["matched"]) == (jittered, paired)
    assert small["jitter_rate"] == pytest.approx(jittered / paired)


# --- the gate ---------------------------------------------------------------------------------------


def test_gate_fails_when_small_class_jitter_exceeds_the_limit(perturbed: Perturbed, tmp_path: Path):
    jittered, paired = expected_small_jitter(perturbed)
    assert jittered > 0, "the seed must make at least one small-class pair jitter"
    rate = jittered / paired
    _, _, strict = run(perturbed, tmp_path / "strict", DiffConfig(small_jitter_fail=rate * 0.9))
    assert strict["gate"] == {
        "passed": False,
        "fail_on": "error",
        "failed_codes": ["diff.jitter_small_classes"],
    }
    finding = next(f for f in strict["findings"] if f["code"] == "diff.jitter_small_classes")
    assert finding["severity"] == "error"
    assert finding["value"] == pytest.approx(rate) and finding["threshold"] == pytest.approx(rate * 0.9)
    _, _, lenient = run(perturbed, tmp_path / "lenient", DiffConfig(small_jitter_fail=rate * 1.1))
    assert lenient["gate"] == {"passed": True, "fail_on": "error", "failed_codes": []}
    # The limit's own value is "within": the finding fails only above it.
    _, _, exact = run(perturbed, tmp_path / "exact", DiffConfig(small_jitter_fail=rate))
    assert exact["gate"]["passed"] is True


def test_gate_applies_rules_and_fail_on(perturbed: Perturbed):
    old, new = load(perturbed.old_root, "coco"), load(perturbed.new_root, "coco")
    result = diff_datasets(old, new, DiffConfig(small_jitter_fail=1.0))
    passed = diff_report(result, old, new, Config())["gate"]
    assert passed == {"passed": True, "fail_on": "error", "failed_codes": []}
    # removed and relabelled are warnings: fail_on = warning fails on both, most severe first.
    on_warning = diff_report(result, old, new, Config(fail_on="warning"))["gate"]
    assert on_warning["passed"] is False
    assert set(on_warning["failed_codes"]) == {"diff.removed", "diff.relabelled"}
    ruled = Config(rules={"diff.added": Rule("error"), "diff.removed": Rule("off")})
    doc = diff_report(result, old, new, ruled)
    assert doc["gate"]["failed_codes"] == ["diff.added"]
    assert "diff.removed" not in {f["code"] for f in doc["findings"]}
    never = diff_report(result, old, new, replace(ruled, fail_on="never"))["gate"]
    assert never == {"passed": True, "fail_on": "never", "failed_codes": []}


# --- diff.html ---------------------------------------------------------------------------------------


class Page(HTMLParser):
    """Elements with their attributes, all text, and the text inside each element with an id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.script_text: list[str] = []
        self.by_id: dict[str, list[str]] = {}
        self._stack: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag not in ("meta", "br", "input", "img", "link"):
            self._stack.append((tag, a.get("id")))
            if a.get("id"):
                self.by_id[a["id"]] = []

    def handle_endtag(self, tag):
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if any(t == "script" for t, _ in self._stack):
            self.script_text.append(data)
            return
        self.text.append(data)
        for _, ident in self._stack:
            if ident:
                self.by_id[ident].append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def test_page_shows_the_counts_and_rates(perturbed: Perturbed, outputs):
    out = outputs[0]
    page = parse((out / "diff.html").read_text())
    jittered = sum(1 for iou in perturbed.expected_iou.values() if iou < 0.9)
    shown = " ".join(t.strip() for t in page.by_id["counts"] if t.strip())
    for label, value in (
        ("added", 1),
        ("removed", J),
        ("relabelled", R),
        ("moved", K),
        ("jittered", jittered),
    ):
        assert f"{value} {label}" in shown, (label, shown)
    small_jit, small_paired = expected_small_jitter(perturbed)
    small_text = " ".join(page.by_id["small-classes"])
    assert f"{100 * small_jit / small_paired:.1f}%" in small_text
    assert f"{small_jit:,} of {small_paired:,} paired" in small_text
    # Disagreement on small classes, recomputed: removed + added + relabelled + jittered over
    # all objects of those classes (every class is small here).
    assert perturbed.small_classes == {"car", "truck", "person", "bicycle", "boat"}
    objects = small_paired + J + 1 + R
    assert f"{100 * (J + 1 + R + small_jit) / objects:.1f}%" in small_text
    # Defaults: 0.7 % small-class jitter is within the 10 % limit and the rest are warnings and
    # notes, so an error-level gate passes.
    assert "Gate passed" in " ".join(page.by_id["gate"])
    assert {"jitter-by-bucket", "jitter-by-class", "versions-table", "findings"} <= set(page.by_id)
    bucket_text = " ".join(page.by_id["jitter-by-bucket"])
    assert all(b in bucket_text for b in ("very tiny", "tiny", "small", "other"))
    # Each shown label table says how many rows it has; every moved row names both sources.
    for name, n in (("added", 1), ("removed", J), ("relabelled", R), ("moved", K)):
        assert f"All {n} rows." in " ".join(" ".join(page.by_id[f"table-diff-{name}"]).split())
    moved_text = " ".join(page.by_id["table-diff-moved"])
    assert all(perturbed.source(i) in moved_text for i in perturbed.shifted)


def test_page_is_self_contained(outputs):
    page_text = (outputs[0] / "diff.html").read_text()
    page = parse(page_text)
    tags = [t for t, _ in page.tags]
    assert tags.count("style") == 1 and tags.count("script") == 1
    assert "link" not in tags
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")
    for _, attrs in page.tags:
        assert (attrs.get("src") or "data:").startswith("data:")
        assert (attrs.get("href") or "#").startswith("#")
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    assert "http://" not in page_text and "https://" not in page_text


def test_hostile_class_name_is_escaped(sample_data: Path, tmp_path: Path):
    p = perturb(sample_data, tmp_path / "data", seed=5, hostile=True)
    # The hostile class owns labels that changed, so its name reaches the findings and tables.
    assert HOSTILE in {p.class_of[i] for i in p.shifted + p.removed + p.relabelled}
    _, _, doc = run(p, tmp_path / "out")
    assert HOSTILE in doc["stats"]["small_classes"]["classes"]
    text = (tmp_path / "out" / "diff.html").read_text()
    page = parse(text)
    assert [t for t, _ in page.tags].count("script") == 1
    assert "alert" not in "".join(page.script_text)
    assert HOSTILE not in text
    assert "&lt;script&gt;" in text
    # Shown as text where a class name appears: jitter by class, findings, the label tables.
    for ident in ("jitter-by-class", "findings", "labels"):
        assert HOSTILE in "".join(page.by_id[ident]), ident


def test_identical_versions_render_without_changes(sample_data: Path, tmp_path: Path):
    old, new = load(sample_data / "coco", "coco"), load(sample_data / "coco", "coco")
    result = diff_datasets(old, new)
    write_diff_outputs(result, old, new, Config(), tmp_path)
    doc = json.loads((tmp_path / "diff.json").read_text())
    assert doc["findings"] == [] and doc["gate"]["passed"] is True
    page = parse((tmp_path / "diff.html").read_text())
    shown = " ".join(t.strip() for t in page.by_id["counts"] if t.strip())
    assert all(f"0 {label}" in shown for label in ("added", "removed", "relabelled", "moved", "jittered"))
    assert "No findings" in " ".join(page.by_id["findings"])
    with (tmp_path / "tables" / "diff.moved.csv").open() as handle:
        assert len(list(csv.reader(handle))) == 1  # header only


def test_shown_tables_are_capped_and_name_their_csv(outputs):
    result = outputs[1]
    tables = {t.name: t for t in label_tables(result, limit=3)}
    assert list(tables) == ["added", "removed", "relabelled", "moved"]
    moved = tables["moved"]
    assert (len(moved.rows), moved.total, moved.left_out) == (3, K, K - 3)
    assert moved.csv == "tables/diff.moved.csv"
    assert "old source" in moved.columns and "new source" in moved.columns
    assert (len(tables["added"].rows), tables["added"].left_out) == (1, 0)
