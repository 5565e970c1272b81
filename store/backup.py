"""Backups and restores of the database (SQLite's online backup API, or pg_dump / pg_restore), with the
local blob folder when the backup is a .tar.

What a backup file holds depends on its name:
  - `*.tar`, `*.tar.gz`, `*.tgz`: an archive of `manifest.json`, the database (`database.sqlite` or
    `database.pgdump`) and, when PARLEY_BLOBS is a local folder, its blobs under `blobs/`. The database is
    copied first, then the blobs: a blob is always stored before the row that names it, so every blob the
    copied database refers to is already there (blobs are written whole by rename, never half).
  - anything else: the database alone: a SQLite file (gzip-compressed when the name ends in `.gz`) or a
    pg_dump custom-format file. Blobs are not in it (`BackupReport.blobs_left_out` says how many exist).
Restore reads any of these and refuses, changing nothing, a database that already holds Parley rows.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import func, inspect, select
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.errors import InputError

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
PG_BIN_ROOT = Path("/usr/lib/postgresql")  # where Debian puts each major version's tools
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz")
BLOBS_PREFIX = "blobs/"


class ToolMissing(InputError):
    """pg_dump or pg_restore is not installed."""


@dataclass
class BackupReport:
    path: Path
    dialect: str  # "sqlite" | "postgresql"
    size: int  # bytes written
    blobs: int  # blob files included (archives only)
    blobs_left_out: int  # blob files in the local folder that this backup does not hold
    note: str = ""  # a reminder about the blobs this backup does not hold, if any


@dataclass
class RestoreReport:
    dialect: str
    tables: int  # Parley tables with rows after the restore
    rows: int
    blobs: int  # blob files restored into the local folder


# ---------------------------------------------------------------- where things are


def _is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def _sqlite_path(url: str) -> Path:
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise InputError("an in-memory SQLite database cannot be backed up or restored")
    return Path(url.split("///", 1)[1])


def local_blob_folder(spec: str | None = None) -> Path | None:
    """The local blob folder PARLEY_BLOBS names (default data/blobs), or None for S3."""
    from store.blobs import DEFAULT_BLOBS

    spec = spec or os.environ.get("PARLEY_BLOBS", DEFAULT_BLOBS)
    if urlparse(spec).scheme == "s3":
        return None
    return Path(spec)


def _blob_files(folder: Path | None) -> list[Path]:
    """The stored blobs (`<2 hex>/<key>`), leaving out temp files of a put in progress (`.<key>.<pid>.tmp`)."""
    if folder is None or not folder.is_dir():
        return []
    return sorted(
        p
        for sub in folder.iterdir()
        if sub.is_dir()
        for p in sub.iterdir()
        if p.is_file() and p.name[0] != "."
    )


def find_pg_tool(name: str) -> str:
    """`pg_dump` / `pg_restore` on PATH, else the newest under /usr/lib/postgresql/*/bin; ToolMissing."""
    found = shutil.which(name)
    if found:
        return found
    for bindir in sorted(PG_BIN_ROOT.glob("*/bin"), key=_version_key, reverse=True):
        if (bindir / name).exists():
            return str(bindir / name)
    raise ToolMissing(
        f"{name} not found (on PATH or in /usr/lib/postgresql/*/bin): install the PostgreSQL client tools "
        "(apt-get install postgresql-client) of the server's major version or newer"
    )


def _version_key(path: Path) -> tuple[int, str]:
    name = path.parent.name
    return (int(name), name) if name.isdigit() else (0, name)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string for `url` (without its password) and the environment carrying it."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        raise InputError(f"{Path(cmd[0]).name} failed: {lines[-1] if lines else f'exit {done.returncode}'}")


# ---------------------------------------------------------------- backup


