"""The splits view's sequences: frames of one clip or flight on both sides of a split."""

from __future__ import annotations

from sodaudit.analyzers.splits_leakage import SplitsLeakage
from sodaudit.render.outset import PROPOSAL_DIR
from sodaudit.render.views.base import num, plural

METHOD_WORDS = {
    "video_id": "by COCO video_id",
    "folder": "by folder",
    "file_name": "by file name (a clip token before a frame counter)",
    "phash": "by near-duplicate pixels",
}


def leakage_facts(leak: SplitsLeakage) -> list[str]:
    """What the grouping found, what is shared, and where the proposed lists are."""
    facts = []
    if leak.method == "none":
        facts.append(
            "No sequences found: neither file names (e.g. clip_000123.jpg) nor folders (M0101/...) "
            "name clips, and there is no video_id"
            + (
                "."
                if leak.phash.ran
                else "; run with --pixels to group near-duplicate frames by perceptual hash."
            )
        )
    else:
        how = " and ".join(METHOD_WORDS.get(m, m) for m in leak.method.split("+"))
        facts.append(
            f"Images were grouped into {plural(leak.groups, 'sequence')} of two frames or more "
            f"({num(leak.images_in_groups)} images), {how}."
        )
        if not any(leak.shared_groups.values()):  # when some are, the finding says so
            facts.append("No sequence has frames in two splits.")
    if leak.proposal:
        sizes = ", ".join(f"{k} {num(v)}" for k, v in leak.proposal.items())
        facts.append(
            f"A split keeping each sequence whole, with sizes close to today's, would hold {sizes} "
            f"images: the lists are in {PROPOSAL_DIR}/proposed_<split>.txt next to this report."
        )
    p = leak.phash
    if p.ran and p.images_hashed is not None:
        facts.append(
            f"{num(p.images_hashed)} images perceptually hashed; {num(p.near_duplicate_pairs)} "
            f"near-duplicate pairs (at most {num(p.max_distance)} of 64 bits apart), "
            f"{num(p.cross_split_pairs)} across splits."
        )
    return facts
