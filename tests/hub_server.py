"""A small Hugging Face Hub-compatible HTTP server on loopback, for tests.

It implements the endpoints that `huggingface_hub` (2.x) and `datasets` (5.x) call to create a
dataset repository, upload files to it (regular files inline in the commit, large/binary files
through the Git LFS "basic" transfer), read its info, list its files and download them, so that
`DatasetDict.push_to_hub` and `datasets.load_dataset` work against it with
`HF_ENDPOINT=http://127.0.0.1:PORT`. Repositories live in memory; every branch points at a
commit, every commit holds a full snapshot {path: file}, so commits per revision can be counted.

Xet: `huggingface_hub` decides client-side whether to upload through Xet: it does whenever the
`hf_xet` package is importable and `HF_HUB_DISABLE_XET` is not set (`utils/_runtime.py:
is_xet_available`); nothing in a server answer turns it off. This server has no Xet storage, so
clients must run with `HF_HUB_DISABLE_XET=1` (huggingface_hub's documented switch) and then
use the LFS batch API below. A client that tries Xet anyway gets a clear 501 from the
`xet-write-token` endpoint. Downloads never use Xet here: file responses carry no
`X-Xet-Hash` header, so the client downloads over plain HTTP.

Auth: every request's `Authorization` header is recorded in `HubServer.authorizations`; with
`token` set, writes without `Bearer <token>` get 401.

Endpoints (REPO = `{type}s/{namespace}/{name}`, e.g. `datasets/org/name`; REV is URL-quoted):
  POST /api/repos/create                         create a repo (409 if it exists)
  GET  /api/REPO[/revision/REV]                  repo info (sha, siblings, cardData)
  POST /api/REPO/branch/BRANCH                   create a branch from main (409 if it exists)
  POST /api/REPO/preupload/REV                   upload mode (regular/lfs) and remote oid per file
  POST /REPO.git/info/lfs/objects/batch          LFS batch: an upload action per missing object
  PUT  /lfs-objects/OID                          LFS basic transfer upload (sha256 checked)
  POST /api/REPO/commit/REV                      ndjson commit (file, lfsFile, deletedFile, ...)
  GET  /api/REPO/tree/REV[/PATH]                 list files (recursive=1 for the whole subtree)
  POST /api/REPO/paths-info/REV                  info on given paths
  GET  /api/REPO/commits/REV                     commit history, newest first
  GET  /api/REPO/refs                            branches
  GET|HEAD /REPO/resolve/REV/PATH                file content (Range supported)
  POST /api/validate-yaml                        README metadata check (publish.card's validator)
  GET  /api/whoami-v2                            the caller
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

LFS_SUFFIXES = (".parquet", ".arrow", ".png", ".jpg", ".jpeg", ".bin", ".safetensors", ".zip")
LFS_MIN_SIZE = 10 * 1024 * 1024


def git_blob_sha1(data: bytes) -> str:
    """Git's object id of a blob (what the Hub reports as a regular file's oid)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n"
    ).encode()


@dataclass(frozen=True)
class StoredFile:
    size: int
    sha256: str  # key into HubServer.blobs
    lfs: bool
    oid: str  # the Git oid: of the content (regular file) or of the LFS pointer (LFS file)


