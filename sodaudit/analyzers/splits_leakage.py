"""Leakage by sequence: frames of one clip or flight in train and in val (or test).

The sequences come from :mod:`sodaudit.analyzers.splits_groups` (``video_id``, folder or file
name) and, with ``--pixels``, near-duplicate images by pHash (:mod:`sodaudit.analyzers.splits_phash`)
join their groups. The stats count the groups with frames in two of train, val and test and the
share of val (and test) images in a group that train also has; the finding names an example;
a table lists the shared groups and, when there are some, another the images that a split keeping
each group whole moves (:func:`sodaudit.analyzers.splits_groups.proposed_splits`);
:func:`split_proposal` gives that split's file lists.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
import pandas as pd

from sodaudit.analyzers.base import AnalyzerResult
from sodaudit.analyzers.splits_groups import (
    Groups,
    infer_groups,
    merged,
    proposal_lists,
    proposed_splits,
    split_roles,
)
from sodaudit.config import Config
from sodaudit.dataset import Dataset
from sodaudit.findings import MAX_EXAMPLES, Finding

PAIRS = (("train", "val"), ("train", "test"), ("val", "test"))
"""The role pairs of ``shared_groups``, keyed ``"train/val"`` and so on."""
METHOD_TEXT = {
    "video_id": "by video_id",
    "folder": "by folder",
    "file_name": "by file name",
    "none": "",
}
KEY_CHARS = 60
"""A group's name is cut to this many characters in a message."""


