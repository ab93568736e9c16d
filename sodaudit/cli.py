"""Command line: ``sodaudit run|diff|anchors|config|init``. ``main()`` returns the exit code.

Exit codes: 0 gate passed, 1 gate failed, 2 usage, config or unreadable dataset.
Errors are one sentence on stderr, never a traceback (``SODAUDIT_DEBUG=1`` shows it).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

import click

from sodaudit import __version__
from sodaudit.cli_inputs import DatasetPath, check_baseline, check_export_path
from sodaudit.config import (
    DEFAULT_FAIL_ON,
    DEFAULT_IMGSZ,
    DEFAULT_MODEL,
    MAX_IMGSZ,
    MIN_IMGSZ,
    AnchorsConfig,
    Config,
)
from sodaudit.errors import ConfigError, SodauditError
from sodaudit.loaders import FORMATS
from sodaudit.models import MODEL_NAMES

DEFAULT_OUT = "sodaudit-report"
DEFAULT_DIFF_OUT = "sodaudit-diff"
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""click >= 8.2 raises it for a bare ``sodaudit``; older versions print the help themselves."""


SET_OPTION = click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config key, e.g. --set subthreshold.min_side_model_px=4 (repeatable).",
)
CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Read the configuration from FILE only (TOML; a pyproject.toml is read at [tool.sodaudit]). "
    "Without it: ./pyproject.toml [tool.sodaudit], then ./sodaudit.toml, then the dataset's sodaudit.toml.",
)
FAIL_ON_OPTION = click.option(
    "--fail-on",
    type=click.Choice(["error", "warning", "never"]),
    default=DEFAULT_FAIL_ON,
    show_default=True,
    help="Lowest finding severity that fails the gate (exit code 1).",
)
CLI_CONFIG_KEYS = ("imgsz", "model", "fail_on", "deep", "pixels", "workers", "cache", "scheduler")
"""Options that are also config keys: they override config files only when given."""


def effective_config(
    dataset: Path | None, config_file: Path | None, assignments: tuple[str, ...], **options: object
) -> Config:
    """Defaults < config files < command-line options given explicitly < --set."""
    from sodaudit.config_files import load_config

    try:
        config, _ = load_config(dataset, Path.cwd(), config_file)
    except UnicodeDecodeError as err:  # config_files.read_toml should say which file
        where = f" {config_file}" if config_file is not None else ""
        raise ConfigError(f"The config file{where} is not UTF-8 text ({err.reason}).") from None
    ctx = click.get_current_context()
    for key, value in options.items():
        if ctx.get_parameter_source(key) is click.core.ParameterSource.COMMANDLINE:
            config = config.set(key, value)
    return config.with_overrides(assignments)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sodaudit")
def cli() -> None:
    """Audit object-detection datasets (COCO, YOLO, Pascal VOC) for small-object problems."""