@dataclass
class Commit:
    id: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, StoredFile]


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit id
    commits: dict[str, Commit] = field(default_factory=dict)


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class HubServer:
    """The in-memory Hub. `start()` serves it on 127.0.0.1 in a thread; `stop()` ends it."""

    def __init__(self, token: str = "") -> None:
        self.token = token
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> content (regular and LFS files alike)
        self.authorizations: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.lock = threading.RLock()
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        server = self

        class Handler(_Handler):
            hub = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    # --- repository state --------------------------------------------------------------

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def head(self, repo: Repo, revision: str) -> Commit:
        commit_id = repo.branches.get(revision)
        if commit_id is None and revision in repo.commits:
            commit_id = revision
        if commit_id is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return repo.commits[commit_id]

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo")
            repo = Repo(repo_type, repo_id, private)
            # A new Hub repo starts with one commit (it holds .gitattributes).
            attributes = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"
            first = self._new_commit(None, "initial commit", "", {".gitattributes": attributes})
            repo.commits[first.id] = first
            repo.branches["main"] = first.id
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def _store(self, data: bytes, lfs: bool) -> StoredFile:
        sha256 = hashlib.sha256(data).hexdigest()
        self.blobs[sha256] = data
        blob_oid = git_blob_sha1(lfs_pointer(sha256, len(data)) if lfs else data)
        return StoredFile(len(data), sha256, lfs, blob_oid)

    def _new_commit(
        self,
        parent: Commit | None,
        title: str,
        message: str,
        added: dict[str, bytes],
        lfs_added: dict[str, tuple[str, int]] | None = None,
        deleted: tuple[str, ...] = (),
    ) -> Commit:
        files = dict(parent.files) if parent else {}
        for path in deleted:
            if path.endswith("/"):
                files = {p: f for p, f in files.items() if not p.startswith(path)}
            else:
                if path not in files:
                    raise HubError(404, f"A file with this name doesn't exist: {path}")
                del files[path]
        for path, data in added.items():
            files[path] = self._store(data, lfs=False)
        for path, (sha256, size) in (lfs_added or {}).items():
            if sha256 not in self.blobs:
                raise HubError(400, f"LFS object {sha256} of {path} was never uploaded")
            pointer = lfs_pointer(sha256, size)
            files[path] = StoredFile(size, sha256, True, git_blob_sha1(pointer))
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        digest = hashlib.sha1(
            json.dumps(
                [parent.id if parent else None, title, message, date, time.monotonic_ns()]
                + sorted((p, f.sha256) for p, f in files.items())
            ).encode()
        ).hexdigest()
        return Commit(digest, parent.id if parent else None, title, message, date, files)

    def commit(
        self, repo: Repo, revision: str, header: dict[str, Any], ops: list[dict[str, Any]]
    ) -> Commit:
        with self.lock:
            parent = self.head(repo, revision)
            if revision not in repo.branches:
                raise HubError(400, f"Can only commit to a branch, not {revision}")
            expected = header.get("parentCommit")
            if expected and expected != parent.id:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            added: dict[str, bytes] = {}
            lfs_added: dict[str, tuple[str, int]] = {}
            deleted: list[str] = []
            for op in ops:
                key, value = op["key"], op["value"]
                if key == "file":
                    added[value["path"]] = base64.b64decode(value["content"])
                elif key == "lfsFile":
                    sha256 = value["oid"]
                    size = value.get("size", len(self.blobs.get(sha256, b"")))
                    lfs_added[value["path"]] = (sha256, size)
                elif key == "deletedFile":
                    deleted.append(value["path"])
                elif key == "deletedFolder":
                    deleted.append(value["path"].rstrip("/") + "/")
                else:
                    raise HubError(400, f"unsupported commit operation {key}")
            commit = self._new_commit(
                parent,
                header.get("summary", ""),
                header.get("description", ""),
                added,
                lfs_added,
                tuple(deleted),
            )
            repo.commits[commit.id] = commit
            repo.branches[revision] = commit.id
            return commit

    def history(self, repo: Repo, revision: str) -> list[Commit]:
        """Commits reachable from `revision`, newest first."""
        out = []
        commit: Commit | None = self.head(repo, revision)
        while commit is not None:
            out.append(commit)
            commit = repo.commits[commit.parent] if commit.parent else None
        return out

    def read(self, repo_type: str, repo_id: str, path: str, revision: str = "main") -> bytes:
        """A file's content (for test assertions)."""
        commit = self.head(self.repo(repo_type, repo_id), revision)
        return self.blobs[commit.files[path].sha256]


