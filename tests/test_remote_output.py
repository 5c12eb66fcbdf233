"""The output folder on a non-local Beam filesystem, as gs:// or s3:// would be.

No cloud here, so a small in-memory filesystem registered with Beam under ``memtest://``
stands in: every write, rename, listing, lock, journal, manifest and index read of a run
must go through Beam's ``FileSystems`` for these runs to work at all.
"""

from __future__ import annotations

import io
import time

import pytest
from apache_beam.io.filesystem import BeamIOError, FileMetadata, FileSystem

from pipeline.run import run
from schemas.tables import TABLES
from tests.conftest import SEEDS
from transforms.write import read_table

SCHEME = "memtest"


class InMemoryFileSystem(FileSystem):
    """Objects in a dict, like a bucket: no directories, names are keys."""

    objects: dict[str, bytes] = {}

    @classmethod
    def scheme(cls):
        return SCHEME

    def join(self, basepath, *paths):
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path):
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path):
        pass

    def has_dirs(self):
        return False

    def _list(self, dir_or_prefix):
        for path, data in sorted(self.objects.items()):
            if path.startswith(dir_or_prefix):
                yield FileMetadata(path, len(data), time.time())

    def create(self, path, mime_type="application/octet-stream", compression_type="auto"):
        objects = self.objects

        class _Upload(io.BytesIO):
            def close(self):
                if not self.closed:
                    objects[path] = self.getvalue()
                super().close()

        return _Upload()

    def open(self, path, mime_type="application/octet-stream", compression_type="auto"):
        if path not in self.objects:
            raise BeamIOError("open failed", {path: FileNotFoundError(path)})
        return io.BytesIO(self.objects[path])

    def copy(self, source_file_names, destination_file_names):
        for source, destination in zip(source_file_names, destination_file_names):
            self.objects[destination] = self.objects[source]

    def rename(self, source_file_names, destination_file_names):
        missing = {s: FileNotFoundError(s) for s in source_file_names if s not in self.objects}
        if missing:
            raise BeamIOError("rename failed", missing)
        for source, destination in zip(source_file_names, destination_file_names):
            self.objects[destination] = self.objects.pop(source)

    def exists(self, path):
        return path in self.objects or any(p.startswith(path.rstrip("/") + "/") for p in self.objects)

    def size(self, path):
        return len(self.objects[path])

    def last_updated(self, path):
        return time.time()

    def checksum(self, path):
        return str(hash(self.objects[path]))

    def metadata(self, path):
        return FileMetadata(path, len(self.objects[path]), time.time())

    def delete(self, paths):
        for path in paths:
            doomed = [p for p in self.objects if p == path or p.startswith(path.rstrip("/") + "/")]
            if not doomed:
                raise BeamIOError("delete failed", {path: FileNotFoundError(path)})
            for p in doomed:
                del self.objects[p]


@pytest.fixture
def bucket():
    InMemoryFileSystem.objects.clear()
    yield InMemoryFileSystem.objects
    InMemoryFileSystem.objects.clear()


def _rows(output: str) -> dict[str, int]:
    return {table: read_table(output, table).num_rows for table in TABLES}


def test_a_run_into_a_remote_output_writes_the_same_tables_as_a_local_one(bucket, tmp_path):
    local = run([str(SEEDS)], output=str(tmp_path / "out"), enrich=False)
    remote_output = f"{SCHEME}://bucket/newsbeam"
    remote = run([str(SEEDS)], output=remote_output, enrich=False)

    assert remote["accounting"]["balanced"] and remote["accounting"]["articles"] == local["accounting"]["articles"]
    assert _rows(remote_output) == _rows(str(tmp_path / "out"))
    names = list(bucket)
    assert all(name.startswith(remote_output + "/") for name in names)
    assert any("/_runs/" in name for name in names) and any("/_index/" in name for name in names)
    # Nothing staged, partial or locked is left once the run is committed.
    assert not [n for n in names if "/_staging/" in n or n.endswith((".partial", "/_lock"))], names


def test_the_next_run_reads_the_remote_signature_index_and_replaces_rather_than_adds(bucket):
    remote_output = f"{SCHEME}://bucket/newsbeam"
    run([str(SEEDS)], output=remote_output, enrich=False)
    first = _rows(remote_output)
    again = run([str(SEEDS)], output=remote_output, enrich=False)
    assert again["index_files_read"] >= 1
    assert _rows(remote_output) == first
