"""Small text files of the YOLO family read safely: YAML with a bound on its expanded size (an
alias bomb is refused in a fraction of a second, not expanded), and class lists decoded as UTF-8
or, when they are not, as Windows-1252 with an issue saying so, never silently as U+FFFD.

Every read goes through :func:`sodaudit.loaders.base.read_limited`: regular files only (a FIFO is
refused, never opened in a way that blocks) and never more than the bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sodaudit.dataset import LoadIssue
from sodaudit.loaders.base import TooLarge, read_limited

MAX_YAML_NODES = 1_000_000
"""Values a YAML document may hold once its aliases are expanded. ImageNet-21k's 21,841 class
names are the largest list in use (~22,000 nodes); ten levels of ten aliases (a "billion laughs"
of a few hundred bytes) expand to 10^10 and are refused when the count passes this bound, during
parsing, before any of it is built."""
MAX_YAML_CHARS = 32 << 20
"""Characters of scalars a YAML document may hold once its aliases are expanded: a thousand
aliases of one 1 MB string are few nodes but a gigabyte of text for whatever prints the names.
Twice the 16 MB a data.yaml may have, so any document without aliases is within it."""
CLASS_LIST_MB = 16.0
"""A class list larger than this is not read (16 MB is ~1 million names)."""
_UTF8_BOM = b"\xef\xbb\xbf"


class YamlTooLarge(yaml.YAMLError):
    """A YAML document that expands past :data:`MAX_YAML_NODES` or :data:`MAX_YAML_CHARS`."""


class BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader counting the values and scalar characters of every node with its
    aliases expanded: a node past :data:`MAX_YAML_NODES` or :data:`MAX_YAML_CHARS` stops the
    parse. An alias costs what its anchor holds, so the count is what a consumer walking or
    printing the result would visit; the work of the count is one visit per node as written."""

    def __init__(self, stream: str | bytes) -> None:
        super().__init__(stream)
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters)

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)  # its anchor's size is already counted
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.ScalarNode):
            size, chars = 1, len(node.value)
        else:
            pairs = node.value if isinstance(node, yaml.MappingNode) else [(child,) for child in node.value]
            counts = [self._sizes.get(id(child), (1, 0)) for pair in pairs for child in pair]  # recursion: 1
            size, chars = 1 + sum(n for n, _ in counts), sum(c for _, c in counts)
        self._sizes[id(node)] = (size, chars)
        if size > MAX_YAML_NODES or chars > MAX_YAML_CHARS:
            line = node.start_mark.line + 1 if node.start_mark is not None else 0
            raise YamlTooLarge(
                f"the value at line {line} expands to more than {MAX_YAML_NODES:,} values or "
                f"{MAX_YAML_CHARS >> 20} MB of text through its aliases (an alias bomb)"
            )
        return node


def load_yaml(text: str | bytes) -> object:
    """``yaml.safe_load`` with :class:`BoundedSafeLoader`: same result, bounded size."""
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


@dataclass
class Decoded:
    """Text of a file and the ``load.encoding`` issues its decoding raised."""

    text: str
    issues: list[LoadIssue] = field(default_factory=list)


def decode_text(data: bytes, rel: str, what: str) -> Decoded:
    """``data`` as UTF-8 (a BOM dropped); when it is not UTF-8, one ``load.encoding`` issue per
    line that is not (at most 20, then a count) and the whole file decoded as Windows-1252, the
    usual encoding of a class list written on Windows (``caf\\xe9``), so its names stay right.
    Bytes that Windows-1252 leaves undefined are read as Latin-1."""
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return Decoded(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="strict") if _is_cp1252(data) else data.decode("latin-1")
    codec = "Windows-1252" if _is_cp1252(data) else "Latin-1"
    issues, bad = [], 0
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            bad += 1
            if bad <= 20:
                shown = line.decode("cp1252", errors="replace").strip()[:40]
                reason = (
                    f"{what}: bytes that are not UTF-8 at column {err.start + 1}; the file is read "
                    f"as {codec}, which gives {shown!r}"
                )
                issues.append(LoadIssue("load.encoding", rel, reason, line=number))
    if bad > 20:
        reason = f"{what}: {bad - 20} more lines that are not UTF-8, read as {codec}"
        issues.append(LoadIssue("load.encoding", rel, reason))
    return Decoded(text, issues)


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def read_names_file(path: str | Path, rel: str) -> tuple[dict[int, str] | None, list[LoadIssue]]:
    """A class list, one name per line (blank lines skipped, as darknet's ``get_labels`` and
    Ultralytics' ``classes.txt`` readers do), or ``None`` and why it cannot be read."""
    try:
        data = read_limited(path, CLASS_LIST_MB, "a class list's 16 MB bound")
    except TooLarge as err:
        return None, [LoadIssue("load.file_too_large", rel, f"class names not read: {err}")]
    except OSError as err:
        return None, [LoadIssue("load.unreadable_file", rel, f"cannot read class names: {err}")]
    decoded = decode_text(data, rel, "class names")
    lines = decoded.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")  # as open() splits
    names = [line.strip() for line in lines if line.strip()]
    return dict(enumerate(names)), decoded.issues