@cli.command()
@click.argument("path", type=DatasetPath())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="auto",
    show_default=True,
    help="Dataset format; auto sniffs the layout and says what it found.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Folder for report.html and report.json [default: ./{DEFAULT_OUT}].",
)
@click.option(
    "--imgsz",
    type=click.IntRange(MIN_IMGSZ, MAX_IMGSZ),
    default=DEFAULT_IMGSZ,
    show_default=True,
    help="Model input size: images are letterboxed so their long side is imgsz.",
)
@click.option(
    "--model",
    type=click.Choice(MODEL_NAMES),
    default=DEFAULT_MODEL,
    show_default=True,
    help="Model preset (strides, anchors, assigner).",
)
@FAIL_ON_OPTION
@click.option("--deep", is_flag=True, help="Decode every image to find corrupt ones (default: headers only).")
@click.option(
    "--pixels", is_flag=True, help="Run pixel analyses (appearance separability of look-alike classes)."
)
@click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="Processes for per-file work (label files, XML files, image headers): 1 = this process "
    "only, 0 = one per core. The results are the same either way.",
)
@click.option(
    "--cache/--no-cache",
    default=True,
    show_default=True,
    help="Reuse image headers and parsed label files of an earlier run when the files did not change "
    "(kept in the user cache folder, never in the dataset).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run the per-image pixel work (--deep, image hashes, --pixels) on Dask: tcp://host:8786 "
    "connects to a running scheduler, 'local' starts a LocalCluster of --workers processes "
    '(0 or 1: one per core). Needs pip install "sodaudit[dask]".',
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write a Markdown summary to FILE (it is always appended to $GITHUB_STEP_SUMMARY when set).",
)
@click.option(
    "--export-boxes",
    "export_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the canonical box table to FILE: CSV, or Parquet when FILE ends in .parquet (needs pyarrow).",
)
@click.option(
    "--baseline",
    "baseline_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A previous report.json: fail when a tracked number regresses beyond its tolerance.",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write JUnit XML to FILE: one test case per rule.",
)
@click.option(
    "--emit",
    "emit_target",
    type=click.Choice(["ultralytics"]),
    default=None,
    help="Also write the plan as files to run as is into OUT/emit/TARGET/: train.sh (the "
    "`yolo detect train` command), SAHI slicing and tiled inference when the plan tiles, a README.",
)
@click.option(
    "--verbose",
    is_flag=True,
    help="Print the summary's lines in full (by default they are cut to the terminal's width).",
)
@CONFIG_OPTION
@SET_OPTION
def run(
    path: Path | str,
    fmt: str,
    out_dir: Path | None,
    imgsz: int,
    model: str,
    fail_on: str,
    deep: bool,
    pixels: bool,
    workers: int,
    cache: bool,
    scheduler: str | None,
    markdown_path: Path | None,
    export_path: Path | None,
    baseline_path: Path | None,
    junit_path: Path | None,
    emit_target: str | None,
    verbose: bool,
    config_file: Path | None,
    assignments: tuple[str, ...],
) -> None:
    """Audit the dataset at PATH (a dataset folder or a COCO JSON file, local or in object
    storage: s3://bucket/prefix, gs://, az://) and write the report.

    Every threshold can be changed with --set KEY=VALUE; `sodaudit config` lists them all with
    their defaults.
    """
    from sodaudit import remote
    from sodaudit.pipeline import audit, staged_path
    from sodaudit.pool_dask import dask_session
    from sodaudit.render.runout import Targets, check_targets, dataset_roots, write_run
    from sodaudit.render.terminal import Progress, fit, one_line, summary, terminal_width

    local_path = None if isinstance(path, str) else path
    config = effective_config(
        local_path,
        config_file,
        assignments,
        imgsz=imgsz,
        model=model,
        fail_on=fail_on,
        deep=deep,
        pixels=pixels,
        workers=workers,
        cache=cache,
        scheduler=scheduler,
    )
    # Every usage error is found before the audit, which can take minutes.
    check_export_path(export_path)
    if baseline_path is not None:
        check_baseline(baseline_path)
    roots = dataset_roots(path, fmt)
    out = out_dir if out_dir is not None else default_out(DEFAULT_OUT, *roots)
    targets = Targets(out, markdown_path, export_path, junit_path, emit_target)
    check_targets(targets, roots)
    # A URL is staged once for the audit and the report (whose crops fetch their images).
    with (
        dask_session(config.scheduler, config.workers),
        Progress(f"auditing {path}") as progress,
        staged_path(path, config, progress),
    ):
        report = audit(path, format=fmt, config=config, baseline=baseline_path, progress=progress)
        if out_dir is None:
            default_out(DEFAULT_OUT, report.dataset.root)
        check_targets(targets, [report.dataset.root])
        progress.step("writing the report")
        written, emit_note = write_run(report, targets)
        fetched = remote.summary()
    width = None if verbose else terminal_width()
    click.echo(summary(report, written, width))
    if fetched:
        click.echo(fit(one_line(f"  {fetched}"), width))
    if emit_note:
        click.echo(fit(one_line(f"  {emit_note}"), width))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        from sodaudit.render.junit import github_annotations

        for line in github_annotations(report):
            click.echo(line)
    raise SystemExit(0 if report.passed else 1)


@cli.command("config")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@CONFIG_OPTION
@SET_OPTION
def config_command(path: Path | None, config_file: Path | None, assignments: tuple[str, ...]) -> None:
    """Print the effective configuration for PATH as TOML: every key with its value, after a
    comment saying what it means.

    It is what `sodaudit run PATH` would use with the same --config and --set; saved as
    sodaudit.toml, it reads back to the same values.
    """
    click.echo(effective_config(path, config_file, assignments).to_toml(comments=True), nl=False)


