"""Leakage by sequence: group inference from names and folders, the stats by hand, the finding,
the group-disjoint split proposal and the perceptual hash."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sodaudit.analyzers import splits
from sodaudit.analyzers.splits_groups import (
    clip_tokens,
    folder_keys,
    group_disjoint_split,
    infer_groups,
    split_roles,
)
from sodaudit.analyzers.splits_leakage import split_proposal
from sodaudit.analyzers.splits_phash import hamming, near_pairs, phash_of, phashes
from sodaudit.config import Config, SplitsConfig
from sodaudit.dataset import Dataset
from sodaudit.findings import Severity


def build(rows: list[tuple[str, str]], root: Path = Path("/d"), paths: list[str] | None = None, **extra):
    """One 640x640 image per (file_name, split) row, one 10x10 box in each."""
    img = pd.DataFrame(rows, columns=["file_name", "split"])
    img.insert(0, "image_id", range(len(rows)))
    img["path"] = paths if paths is not None else ""
    img["width"] = 640.0
    img["height"] = 640.0
    img["status"] = "ok"
    for name, values in extra.items():
        img[name] = values
    box = pd.DataFrame(
        {"image_id": range(len(rows)), "class_id": 0, "x": 0.0, "y": 0.0, "w": 10.0, "h": 10.0}
    )
    return Dataset.build(root=root, format="test", boxes=box, images=img, classes={0: "car"})


def visdrone(clip: str, frames: range, split: str) -> list[tuple[str, str]]:
    return [(f"{clip}_{k:07d}.jpg", split) for k in frames]


A, B, C = "0000072_02834_d", "0000073_00600_d", "0000074_01200_v"
# clip A: 4 train frames; clip B: 4 val frames; clip C: 2 train and 2 val frames
THREE_CLIPS = (
    visdrone(A, range(1, 5), "train") + visdrone(B, range(1, 5), "val") + visdrone(C, range(1, 3), "train")
) + visdrone(C, range(3, 5), "val")


@pytest.mark.parametrize(
    "name, clip",
    [
        ("0000072_02834_d_0000003.jpg", "0000072_02834_d"),  # VisDrone-DET / -VID image names
        ("VisDrone2019-DET-val/images/0000001_02999_d_0000005.jpg", "0000001_02999_d"),
        ("uav0000013_00000_v/0000001.jpg", None),  # VisDrone-VID: the name is only the frame
        ("M0101/img000001.jpg", None),  # UAVDT: img is a frame word, the folder is the sequence
        ("clipname_000123.jpg", "clipname"),
        ("clipname-frame0123.png", "clipname"),
        ("seq01frame0003.jpg", "seq01"),
        ("clip2_0001.jpg", "clip2"),
        ("clip.v2.0001.jpg", "clip.v2"),
        ("2019_05_01_123456.jpg", "2019_05_01"),
        ("C:\\data\\flight7_00042.tif", "flight7"),
        ("aerial_0001.jpg", "aerial"),
        ("000123.jpg", None),  # only a number
        ("00010203.png", None),
        ("IMG_1234.JPG", None),  # camera counters are not clips
        ("DSC01234.jpg", None),
        ("frame_0001.jpg", None),
        ("harbour.jpg", None),  # no trailing number: its own group
        ("harbour_v2.jpg", None),  # a version, not a frame: no separator before the number
        ("terrain1.jpg", None),  # two pictures terrain1 and terrain2 are not one clip
    ],
)
def test_clip_token_of_a_file_name(name, clip):
    got = clip_tokens(pd.Series([name])).iloc[0]
    assert (got if isinstance(got, str) else None) == clip


@pytest.mark.parametrize(
    "path, folder",
    [
        ("M0101/img000001.jpg", "M0101"),
        ("/data/UAVDT/M0101/img000001.jpg", "M0101"),
        ("/data/sequences/uav0000013_00000_v/0000001.jpg", "uav0000013_00000_v"),
        ("/data/flights/f07/images/000001.jpg", "f07"),  # generic folder name: the one above
        ("images/000001.jpg", None),
        ("000001.jpg", None),
    ],
)
def test_folder_of_a_path(path, folder):
    got = folder_keys(pd.Series([path])).iloc[0]
    assert (got if isinstance(got, str) else None) == folder


def test_the_method_is_the_first_that_looks_like_sequences():
    # file names: the clip tokens
    assert infer_groups(build(THREE_CLIPS).images).method == "file_name"
    # one split folder per split and a dataset-wide prefix (sample_data): no sequences
    flat = [(f"{s}/images/aerial_{k:04d}.jpg", s) for s, n in (("train", 24), ("val", 6)) for k in range(n)]
    assert infer_groups(build(flat).images).method == "none"
    # UAVDT: per-sequence folders
    uavdt = [
        (f"{seq}/img{k:06d}.jpg", s) for seq, s in (("M0101", "train"), ("M0202", "train")) for k in range(3)
    ]
    uavdt += [(f"M0303/img{k:06d}.jpg", "val") for k in range(3)] + [("M0101/img000009.jpg", "val")]
    groups = infer_groups(build(uavdt).images)
    assert groups.method == "folder"
    assert list(groups.keys[groups.codes]) == ["M0101"] * 3 + ["M0202"] * 3 + ["M0303"] * 3 + ["M0101"]
    # COCO-VID style video_id first
    vid = build(THREE_CLIPS, video_id=[1] * 4 + [2] * 4 + [3] * 2 + [3] * 2)
    assert infer_groups(vid.images).method == "video_id"


def test_names_without_a_clip_token_are_groups_of_their_own():
    rows = [*THREE_CLIPS, ("harbour.jpg", "train"), ("IMG_0001.jpg", "val"), ("IMG_0002.jpg", "train")]
    groups = infer_groups(build(rows).images)
    sizes = np.bincount(groups.codes)
    assert sorted(sizes.tolist()) == [1, 1, 1, 4, 4, 4]
    assert set(groups.keys[groups.codes[-3:]]) == {"harbour.jpg", "IMG_0001.jpg", "IMG_0002.jpg"}


def test_leakage_stats_by_hand():
    r = splits.analyze(build(THREE_CLIPS), Config())
    leak = r.stats.leakage
    assert leak.method == "file_name"
    assert leak.groups == 3  # A, B, C: 4 frames each
    assert leak.images_in_groups == 12
    assert leak.roles == {"train": "train", "val": "val", "test": None}
    # only C has frames in train and in val; there is no test split
    assert leak.shared_groups == {"train/val": 1, "train/test": None, "val/test": None}
    # val: B's 4 frames and C's 2; C's 2 are in a group train also has -> 2 / 6
    assert leak.val_frames_in_shared_groups == pytest.approx(2 / 6)
    assert leak.test_frames_in_shared_groups is None
    assert leak.example_group == C
    table = r.tables["sequence_leakage"]
    assert table.to_dict("list") == {
        "group": [C, C],
        "split": ["train", "val"],
        "images": [2, 2],
        "example": [f"{C}_0000001.jpg", f"{C}_0000003.jpg"],
    }
    [finding] = [f for f in r.findings if f.code == "splits.sequence_leakage"]
    assert finding.severity is Severity.WARNING  # 33% > 5%
    assert finding.value == pytest.approx(2 / 6) and finding.count == 1
    assert "1 sequence (grouped by file name) has frames in two splits" in finding.message
    assert "33.3% of 'val' images" in finding.message
    assert f"'{C}': 2 train, 2 val frames" in finding.message
    assert len(finding.message) <= 400


def test_leakage_with_a_test_split_by_hand():
    # D: 2 val + 2 test; E: 1 train + 3 test
    rows = THREE_CLIPS + visdrone("0000080_00001_d", range(1, 3), "val")
    rows += visdrone("0000080_00001_d", range(3, 5), "test")
    rows += visdrone("0000081_00001_d", range(1, 2), "train")
    rows += visdrone("0000081_00001_d", range(2, 5), "test")
    leak = splits.analyze(build(rows), Config()).stats.leakage
    assert leak.groups == 5
    assert leak.shared_groups == {"train/val": 1, "train/test": 1, "val/test": 1}
    assert leak.val_frames_in_shared_groups == pytest.approx(2 / 8)  # C's 2 of 4 + 2 + 2
    assert leak.test_frames_in_shared_groups == pytest.approx(3 / 5)  # E's 3 of 2 + 3


def test_no_leakage_no_finding_and_a_low_share_is_a_note():
    rows = THREE_CLIPS[:8]  # A in train, B in val
    r = splits.analyze(build(rows), Config())
    assert r.stats.leakage.shared_groups["train/val"] == 0
    assert r.stats.leakage.val_frames_in_shared_groups == 0.0
    assert "sequence_leakage" not in r.tables and r.stats.leakage.proposal is None
    assert not [f for f in r.findings if f.code == "splits.sequence_leakage"]
    high = Config(splits=SplitsConfig(leakage_warn_share=0.5))
    [note] = [
        f for f in splits.analyze(build(THREE_CLIPS), high).findings if f.code == "splits.sequence_leakage"
    ]
    assert note.severity is Severity.INFO


def test_the_proposal_keeps_groups_whole_and_is_deterministic():
    clips = [(f"c{k:02d}", n) for k, n in enumerate([9, 7, 6, 5, 5, 4, 3, 3, 2, 2, 1, 1])]
    rng = np.random.default_rng(3)
    names, groups, today = [], [], []
    for clip, n in clips:
        for f in range(n):
            names.append(f"{clip}_{f:04d}.jpg")
            groups.append(clip)
            today.append(str(rng.choice(["train", "val", "test"], p=[0.7, 0.2, 0.1])))
    for seed in range(4):
        proposal = group_disjoint_split(names, groups, today, seed=seed)
        assert proposal == group_disjoint_split(names, groups, today, seed=seed)  # deterministic
        assert sorted(n for listed in proposal.values() for n in listed) == sorted(names)  # a partition
        assert set(proposal) == {"train", "val", "test"}
        where = {n: s for s, listed in proposal.items() for n in listed}
        for clip, _ in clips:  # every group in one split
            assert len({where[n] for n, g in zip(names, groups, strict=True) if g == clip}) == 1
        for split, listed in proposal.items():  # counts near today's: off by less than the largest group
            assert abs(len(listed) - today.count(split)) < 9
            assert listed == [n for n in names if where[n] == split]  # in the input order


def test_the_proposal_of_a_split_without_leakage_is_today_s():
    names = [f"{c}_{k}.jpg" for c in "abcd" for k in range(3)]
    groups = [n[0] for n in names]
    today = ["train"] * 6 + ["val"] * 3 + ["test"] * 3
    proposal = group_disjoint_split(names, groups, today, seed=7)
    assert proposal == {"train": names[:6], "val": names[6:9], "test": names[9:]}


def test_the_analyzer_proposes_a_group_disjoint_split():
    ds = build(THREE_CLIPS)
    r = splits.analyze(ds, Config())
    # A stays in train, B in val; C (2 + 2) goes to the first split of the equally short ones
    assert r.stats.leakage.proposal == {"train": 8, "val": 4}
    assert r.stats.leakage.proposal_moved == 2  # C's val frames
    assert r.tables["proposed_moves"].to_dict("list") == {
        "image": [f"{C}_0000003.jpg", f"{C}_0000004.jpg"],
        "split": ["val", "val"],
        "proposed_split": ["train", "train"],
        "group": [C, C],
    }
    lists = split_proposal(ds, r)
    names = [n for n, _ in THREE_CLIPS]
    assert lists == {"train": names[:4] + names[8:], "val": names[4:8]}
    assert split_proposal(ds, splits.analyze(build(THREE_CLIPS[:8]), Config())) is None


def test_split_roles():
    assert split_roles(["train2017", "val2017"], "train2017") == {
        "train": "train2017",
        "val": "val2017",
        "test": None,
    }
    assert split_roles(["train", "valid", "test-dev", "validation"], "train") == {
        "train": "train",
        "val": "valid",
        "test": "test-dev",
    }


def smooth_image(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like image: coarse random structure, upsampled smoothly."""
    coarse = np.random.default_rng(seed).integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
    return Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)


