"""Datasets in object storage (issue 19), against a real S3 API: moto's server on 127.0.0.1,
started here; never the network. Skipped with a reason when moto or s3fs is not installed
(``pip install -e ".[test]"`` installs both, and ``.ci/run`` does)."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sodaudit.errors import DatasetError
from sodaudit.imageinfo import header_row_of_bytes, read_header
from sodaudit.remote_stage import HEADER_BYTES, safe_rel

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """An S3 endpoint on 127.0.0.1 (moto's threaded server) with the environment pointing to it,
    and an fsspec filesystem to fill buckets with."""
    server_mod = pytest.importorskip(
        "moto.server", reason="moto[server] is not installed (pip install moto[server])"
    )
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install 'sodaudit[s3]')")
    import fsspec

    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fsspec.filesystem("s3").clear_instance_cache()
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("bkt")
    try:
        yield fs
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _upload(fs, local: Path, prefix: str) -> None:
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe_file(f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())
    fs.invalidate_cache()


def _normalised(report, roots: list[str]) -> dict:
    text = json.dumps(report.to_dict(), sort_keys=True)
    for root in roots:
        text = text.replace(root.rstrip("/"), "<ROOT>")
    data = json.loads(text)
    data["tool"].pop("created", None)
    data["dataset"]["meta"].pop("origin", None)
    return data


def test_sample_yolo_from_s3_gives_the_local_report(s3):
    """The same report.json from the bucket as from the disk, paths aside: every loader and
    analyzer (hashes and pHash across splits included) read the staged tree as a folder."""
    from sodaudit import audit, remote

    _upload(s3, SAMPLE / "yolo", "bkt/sample/yolo")
    from_s3 = audit("s3://bkt/sample/yolo", cache=False)
    local = audit(SAMPLE / "yolo", cache=False)
    staged_roots = [str(from_s3.dataset.root)]
    assert from_s3.dataset.meta["origin"] == "s3://bkt/sample/yolo"
    assert from_s3.to_dict()["dataset"]["path"] == "s3://bkt/sample/yolo"
    assert not any(str(from_s3.dataset.root) in n for n in from_s3.dataset.notes)
    assert _normalised(from_s3, ["s3://bkt/sample/yolo", *staged_roots]) == _normalised(
        local, [str(SAMPLE / "yolo")]
    )
    assert remote.current() is None  # the staging ended with the audit
    assert not Path(staged_roots[0]).exists()  # --no-cache: a temporary folder, removed


def test_coco_json_url_stages_the_folder_above_annotations(s3):
    from sodaudit import audit

    _upload(s3, SAMPLE / "coco", "bkt/sample/coco")
    from_s3 = audit("s3://bkt/sample/coco/annotations/instances_train.json", cache=False)
    local = audit(SAMPLE / "coco" / "annotations" / "instances_train.json", cache=False)
    assert len(from_s3.dataset.boxes) == len(local.dataset.boxes) > 0
    assert from_s3.dataset.images["width"].tolist() == local.dataset.images["width"].tolist()
    assert [f.message for f in from_s3.findings] == [
        f.message.replace(str(SAMPLE / "coco"), "s3://bkt/sample/coco") for f in local.findings
    ]


def _noisy_jpeg(width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.fixture
def big_images(s3, tmp_path):
    """A YOLO folder of three 600 KB+ JPEGs (noise does not compress) and its labels, in the
    bucket under a fresh prefix."""
    root = tmp_path / "big"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    sizes = [(640, 480), (800, 600), (500, 700)]
    for k, (w, h) in enumerate(sizes):
        (root / "images" / f"im{k}.jpg").write_bytes(_noisy_jpeg(w, h, k))
        (root / "labels" / f"im{k}.txt").write_text("0 0.5 0.5 0.01 0.01\n1 0.25 0.25 0.1 0.1\n")
    prefix = f"bkt/{tmp_path.name}"
    _upload(s3, root, prefix)
    return root, f"s3://{prefix}", sizes


def test_staging_reads_only_image_headers(big_images):
    """Images are staged as empty sparse files; only their first 64 KB are read; headers match
    Pillow's reading of the local files."""
    from sodaudit import remote
    from sodaudit.loaders import load

    root, url, sizes = big_images
    image_bytes = sum(p.stat().st_size for p in (root / "images").iterdir())
    label_bytes = sum(p.stat().st_size for p in (root / "labels").iterdir())
    assert image_bytes > 10 * HEADER_BYTES
    with remote.staged(url, cache=False) as local:
        mirror = remote.current()
        assert mirror is not None
        assert mirror.bytes_fetched == label_bytes + 3 * HEADER_BYTES
        staged = sorted((local / "images").iterdir())
        assert [p.stat().st_size for p in staged] == [
            p.stat().st_size for p in sorted((root / "images").iterdir())
        ]
        assert all(p.stat().st_blocks == 0 for p in staged)  # no byte of pixels on disk
        dataset = load(local, "yolo")
        assert sorted(zip(dataset.images["width"], dataset.images["height"], strict=True)) == sorted(
            (float(w), float(h)) for w, h in sizes
        )


def test_a_rerun_fetches_only_the_changed_label_file(big_images):
    from sodaudit import remote

    _, url, _ = big_images
    with remote.staged(url, cache=True):
        first = remote.current().bytes_fetched
    assert first > 0
    with remote.staged(url, cache=True):
        assert remote.current().bytes_fetched == 0  # nothing changed: nothing read
    import fsspec

    s3 = fsspec.filesystem("s3")
    new_label = b"0 0.5 0.5 0.2 0.2\n"
    s3.pipe_file(url.removeprefix("s3://") + "/labels/im1.txt", new_label)
    s3.rm_file(url.removeprefix("s3://") + "/labels/im2.txt")
    s3.invalidate_cache()
    with remote.staged(url, cache=True) as local:
        assert remote.current().bytes_fetched == len(new_label)
        assert (local / "labels" / "im1.txt").read_bytes() == new_label
        assert not (local / "labels" / "im2.txt").exists()  # gone from the bucket, gone here


def test_deep_decode_fetches_blocks_and_leaves_them_sparse(big_images, s3):
    """--deep names the truncated image as the local run does, and the staged images hold no
    bytes afterwards."""
    from sodaudit import audit

    root, url, _ = big_images
    data = (root / "images" / "im0.jpg").read_bytes()
    broken = root.parent / "broken"
    shutil.copytree(root, broken)
    (broken / "images" / "im0.jpg").write_bytes(data[: len(data) // 2])  # header intact, body cut
    prefix = url.removeprefix("s3://") + "-broken"
    _upload(s3, broken, prefix)
    from_s3 = audit(f"s3://{prefix}", deep=True, cache=True)
    local = audit(broken, deep=True, cache=False)
    found = sorted((f.code, f.examples) for f in from_s3.findings if f.code.startswith("integrity"))
    assert found == sorted((f.code, f.examples) for f in local.findings if f.code.startswith("integrity"))
    deep = from_s3.analyzers["integrity"].stats.deep_decode
    assert (deep.images_decoded, deep.failed) == (2, 1)  # im0 cut in half: 1 of 3 fails
    staged = list(Path(from_s3.dataset.root).rglob("*.jpg"))
    assert len(staged) == 3 and all(p.stat().st_blocks == 0 for p in staged)


def test_cli_missing_prefix_is_exit_2(s3, tmp_path):
    from sodaudit.cli import main

    assert main(["run", "s3://bkt/no/such/prefix", "--out", str(tmp_path / "out")]) == 2


def test_unknown_protocol_is_a_dataset_error():
    from sodaudit import audit

    with pytest.raises(DatasetError, match=r"nosuchproto://"):
        audit("nosuchproto://bucket/x")


@pytest.mark.parametrize(
    ("rel", "ok"),
    [
        ("images/a.jpg", True),
        ("a/../b.txt", False),
        ("./a.txt", False),
        ("a//b.txt", False),
        ("a\\b.txt", False),
        ("", False),
        ("labels/..hidden.txt", True),
    ],
)
def test_safe_rel(rel, ok):
    assert safe_rel(rel) is ok


@pytest.mark.parametrize(
    "make",
    [
        lambda: _noisy_jpeg(64, 48, 1),
        lambda: _png(33, 17),
        lambda: _rotated_jpeg(40, 20),
    ],
    ids=["jpeg", "png", "exif-rotated-jpeg"],
)
def test_header_of_first_bytes_matches_the_file(make, tmp_path):
    data = make()
    path = tmp_path / "im"
    path.write_bytes(data)
    h = read_header(str(path))
    assert header_row_of_bytes(data[:HEADER_BYTES]) == (h.width, h.height, h.status, h.exif_rotated, h.reason)


def _png(w: int, h: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (w, h)).save(out, "PNG")
    return out.getvalue()


def _rotated_jpeg(w: int, h: int) -> bytes:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: shown as h x w
    Image.new("RGB", (w, h)).save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_rotated_header_is_swapped():
    row = header_row_of_bytes(_rotated_jpeg(40, 20))
    assert row[:4] == (20.0, 40.0, "ok", True)


def test_listing_keeps_only_objects_under_the_prefix(s3):
    from sodaudit.remote_stage import list_objects

    s3.pipe({"bkt/lst/a.txt": b"1", "bkt/lst/sub/b.jpg": b"2", "bkt/lst2/c.txt": b"3"})
    s3.invalidate_cache()
    objects, notes = list_objects(s3, "bkt/lst")
    assert [(o.rel, o.size, o.kind) for o in objects] == [("a.txt", 1, "file"), ("sub/b.jpg", 1, "image")]
    assert notes == []


def test_identical_images_come_from_etags_without_fetching_pixels(s3, tmp_path):
    """sample_data/yolo has two splits, so the audit looks for identical images across them: in a
    bucket the ETag (the MD5 of a single-part upload) identifies each image, so only the first
    64 KB of each is read. A copy of a train image put into val is found as the local run finds it."""
    from sodaudit import audit, remote

    data = tmp_path / "yolo"
    shutil.copytree(SAMPLE / "yolo", data)
    train = sorted((data / "train" / "images").glob("*.jpg"))[0]
    shutil.copy(train, data / "val" / "images" / "copy.jpg")
    shutil.copy(data / "train" / "labels" / f"{train.stem}.txt", data / "val" / "labels" / "copy.txt")
    _upload(s3, data, "bkt/once/yolo")
    files = [p for p in data.rglob("*") if p.is_file()]
    images = [p.stat().st_size for p in files if p.suffix == ".jpg"]
    others = sum(p.stat().st_size for p in files if p.suffix != ".jpg")
    assert any(s > HEADER_BYTES for s in images)
    with remote.staged("s3://bkt/once/yolo", cache=False):
        report = audit("s3://bkt/once/yolo", cache=False)
        assert remote.current().bytes_fetched == others + sum(min(s, HEADER_BYTES) for s in images)
    stats = report.analyzers["integrity"].stats.image_hash
    local = audit(data, cache=False).analyzers["integrity"].stats.image_hash
    assert (stats.identical_groups, stats.images_hashed) == (local.identical_groups, local.images_hashed)
    assert local.identical_groups == 1
    code = "integrity.cross_split_duplicate_image"
    found = [f.examples for f in report.findings if f.code == code]
    assert found == [f.examples for f in audit(data, cache=False).findings if f.code == code]
    assert len(found) == 1 and any("copy.jpg" in e for e in found[0])


def test_a_remote_scheduler_is_refused_for_a_bucket():
    """Workers elsewhere would read this machine's staged files: refused before any listing."""
    from sodaudit import audit
    from sodaudit.errors import ConfigError

    with pytest.raises(ConfigError, match="--scheduler local"):
        audit("s3://bkt/x", scheduler="tcp://127.0.0.1:8786")


def test_sample_from_s3_draws_the_local_sample(s3, tmp_path):
    """``sodaudit sample`` on a bucket: the same images as on disk for the same seed, and a
    contact sheet whose thumbnails were fetched (as many images as on disk)."""
    from sodaudit.cli import main

    _upload(s3, SAMPLE / "yolo", "bkt/review/yolo")
    assert main(["sample", "s3://bkt/review/yolo", "--n", "6", "--out", str(tmp_path / "s3")]) == 0
    assert main(["sample", str(SAMPLE / "yolo"), "--n", "6", "--out", str(tmp_path / "local")]) == 0
    s3_csv = (tmp_path / "s3" / "sample.csv").read_text()
    assert s3_csv == (tmp_path / "local" / "sample.csv").read_text()
    thumbs = [(tmp_path / d / "sample.html").read_text().count("data:image/") for d in ("s3", "local")]
    assert thumbs[0] == thumbs[1] >= 6


def test_a_second_run_of_the_same_url_stages_apart(big_images):
    """While one run holds the cached tree of a URL, another run of it (here a thread: a fresh
    context, no active staging) stages into a temporary folder of its own, and both see the
    dataset."""
    import threading

    from sodaudit import remote

    _, url, _ = big_images
    seen: dict[str, object] = {}

    def other_run() -> None:
        with remote.staged(url, cache=True) as second:
            seen["root"] = second
            seen["labels"] = sorted(p.name for p in second.rglob("*.txt"))

    with remote.staged(url, cache=True) as first:
        thread = threading.Thread(target=other_run)
        thread.start()
        thread.join()
        assert seen["root"] != first
        assert seen["labels"] == sorted(p.name for p in first.rglob("*.txt")) != []
    assert not Path(seen["root"]).exists()


def test_a_listing_past_its_bound_is_a_note_not_a_hang(s3, monkeypatch):
    """The listing stops after MAX_LISTED_OBJECTS objects (here 3) with a note."""
    from sodaudit import remote_stage

    s3.pipe({f"bkt/many/f{k}.txt": b"x" for k in range(6)})
    s3.invalidate_cache()
    objects, notes = remote_stage.list_objects(s3, "bkt/many", limit=3)
    assert len(objects) == 3
    assert len(notes) == 1 and "stopped after 3 objects" in notes[0]


def test_a_label_file_past_the_limit_is_not_fetched_and_is_a_finding(big_images, s3):
    """A label file larger than limits.max_annotation_file_mb is staged as a sparse file of its
    size, never fetched; the loader reports it as too large, as it does for a local file."""
    from sodaudit import audit, remote

    _, url, _ = big_images
    big = b"0 0.5 0.5 0.1 0.1\n" * 70_000  # 1.26 MB
    s3.pipe_file(url.removeprefix("s3://") + "/labels/im0.txt", big)
    s3.invalidate_cache()
    from sodaudit.config import Config

    config = Config(cache=False).with_overrides(
        ("limits.max_annotation_file_mb=1", "limits.max_label_file_mb=1")
    )
    with remote.staged(url, cache=False, max_file_mb=1.0) as local:
        staged = local / "labels" / "im0.txt"
        assert staged.stat().st_size == len(big) and staged.stat().st_blocks == 0
        assert remote.current().bytes_fetched < len(big)
        report = audit(url, config=config)
    too_large = [f for f in report.findings if f.code == "load.file_too_large"]
    assert len(too_large) == 1 and any("im0.txt" in e for e in too_large[0].examples)


def test_anchors_of_a_bucket_are_the_anchors_on_disk(s3, capsys):
    from sodaudit.cli import main

    _upload(s3, SAMPLE / "yolo", "bkt/anchors/yolo")
    assert main(["anchors", "s3://bkt/anchors/yolo", "--evolve", "50"]) == 0
    from_s3 = capsys.readouterr().out
    assert main(["anchors", str(SAMPLE / "yolo"), "--evolve", "50"]) == 0
    assert from_s3 == capsys.readouterr().out and "anchors" in from_s3


def test_diff_of_two_buckets_is_the_diff_on_disk(s3, tmp_path, capsys):
    """``sodaudit diff s3://old s3://new``: each version staged while it loads; the same counts
    as on disk (one label file changed: one box moved)."""
    from sodaudit.cli import main

    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(SAMPLE / "yolo", old)
    shutil.copytree(SAMPLE / "yolo", new)
    label = sorted((new / "train" / "labels").glob("*.txt"))[0]
    rows = label.read_text().splitlines()
    cls, x, y, w, h = rows[0].split()
    rows[0] = f"{cls} {float(x) + float(w):.6f} {y} {w} {h}"  # moved by its width: IoU 0
    label.write_text("\n".join(rows) + "\n")
    _upload(s3, old, "bkt/diff/old")
    _upload(s3, new, "bkt/diff/new")
    args = ["--out", str(tmp_path / "d1")]
    main(["diff", "s3://bkt/diff/old", "s3://bkt/diff/new", *args])
    from_s3 = capsys.readouterr().out
    main(["diff", str(old), str(new), "--out", str(tmp_path / "d2")])
    local = capsys.readouterr().out
    assert from_s3.splitlines()[0] == "sodaudit diff: s3://bkt/diff/old -> s3://bkt/diff/new"
    assert from_s3.replace("/d1/", "/d2/").splitlines()[1:] == local.splitlines()[1:]
    s3_json = json.loads((tmp_path / "d1" / "diff.json").read_text())
    local_json = json.loads((tmp_path / "d2" / "diff.json").read_text())
    for side, url, folder in (("old", "s3://bkt/diff/old", old), ("new", "s3://bkt/diff/new", new)):
        assert s3_json["stats"][side].pop("path") == url
        assert local_json["stats"][side].pop("path") == str(folder)
    assert s3_json["stats"] == local_json["stats"]
    assert s3_json["stats"]["boxes"]["moved"] + s3_json["stats"]["boxes"]["added"] >= 1


def test_pixel_passes_from_s3_give_the_local_report(s3):
    """--pixels (look-alike crops, visibility, pHash) and --deep over a bucket: every pixel
    pass fetches its images and reports what it reports on disk."""
    from sodaudit import audit

    _upload(s3, SAMPLE / "yolo", "bkt/px/yolo")
    from_s3 = audit("s3://bkt/px/yolo", cache=False, pixels=True, deep=True)
    local = audit(SAMPLE / "yolo", cache=False, pixels=True, deep=True)
    assert from_s3.analyzers["visibility"].stats is not None
    assert _normalised(from_s3, ["s3://bkt/px/yolo", str(from_s3.dataset.root)]) == _normalised(
        local, [str(SAMPLE / "yolo")]
    )


def test_a_missing_backend_says_which_extra_to_install(monkeypatch):
    """Without s3fs, fsspec raises ImportError: one sentence naming the extra, exit 2."""
    fsspec_core = pytest.importorskip("fsspec.core", reason="fsspec is not installed")
    from sodaudit.cli import main

    def no_backend(url, **kw):
        raise ImportError("Install s3fs to access S3")

    monkeypatch.setattr(fsspec_core, "url_to_fs", no_backend)
    with pytest.raises(DatasetError, match=r'pip install "sodaudit\[s3\]"'):
        from sodaudit import audit

        audit("s3://bkt/x")
    assert main(["run", "s3://bkt/x"]) == 2


def test_a_label_file_the_store_will_not_give_is_an_unreadable_file_finding(big_images, monkeypatch):
    """A label file whose GET fails is not staged (no placeholder of zeros): it is a
    load.unreadable_file finding naming it, and the rest is audited."""
    import s3fs

    from sodaudit import audit

    _, url, _ = big_images
    real_cat = s3fs.S3FileSystem._cat  # what the sync ``cat`` runs on fsspec's event loop

    async def failing_cat(self, path, *args, **kwargs):
        out = await real_cat(self, path, *args, **kwargs)
        if isinstance(out, dict):
            denied = PermissionError("Access Denied")
            out = {k: denied if k.endswith("labels/im1.txt") else v for k, v in out.items()}
        return out

    monkeypatch.setattr(s3fs.S3FileSystem, "_cat", failing_cat)
    # A cached filesystem bound its sync ``cat`` to the real ``_cat`` when made: a fresh one
    # binds the failing one, and none is left bound to it for the next tests.
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        report = audit(url, cache=False)
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    unreadable = [f for f in report.findings if f.code == "load.unreadable_file"]
    assert len(unreadable) == 1 and any("labels/im1.txt" in e for e in unreadable[0].examples)
    assert "Access Denied" in " ".join(unreadable[0].examples) + unreadable[0].message
    assert len(report.dataset.images) == 3  # the other images and labels are still audited
    assert len(report.dataset.boxes) == 4  # two label files of two rows each