class SplitsPhash(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Perceptual hashes of the images (``--pixels``): counts when they ran."""

    ran: bool
    reason: str | None = None
    images_hashed: int | None = None
    max_distance: int | None = None
    near_duplicate_pairs: int | None = None
    cross_split_pairs: Annotated[
        int | None, msgspec.Meta(description="near-duplicate pairs whose images are in two splits")
    ] = None
    truncated: Annotated[
        bool | None, msgspec.Meta(description="the pair list stopped at its bound; groups may be split")
    ] = None


class SplitsLeakage(msgspec.Struct, kw_only=True):
    """Sequences (clips, flights) with frames in more than one split."""

    method: Annotated[
        str,
        msgspec.Meta(
            description="how images were grouped: video_id, folder, file_name or none, "
            "with +phash when near-duplicate pixels joined groups (phash alone without another)"
        ),
    ]
    groups: Annotated[int, msgspec.Meta(description="groups of two images or more")]
    images_in_groups: int
    roles: Annotated[
        dict[str, str | None], msgspec.Meta(description="train, val, test -> the split playing it")
    ]
    shared_groups: Annotated[
        dict[str, int | None],
        msgspec.Meta(description="train/val, train/test, val/test -> groups in both (null: no such split)"),
    ]
    val_frames_in_shared_groups: Annotated[
        float | None, msgspec.Meta(description="share of val images in a group that train also has")
    ]
    test_frames_in_shared_groups: Annotated[
        float | None, msgspec.Meta(description="share of test images in a group that train also has")
    ]
    example_group: str | None
    phash: SplitsPhash
    proposal: Annotated[
        dict[str, int] | None,
        msgspec.Meta(description="split -> its images in the proposed group-disjoint split"),
    ] = None
    proposal_moved: Annotated[
        int | None, msgspec.Meta(description="images the proposed split moves to another split")
    ] = None


def leakage(dataset: Dataset, config: Config, reference: str | None, result: AnalyzerResult) -> SplitsLeakage:
    """The sequence-leakage stats; the finding and tables go into ``result``."""
    images = dataset.images
    groups = infer_groups(images)
    groups, phash = _with_phash(dataset, config, groups)
    result.shared["sequence_groups"] = groups  # near-duplicate frames joined: recommend.effective
    splits = images["split"].astype(str).to_numpy()
    roles = dict(split_roles(dataset.splits, reference))
    counts = _group_split_counts(groups.codes, splits, dataset.splits)
    sizes = counts.sum(axis=1)
    column = {s: i for i, s in enumerate(dataset.splits)}

    def has(role: str) -> np.ndarray | None:
        split = roles[role]
        return None if split is None else counts[:, column[split]] > 0

    shared: dict[str, int | None] = {}
    for a, b in PAIRS:
        ha, hb = has(a), has(b)
        shared[f"{a}/{b}"] = None if ha is None or hb is None else int((ha & hb).sum())
    frames = {role: _share_with_train(counts, column, roles, role) for role in ("val", "test")}
    stats = SplitsLeakage(
        method=groups.method,
        groups=int((sizes >= 2).sum()),
        images_in_groups=int(sizes[sizes >= 2].sum()),
        roles=roles,
        shared_groups=shared,
        val_frames_in_shared_groups=frames["val"],
        test_frames_in_shared_groups=frames["test"],
        example_group=None,
        phash=phash,
    )
    multi = (counts > 0).sum(axis=1) > 1
    if not multi.any():
        return stats
    example = _example(counts, column, roles, groups)
    stats.example_group = example[0]
    table = _shared_table(counts, groups, images, dataset.splits)
    result.tables["sequence_leakage"] = table
    if not any(shared.get(f"{a}/{b}") for a, b in PAIRS):
        return stats  # no train/val/test pair shares one: nothing inflates a score, no proposal
    names = images["file_name"].astype(str).to_numpy()
    proposed_split = proposed_splits(groups.codes, splits, seed=config.splits.proposal_seed)
    stats.proposal = {s: int((proposed_split == s).sum()) for s in dataset.splits}
    stats.proposal_moved = int((proposed_split != splits).sum())
    moved = np.flatnonzero(proposed_split != splits)
    result.tables["proposed_moves"] = pd.DataFrame(
        {
            "image": names[moved],
            "split": splits[moved],
            "proposed_split": proposed_split[moved],
            "group": groups.keys[groups.codes[moved]],
        }
    )
    result.findings.append(_finding(config, stats, example, table))
    return stats


def _with_phash(dataset: Dataset, config: Config, groups: Groups) -> tuple[Groups, SplitsPhash]:
    """``groups`` joined by near-duplicate pixels when ``--pixels`` allows reading images."""
    cfg = config.splits
    if not config.pixels:
        return groups, SplitsPhash(ran=False, reason="pixel analyses are off (--pixels)")
    from sodaudit.analyzers.integrity_pixels import pixel_images
    from sodaudit.analyzers.splits_phash import hash_paths, near_pairs

    readable, _ = pixel_images(dataset)  # symlinks leading outside: integrity reports them
    if len(readable) > cfg.phash_max_images:
        reason = f"skipped: {len(readable)} images is more than phash_max_images={cfg.phash_max_images}"
        return groups, SplitsPhash(ran=False, reason=reason)
    hashes = hash_paths(
        readable["path"].astype(str).tolist(), workers=config.workers, scheduler=config.scheduler
    )
    ok = np.array([h is not None for h in hashes], dtype=bool)
    positions = dataset.images.index.get_indexer(readable.index)[ok]
    values = np.array([h for h in hashes if h is not None], dtype=np.uint64)
    pairs, truncated = near_pairs(values, cfg.phash_max_distance)
    pairs = positions[pairs] if len(pairs) else np.zeros((0, 2), dtype=np.int64)
    splits = dataset.images["split"].astype(str).to_numpy()
    cross = int((splits[pairs[:, 0]] != splits[pairs[:, 1]]).sum()) if len(pairs) else 0
    method = "phash" if groups.method == "none" else f"{groups.method}+phash"
    stats = SplitsPhash(
        ran=True,
        images_hashed=int(ok.sum()),
        max_distance=cfg.phash_max_distance,
        near_duplicate_pairs=len(pairs),
        cross_split_pairs=cross,
        truncated=truncated,
    )
    return merged(groups, pairs, method), stats


def _group_split_counts(codes: np.ndarray, splits: np.ndarray, order: list[str]) -> np.ndarray:
    """counts[g, s]: images of group g in split s (splits in ``order``)."""
    split_codes = pd.Categorical(splits, categories=order).codes
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    counts = np.zeros((n_groups, len(order)), dtype=np.int64)
    np.add.at(counts, (codes, split_codes), 1)
    return counts


def _share_with_train(
    counts: np.ndarray, column: dict[str, int], roles: dict[str, str | None], role: str
) -> float | None:
    """Share of the ``role`` split's images in a group train also has (None: no such split or
    no image in it)."""
    train, split = roles["train"], roles[role]
    if train is None or split is None:
        return None
    mine = counts[:, column[split]]
    if mine.sum() == 0:
        return None
    return float(mine[counts[:, column[train]] > 0].sum() / mine.sum())


def _example(
    counts: np.ndarray, column: dict[str, int], roles: dict[str, str | None], groups: Groups
) -> tuple[str, str]:
    """The group to name in the finding: of the shared groups of the first role pair that has
    one, the one with most images of the pair's second split; its name and its counts."""
    for a, b in PAIRS:
        sa, sb = roles[a], roles[b]
        if sa is None or sb is None:
            continue
        ca, cb = counts[:, column[sa]], counts[:, column[sb]]
        both = (ca > 0) & (cb > 0)
        if both.any():
            g = int(np.argmax(np.where(both, cb, -1)))
            return str(groups.keys[g]), f"{ca[g]} {sa}, {cb[g]} {sb} frames"
    g = int(np.argmax((counts > 0).sum(axis=1)))  # any two splits
    parts = ", ".join(f"{n} {s}" for s, n in zip(column, counts[g].tolist(), strict=True) if n)
    return str(groups.keys[g]), f"{parts} frames"