def _file_entry(path: str, f: StoredFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "file", "oid": f.oid, "size": f.size, "path": path}
    if f.lfs:
        pointer_size = len(lfs_pointer(f.sha256, f.size))
        entry["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": pointer_size}
    return entry


def _folders(files: dict[str, StoredFile]) -> set[str]:
    folders = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders


def _folder_entry(path: str) -> dict[str, Any]:
    return {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "path": path}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # keep test output quiet; requests are recorded in hub.requests

    # --- plumbing ----------------------------------------------------------------------

    def _body(self) -> bytes:
        return self._request_body

    def _read_body(self) -> bytes:
        """The whole request body, read before routing: a reply must never leave body bytes
        on a kept-alive connection (they would be parsed as the next request)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        head: bool = False,
    ) -> None:
        head = head or self.command == "HEAD"  # a HEAD answer has headers only
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _authorize(self, write: bool) -> None:
        auth = self.headers.get("Authorization", "")
        if auth:
            with self.hub.lock:
                self.hub.authorizations.append(auth)
        if write and self.hub.token and auth != f"Bearer {self.hub.token}":
            raise HubError(401, "Invalid credentials in Authorization header")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        segments = [unquote(s) for s in split.path.strip("/").split("/")]
        self._request_body = self._read_body()
        with self.hub.lock:
            self.hub.requests.append((method, split.path))
        try:
            self._route(method, segments, query)
        except HubError as exc:
            headers = {"X-Error-Code": exc.code} if exc.code else {}
            headers["X-Error-Message"] = str(exc)
            self._json(exc.status, {"error": str(exc)}, headers)
        except Exception as exc:  # a server bug: make it visible in the client's error
            self._json(500, {"error": f"{type(exc).__name__}: {exc}"})

    # --- routes ------------------------------------------------------------------------

    def _route(self, method: str, seg: list[str], query: dict[str, str]) -> None:
        hub = self.hub
        if seg[:2] == ["api", "whoami-v2"]:
            self._authorize(write=False)
            return self._json(200, {"type": "user", "name": "tester", "orgs": [], "auth": {}})
        if seg[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._validate_yaml()
        if seg[:3] == ["api", "repos", "create"] and method == "POST":
            self._authorize(write=True)
            payload = json.loads(self._body() or b"{}")
            name = payload["name"]
            namespace = payload.get("organization") or "tester"
            repo_type = payload.get("type") or "model"
            repo_id = f"{namespace}/{name}"
            prefix = "" if repo_type == "model" else f"{repo_type}s/"
            url = f"{hub.url}/{prefix}{repo_id}"
            try:
                hub.create_repo(repo_type, repo_id, bool(payload.get("private")))
            except HubError as exc:  # the Hub's 409 names the existing repo's url
                return self._json(exc.status, {"error": str(exc), "url": url})
            return self._json(200, {"url": url, "name": repo_id, "id": repo_id})
        if method == "PUT" and seg[0] == "lfs-objects":
            self._authorize(write=False)  # the href is what authorizes, as on S3
            data = self._body()
            if hashlib.sha256(data).hexdigest() != seg[1]:
                raise HubError(400, "LFS upload does not match its oid")
            with hub.lock:
                hub.blobs[seg[1]] = data
            return self._send(200, b"")
        if seg[0] == "api" and len(seg) >= 4 and seg[1] in ("models", "datasets", "spaces"):
            return self._api_repo(method, seg[1][:-1], f"{seg[2]}/{seg[3]}", seg[4:], query)
        # /{type}s/ns/name.git/info/lfs/objects/batch and /{type}s/ns/name/resolve/REV/PATH
        repo_type = "model"
        rest = seg
        if seg and seg[0] in ("datasets", "spaces"):
            repo_type, rest = seg[0][:-1], seg[1:]
        if (
            len(rest) >= 3
            and rest[1].endswith(".git")
            and rest[2:]
            == [
                "info",
                "lfs",
                "objects",
                "batch",
            ]
        ):
            return self._lfs_batch(repo_type, f"{rest[0]}/{rest[1][:-4]}")
        if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(method, repo_type, f"{rest[0]}/{rest[1]}", rest[3], rest[4:])
        raise HubError(404, f"no route for {method} {self.path}")

    def _api_repo(
        self, method: str, repo_type: str, repo_id: str, rest: list[str], query: dict[str, str]
    ) -> None:
        hub = self.hub
        self._authorize(write=method in ("POST", "PUT"))
        with hub.lock:
            repo = hub.repo(repo_type, repo_id)
        action = rest[0] if rest else ""
        if method == "GET" and action in ("", "revision"):
            revision = rest[1] if action == "revision" else "main"
            return self._json(200, self._info(repo, revision))
        if action == "preupload" and method == "POST":
            payload = json.loads(self._body())
            with hub.lock:
                files = hub.head(repo, rest[1]).files
            out = []
            for item in payload["files"]:
                sample = base64.b64decode(item.get("sample", ""))
                lfs = (
                    item["path"].endswith(LFS_SUFFIXES)
                    or item.get("size", 0) >= LFS_MIN_SIZE
                    or b"\0" in sample
                )
                remote = files.get(item["path"])
                oid = None
                if remote is not None:
                    oid = remote.sha256 if remote.lfs else remote.oid
                mode = "lfs" if lfs else "regular"
                out.append(
                    {"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid}
                )
            return self._json(200, {"files": out, "commitOid": hub.head(repo, rest[1]).id})
        if action == "commit" and method == "POST":
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            ops = [item for item in lines if item["key"] != "header"]
            commit = hub.commit(repo, rest[1], header, ops)
            prefix = "" if repo_type == "model" else f"{repo_type}s/"
            return self._json(
                200,
                {
                    "success": True,
                    "commitOid": commit.id,
                    "commitUrl": f"{hub.url}/{prefix}{repo_id}/commit/{commit.id}",
                    "pullRequestUrl": None,
                },
            )
        if action == "branch" and method == "POST":
            branch = "/".join(rest[1:])
            with hub.lock:
                if branch in repo.branches:
                    raise HubError(409, f"Branch {branch} already exists")
                payload = json.loads(self._body() or b"{}")
                start = payload.get("startingPoint") or "main"
                repo.branches[branch] = hub.head(repo, start).id
            return self._json(200, {})
        if action == "tree" and method == "GET":
            revision, prefix = rest[1], "/".join(rest[2:]).strip("/")
            recursive = query.get("recursive", "").lower() in ("1", "true")
            with hub.lock:
                files = hub.head(repo, revision).files
            return self._json(200, self._tree(files, prefix, recursive))
        if action == "paths-info" and method == "POST":
            body = self._body().decode()
            if self.headers.get("Content-Type", "").startswith("application/json"):
                paths = json.loads(body).get("paths", [])
            else:
                paths = parse_qs(body).get("paths", [])
            with hub.lock:
                files = hub.head(repo, rest[1]).files
            folders = _folders(files)
            out = []
            for path in paths:
                path = path.strip("/")
                if path in files:
                    out.append(_file_entry(path, files[path]))
                elif path in folders:
                    out.append(_folder_entry(path))
            return self._json(200, out)
        if action == "commits" and method == "GET":
            with hub.lock:
                history = hub.history(repo, rest[1])
            return self._json(
                200,
                [
                    {
                        "id": c.id,
                        "title": c.title,
                        "message": c.message,
                        "authors": [{"user": "tester"}],
                        "date": c.date,
                    }
                    for c in history
                ],
            )
        if action == "refs" and method == "GET":
            with hub.lock:
                branches = [
                    {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
                    for name, sha in sorted(repo.branches.items())
                ]
            return self._json(200, {"branches": branches, "converts": [], "tags": []})
        if action in ("xet-write-token", "xet-read-token"):
            raise HubError(501, "this test server has no Xet storage; set HF_HUB_DISABLE_XET=1")
        raise HubError(404, f"no route for {method} {self.path}")

    def _info(self, repo: Repo, revision: str) -> dict[str, Any]:
        with self.hub.lock:
            commit = self.hub.head(repo, revision)
            card = None
            if "README.md" in commit.files:
                card = _card_data(self.hub.blobs[commit.files["README.md"].sha256])
            siblings = [
                {"rfilename": path, "size": f.size, "blobId": f.oid}
                for path, f in sorted(commit.files.items())
            ]
        return {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": commit.date,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "cardData": card,
            "siblings": siblings,
        }

    def _tree(
        self, files: dict[str, StoredFile], prefix: str, recursive: bool
    ) -> list[dict[str, Any]]:
        base = f"{prefix}/" if prefix else ""
        folders = _folders(files)
        if prefix and prefix not in folders and prefix not in files:
            raise HubError(404, f"{prefix} does not exist", "EntryNotFound")
        out: list[dict[str, Any]] = []
        for path in sorted(folders):
            if path.startswith(base) and (recursive or "/" not in path[len(base) :]):
                out.append(_folder_entry(path))
        for path in sorted(files):
            if path.startswith(base) and (recursive or "/" not in path[len(base) :]):
                out.append(_file_entry(path, files[path]))
        return out

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        hub = self.hub
        self._authorize(write=True)
        payload = json.loads(self._body())
        if payload.get("operation") != "upload":
            raise HubError(400, "only LFS uploads are supported")
        if "basic" not in payload.get("transfers", ["basic"]):
            raise HubError(400, "only the basic LFS transfer is supported")
        with hub.lock:
            hub.repo(repo_type, repo_id)
            known = set(hub.blobs)
        objects = []
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in known:
                entry["actions"] = {"upload": {"href": f"{hub.url}/lfs-objects/{obj['oid']}"}}
            objects.append(entry)
        self._json(200, {"transfer": "basic", "objects": objects}, {})

    def _resolve(
        self, method: str, repo_type: str, repo_id: str, revision: str, path_parts: list[str]
    ) -> None:
        hub = self.hub
        self._authorize(write=False)
        path = "/".join(path_parts)
        with hub.lock:
            repo = hub.repo(repo_type, repo_id)
            commit = hub.head(repo, revision)
            stored = commit.files.get(path)
            if stored is None:
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            data = hub.blobs[stored.sha256]
        etag = stored.sha256 if stored.lfs else stored.oid
        headers = {
            "X-Repo-Commit": commit.id,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
        }
        if stored.lfs:
            headers["X-Linked-Etag"] = f'"{stored.sha256}"'
            headers["X-Linked-Size"] = str(stored.size)
        ranged = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if ranged and method == "GET":
            start_s, end_s = ranged.groups()
            if start_s:
                start = int(start_s)
                end = min(int(end_s), len(data) - 1) if end_s else len(data) - 1
            else:
                start, end = max(len(data) - int(end_s), 0), len(data) - 1
            if start >= len(data):
                headers["Content-Range"] = f"bytes */{len(data)}"
                return self._send(416, b"", "application/octet-stream", headers)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            return self._send(206, data[start : end + 1], "application/octet-stream", headers)
        self._send(200, data, "application/octet-stream", headers, head=method == "HEAD")

    def _validate_yaml(self) -> None:
        payload = json.loads(self._body())
        if payload.get("repoType", "model") != "dataset":
            return self._json(200, {"errors": [], "warnings": []})
        from drawreason.publish.card import metadata_errors

        errors = metadata_errors(payload.get("content", ""))
        if errors:
            body = {"errors": [{"message": e} for e in errors], "warnings": []}
            return self._json(400, body, {"X-Error-Message": "; ".join(errors)})
        return self._json(200, {"errors": [], "warnings": []})


def _card_data(readme: bytes) -> dict[str, Any] | None:
    import yaml

    text = readme.decode("utf-8", errors="replace")
    match = re.match(r"^---\r?\n(.*?)\r?\n---\r?\n", text, re.S)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None