def test_phash_of_a_resized_reencoded_copy_is_near_and_another_image_is_not(tmp_path):
    limit = Config().splits.phash_max_distance
    smooth_image(1).save(tmp_path / "a.png")
    smooth_image(1).resize((200, 150), Image.Resampling.BILINEAR).save(tmp_path / "a_copy.jpg", quality=70)
    smooth_image(2).save(tmp_path / "b.png")
    a, copy, b = phashes([str(tmp_path / n) for n in ("a.png", "a_copy.jpg", "b.png")])
    assert int(hamming(a, copy)) <= limit
    assert int(hamming(a, b)) > limit
    assert phash_of(smooth_image(1)) == a  # the same pixels, the same hash
    assert phashes([str(tmp_path / "missing.png")]) == [None]
    pairs, truncated = near_pairs(np.array([a, b, copy], dtype=np.uint64), limit)
    assert pairs.tolist() == [[2, 0]] and not truncated


def test_hamming_counts_bits():
    assert hamming(0, 0xFFFF_FFFF_FFFF_FFFF) == 64
    assert hamming(np.array([0b1011], dtype=np.uint64), np.array([0b0001], dtype=np.uint64)).tolist() == [2]


def test_pixels_join_near_duplicates_across_splits(tmp_path):
    # names without clip tokens; val/x2 is a resized copy of train/x1; a link to outside is not read
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "val").mkdir()
    root = tmp_path / "data"
    smooth_image(1).save(root / "train" / "harbour.png")
    smooth_image(2).save(root / "train" / "field.png")
    smooth_image(1).resize((160, 120)).save(root / "val" / "dock.jpg", quality=80)
    smooth_image(3).save(tmp_path / "secret.png")
    (root / "val" / "link.png").symlink_to(tmp_path / "secret.png")
    rows = [("train/harbour.png", "train"), ("train/field.png", "train"), ("val/dock.jpg", "val")]
    rows.append(("val/link.png", "val"))
    paths = [str(root / n) for n, _ in rows]
    ds = build(rows, root=root, paths=paths)
    off = splits.analyze(ds, Config()).stats.leakage
    assert off.method == "none" and not off.phash.ran and off.shared_groups["train/val"] == 0
    on = splits.analyze(ds, Config().updated(pixels=True))
    leak = on.stats.leakage
    assert leak.method == "phash"
    assert leak.phash.images_hashed == 3  # the link leading outside is never opened
    assert leak.phash.near_duplicate_pairs == 1 and leak.phash.cross_split_pairs == 1
    assert leak.shared_groups["train/val"] == 1 and leak.groups == 1
    assert leak.val_frames_in_shared_groups == pytest.approx(1 / 2)
    assert leak.example_group == "train/harbour.png"
    [finding] = [f for f in on.findings if f.code == "splits.sequence_leakage"]
    assert "grouped by near-duplicate pixels (pHash)" in finding.message