def backup(*, url: str, out: Path, blobs: str | None = None) -> BackupReport:
    """Back up the database at `url` (and, for an archive name, the local blobs) to `out`, atomically:
    `out` appears only once complete. Safe while the app runs and writes."""
    out = Path(out)
    dialect = make_url(url).get_backend_name()
    if dialect not in ("sqlite", "postgresql"):
        raise InputError(f"backups support SQLite and PostgreSQL, not {dialect}")
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = local_blob_folder(blobs)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".parley-backup-") as tmp:
        db_file = Path(tmp) / ("database.sqlite" if dialect == "sqlite" else "database.pgdump")
        if dialect == "sqlite":
            _sqlite_backup(_sqlite_path(url), db_file)
        else:
            _pg_dump(url, db_file)
        partial = Path(tmp) / "out"
        files = _blob_files(folder)
        included = 0
        if _is_archive(out):
            included = _write_archive(partial, out, db_file, dialect, folder, files)
        elif out.name.endswith(".gz"):
            with db_file.open("rb") as src, gzip.open(partial, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        else:
            db_file.replace(partial)
        os.replace(partial, out)
    left_out = len(files) - included
    if folder is None:
        note = "blobs (images) live in S3 and are not in this backup: keep the bucket versioned or replicated"
    elif left_out:
        note = (
            f"the {left_out} blob files (images) in {folder} are not in this file: back them up too, "
            "or name the backup FILE.tar / FILE.tar.gz to include them"
        )
    else:
        note = ""
    return BackupReport(
        path=out, dialect=dialect, size=out.stat().st_size, blobs=included, blobs_left_out=left_out, note=note
    )


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise InputError(f"{source}: no such database file")
    # One step (pages=-1) copies the whole database inside one read transaction: in WAL mode writers carry
    # on meanwhile and the copy is the database as of that transaction's start.
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        ok = dst.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise InputError(f"the backup copy of {source} fails its integrity check: {ok}")
    finally:
        dst.close()
        src.close()


def _pg_dump(url: str, target: Path) -> None:
    tool = find_pg_tool("pg_dump")
    conninfo, env = _libpq(url)
    _run([tool, "--format=custom", "--no-owner", "--no-acl", f"--file={target}", f"--dbname={conninfo}"], env)


def _write_archive(
    partial: Path, out: Path, db_file: Path, dialect: str, folder: Path | None, files: list[Path]
) -> int:
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    included = 0
    with tarfile.open(partial, mode) as tar:  # type: ignore[call-overload]
        manifest = {"format": "parley-backup", "version": 1, "dialect": dialect, "database": db_file.name}
        data = json.dumps(manifest, indent=2).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(db_file, arcname=db_file.name)
        for path in files:
            with contextlib.suppress(FileNotFoundError):  # deleted as an orphan meanwhile
                tar.add(path, arcname=BLOBS_PREFIX + path.relative_to(folder).as_posix())  # type: ignore[arg-type]
                included += 1
    return included


# ---------------------------------------------------------------- restore


def parley_rows(url: str) -> dict[str, int]:
    """Parley's tables at `url` that hold rows, with their row counts (the Alembic version table aside)."""
    from sqlmodel import SQLModel

    import store.models  # noqa: F401  (registers the tables)

    engine = make_engine(url)
    try:
        present = set(inspect(engine).get_table_names())
        counts = {}
        with engine.connect() as conn:
            for table in SQLModel.metadata.sorted_tables:
                if table.name in present:
                    n = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                    if n:
                        counts[table.name] = n
        return counts
    finally:
        engine.dispose()


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[tuple[str, Path, tarfile.TarFile | None]]:
    """The backup's dialect, its database file (unpacked to a temp dir if needed) and the archive, if any."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such backup file")
    with tempfile.TemporaryDirectory(prefix="parley-restore-") as tmp:
        if tarfile.is_tarfile(path):
            with tarfile.open(path) as tar:
                try:
                    manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
                    member = tar.getmember(manifest["database"])
                except (KeyError, AttributeError, ValueError):
                    raise InputError(f"{path}: not a Parley backup archive (no manifest.json)") from None
                db_file = Path(tmp) / "database"
                with tar.extractfile(member) as src, db_file.open("wb") as dst:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, dst, 1 << 20)
                yield _dialect_of(db_file, path), db_file, tar
            return
        with path.open("rb") as fh:
            head = fh.read(2)
        db_file = path
        if head == b"\x1f\x8b":
            db_file = Path(tmp) / "database"
            with gzip.open(path, "rb") as src, db_file.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        yield _dialect_of(db_file, path), db_file, None


def _dialect_of(db_file: Path, shown: Path) -> str:
    with db_file.open("rb") as fh:
        head = fh.read(16)
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise InputError(f"{shown}: not a Parley backup (neither a SQLite file nor a pg_dump custom-format file)")


def restore(*, url: str, path: Path, blobs: str | None = None) -> RestoreReport:
    """Restore the backup at `path` into the empty database at `url` (and its blobs into the local blob
    folder). Refuses, changing nothing, a database that already holds Parley rows."""
    dialect = make_url(url).get_backend_name()
    with _opened(Path(path)) as (kind, db_file, tar):
        if kind != dialect:
            raise InputError(f"{path} is a {kind} backup; DATABASE_URL is a {dialect} database")
        if dialect == "sqlite" and not _sqlite_path(url).exists():
            pass  # a new file: empty by definition
        else:
            rows = parley_rows(url)
            if rows:
                held = ", ".join(f"{name} {n}" for name, n in sorted(rows.items()))
                raise InputError(f"restore needs an empty database; {_shown(url)} holds rows ({held})")
        folder = local_blob_folder(blobs)
        if tar is not None and folder is None and any(m.name.startswith(BLOBS_PREFIX) for m in tar):
            raise InputError(
                "the backup holds blobs but PARLEY_BLOBS is not a local folder: restore them by hand"
            )
        if dialect == "sqlite":
            _sqlite_restore(db_file, _sqlite_path(url))
        else:
            _pg_restore(db_file, url)
        restored = _restore_blobs(tar, folder) if tar is not None and folder is not None else 0
    counts = parley_rows(url)
    return RestoreReport(dialect=dialect, tables=len(counts), rows=sum(counts.values()), blobs=restored)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_restore(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=30)
    try:
        try:
            src.backup(dst, pages=-1)
        except sqlite3.OperationalError as exc:
            raise InputError(
                f"{target}: {exc} (stop the app and other users of this database first)"
            ) from None
        dst.execute("PRAGMA journal_mode=WAL")
        ok = dst.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise InputError(f"the restored database fails its integrity check: {ok}")
    finally:
        dst.close()
        src.close()


def _pg_restore(dump: Path, url: str) -> None:
    tool = find_pg_tool("pg_restore")
    conninfo, env = _libpq(url)
    # --clean drops the (empty, checked above) tables a `store upgrade` may have made; one transaction, so a
    # failure leaves the database as it was.
    _run(
        [tool, "--clean", "--if-exists", "--no-owner", "--no-acl", "--single-transaction", "--exit-on-error",
         f"--dbname={conninfo}", str(dump)],
        env,
    )  # fmt: skip


def _restore_blobs(tar: tarfile.TarFile, folder: Path) -> int:
    n = 0
    for member in tar:
        if not member.isfile() or not member.name.startswith(BLOBS_PREFIX):
            continue
        rel = Path(member.name[len(BLOBS_PREFIX) :])
        if rel.is_absolute() or ".." in rel.parts or len(rel.parts) != 2:
            raise InputError(f"backup archive: unexpected blob path {member.name!r}")
        target = folder / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            with tar.extractfile(member) as src, tmp.open("wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(tmp, target)
        n += 1
    return n
