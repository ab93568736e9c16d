"""``--scheduler``: the pixel passes on a Dask cluster give the report one process gives, in item
order; a bad or unreachable scheduler, or no ``distributed`` package, is one sentence and exit 2."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import sys
from pathlib import Path

import pytest

from sodaudit.analyzers.integrity_pixels import file_hashes
from sodaudit.cli import main
from sodaudit.config import Config
from sodaudit.errors import ConfigError
from sodaudit.pool import map_chunks

distributed = pytest.importorskip(
    "distributed", reason='--scheduler needs dask.distributed (pip install "sodaudit[dask]")'
)

from sodaudit import pool_dask  # noqa: E402

PIXEL_WORK = {"decode_errors", "file_hashes", "phashes", "measure_images"}
"""The per-image work functions of --deep, identical-file hashes, pHash and --pixels visibility."""


@pytest.fixture(scope="module")
def cluster():
    """One two-process cluster for the module, closed after it."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0"
    ) as local:
        yield local


def comparable(report_dir: Path) -> dict:
    """report.json without what may differ between runs: the time it was made, the scheduler."""
    report = json.loads((report_dir / "report.json").read_text())
    report["tool"].pop("created", None)
    report["config"].pop("scheduler")
    report["config"].pop("cache")
    return report


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_pixel_passes_on_a_cluster_give_the_one_process_report(cluster, sample_data, tmp_path):
    root = tmp_path / "yolo"
    shutil.copytree(sample_data / "yolo", root)
    # two images of one size, so that the identical-file check hashes them (it reads only those)
    shutil.copyfile(root / "train/images/aerial_0001.jpg", root / "val/images/aerial_0025.jpg")
    data = str(root)
    assert main(["run", data, "--deep", "--pixels", "--out", str(tmp_path / "one")]) == 0
    address = cluster.scheduler_address
    # --no-cache: the one-process run cached its pixel results; this run must compute them again
    args = [
        "run",
        data,
        "--deep",
        "--pixels",
        "--out",
        str(tmp_path / "dask"),
        "--scheduler",
        address,
        "--no-cache",
    ]
    assert main(args) == 0
    one, dask = comparable(tmp_path / "one"), comparable(tmp_path / "dask")
    assert dask["analyzers"] == one["analyzers"]
    assert dask["findings"] == one["findings"]
    assert dask == one
    assert one["analyzers"]["integrity"]["stats"]["deep_decode"]["ran"]
    with distributed.Client(address, set_as_default=False) as client:
        prefixes = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    assert set(prefixes) >= PIXEL_WORK  # the pixel work ran on the cluster...
    assert not {"_read_chunk", "header_rows"} & set(prefixes)  # ...and label loading did not
    local = [
        "run",
        data,
        "--deep",
        "--pixels",
        "--out",
        str(tmp_path / "local"),
        "--scheduler",
        "local",
        "--no-cache",
    ]
    assert main([*local, "--workers", "2"]) == 0  # a LocalCluster of its own, for this run only
    assert comparable(tmp_path / "local") == {**one, "config": {**one["config"], "workers": 2}}


def test_the_map_helper_returns_chunk_results_in_item_order(cluster, tmp_path):
    paths = []
    for k in range(37):
        path = tmp_path / f"f{k:02d}.bin"
        path.write_bytes(bytes([k]) * (k + 1))
        paths.append(str(path))
    expected = [hashlib.blake2b(bytes([k]) * (k + 1), digest_size=16).hexdigest() for k in range(37)]
    seen: list[int] = []
    chunks = pool_dask.map_on_cluster(
        file_hashes,
        paths,
        scheduler=cluster.scheduler_address,
        what="hashing",
        progress=lambda what, done, total: seen.append(done),
    )
    assert len(chunks) > 1
    assert [h for chunk in chunks for h in chunk] == expected == file_hashes(paths)
    assert seen == sorted(seen) and seen[-1] == len(paths)
    via_pool = map_chunks(file_hashes, paths, scheduler=cluster.scheduler_address)
    assert [h for chunk in via_pool for h in chunk] == expected


def test_local_starts_a_cluster_for_the_session_and_closes_it(tmp_path):
    paths = [str(tmp_path / "a.bin"), str(tmp_path / "missing.bin")]
    Path(paths[0]).write_bytes(b"abc")
    with pool_dask.dask_session("local", 2) as client:
        assert len(client.nthreads()) == 2
        assert set(client.nthreads().values()) == {1}
        with pool_dask.dask_session("local", 2) as inner:
            assert inner is client  # one client per run: the call sites share it
        hashes = [h for c in map_chunks(file_hashes, paths, scheduler="local") for h in c]
    assert hashes == file_hashes(paths) and hashes[1] is None
    assert client.status == "closed"


@pytest.mark.parametrize("address", ["http://host:8786", "tcp://host", "host:8786", "tcp://:8786", "locale"])
def test_an_invalid_scheduler_address_exits_2(address, sample_data, tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["run", str(sample_data / "yolo"), "--out", out, "--scheduler", address]) == 2
    line = one_sentence(capsys.readouterr().err)
    assert "tcp://host:8786" in line and repr(address) in line
    assert not (tmp_path / "o").exists()
    with pytest.raises(ConfigError):
        Config().set("scheduler", address)


def test_valid_addresses_are_config_values():
    for address in ("local", "tcp://10.0.0.5:8786", "tls://scheduler.example:8786", "tcp://[::1]:8786"):
        assert Config().set("scheduler", address).scheduler == address
    assert Config().scheduler is None


def test_an_unreachable_scheduler_exits_2(sample_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pool_dask, "CONNECT_TIMEOUT_S", 1)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    args = ["run", str(sample_data / "yolo"), "--deep", "--out", str(tmp_path / "o"), "--scheduler", address]
    assert main(args) == 2
    line = one_sentence(capsys.readouterr().err)
    assert "Cannot reach a Dask scheduler" in line and address in line


def test_without_distributed_the_error_names_the_extra(sample_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    args = ["run", str(sample_data / "yolo"), "--out", str(tmp_path / "o"), "--scheduler", "local"]
    assert main(args) == 2
    assert 'pip install "sodaudit[dask]"' in one_sentence(capsys.readouterr().err)


def test_tls_without_dask_tls_settings_exits_2(sample_data, tmp_path, capsys):
    import dask

    out = str(tmp_path / "o")
    no_tls = {"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None}
    with dask.config.set(no_tls):
        assert main(["run", str(sample_data / "yolo"), "--out", out, "--scheduler", "tls://127.0.0.1:1"]) == 2
    assert "TLS settings" in one_sentence(capsys.readouterr().err)