@cli.command("init")
@click.argument("target", type=click.Path(path_type=Path), default="sodaudit.toml")
@click.option("--force", is_flag=True, help="Overwrite TARGET if it exists.")
def init_command(target: Path, force: bool) -> None:
    """Write a commented default configuration file (TARGET, default ./sodaudit.toml)."""
    from sodaudit.render.files import write_atomic

    if target.exists() and not force:
        raise SodauditError(f"{target} already exists; pass --force to overwrite it.")
    header = (
        "# sodaudit configuration: every key with its default and what it does.\n"
        "# Read from ./sodaudit.toml, the dataset folder's sodaudit.toml, [tool.sodaudit] in\n"
        "# pyproject.toml, or --config FILE; --set KEY=VALUE overrides any key.\n"
        '# Per finding code: [rules."subthreshold.below_min_model"] severity = "error", threshold = 0.02\n\n'
    )
    write_atomic(target, header + Config().to_toml(comments=True))
    click.echo(f"wrote {target}")


@cli.command("diff")
@click.argument("old", type=DatasetPath())
@click.argument("new", type=DatasetPath())
@click.option("--old-format", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--new-format", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for diff.html and diff.json [default: ./sodaudit-diff].",
)
@FAIL_ON_OPTION
@CONFIG_OPTION
@SET_OPTION
def diff_command(
    old: Path | str,
    new: Path | str,
    old_format: str,
    new_format: str,
    out_dir: Path | None,
    fail_on: str,
    config_file: Path | None,
    assignments: tuple[str, ...],
) -> None:
    """Compare two versions of one dataset (any formats): added, removed, relabelled, moved boxes.

    Review passes: images are matched by file name, boxes by an optimal IoU assignment; jitter
    (matched IoU below diff.jitter_iou) is reported by size and class. Exit 1 when a gate rule
    fails (by default: jitter on small-object classes above diff.small_jitter_fail).
    """
    from sodaudit.diff import diff_datasets
    from sodaudit.pipeline import load_staged
    from sodaudit.render.diff import diff_report
    from sodaudit.render.files import visible
    from sodaudit.render.runout import check_diff_out, dataset_roots, write_diff

    local_new = new if isinstance(new, Path) else None
    config = effective_config(local_new, config_file, assignments, fail_on=fail_on)
    roots = dataset_roots(old, old_format) + dataset_roots(new, new_format)
    out = out_dir if out_dir is not None else default_out(DEFAULT_DIFF_OUT, *roots)
    check_diff_out(out, roots)  # before the loads, which can take minutes
    old_ds, new_ds = load_staged(old, config, old_format), load_staged(new, config, new_format)
    if out_dir is None:
        default_out(DEFAULT_DIFF_OUT, old_ds.root, new_ds.root)
    check_diff_out(out, [old_ds.root, new_ds.root])
    result = diff_datasets(old_ds, new_ds, config.diff, max_pairs_per_image=config.limits.max_pairs_per_image)
    written = write_diff(result, old_ds, new_ds, config, out)
    document = diff_report(result, old_ds, new_ds, config)
    boxes = document["stats"].get("boxes", {})
    click.echo(
        visible(f"sodaudit diff: {shown(old_ds)} -> {shown(new_ds)}\n")
        + "  "
        + ", ".join(
            f"{boxes.get(k, 0):,} {k}" for k in ("added", "removed", "relabelled", "moved", "jittered")
        )
    )
    for finding in document["findings"][:8]:
        click.echo(visible(f"    [{finding['severity']}] {finding['message']}"))
    gate = document["gate"]
    verdict = "passed" if gate["passed"] else "FAILED (" + ", ".join(gate["failed_codes"]) + ")"
    click.echo(f"  gate (fail on {gate['fail_on']}): {verdict}")
    for path in written:
        click.echo(visible(f"  wrote {path}"))
    raise SystemExit(0 if gate["passed"] else 1)


