"""Sequences (video clips, flights) of a dataset's images, inferred from the images table, and a
split that keeps each sequence whole.

Frames of one clip look alike: a clip with frames in train and in val lets a model score on val
what it memorised on train. Which images form one sequence is inferred by the first method that
applies, in this order:

``video_id``
    the images table has a ``video_id`` column (COCO-VID style); images without one are single.
``folder``
    images lie in per-sequence subfolders (UAVDT ``M0101/img000001.jpg``, VisDrone-VID
    ``sequences/uav0000013_00000_v/0000001.jpg``): the key is the image's folder name, or the
    folder above it when that name is generic (``images``, ``frames``, ...).
``file_name``
    the file name starts with a clip token and ends with a frame counter: the key is the name
    without its extension and trailing frame counter (:data:`FRAME_NAME`), e.g. VisDrone
    ``0000072_02834_d_0000003.jpg`` -> ``0000072_02834_d``, ``clipname_000123.jpg`` ->
    ``clipname``, ``clipname-frame0123.png`` -> ``clipname``. A name without a trailing number, a
    name that is only a number (``000123.jpg``) or whose token is a generic camera or frame
    prefix (``IMG_1234``, ``DSC01234``, ``frame_0001``: :data:`GENERIC_TOKENS`) is a group of its
    own.
``none``
    no method applies: every image is its own group.

A method applies (:func:`informative`) only when its keys look like sequences: some split holds
two keys or more (a key per split is a split folder, not a sequence), at least two keys have two
images or more (a group needs two frames to matter), and no key holds more than
:data:`MAX_GROUP_SHARE` of the images (``aerial_0001 ... aerial_0030`` is a dataset-wide prefix,
``train/images/`` a split folder: neither is a clip). The rule is conservative: a clip shared by
train and val whose frames are half the dataset or more is not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MAX_GROUP_SHARE = 0.5
"""A key holding more than this share of the images is a naming scheme, not a sequence."""
MIN_GROUPS = 2
"""Keys with two frames or more needed before a method is trusted."""
_SEP = r"[-_. ]"
_WORDS = r"frame|frm|img|image"
FRAME_NAME = (
    rf"(?i)^(?P<clip>.*?(?:[a-z]|[0-9a-z](?={_SEP}|{_WORDS})))"
    rf"(?:{_SEP}+(?:(?:{_WORDS}){_SEP}*)?|(?:{_WORDS}){_SEP}*)(?P<frame>\d+)$"
)
"""A file stem that is a clip token then a frame counter: the clip token ends in a letter, or in a
digit followed by a separator (``-_. ``) or a frame word, so ``000123`` and ``00010203`` have no
clip token; separators and a frame word (``frame``, ``frm``, ``img``, ``image``) between the two
are dropped. One of them must be there: ``terrain1`` and ``terrain2`` are two pictures, not two
frames of a clip ``terrain``."""
GENERIC_TOKENS = frozenset(
    (
        *("img", "image", "images", "imgs", "im", "frame", "frames", "frm", "f", "file"),
        *("dsc", "dscn", "dscf", "dji", "gopr", "gp", "mvi", "pic", "picture", "photo", "p"),
        *("vid", "video", "screenshot", "scene", "sample", "capture", "shot", "snap", "cam", "camera"),
    )
)
"""Clip tokens that name a camera's or a tool's counter, not a clip (lower case)."""
GENERIC_FOLDERS = frozenset(
    (
        *("images", "image", "imgs", "img", "jpegimages", "frames", "data", "pictures", "photos"),
        *("rgb", "visible", "ir", "thermal", "infrared"),
    )
)
"""Folder names that hold images, not a sequence: the folder above names the sequence."""
METHODS = ("video_id", "folder", "file_name", "none")


@dataclass(frozen=True)
class Groups:
    """The sequence of each image (its row in the images table): ``codes`` are integers, equal
    for images of one group (single images have codes of their own); ``keys`` is each code's name
    (a single image's name is its file name); ``method`` says how they were inferred."""

    method: str
    codes: np.ndarray
    keys: np.ndarray


def normalised_paths(images: pd.DataFrame) -> pd.Series:
    """Each image's path with ``/`` separators: ``path`` when known, else ``file_name``."""
    path = images["path"].astype(str)
    name = images["file_name"].astype(str)
    return path.where(path != "", name).str.replace("\\", "/", regex=False)


def clip_tokens(names: pd.Series) -> pd.Series:
    """The clip token of each file name (a path's last part, extension dropped), NaN when the name
    has none (:data:`FRAME_NAME`, :data:`GENERIC_TOKENS`)."""
    base = names.astype(str).str.replace("\\", "/", regex=False).str.rpartition("/")[2]
    stem = base.str.replace(r"\.[^.]*$", "", regex=True)
    clip = stem.str.extract(FRAME_NAME)["clip"]
    return clip.mask(clip.str.lower().isin(GENERIC_TOKENS))


def folder_keys(paths: pd.Series) -> pd.Series:
    """The sequence folder of each path: its folder's name, or the one above when that name is
    generic (:data:`GENERIC_FOLDERS`); NaN for a bare file name."""
    parts = paths.str.extract(r"(?:^|/)(?:(?P<up>[^/]+)/)?(?P<last>[^/]+)/[^/]+$")
    generic = parts["last"].str.lower().isin(GENERIC_FOLDERS)
    return parts["last"].mask(generic, parts["up"])


def informative(keys: pd.Series, splits: pd.Series) -> bool:
    """Whether ``keys`` (NaN: no key) look like sequences (see the module's docstring)."""
    known = keys.notna()
    if not known.any():
        return False
    sizes = keys[known].value_counts()
    if int((sizes >= 2).sum()) < MIN_GROUPS or sizes.iloc[0] > MAX_GROUP_SHARE * len(keys):
        return False
    per_split = keys[known].groupby(splits[known], observed=True).nunique()
    return bool((per_split >= 2).any())


def infer_groups(images: pd.DataFrame) -> Groups:
    """The sequence of each image of ``images`` by the first method that applies (module doc)."""
    splits = images["split"].astype(str)
    paths = normalised_paths(images)
    candidates: list[tuple[str, Callable[[], pd.Series]]] = [
        ("folder", lambda: folder_keys(paths)),
        ("file_name", lambda: clip_tokens(paths)),
    ]
    if "video_id" in images.columns:
        vid = images["video_id"]
        candidates.insert(0, ("video_id", lambda: vid.astype(str).where(vid.notna())))
    for method, keys_of in candidates:  # computed one after the other: the first that applies wins
        keys = keys_of()
        if informative(keys, splits):
            return grouped(method, keys, images["file_name"].astype(str))
    no_keys = pd.Series(np.nan, index=images.index, dtype=object)
    return grouped("none", no_keys, images["file_name"].astype(str))


def grouped(method: str, keys: pd.Series, file_names: pd.Series) -> Groups:
    """:class:`Groups` from one key per image (NaN: a group of its own, named by its file)."""
    named = keys.notna().to_numpy()
    codes = np.empty(len(keys), dtype=np.int64)
    key_codes, uniques = pd.factorize(keys[named], sort=False)
    codes[named] = key_codes
    codes[~named] = len(uniques) + np.arange(int((~named).sum()))
    names = np.concatenate([np.asarray(uniques, dtype=object), file_names[~named].to_numpy(dtype=object)])
    return Groups(method, codes, names)


def merged(groups: Groups, pairs: np.ndarray, method: str) -> Groups:
    """``groups`` with the images of each pair (``k x 2`` row positions) put in one group: the
    connected components of both; a merged group is named after its first image's group."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(groups.codes)
    if len(pairs) == 0:
        return Groups(method, groups.codes, groups.keys)
    g = len(groups.keys)  # group nodes n .. n + g - 1, one edge from each image to its group
    rows = np.concatenate([np.arange(n), pairs[:, 0]])
    cols = np.concatenate([n + groups.codes, pairs[:, 1]])
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n + g, n + g))
    _, labels = connected_components(graph, directed=False)
    image_labels = labels[:n]
    codes, first = np.unique(image_labels, return_index=True)
    new_codes = np.searchsorted(codes, image_labels)
    order = np.argsort(first, kind="stable")  # number the groups by their first image
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return Groups(method, rank[new_codes], groups.keys[groups.codes[np.sort(first)]])


def group_disjoint_split(
    file_names: Sequence[str], groups: Sequence[object], splits: Sequence[str], *, seed: int = 0
) -> dict[str, list[str]]:
    """A split that keeps every group whole, each split's image count close to today's: split ->
    its file names, in the input order (every split of today is a key, possibly with an empty
    list). ``file_names``, ``groups`` (a key per image; None or NaN: a group of its own) and
    ``splits`` (today's split of each image) are parallel; see :func:`proposed_splits`."""
    names = np.asarray(file_names, dtype=object)
    if not (len(names) == len(groups) == len(splits)):
        raise ValueError("file_names, groups and splits must have the same length")
    keys = pd.Series(list(groups), dtype=object)
    codes = grouped("", keys.where(keys.notna()), pd.Series(names, dtype=object)).codes
    today = np.asarray(splits, dtype=object).astype(str)
    proposed = proposed_splits(codes, today, seed=seed)
    return {s: names[proposed == s].tolist() for s in pd.unique(today)}


def proposed_splits(codes: np.ndarray, splits: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Each image's split in a split that keeps every group (``codes``: one integer per group)
    whole, each split's image count close to today's (``splits``).

    Groups whose images lie in one split today stay there (they always fit: they are part of
    that split's count); then the groups spread over splits, largest first (equal sizes in an
    order drawn with ``seed``), each to the split most of its images are in today when it still
    fits in that split's count of today, else to the split furthest below its count. So only
    images of shared groups move, and a dataset without shared groups gets today's split back;
    the result depends on nothing but the inputs and ``seed``.
    """
    splits = np.asarray(splits, dtype=object).astype(str)
    if len(splits) == 0:
        return splits.astype(object)
    order = list(pd.unique(splits))
    split_codes = pd.Categorical(splits, categories=order).codes
    target = np.bincount(split_codes, minlength=len(order)).astype(np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    n_groups = int(codes.max()) + 1
    per_split = np.zeros((n_groups, len(order)), dtype=np.int64)  # per group, its images per split
    np.add.at(per_split, (codes, split_codes), 1)
    size = per_split.sum(axis=1)
    shuffle = np.random.default_rng(seed).permutation(n_groups)
    spread = (per_split > 0).sum(axis=1) > 1
    ranked = np.lexsort((shuffle, -size, spread))  # one-split groups, then largest first, then seeded
    home = per_split.argmax(axis=1)  # argmax keeps the first of equals: the split order
    assigned = np.zeros(len(order), dtype=np.int64)
    chosen = np.zeros(n_groups, dtype=np.int64)
    for gid in ranked[size[ranked] > 0].tolist():  # a loop over groups
        s = int(home[gid])
        if assigned[s] + size[gid] > target[s]:
            s = int(np.argmax(target - assigned))
        chosen[gid] = s
        assigned[s] += size[gid]
    return np.asarray(order, dtype=object)[chosen[codes]]


def proposal_lists(images: pd.DataFrame, moves: pd.DataFrame) -> dict[str, list[str]]:
    """Split -> file names: the ``images`` table's split with ``moves`` (rows of ``image``,
    ``split``, ``proposed_split``: the splits analyzer's ``proposed_moves`` table) applied, in the
    table's order; every split of today is a key."""
    names = images["file_name"].astype(str)
    today = images["split"].astype(str)
    moves = moves.drop_duplicates(["image", "split"])  # an image listed twice moves once
    at = pd.MultiIndex.from_arrays([moves["image"].astype(str), moves["split"].astype(str)])
    found = at.get_indexer(pd.MultiIndex.from_arrays([names, today])) if len(at) else np.full(len(names), -1)
    target = moves["proposed_split"].astype(str).to_numpy()
    proposed = np.where(found >= 0, target[np.maximum(found, 0)] if len(target) else "", today.to_numpy())
    return {s: names[proposed == s].tolist() for s in pd.unique(today)}


def split_roles(splits: Sequence[str], reference: str | None) -> Mapping[str, str | None]:
    """Which split plays train (the reference split), val and test: val is ``val``, ``valid``,
    ``validation`` or ``dev``, else the first split named ``val*``; test is ``test``, else the
    first named ``test*``."""
    rest = [s for s in splits if s != reference]

    def first(exact: tuple[str, ...], prefix: str) -> str | None:
        for s in rest:
            if s.lower() in exact:
                return s
        return next((s for s in rest if s.lower().startswith(prefix)), None)

    return {
        "train": reference,
        "val": first(("val", "valid", "validation", "dev"), "val"),
        "test": first(("test",), "test"),
    }
