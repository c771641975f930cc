"""The gallery index: SQLite (WAL) at ``<project>/gallery.sqlite``, rebuilt from sidecars.

The index is a cache of the sidecars plus one thing only it knows: each asset's ``status``
("ok", "missing", "corrupt"). It never holds the only copy of anything the user made, so a
damaged index is moved aside and rebuilt, never repaired in place.

Reconcile (run when the gallery opens) compares ``os.scandir`` + ``stat`` of ``assets/`` with
the (inode, mtime, size) keys stored in the index and reads or hashes only what changed, so
opening a project of 10,000 assets costs one directory scan.

Reconcile never follows a symbolic link and never reads a FIFO or device planted in
``assets/`` (they are reported and not shown); a sidecar whose ``file`` belongs to another asset
is refused; an asset file without a sidecar whose complete sidecar sits in a temp file (a kill
during ``add_asset``) gets that sidecar back instead of being imported bare.

Reading needs no writes: opening an index writes nothing, and on a full disk, where SQLite
cannot even open its WAL files, the gallery is built in memory from the sidecars
(``degraded``, read-only) so that ``project info`` and ``gallery list/search`` still work.

Thread safety: one connection (``check_same_thread=False``) behind an ``RLock``; every public
method takes the lock, so the GUI thread and job worker threads may share one ``Gallery``.
Sidecar rewrites (tags, rating, ...) happen under the same lock, so two threads changing one
asset cannot lose each other's change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genstudio.core import thumbs as _thumbs
from genstudio.core.assets import (
    SIDECAR_EXT,
    AssetRecord,
    check_rating,
    is_asset_id,
    new_asset_id,
    normalize_tags,
    now_iso,
    read_sidecar,
    sha256_file,
    sidecar_name,
    write_sidecar,
)
from genstudio.core.atomic import atomic_write_json, is_temp_name, read_json
from genstudio.core.errors import AssetError, GalleryError, GenStudioError, ProjectReadOnlyError

log = logging.getLogger(__name__)

INDEX_FILE = "gallery.sqlite"
INDEX_VERSION = 1
THUMBS_DIR = "thumbs"
#: Temp files older than this are left-overs of a crash and are removed by reconcile.
STALE_TEMP_S = 3600.0
ORDERS = ("newest", "oldest")
#: Kinds of files that appear in assets/ without a sidecar (imported on reconcile).
IMPORT_KINDS = {
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "webp": "image",
    "gif": "image",
    "bmp": "image",
    "mid": "music",
    "midi": "music",
    "wav": "audio",
    "ogg": "audio",
    "flac": "audio",
    "mp3": "audio",
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assets(
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    file TEXT NOT NULL,
    generator TEXT NOT NULL,
    model_id TEXT,
    created TEXT NOT NULL,
    favorite INTEGER NOT NULL,
    rating INTEGER NOT NULL,
    trashed INTEGER NOT NULL,
    status TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    fkey TEXT,
    skey TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS assets_by_time ON assets(trashed, created, id);
CREATE TABLE IF NOT EXISTS asset_tags(
    tag TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(tag, n)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS asset_tags_by_n ON asset_tags(n);
CREATE VIRTUAL TABLE IF NOT EXISTS assets_fts USING fts5(
    prompt, tags, tokenize = 'unicode61 remove_diacritics 2'
);
"""
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_WORD_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class Query:
    """What the gallery shows: filters, text search (prefix match on words), order, page.

    ``date_from``/``date_to`` are ISO-8601 strings compared with ``created`` (UTC); both ends
    are inclusive and ``date_to`` may be a prefix ("2026-11-23" includes the whole day).
    ``tags``: every tag must be present (case-insensitive). ``limit=None`` means no limit.
    """

    text: str = ""
    kind: str | None = None
    model_id: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    favorite: bool | None = None
    min_rating: int = 0
    tags: tuple[str, ...] = ()
    trashed: bool = False
    order: str = "newest"
    limit: int | None = 100
    offset: int = 0


@dataclass
class ReconcileReport:
    """What reconcile found changed on disk since the index last looked.

    ``missing``/``corrupt``/``restored`` list assets whose status changed in this run;
    ``added`` lists assets new to the index (new sidecars and imported sidecar-less files).
    ``bad_sidecars`` names sidecar files that could not be read or that claim another asset's
    file (their asset files are kept untouched); ``recovered`` lists assets whose complete
    sidecar was found in a temp file left by a crash and put in place; ``refused`` names
    entries of assets/ that are never read (symbolic links, FIFOs, devices); ``messages`` has
    one line per problem for the user.
    """

    added: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    bad_sidecars: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.missing or self.corrupt or self.restored)


@dataclass
class _Row:
    n: int
    file: str
    sha256: str
    status: str
    fkey: str | None
    skey: str | None


@dataclass
class _Scan:
    sidecars: dict[str, str] = field(default_factory=dict)  # asset id -> stat key
    files: dict[str, os.stat_result] = field(default_factory=dict)
    temp_sidecars: dict[str, list[Path]] = field(default_factory=dict)  # asset id -> temps
    stale_temps: list[Path] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, what it is)
    tombstones: dict[str, Path] = field(default_factory=dict)  # deletes a kill cut short