def _shared_table(counts: np.ndarray, groups: Groups, images: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """One row per shared group and split it has frames in: the group's name, the split, its
    images there and the first of them; groups with most images first."""
    multi = np.flatnonzero((counts > 0).sum(axis=1) > 1)
    multi = multi[np.argsort(-counts[multi].sum(axis=1), kind="stable")]
    g_idx, s_idx = np.nonzero(counts[multi] > 0)
    g = multi[g_idx]
    first = (
        pd.DataFrame(
            {"g": groups.codes, "s": images["split"].astype(str).to_numpy(), "f": images["file_name"]}
        )
        .groupby(["g", "s"], sort=False)["f"]
        .first()
    )
    split_names = np.asarray(order, dtype=object)[s_idx]
    return pd.DataFrame(
        {
            "group": groups.keys[g],
            "split": split_names,
            "images": counts[g, s_idx],
            "example": first.reindex(pd.MultiIndex.from_arrays([g, split_names])).to_numpy(),
        }
    )


def _finding(config: Config, stats: SplitsLeakage, example: tuple[str, str], table: pd.DataFrame) -> Finding:
    """``splits.sequence_leakage``: how many groups are shared, the val share, an example."""
    threshold = config.splits.leakage_warn_share
    roles, shared = stats.roles, stats.shared_groups
    frames = {"val": stats.val_frames_in_shared_groups, "test": stats.test_frames_in_shared_groups}
    value = max((s for s in frames.values() if s is not None), default=0.0)
    how = METHOD_TEXT.get(stats.method.split("+")[0], "")
    if stats.method.endswith("phash"):
        how = f"{how} and near-duplicate pixels (pHash)" if how else "by near-duplicate pixels (pHash)"
    parts = []
    for a, b in PAIRS:
        n = shared.get(f"{a}/{b}")
        if n:
            part = f"{n} in {roles[a]!r} and {roles[b]!r}"
            if a == "train" and frames[b] is not None:
                part += f", holding {frames[b]:.1%} of {roles[b]!r} images"
            parts.append(part)
    total = int(table["group"].nunique())
    key = example[0] if len(example[0]) <= KEY_CHARS else example[0][: KEY_CHARS - 3] + "..."
    text = (
        f"{total} {'sequence' if total == 1 else 'sequences'} (grouped {how}) "
        f"{'has' if total == 1 else 'have'} frames in two splits: "
        + "; ".join(parts)
        + f". Scores on frames of clips trained on are inflated. E.g. {key!r}: {example[1]}. "
        "A split keeping each sequence whole is proposed."
    )
    examples = (
        table.assign(part=table["images"].astype(str) + " " + table["split"])
        .groupby("group", sort=False)["part"]
        .agg(", ".join)
        .head(MAX_EXAMPLES)
    )
    return Finding.of(
        "splits.sequence_leakage",
        text,
        "splits",
        raised=value > threshold,
        value=value,
        threshold=threshold,
        examples=tuple(f"{g}: {p}" for g, p in examples.items()),
        count=total,
    )


def split_proposal(dataset: Dataset, result: AnalyzerResult) -> dict[str, list[str]] | None:
    """The group-disjoint split the splits analyzer proposes, as split -> file names (the images
    table's ``file_name``, in its order; every split a key), or None when no group is shared (no
    proposal). ``result`` is the splits analyzer's result on ``dataset``."""
    moves = result.tables.get("proposed_moves")
    return None if moves is None else proposal_lists(dataset.images, moves)