@cli.command("anchors")
@click.argument("path", type=DatasetPath())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option(
    "--n",
    "num_anchors",
    type=click.IntRange(1, 30),
    default=9,
    show_default=True,
    help="Number of anchors (3 per level for YOLOv5's P3-P5).",
)
@click.option("--imgsz", type=click.IntRange(MIN_IMGSZ, MAX_IMGSZ), default=DEFAULT_IMGSZ, show_default=True)
@click.option(
    "--evolve",
    type=click.IntRange(0, 100000),
    default=AnchorsConfig().evolve_generations,
    show_default=True,
    help="Generations of YOLOv5's evolutionary refinement after k-means (autoanchor's default).",
)
def anchors_command(path: Path | str, fmt: str, num_anchors: int, imgsz: int, evolve: int) -> None:
    """Suggest anchors for PATH with their BPR, as YAML: YOLOv5 autoanchor's k-means and
    evolution on the box sizes at imgsz (the defaults are kept when the fit does not beat them)."""
    from sodaudit.analyzers.anchor_fit import anchors_yaml
    from sodaudit.analyzers.anchor_suggest import suggest_anchors
    from sodaudit.loaders import load
    from sodaudit.pipeline import staged_path

    config = Config(imgsz=imgsz).with_overrides(
        [f"anchors.num_anchors={num_anchors}", f"anchors.evolve_generations={evolve}"]
    )
    with staged_path(path, config) as local:  # a bucket URL: label files and headers only
        dataset = load(local, fmt, imgsz=imgsz)
    click.echo(anchors_yaml(suggest_anchors(dataset, config)), nl=False)


def shown(dataset: Any) -> str:
    """Where a dataset was read from, as the user named it: its URL when it is in a bucket."""
    return str(dataset.meta.get("origin") or dataset.root)


def default_out(name: str, *dataset_roots: Path) -> Path:
    """The default output folder must not land inside a dataset: the tool never writes there
    (an explicit ``--out`` inside it is refused too, by render.outset.check_out_dir)."""
    out = Path.cwd() / name
    for root in (r.resolve() for r in dataset_roots):
        if out.resolve().is_relative_to(root):
            raise SodauditError(
                f"The default output folder {out} is inside the dataset {root}; "
                "pass --out with a folder outside it (sodaudit never writes into a dataset unasked)."
            )
    return out


from sodaudit.cli_sample import sample_command  # noqa: E402 (defined apart: cli.py stays short)

cli.add_command(sample_command)


def _click_message(exc: click.ClickException) -> str:
    """click's message as one sentence without its final stop: a mistyped option or command
    gets its suggestion in parentheses, as a mistyped config key does."""
    possibilities = getattr(exc, "possibilities", None)  # NoSuchOption; NoSuchCommand (click >= 8.2)
    if not possibilities:
        return exc.format_message().rstrip(".")
    options = " or ".join(repr(p) for p in sorted(possibilities))
    return f"{exc.message.rstrip('.')} (did you mean {options}?)"


def main(argv: list[str] | None = None) -> int:
    """Entry point for the console script and ``python -m sodaudit``."""
    from sodaudit.render.files import visible

    try:
        cli.main(args=argv, prog_name="sodaudit", standalone_mode=False)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    except click.exceptions.Abort as exc:  # Ctrl-C, or SIGTERM while writing (render.outset)
        signal_name = getattr(exc.__cause__, "signum", None) and str(exc.__cause__)
        click.echo(f"sodaudit: aborted{' by ' + signal_name if signal_name else ''}.", err=True)
        return 2
    except click.ClickException as exc:  # a bad option: one line, not click's usage block
        if isinstance(exc, NO_ARGS_IS_HELP):  # `sodaudit` alone: the help is the message
            exc.show()
            return 2
        ctx = getattr(exc, "ctx", None)
        hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
        click.echo(visible(f"sodaudit: error: {_click_message(exc)}{hint}."), err=True)
        return exc.exit_code if exc.exit_code != 1 else 2
    except SodauditError as exc:
        click.echo(visible(f"sodaudit: error: {exc}"), err=True)
        return exc.exit_code
    except OSError as exc:  # the environment (a disk, a permission), not a bug in sodaudit
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(visible(f"sodaudit: error: cannot access{where}: {exc.strerror or exc}."), err=True)
        return 2
    except Exception as exc:  # a bug in sodaudit, not in the dataset: still no traceback by default
        if os.environ.get("SODAUDIT_DEBUG"):
            traceback.print_exc()
        click.echo(
            visible(
                f"sodaudit: internal error: {type(exc).__name__}: {exc} "
                "(set SODAUDIT_DEBUG=1 for the traceback and please report it)."
            ),
            err=True,
        )
        return 2
    return 0


def console_main() -> NoReturn:
    """The ``sodaudit`` command: :func:`main`'s exit code as the process's."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