#: ``.<id>.json.deleted``: written by :meth:`Gallery.delete` before anything is removed.
_TOMB_RE = re.compile(r"^\.(\d{8}-\d{6}-[0-9a-f]{6})\.json\.deleted$")


def _tombstone_name(asset_id: str) -> str:
    return f".{asset_id}.json.deleted"


#: ``.<id>.json.<random>.tmp``: a sidecar being written (or left complete by a crash).
_TEMP_SIDECAR_RE = re.compile(r"^\.([^.][^/\\]*)\.json\.[0-9a-f]{8}\.tmp$")


def _what_special(st: os.stat_result) -> str:
    if stat.S_ISLNK(st.st_mode):
        return "a symbolic link"
    if stat.S_ISFIFO(st.st_mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "a device"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket"
    return "not a regular file"


#: Free bytes under which a failing write is put down to a full disk.
_FULL_BELOW = 256 * 1024


def disk_full(path: Path) -> bool:
    """True when the disk holding ``path`` has (almost) no space left for us."""
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < _FULL_BELOW or (st.f_files > 0 and st.f_favail == 0)


_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY, _SQLITE_FULL = 5, 6, 8, 13
_SQLITE_PERM, _SQLITE_CANTOPEN = 3, 14


def _db_hint(e: BaseException, root: Path) -> str:
    """What to do about an SQLite failure, naming its real cause."""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL or disk_full(root):
        return "The disk is full: free some space, then open the project again."
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "Another GenStudio may be using this project: close it there first."
    if code in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM):
        return "The project folder or its gallery.sqlite is not writable: check permissions."
    return (
        "Close and reopen the project; a damaged index is rebuilt from the asset sidecars, "
        "so no asset is lost."
    )


def _stat_key(st: os.stat_result) -> str:
    # A new inode on every atomic replace, so same-size rewrites within one mtime tick differ.
    return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"


def _from_doc(doc: str, status: str) -> AssetRecord:
    # Docs were validated when they entered the index; this is the fast path for queries.
    d = json.loads(doc)
    return AssetRecord(
        id=d["id"],
        kind=d["kind"],
        file=d["file"],
        sha256=d["sha256"],
        size=d["size"],
        created=d["created"],
        modified=d.get("modified") or d["created"],
        generator=d["generator"],
        model_id=d.get("model_id"),
        model_sha256=d.get("model_sha256"),
        params=d.get("params") or {},
        seed=d.get("seed"),
        parent=d.get("parent"),
        extra=d.get("extra") or {},
        tags=list(d.get("tags") or []),
        favorite=bool(d.get("favorite")),
        rating=int(d.get("rating") or 0),
        trashed=bool(d.get("trashed")),
        status=status,
    )


def _search_text(rec: AssetRecord) -> str:
    text = rec.prompt
    src = rec.params.get("source") if isinstance(rec.params, dict) else None
    if isinstance(src, str) and src:
        text = f"{text} {src}"
    return text


def fts_expression(text: str) -> str | None:
    """Words of ``text`` as an FTS5 query: every word must match, each as a prefix."""
    words = _WORD_RE.findall(text or "")
    if not words:
        return None
    return " ".join(f'"{w}"*' for w in words)


def _db_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Gallery, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise GalleryError(f"The gallery index failed: {e}", hint=_db_hint(e, self.root)) from e

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__qualname__ = fn.__qualname__
    return wrapper