def test_uavdt_folders_shared_by_train_and_val_by_hand():
    # M0101: 3 train frames and 1 val frame; M0202 train only; M0303 val only
    rows = [(f"{seq}/img{k:06d}.jpg", "train") for seq in ("M0101", "M0202") for k in range(3)]
    rows += [(f"M0303/img{k:06d}.jpg", "val") for k in range(3)] + [("M0101/img000009.jpg", "val")]
    leak = splits.analyze(build(rows), Config()).stats.leakage
    assert leak.method == "folder"
    assert (leak.groups, leak.images_in_groups) == (3, 10)
    assert leak.shared_groups == {"train/val": 1, "train/test": None, "val/test": None}
    assert leak.val_frames_in_shared_groups == pytest.approx(1 / 4)
    assert leak.example_group == "M0101"


def test_phash_is_bounded_by_phash_max_images(tmp_path):
    smooth_image(1).save(tmp_path / "a.png")
    smooth_image(1).save(tmp_path / "b.png")
    ds = build(
        [("a.png", "train"), ("b.png", "val")],
        root=tmp_path,
        paths=[str(tmp_path / "a.png"), str(tmp_path / "b.png")],
    )
    config = Config(pixels=True, splits=SplitsConfig(phash_max_images=1))
    leak = splits.analyze(ds, config).stats.leakage
    assert leak.method == "none" and not leak.phash.ran
    assert leak.phash.reason == "skipped: 2 images is more than phash_max_images=1"
    assert splits.analyze(ds, Config(pixels=True)).stats.leakage.shared_groups["train/val"] == 1
