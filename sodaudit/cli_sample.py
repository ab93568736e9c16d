"""``sodaudit sample``: the review-sample command (the work is in :mod:`sodaudit.review_sample`)."""

from __future__ import annotations

from pathlib import Path

import click

from sodaudit.cli_inputs import DatasetPath
from sodaudit.config import DEFAULT_IMGSZ, MAX_IMGSZ, MIN_IMGSZ, Config
from sodaudit.loaders import FORMATS
from sodaudit.models import MODEL_NAMES


@click.command("sample")
@click.argument("path", type=DatasetPath())
@click.option(
    "--n", "n", type=click.IntRange(1, 5000), default=300, show_default=True, help="Images to draw."
)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None, help="Output folder.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed draws the same images.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="auto", show_default=True)
@click.option("--imgsz", type=click.IntRange(MIN_IMGSZ, MAX_IMGSZ), default=DEFAULT_IMGSZ, show_default=True)
@click.option("--model", type=click.Choice(MODEL_NAMES), default="yolov8", show_default=True)
def sample_command(
    path: Path | str, n: int, out_dir: Path | None, seed: int, fmt: str, imgsz: int, model: str
) -> None:
    """Draw a reproducible review sample of PATH's images, biased toward small labels, crowded
    cells, class boundaries, label defects and poor images; writes sample.csv (image, reasons,
    weight) and sample.html (a contact sheet with the small labels outlined)."""
    from sodaudit.pipeline import audit, staged_path
    from sodaudit.render.outset import SAMPLE_OUTPUTS, OutputSet, check_out_dir
    from sodaudit.render.runout import dataset_roots
    from sodaudit.render.terminal import Progress
    from sodaudit.review_sample import draw_sample, summary, write_sample

    roots = dataset_roots(path, fmt)
    from sodaudit.cli import default_out

    out = out_dir if out_dir is not None else default_out("sodaudit-sample", *roots)
    check_out_dir("--out", out, roots, SAMPLE_OUTPUTS)
    config = Config(imgsz=imgsz, model=model)
    # A URL is staged once for the audit and the contact sheet (which fetches its images).
    with Progress(f"auditing {path}") as progress, staged_path(path, config, progress):
        report = audit(path, format=fmt, config=config, progress=progress)
        check_out_dir("--out", out, [report.dataset.root], SAMPLE_OUTPUTS)
        progress.step("drawing the sample")
        sample = draw_sample(report, n, seed)
        with OutputSet(out, SAMPLE_OUTPUTS) as staging:
            written = [out / p.relative_to(staging) for p in write_sample(report, sample, staging, seed)]
    source = report.dataset.meta.get("origin") or report.dataset.root
    click.echo(f"sodaudit: {summary(sample)} from {source} (seed {seed})")
    for file in written:
        click.echo(f"  wrote {file}")