class Gallery:
    """The project's asset index: queries, user state, thumbnails, reconcile with the disk.

    A read-only gallery (project opened read-only) keeps its index in memory, built from the
    sidecars, writes nothing into the project and puts thumbnails in a temporary folder.
    ``messages`` collects what the user should be told about opening it (a rebuilt index, a
    damaged sidecar); ``open_report`` is the reconcile run when it opened.
    """

    def __init__(self, root: Path | str, *, read_only: bool = False, reconcile: bool = True):
        self.root = Path(root)
        self.assets_dir = self.root / "assets"
        self.cache_dir = self.root / "cache"
        self.read_only = read_only
        self.messages: list[str] = []
        self.open_report: ReconcileReport | None = None
        self._lock = threading.RLock()
        self._tmp_thumbs: Path | None = None
        self._conn: sqlite3.Connection | None = None
        #: Why the gallery is read-only although the project is not (the disk is full).
        self.degraded: str | None = None
        try:
            self._open(reconcile)
        except (GalleryError, sqlite3.Error) as e:
            if read_only or not disk_full(self.root):
                raise
            # Reading must work on a full disk: show the gallery from the sidecars, in
            # memory, and change nothing until there is space again.
            self.degraded = (
                "The disk is full, so the gallery index cannot be updated: the gallery is shown "
                "from the asset sidecars and cannot be changed until some space is freed."
            )
            log.warning("%s (%s)", self.degraded, getattr(e, "message", e))
            self.read_only = True
            self.messages = [self.degraded]
            self._open(reconcile)
            if self.open_report is not None:
                self.open_report.added.clear()  # read from the sidecars, not new

    def _open(self, reconcile: bool) -> None:
        self._conn = self._open_index()
        if reconcile:
            try:
                self.open_report = report = self.reconcile()
            except BaseException:
                self.close()
                raise
            self.messages.extend(report.messages)

    # ------------------------------------------------------------------ opening the index

    @property
    def index_path(self) -> Path:
        return self.root / INDEX_FILE

    def _connect(self, target: str) -> sqlite3.Connection:
        conn = sqlite3.connect(target, check_same_thread=False, timeout=10, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    def _open_index(self) -> sqlite3.Connection:
        if self.read_only:
            conn = self._connect(":memory:")
            self._create_schema(conn)
            return conn
        path = self.index_path
        try:
            return self._open_file(path)
        except sqlite3.DatabaseError as e:
            code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
            if code not in _CORRUPT_CODES and not isinstance(e, _Damaged):
                raise GalleryError(
                    f"The gallery index {path} cannot be opened: {e}", hint=_db_hint(e, self.root)
                ) from e
            aside = self._move_aside(path)
            msg = (
                f"The gallery index was damaged ({e}); it was moved aside to {aside.name} and "
                "rebuilt from the asset sidecars. No asset was lost."
            )
            log.warning(msg)
            self.messages.append(msg)
            try:
                return self._open_file(path)
            except sqlite3.Error as e2:
                raise GalleryError(
                    f"The gallery index {path} cannot be created: {e2}",
                    hint=_db_hint(e2, self.root),
                ) from e2

    def _open_file(self, path: Path) -> sqlite3.Connection:
        if path.exists() and not path.is_file():
            raise _Damaged(f"{path.name} is not a file")
        conn = self._connect(str(path))
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            check = conn.execute("PRAGMA quick_check(1)").fetchone()
            if not check or check[0] != "ok":
                raise _Damaged(f"integrity check: {check[0] if check else 'no answer'}")
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "meta" in tables:
                row = conn.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
                if row is None or row[0] != str(INDEX_VERSION):
                    # Derived data of another version: start again from the sidecars.
                    self._drop_all(conn)
            elif tables:
                raise _Damaged("not a GenStudio gallery index")
            self._create_schema(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _create_schema(conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "assets", "asset_tags", "assets_fts"} <= tables:
            conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='index_version'").fetchone()
        if row is None or row[0] != str(INDEX_VERSION):  # opening an index writes nothing
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('index_version', ?)",
                (str(INDEX_VERSION),),
            )

    @staticmethod
    def _drop_all(conn: sqlite3.Connection) -> None:
        for name in ("assets_fts", "asset_tags", "assets", "meta"):
            conn.execute(f"DROP TABLE IF EXISTS {name}")

    def _move_aside(self, path: Path) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.corrupt-{stamp}")
        if aside.exists():
            aside = path.with_name(f"{aside.name}-{secrets.token_hex(2)}")
        try:
            for suffix in ("", "-wal", "-shm"):
                p = path.with_name(path.name + suffix)
                if p.exists():
                    os.replace(p, aside.with_name(aside.name + suffix))
        except OSError as e:
            raise GalleryError(
                f"The gallery index {path} is damaged and cannot be moved aside: {e}",
                hint="Move or delete gallery.sqlite by hand; it is rebuilt from the sidecars.",
            ) from e
        return aside

    # ------------------------------------------------------------------ helpers

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError("The gallery is closed.")
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._db
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _check_writable(self) -> None:
        if self.degraded:
            raise ProjectReadOnlyError(
                "The gallery cannot be changed: the disk is full.",
                hint="Free some disk space, then open the project again.",
            )
        if self.read_only:
            raise ProjectReadOnlyError(
                "This project is open read-only; the gallery cannot be changed.",
                hint="Open a copy of the project, or fix the problem shown when it opened.",
            )

    def _upsert(
        self,
        conn: sqlite3.Connection,
        rec: AssetRecord,
        *,
        status: str,
        fkey: str | None,
        skey: str | None,
    ) -> int:
        doc = json.dumps(rec.to_sidecar(), ensure_ascii=False)
        vals = (
            rec.kind,
            rec.file,
            rec.generator,
            rec.model_id,
            rec.created,
            int(rec.favorite),
            int(rec.rating),
            int(rec.trashed),
            status,
            rec.sha256,
            fkey,
            skey,
            doc,
        )
        row = conn.execute("SELECT n FROM assets WHERE id = ?", (rec.id,)).fetchone()
        if row is None:
            cur = conn.execute(
                "INSERT INTO assets(kind, file, generator, model_id, created, favorite, rating,"
                " trashed, status, sha256, fkey, skey, doc, id)"
                " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (*vals, rec.id),
            )
            n = int(cur.lastrowid or 0)
        else:
            n = int(row[0])
            conn.execute(
                "UPDATE assets SET kind=?, file=?, generator=?, model_id=?, created=?, favorite=?,"
                " rating=?, trashed=?, status=?, sha256=?, fkey=?, skey=?, doc=? WHERE n=?",
                (*vals, n),
            )
            conn.execute("DELETE FROM asset_tags WHERE n = ?", (n,))
            conn.execute("DELETE FROM assets_fts WHERE rowid = ?", (n,))
        conn.executemany(
            "INSERT OR IGNORE INTO asset_tags(tag, n) VALUES(?, ?)",
            [(t.casefold(), n) for t in rec.tags],
        )
        conn.execute(
            "INSERT INTO assets_fts(rowid, prompt, tags) VALUES(?, ?, ?)",
            (n, _search_text(rec), " ".join(rec.tags)),
        )
        return n

    def _stat(self, name: str) -> os.stat_result | None:
        try:
            return os.lstat(self.assets_dir / name)  # a planted link is never followed
        except OSError:
            return None

    def _drop_thumbs(self, asset_id: str) -> None:
        folder = self._thumbs_dir(create=False)
        if folder is None or not folder.is_dir():
            return
        for p in folder.glob(f"{asset_id}_*.png"):
            with contextlib.suppress(OSError):
                p.unlink()

    # ------------------------------------------------------------------ adding and reading

    @_db_errors
    def add(self, rec: AssetRecord) -> None:
        """Index an asset whose file and sidecar are already written."""
        self._check_writable()
        with self._lock:
            fst = self._stat(rec.file)
            sst = self._stat(sidecar_name(rec.id))
            with self._tx() as conn:
                self._upsert(
                    conn,
                    rec,
                    status="ok" if fst is not None else "missing",
                    fkey=_stat_key(fst) if fst is not None else None,
                    skey=_stat_key(sst) if sst is not None else None,
                )

    @_db_errors
    def get(self, asset_id: str) -> AssetRecord:
        with self._lock:
            row = self._db.execute(
                "SELECT doc, status FROM assets WHERE id = ?", (asset_id,)
            ).fetchone()
        if row is None:
            raise AssetError(f"There is no asset {asset_id!r} in this project.")
        return _from_doc(row[0], row[1])

    def _where(self, q: Query) -> tuple[str, list[Any]]:
        clauses = ["a.trashed = ?"]
        args: list[Any] = [int(bool(q.trashed))]
        if q.kind:
            clauses.append("a.kind = ?")
            args.append(q.kind)
        if q.model_id:
            clauses.append("a.model_id = ?")
            args.append(q.model_id)
        if q.date_from:
            clauses.append("a.created >= ?")
            args.append(q.date_from)
        if q.date_to:
            clauses.append("substr(a.created, 1, ?) <= ?")
            args.extend([len(q.date_to), q.date_to])
        if q.favorite is not None:
            clauses.append("a.favorite = ?")
            args.append(int(bool(q.favorite)))
        if q.min_rating:
            clauses.append("a.rating >= ?")
            args.append(int(q.min_rating))
        tags = normalize_tags(list(q.tags)) if q.tags else []
        for t in tags:
            clauses.append("a.n IN (SELECT n FROM asset_tags WHERE tag = ?)")
            args.append(t.casefold())
        expr = fts_expression(q.text)
        if expr is not None:
            clauses.append("a.n IN (SELECT rowid FROM assets_fts WHERE assets_fts MATCH ?)")
            args.append(expr)
        return " AND ".join(clauses), args

    @_db_errors
    def query(self, q: Query | None = None) -> list[AssetRecord]:
        q = q or Query()
        if q.order not in ORDERS:
            raise GalleryError(f"Unknown order {q.order!r}.", hint=f"Use one of {ORDERS}.")
        where, args = self._where(q)
        direction = "DESC" if q.order == "newest" else "ASC"
        limit = -1 if q.limit is None or q.limit < 0 else int(q.limit)
        sql = (
            f"SELECT a.doc, a.status FROM assets a WHERE {where}"
            f" ORDER BY a.created {direction}, a.id {direction} LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._db.execute(sql, [*args, limit, max(0, int(q.offset))]).fetchall()
        return [_from_doc(doc, status) for doc, status in rows]

    @_db_errors
    def count(self, q: Query | None = None) -> int:
        where, args = self._where(q or Query())
        with self._lock:
            return int(
                self._db.execute(f"SELECT count(*) FROM assets a WHERE {where}", args).fetchone()[0]
            )

    @_db_errors
    def models(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT model_id FROM assets WHERE model_id IS NOT NULL ORDER BY 1"
            ).fetchall()
        return [r[0] for r in rows]

    @_db_errors
    def kinds(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT kind FROM assets ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    @_db_errors
    def tags(self) -> list[str]:
        """Every tag in use (lower case), for completion in the UI."""
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT tag FROM asset_tags ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ user state

    @_db_errors
    def _mutate(self, asset_id: str, change: Callable[[AssetRecord], None]) -> AssetRecord:
        self._check_writable()
        with self._lock:
            row = self._db.execute(
                "SELECT doc, status, fkey FROM assets WHERE id = ?", (asset_id,)
            ).fetchone()
            if row is None:
                raise AssetError(f"There is no asset {asset_id!r} in this project.")
            path = self.assets_dir / sidecar_name(asset_id)
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise AssetError(
                    f"The sidecar {path.name} is not a regular file (a link or a special "
                    "file); GenStudio does not follow or overwrite it.",
                    hint="Replace it with the asset's real sidecar, or remove it.",
                )
            if path.exists():
                try:
                    rec = read_sidecar(path)  # the sidecar is the truth, not the index
                except AssetError as e:
                    raise AssetError(
                        e.message,
                        hint="GenStudio will not overwrite a damaged sidecar. Restore it from a "
                        "backup, or delete it to make the file a plain import.",
                    ) from e
            else:
                rec = _from_doc(row[0], row[1])
            change(rec)
            rec.modified = now_iso()
            write_sidecar(path, rec)
            sst = self._stat(path.name)
            with self._tx() as conn:
                self._upsert(
                    conn,
                    rec,
                    status=row[1],
                    fkey=row[2],
                    skey=_stat_key(sst) if sst is not None else None,
                )
            rec.status = row[1]
            return rec

    def set_tags(self, asset_id: str, tags: list[str]) -> AssetRecord:
        clean = normalize_tags(tags)

        def change(r: AssetRecord) -> None:
            r.tags = clean

        return self._mutate(asset_id, change)

    def add_tag(self, asset_id: str, tag: str) -> AssetRecord:
        new = normalize_tags([tag])

        def change(r: AssetRecord) -> None:
            r.tags = normalize_tags([*r.tags, *new])

        return self._mutate(asset_id, change)

    def remove_tag(self, asset_id: str, tag: str) -> AssetRecord:
        gone = {t.casefold() for t in normalize_tags([tag])}

        def change(r: AssetRecord) -> None:
            r.tags = [t for t in r.tags if t.casefold() not in gone]

        return self._mutate(asset_id, change)

    def set_favorite(self, asset_id: str, value: bool) -> AssetRecord:
        def change(r: AssetRecord) -> None:
            r.favorite = bool(value)

        return self._mutate(asset_id, change)

    def set_rating(self, asset_id: str, stars: int) -> AssetRecord:
        stars = check_rating(stars)

        def change(r: AssetRecord) -> None:
            r.rating = stars

        return self._mutate(asset_id, change)

    def trash(self, asset_id: str) -> AssetRecord:
        def change(r: AssetRecord) -> None:
            r.trashed = True

        return self._mutate(asset_id, change)

    def restore(self, asset_id: str) -> AssetRecord:
        def change(r: AssetRecord) -> None:
            r.trashed = False

        return self._mutate(asset_id, change)

    @_db_errors
    def delete(self, asset_id: str) -> None:
        """Delete for good an asset that is in the trash or whose file is missing."""
        self._check_writable()
        with self._lock:
            rec = self.get(asset_id)
            if not rec.trashed and rec.status != "missing":
                raise AssetError(
                    "Only assets in the trash (or whose file is missing) can be deleted.",
                    hint="Move it to the trash first.",
                )
            # A tombstone first: once it is written the delete is decided, and a kill at any
            # later moment is finished by the next reconcile (no half-deleted asset shows up
            # as "missing", no file without its sidecar is imported back).
            tomb = self.assets_dir / _tombstone_name(asset_id)
            atomic_write_json(
                tomb, {"format": "genstudio.delete", "id": asset_id, "file": rec.file}
            )
            with self._tx() as conn:
                self._finish_delete(conn, asset_id, rec.file, tomb)

    def _finish_delete(
        self, conn: sqlite3.Connection, asset_id: str, file: str | None, tomb: Path
    ) -> None:
        for name in (sidecar_name(asset_id), file):
            if name and Path(name).name == name and not name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    (self.assets_dir / name).unlink()  # a link is removed, never followed
        row = conn.execute("SELECT n FROM assets WHERE id = ?", (asset_id,)).fetchone()
        if row is not None:
            conn.execute("DELETE FROM asset_tags WHERE n = ?", (row[0],))
            conn.execute("DELETE FROM assets_fts WHERE rowid = ?", (row[0],))
            conn.execute("DELETE FROM assets WHERE n = ?", (row[0],))
        with contextlib.suppress(FileNotFoundError):
            tomb.unlink()
        self._drop_thumbs(asset_id)

    # ------------------------------------------------------------------ rebuild / reconcile

    @_db_errors
    def rebuild(self) -> int:
        """Forget the index and read every sidecar again; returns the number of assets."""
        if self.degraded:
            self._check_writable()
        with self._lock:
            conn = self._db
            self._drop_all(conn)
            self._create_schema(conn)
            report = self.reconcile()
            self.messages.extend(report.messages)
            return int(conn.execute("SELECT count(*) FROM assets").fetchone()[0])

    def _scan(self) -> _Scan:
        scan = _Scan()
        folder = self.assets_dir
        try:
            it = os.scandir(folder)
        except FileNotFoundError:
            if not self.read_only:
                folder.mkdir(parents=True, exist_ok=True)
            return scan
        except NotADirectoryError as e:
            raise GalleryError(
                f"{folder} is not a folder, so the project's assets cannot be read.",
                hint="Move that file away; GenStudio keeps each asset in the assets/ folder.",
            ) from e
        except PermissionError as e:
            raise GalleryError(
                f"The assets folder {folder} cannot be read (permission denied).",
                hint="Check the folder's permissions.",
            ) from e
        except OSError as e:
            raise GalleryError(f"The assets folder {folder} cannot be read: {e}") from e
        now = time.time()
        with it:
            for entry in it:
                name = entry.name
                try:
                    st = entry.stat(follow_symlinks=False)  # never follow a planted link
                except OSError:
                    continue
                if is_temp_name(name):
                    if not stat.S_ISREG(st.st_mode):
                        continue
                    m = _TEMP_SIDECAR_RE.match(name)
                    if m:
                        scan.temp_sidecars.setdefault(m.group(1), []).append(Path(entry.path))
                    if now - st.st_mtime > STALE_TEMP_S:
                        scan.stale_temps.append(Path(entry.path))
                    continue
                if name.startswith("."):
                    m = _TOMB_RE.match(name)
                    if m and stat.S_ISREG(st.st_mode):
                        scan.tombstones[m.group(1)] = Path(entry.path)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    if not stat.S_ISDIR(st.st_mode):
                        scan.refused.append((name, _what_special(st)))
                    continue
                if name.endswith("." + SIDECAR_EXT):
                    scan.sidecars[name[: -len(SIDECAR_EXT) - 1]] = _stat_key(st)
                else:
                    scan.files[name] = st
        return scan

    @_db_errors
    def reconcile(self) -> ReconcileReport:
        """Bring the index in line with assets/ (see :class:`ReconcileReport`)."""
        report = ReconcileReport()
        with self._lock:
            scan = self._scan()
            sidecars, files = scan.sidecars, scan.files
            for name, what in scan.refused:
                report.refused.append(name)
                report.messages.append(
                    f"assets/{name} is {what}; GenStudio never follows or reads such entries, "
                    "so it is not shown. Put the real file into assets/ instead."
                )
            conn = self._db
            rows = {
                r[0]: _Row(*r[1:])
                for r in conn.execute("SELECT id, n, file, sha256, status, fkey, skey FROM assets")
            }
            with self._tx():
                for asset_id, tomb in scan.tombstones.items():
                    self._replay_delete(asset_id, tomb, scan, rows, report)
                for asset_id in sorted(set(sidecars) | set(rows)):
                    row, skey = rows.get(asset_id), sidecars.get(asset_id)
                    if row is not None and skey is not None and skey == row.skey:
                        st = files.get(row.file)
                        # The common case: nothing changed since the index last looked.
                        if st is not None and row.status == "ok" and row.fkey == _stat_key(st):
                            continue
                    self._reconcile_one(asset_id, row, skey, files, report, sidecars, rows)
                referenced = {r[0] for r in conn.execute("SELECT file FROM assets")}
                for name in sorted(files):
                    stem = name.rsplit(".", 1)[0]
                    if name in referenced or stem in sidecars or stem in rows:
                        continue
                    temps = scan.temp_sidecars.get(stem)
                    if temps and self._recover_sidecar(name, files[name], temps, report):
                        sidecars[stem] = "recovered"
                        continue
                    self._import_orphan(name, files[name], rows, sidecars, report)
            if not self.read_only:
                for tmp in scan.stale_temps:
                    m = _TEMP_SIDECAR_RE.match(tmp.name)
                    if (
                        m
                        and m.group(1) not in sidecars
                        and any(n.rsplit(".", 1)[0] == m.group(1) for n in files)
                    ):
                        continue  # the only copy of that file's sidecar: keep it
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)  # left over from a crash mid-write
        for msg in report.messages:
            log.warning(msg)
        return report

    def _replay_delete(
        self,
        asset_id: str,
        tomb: Path,
        scan: _Scan,
        rows: dict[str, _Row],
        report: ReconcileReport,
    ) -> None:
        """Finish a delete that a kill cut short (its tombstone is there)."""
        row = rows.pop(asset_id, None)
        scan.sidecars.pop(asset_id, None)
        file = row.file if row is not None else None
        if file is None:
            try:
                doc = read_json(tomb, what="delete record")
                file = doc.get("file") if isinstance(doc, dict) else None
            except GenStudioError:
                file = None
        if not isinstance(file, str):
            file = None
        if file is not None:
            scan.files.pop(file, None)
        if self.read_only:
            return  # not shown; the delete is finished when the project is writable
        self._finish_delete(self._db, asset_id, file, tomb)
        report.messages.append(f"The deletion of {asset_id}, cut short by a crash, was finished.")

    def _recover_sidecar(
        self, name: str, st: os.stat_result, temps: list[Path], report: ReconcileReport
    ) -> bool:
        """Put in place the complete sidecar a crash left in ``.<id>.json.<rand>.tmp`` for the
        asset file ``name`` (add_asset writes it before the file): it must parse, name this
        id and file, and record the file's sha256. True if the asset is back."""
        stem = name.rsplit(".", 1)[0]
        side = self.assets_dir / sidecar_name(stem)
        try:
            sha = sha256_file(self.assets_dir / name)
        except OSError:
            return False
        for tmp in sorted(temps, key=lambda t: t.name):
            try:
                rec = AssetRecord.from_sidecar(read_json(tmp, what="asset sidecar"))
            except GenStudioError:
                continue  # cut off (not from add_asset) or damaged: not this one
            if rec.id != stem or rec.file != name or rec.sha256 != sha or rec.size != st.st_size:
                continue
            if self.read_only:
                report.messages.append(
                    f"The sidecar of {name} is in {tmp.name} (left by a crash); it is put in "
                    "place when the project is opened writable."
                )
                rec.status = "ok"
                self._upsert(self._db, rec, status="ok", fkey=_stat_key(st), skey=None)
                report.added.append(stem)
                return True
            try:
                os.link(tmp, side)
            except FileExistsError:
                return True  # the writer finished meanwhile: the next reconcile reads it
            except OSError:  # no hard links here (FAT, some network shares)
                if side.exists():
                    return True
                try:
                    os.replace(tmp, side)
                except OSError:
                    continue
            with contextlib.suppress(OSError):
                tmp.unlink()
            sst = self._stat(side.name)
            self._upsert(
                self._db,
                rec,
                status="ok",
                fkey=_stat_key(st),
                skey=_stat_key(sst) if sst is not None else None,
            )
            report.added.append(stem)
            report.recovered.append(stem)
            report.messages.append(
                f"The sidecar of {name} was found complete in {tmp.name} (a crash happened "
                "while it was saved) and was put in place; prompt, seed and settings are kept."
            )
            return True
        return False

    def _claimed_by(
        self, rec: AssetRecord, sidecars: dict[str, str], rows: dict[str, _Row]
    ) -> str | None:
        """The other asset that owns ``rec.file``, if any: a file named ``<id>.<ext>`` belongs
        to asset <id>; otherwise to the asset already indexed with it."""
        stem = rec.file.rsplit(".", 1)[0]
        if stem != rec.id and is_asset_id(stem) and (stem in sidecars or stem in rows):
            return stem
        row = self._db.execute(
            "SELECT id FROM assets WHERE file = ? AND id != ?", (rec.file, rec.id)
        ).fetchone()
        return None if row is None else str(row[0])

    def _reconcile_one(
        self,
        asset_id: str,
        row: _Row | None,
        skey: str | None,
        files: dict[str, os.stat_result],
        report: ReconcileReport,
        sidecars: dict[str, str] | None = None,
        rows: dict[str, _Row] | None = None,
    ) -> None:
        conn = self._db
        rec: AssetRecord | None = None
        doc_changed = False
        side = self.assets_dir / sidecar_name(asset_id)
        if skey is not None and (row is None or row.skey != skey):
            try:
                rec = read_sidecar(side)
                owner = self._claimed_by(rec, sidecars or {}, rows or {})
                if owner is not None:
                    claimed, rec = rec.file, None
                    raise AssetError(
                        f"The asset sidecar {side} claims the file {claimed}, which belongs to "
                        f"the asset {owner}; the claim is refused."
                    )
                doc_changed = True
            except AssetError as e:
                report.bad_sidecars.append(side.name)
                report.messages.append(
                    f"{e.message} Its asset file is kept as it is; fix or remove the sidecar"
                    + (" (the gallery shows the last good copy)." if row else ".")
                )
                if row is None:
                    return
                skey = row.skey  # keep looking at it until it is fixed
        if rec is None:
            assert row is not None
            doc = conn.execute("SELECT doc FROM assets WHERE n = ?", (row.n,)).fetchone()[0]
            rec = _from_doc(doc, row.status)
            if skey is None and not self.read_only and rec.file in files:
                # The sidecar vanished but the index remembers it: write it back.
                if _write_new_sidecar(side, rec):
                    report.messages.append(
                        f"The sidecar {side.name} was missing; it was written again from the index."
                    )
                sst = self._stat(side.name)
                skey = _stat_key(sst) if sst is not None else None
                doc_changed = True
        st = files.get(rec.file)
        fkey = _stat_key(st) if st is not None else None
        if st is None:
            status = "missing"
        elif (
            row is not None
            and row.fkey == fkey
            and row.sha256 == rec.sha256
            and row.file == rec.file
            and row.status != "missing"
        ):
            status = row.status
        else:
            try:
                status = (
                    "ok" if sha256_file(self.assets_dir / rec.file) == rec.sha256 else "corrupt"
                )
            except OSError as e:
                status = "missing"
                fkey = None
                report.messages.append(f"The asset file {rec.file} cannot be read: {e}")
        old = row.status if row is not None else None
        if row is None:
            report.added.append(asset_id)
        if status != old:
            if status == "missing":
                report.missing.append(asset_id)
            elif status == "corrupt":
                report.corrupt.append(asset_id)
                report.messages.append(
                    f"The asset file {rec.file} has changed since it was made "
                    "(its sha256 no longer matches the sidecar); it is marked corrupt."
                )
            elif old is not None:
                report.restored.append(asset_id)
            if old is not None and not self.read_only:
                self._drop_thumbs(asset_id)
        if row is None or doc_changed:
            self._upsert(conn, rec, status=status, fkey=fkey, skey=skey)
        elif status != row.status or fkey != row.fkey or skey != row.skey:
            conn.execute(
                "UPDATE assets SET status=?, fkey=?, skey=? WHERE n=?",
                (status, fkey, skey, row.n),
            )

    def _import_orphan(
        self,
        name: str,
        st: os.stat_result,
        rows: dict[str, _Row],
        sidecars: dict[str, str],
        report: ReconcileReport,
    ) -> None:
        if self.read_only:
            report.messages.append(
                f"{name} has no sidecar; it is not shown because the project is read-only."
            )
            return
        stem, _, ext = name.rpartition(".")
        asset_id = stem if is_asset_id(stem) else new_asset_id()
        while (
            asset_id in rows
            or asset_id in sidecars
            or (self.assets_dir / sidecar_name(asset_id)).exists()
        ):
            asset_id = new_asset_id()
        try:
            sha = sha256_file(self.assets_dir / name)
        except OSError as e:
            report.messages.append(f"{name} has no sidecar and cannot be read: {e}")
            return
        created = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        rec = AssetRecord(
            id=asset_id,
            kind=IMPORT_KINDS.get(ext.lower(), "file"),
            file=name,
            sha256=sha,
            size=st.st_size,
            created=created,
            modified=now_iso(),
            generator="import",
            params={"source": name},
        )
        if not _write_new_sidecar(self.assets_dir / sidecar_name(asset_id), rec):
            return  # another writer made the sidecar meanwhile: the next reconcile reads it
        sst = self._stat(sidecar_name(asset_id))
        self._upsert(
            self._db,
            rec,
            status="ok",
            fkey=_stat_key(st),
            skey=_stat_key(sst) if sst is not None else None,
        )
        rows[asset_id] = _Row(0, name, sha, "ok", None, None)
        report.added.append(asset_id)

    # ------------------------------------------------------------------ thumbnails

    def _thumbs_dir(self, *, create: bool = True) -> Path | None:
        if not self.read_only:
            return self.cache_dir / THUMBS_DIR
        if self._tmp_thumbs is None and create:
            self._tmp_thumbs = Path(tempfile.mkdtemp(prefix="genstudio-thumbs-"))
        return self._tmp_thumbs

    def thumbnail(self, asset_id: str, size: int = 128) -> Path | None:
        """A cached PNG (``cache/thumbs/<id>_<size>.png``) no larger than size x size.

        None for assets that are not images (music, audio: the UI draws an icon for the
        kind), whose file is missing, or that Pillow cannot read.
        """
        if isinstance(size, bool) or not isinstance(size, int):
            raise GalleryError(f"A thumbnail size is a whole number of pixels, not {size!r}.")
        if not _thumbs.MIN_SIZE <= size <= _thumbs.MAX_SIZE:
            raise GalleryError(
                f"Thumbnail size {size} is out of range ({_thumbs.MIN_SIZE}-{_thumbs.MAX_SIZE})."
            )
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT file, kind, status FROM assets WHERE id = ?", (asset_id,)
                ).fetchone()
        except sqlite3.Error as e:
            raise GalleryError(f"The gallery index failed: {e}") from e
        if row is None:
            raise AssetError(f"There is no asset {asset_id!r} in this project.")
        file, kind, status = row
        if status == "missing" or not _thumbs.is_image_name(file):
            return None
        src = self._stat(file)
        if src is None or not stat.S_ISREG(src.st_mode):
            return None  # a link or special file planted in assets/ is never read
        folder = self._thumbs_dir()
        assert folder is not None
        out = folder / f"{asset_id}_{size}.png"
        if _thumbs.is_valid_cached(out):
            return out
        ok = _thumbs.write_thumbnail(
            self.assets_dir / file, out, size, pixel_art=kind in _thumbs.PIXEL_KINDS
        )
        return out if ok else None

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    if not self.read_only:
                        self._conn.execute("PRAGMA optimize")
                self._conn.close()
                self._conn = None
            if self._tmp_thumbs is not None:
                shutil.rmtree(self._tmp_thumbs, ignore_errors=True)
                self._tmp_thumbs = None

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_new_sidecar(path: Path, rec: AssetRecord) -> bool:
    """Write a sidecar only if none exists, atomically and without ever replacing one.

    Reconcile uses this for sidecars it invents (imports, rewrites): if the app that made the
    asset writes the real sidecar at the same moment, the real one wins. False if one exists.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        atomic_write_json(tmp, rec.to_sidecar())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # no hard links here (FAT, some network shares)
            if path.exists():
                return False
            os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


class _Damaged(sqlite3.DatabaseError):
    """Raised by our own checks when the index file is not a usable gallery index."""
