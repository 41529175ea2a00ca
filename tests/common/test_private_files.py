"""Users' data on disk is private whatever the umask: the helpers of ``common.private_files``, the run store,
and the service's data dir, its database and its batch files (0700 folders, 0600 files)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from batching.journal.store import RunStore
from common.private_files import open_private, private_dir, touch_private, write_private_text
from orchestrator.service.batch_files import BatchCatalog


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o002)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_helpers_create_private_files_and_folders(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    deep = private_dir(shared / "a" / "b")
    assert _mode(shared) == 0o755  # an existing folder is the user's choice
    assert _mode(shared / "a") == 0o700 and _mode(deep) == 0o700
    report = write_private_text(deep / "report.json", "{}")
    assert _mode(report) == 0o600 and report.read_text() == "{}"
    assert [p.name for p in deep.iterdir()] == ["report.json"]  # no temporary left behind
    with open_private(deep / "log.txt", "a") as fh:
        fh.write("x")
    assert _mode(deep / "log.txt") == 0o600
    loose = deep / "loose.db"
    loose.write_text("")
    loose.chmod(0o644)
    assert _mode(touch_private(loose)) == 0o600  # an existing file is narrowed


def test_run_store_and_its_wal_are_private(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "new" / "runs.sqlite")
    store._query("SELECT 1")
    files = list((tmp_path / "new").glob("runs.sqlite*"))
    assert files and all(_mode(p) == 0o600 for p in files), [(p.name, oct(_mode(p))) for p in files]
    assert _mode(tmp_path / "new") == 0o700
    store.close()


def test_service_data_dir_database_and_batch_files_are_private(tmp_path: Path) -> None:
    catalog = BatchCatalog(tmp_path / "svc")
    record = catalog.add_file(b'{"custom_id": "a"}\n', "in.jsonl", "batch", owner="o")
    assert _mode(tmp_path / "svc") == 0o700 and _mode(catalog.files_dir) == 0o700
    assert _mode(catalog.path(record.id)) == 0o600
    assert all(_mode(p) == 0o600 for p in (tmp_path / "svc").glob("batches.sqlite*"))
    catalog.close()
