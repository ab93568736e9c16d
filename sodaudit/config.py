"""Typed configuration with named defaults, one section per analyzer.

Every threshold an analyzer uses is a field here with its default, so ``--help``,
``sodaudit config`` and ``report.json`` show the same numbers the code uses.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace

from sodaudit.config_sections import (
    AnchorsConfig,
    BaselineConfig,
    ClassOverlapConfig,
    DiffConfig,
    IntegrityConfig,
    LimitsConfig,
    PlanConfig,
    RecommendConfig,
    SizesConfig,
    SplitsConfig,
    StridesConfig,
    SubthresholdConfig,
    VisibilityConfig,
)
from sodaudit.errors import ConfigError
from sodaudit.findings import RULE_SEVERITIES, Rule
from sodaudit.models import MODELS
from sodaudit.pool_dask import check_scheduler

DEFAULT_IMGSZ = 640
MIN_IMGSZ = 32
"""Smallest imgsz: the largest stride of every model preset is 32 (P5), and Ultralytics rounds
imgsz up to a multiple of the largest stride, so a smaller input size is never what runs."""
MAX_IMGSZ = 16384
MAX_SAMPLE = 5000
"""Largest ``sodaudit sample --n``: the contact sheet embeds one thumbnail per image."""
DEFAULT_MODEL = "yolov8"
DEFAULT_FAIL_ON = "error"


@dataclass(frozen=True)
class Config:
    imgsz: int = DEFAULT_IMGSZ
    """Model input size: images are letterboxed so their long side is imgsz."""
    model: str = DEFAULT_MODEL
    """Model preset (strides, anchors, assigner): yolov5, yolov8, yolo11, yolov8-p2, yolo26,
    retinanet, faster-rcnn or fcos (docs/models.md)."""
    fail_on: str = DEFAULT_FAIL_ON
    """Lowest finding severity that fails the gate (exit code 1): error, warning or never."""
    deep: bool = False
    """Decode every image to find corrupt ones (default: headers only)."""
    pixels: bool = False
    """Run pixel analyses (appearance separability of merge candidates)."""
    workers: int = 1
    """Processes for per-file work (label files, XML files, image headers), in a process pool:
    1 = everything in this process, 0 = one per core. Results are the same either way."""
    cache: bool = True
    """Keep image headers and parsed label files in the user cache folder (XDG_CACHE_HOME), so a
    re-run reads only files whose size or mtime changed; false (--no-cache) reads everything."""
    scheduler: str | None = None
    """Where the per-image pixel work (--deep decoding, image hashes, --pixels) runs: unset = here
    and in the --workers pool; 'local' = a Dask LocalCluster of --workers processes (0 or 1: one
    per core); tcp://host:8786 = a running Dask scheduler (needs pip install "sodaudit[dask]")."""
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    sizes: SizesConfig = field(default_factory=SizesConfig)
    subthreshold: SubthresholdConfig = field(default_factory=SubthresholdConfig)
    class_overlap: ClassOverlapConfig = field(default_factory=ClassOverlapConfig)
    anchors: AnchorsConfig = field(default_factory=AnchorsConfig)
    strides: StridesConfig = field(default_factory=StridesConfig)
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    visibility: VisibilityConfig = field(default_factory=VisibilityConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    recommend: RecommendConfig = field(default_factory=RecommendConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    diff: DiffConfig = field(default_factory=DiffConfig)
    rules: dict[str, Rule] = field(default_factory=dict)
    """Per finding code: ``{severity, threshold}`` overrides (see ``findings.apply_rules``)."""

    def __post_init__(self) -> None:
        if not MIN_IMGSZ <= self.imgsz <= MAX_IMGSZ:
            raise ConfigError(
                f"imgsz must be between {MIN_IMGSZ} (the models' largest stride) and {MAX_IMGSZ}, "
                f"got {self.imgsz}."
            )
        if not self.sizes.quantiles or not all(0 <= q <= 100 for q in self.sizes.quantiles):
            raise ConfigError(
                f"sizes.quantiles must be percentiles between 0 and 100, got {list(self.sizes.quantiles)}."
            )
        if self.fail_on not in ("error", "warning", "never"):
            raise ConfigError(f"fail_on must be error, warning or never, got {self.fail_on!r}.")
        if self.workers < 0:
            raise ConfigError(f"workers must be 1 or more (0: one per core), got {self.workers}.")
        check_scheduler(self.scheduler)
        if self.model not in MODELS:
            raise ConfigError(f"Unknown model {self.model!r}; choose one of {', '.join(MODELS)}.")
        self._check_ranges()

    def _check_ranges(self) -> None:
        """Values outside their meaning: a share above 1 or a negative noise is a usage error."""
        s = self.sizes
        checks = (
            ("sizes.label_noise_sigma_px", s.label_noise_sigma_px, 0.0, 100.0),
            ("sizes.label_noise_min_p", s.label_noise_min_p, 1e-9, 1.0),
            ("sizes.label_noise_warn_share", s.label_noise_warn_share, 0.0, 1.0),
            ("splits.leakage_warn_share", self.splits.leakage_warn_share, 0.0, 1.0),
            ("integrity.dense_small_share", self.integrity.dense_small_share, 0.0, 1.0),
        )
        for key, value, low, high in checks:
            if not low <= value <= high:
                raise ConfigError(f"{key} must be between {low:g} and {high:g}, got {value!r}.")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def with_rule(self, code: str, severity: object = None, threshold: object = None) -> Config:
        """A copy with the rule for ``code`` set (``None`` keeps that part as it is)."""
        current = self.rules.get(code)
        sev = severity if severity is not None else (current.severity if current else None)
        if sev not in RULE_SEVERITIES:
            raise ConfigError(
                f"Config key 'rules.{code}.severity' expects one of {', '.join(RULE_SEVERITIES)}, "
                f"got {sev!r}."
            )
        thr = current.threshold if current and threshold is None else threshold
        if thr is not None:
            thr = check_type(thr, float, f"rules.{code}.threshold")
        return replace(self, rules={**self.rules, code: Rule(str(sev), thr)})

    def with_mapping(self, data: dict[str, object], origin: str = "") -> Config:
        """Apply a parsed config document (TOML tables as dicts); unknown keys name the file."""
        config = self
        where = f" in {origin}" if origin else ""
        for key, value in data.items():
            if key == "rules":
                if not isinstance(value, dict):
                    raise ConfigError(f"Config key 'rules'{where} must be a table of finding codes.")
                for code, rule in value.items():
                    if not isinstance(rule, dict) or set(rule) - {"severity", "threshold"}:
                        raise ConfigError(
                            f"Config key 'rules.{code}'{where} must be a table with severity and "
                            "optionally threshold."
                        )
                    try:
                        config = config.with_rule(code, rule.get("severity"), rule.get("threshold"))
                    except ConfigError as err:
                        raise ConfigError(str(err).rstrip(".") + f"{where}.") from None
            elif isinstance(value, dict):
                for sub, sub_value in value.items():
                    config = config._set_located(f"{key}.{sub}", sub_value, where)
            else:
                config = config._set_located(key, value, where)
        return config

    def _set_located(self, key: str, value: object, where: str) -> Config:
        try:
            return self.set(key, value)
        except ConfigError as err:
            raise ConfigError(str(err).rstrip(".") + f"{where}.") from None

    def to_toml(self, comments: bool = False) -> str:
        """The configuration as TOML (``sodaudit config``); unset keys are comments.

        With ``comments``, each key is preceded by its documentation (``sodaudit init``).
        """
        docs = field_docs() if comments else {}
        top, sections = [], []

        def doc(key: str) -> list[str]:
            return [f"# {line}" for line in docs.get(key, "").splitlines() if line.strip()]

        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "rules":
                for code, rule in value.items():
                    sections.append(f"\n[rules.{json.dumps(code)}]")
                    sections.append(_toml_line("severity", rule.severity))
                    sections.append(_toml_line("threshold", rule.threshold))
            elif is_dataclass(value):
                sections.append(f"\n[{f.name}]")
                for g in fields(value):
                    sections += doc(f"{f.name}.{g.name}")
                    sections.append(_toml_line(g.name, getattr(value, g.name)))
            else:
                top += doc(f.name)
                top.append(_toml_line(f.name, value))
        return "\n".join(top + sections) + "\n"

    def updated(self, **changes: object) -> Config:
        """A copy with top-level keys changed; ``None`` values are left at the current value."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise unknown_key(unknown[0])
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def with_overrides(self, assignments: Iterable[str]) -> Config:
        """Apply ``key=value`` strings (``imgsz=1024``, ``subthreshold.min_side_model_px=4``).

        Values are JSON literals (numbers, true/false, null, lists) or bare strings, and are
        checked against the field's type, so a typo fails with the key's name.
        """
        config = self
        for assignment in assignments:
            key, sep, text = assignment.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"Expected key=value, got {assignment!r}.")
            config = config.set(key.strip(), parse_value(text.strip()))
        return config

    def set(self, dotted_key: str, value: object) -> Config:
        """A copy with one (possibly nested) key set to a type-checked value."""
        head, _, rest = dotted_key.partition(".")
        if head == "rules":  # rules.<code with dots>.severity|threshold
            code, _, part = rest.rpartition(".")
            if not code or part not in ("severity", "threshold"):
                raise ConfigError(
                    f"Config key {dotted_key!r}: use rules.<finding code>.severity or .threshold."
                )
            return self.with_rule(code, **{part: value})
        hints = typing.get_type_hints(type(self))
        if head not in hints:
            raise unknown_key(dotted_key)
        current = getattr(self, head)
        if rest:
            if not is_dataclass(current):
                raise ConfigError(f"Config key {head!r} has no sub-key {rest!r}.")
            return replace(self, **{head: _set_in_section(current, rest, value, dotted_key)})
        if is_dataclass(current):
            raise ConfigError(f"Config key {head!r} is a section; set one of its keys.")
        return replace(self, **{head: check_type(value, hints[head], dotted_key)})


def _set_in_section(section: object, key: str, value: object, dotted_key: str) -> object:
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        raise unknown_key(dotted_key)
    return replace(section, **{key: check_type(value, hints[key], dotted_key)})


def config_keys() -> list[str]:
    """Every settable key, dotted (``imgsz``, ``subthreshold.min_side_model_px``); not ``rules``."""
    keys, hints = [], typing.get_type_hints(Config)
    for f in fields(Config):
        hint = hints[f.name]
        if is_dataclass(hint):
            keys += [f"{f.name}.{g.name}" for g in fields(hint)]
        elif f.name != "rules":
            keys.append(f.name)
    return keys


def unknown_key(dotted_key: str) -> ConfigError:
    """The error for a key that does not exist, with the closest real key: typos are the usual cause."""
    keys = config_keys()
    section, dot, leaf = dotted_key.rpartition(".")
    in_section = [k.removeprefix(section + dot) for k in keys if dot and k.startswith(section + dot)]
    if in_section:  # a known section: compare the key names alone, not the shared prefix
        close = [section + dot + k for k in difflib.get_close_matches(leaf, in_section, n=1)]
    else:
        close = difflib.get_close_matches(dotted_key, keys, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else " (`sodaudit config` lists every key)"
    return ConfigError(f"Unknown config key {dotted_key!r}{hint}.")


def field_docs() -> dict[str, str]:
    """The docstring under each config field (``sizes.heatmap_bins`` -> text), read from the
    sources of this module and :mod:`sodaudit.config_sections`, so the documentation is written
    once, next to the default."""
    import ast
    import inspect
    import itertools
    import sys

    from sodaudit import config_sections

    sources = (inspect.getsource(config_sections), inspect.getsource(sys.modules[__name__]))
    sections = {f.type if isinstance(f.type, str) else f.type.__name__: f.name for f in fields(Config)}
    docs: dict[str, str] = {}
    for node in itertools.chain.from_iterable(ast.parse(source).body for source in sources):
        if not isinstance(node, ast.ClassDef):
            continue
        prefix = "" if node.name == "Config" else sections.get(node.name, node.name) + "."
        body = node.body
        for stmt, nxt in itertools.pairwise(body):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[prefix + stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def _toml_line(key: str, value: object) -> str:
    if value is None:
        return f"# {key} = (not set)"
    return f"{key} = {_toml_value(value)}"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def parse_value(text: str) -> object:
    """A JSON literal when the text is one, else the text itself (bare strings need no quotes)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def check_type(value: object, hint: object, key: str) -> object:
    """``value`` converted to the annotated type, or a ConfigError naming the key."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return check_type(value, option, key)
            except ConfigError:
                continue
        raise ConfigError(f"Config key {key!r} expects {_type_name(hint)}, got {value!r}.")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"Config key {key!r} expects a list, got {value!r}.")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(check_type(v, args[0], key) for v in value)
        if len(args) != len(value):
            raise ConfigError(f"Config key {key!r} expects {len(args)} values, got {len(value)}.")
        return tuple(check_type(v, a, key) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"Config key {key!r} expects {_type_name(hint)}, got {value!r}.")


def _type_name(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
