"""A loopback stand-in for the Hugging Face Hub, serving local folders as repos the way the hub does.

Only the endpoints `huggingface_hub` (1.x) calls for a download, with the headers it reads:

  GET  /api/{models,datasets}/{repo}[/revision/{rev}]   repo info (`sha`, `private`, `siblings` with size, blobId, lfs)
  GET  /api/{models,datasets}/{repo}/tree/{rev}         file listing (`oid`, `size`, `lfs.oid`) for checksums
  HEAD /[datasets/]{repo}/resolve/{rev}/{path}          X-Repo-Commit, ETag / X-Linked-Etag, Content-Length / X-Linked-Size
  GET  same                                             the bytes; `Range: bytes=N-` answers 206 with Content-Range

and, in fakehub_upload.py, the ones it calls to create a repo and commit files to it (whoami, create,
preupload, LFS batch and transfers, commit), so a push lands here and can be pulled back.

Errors carry the hub's X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound) so the client raises
its own exceptions. `*.safetensors` files of a served folder are LFS (etag = sha256), the rest git
blobs (etag = git sha1). A private repo answers 404 RepoNotFound to anyone but its owner, as the hub
does. Test hooks: `cut` names a file whose first GET sends the headers for the whole file, half the
bytes, then drops the connection; `gated_token` makes the served folders answer 403 GatedRepo to
requests without that bearer token; the upload hooks are in fakehub_upload.py. Every request is
appended to `log` as JSON (method, path, range, whether an Authorization header came, never the token
itself; a repo creation's payload).

Run as a script for the TypeScript tests: `python fakehub.py CONFIG.json` prints `PORT <n>` once
listening. CONFIG (every key optional): {"repos": {"model:org/name": "/folder", ...}, "private": ["model:org/name"],
"cut": "model.safetensors", "gated_token": null, "log": "/path/requests.jsonl", "store": "/folder for
pushed repos", "tokens": {"hf_…": "write"}, "user": {"name": …, "orgs": [{"name": …, "roleInOrg": …}]},
"lfs_threshold": 10485760, "multipart_chunk": null, "fail_lfs_upload": null}.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fakehub_upload import UploadRoutes, file_entry

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _files(folder: Path) -> list[dict]:
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        out.append(file_entry(p.relative_to(folder).as_posix(), p.read_bytes(), p, p.suffix == ".safetensors"))
    return out


class FakeHub(UploadRoutes):
    def __init__(self, repos: dict[str, str], cut: str | None = None, gated_token: str | None = None, log: str | None = None, **upload):
        self.repos = {key: _files(Path(folder)) for key, folder in repos.items()}
        self.private = {key: key in (upload.pop("private", None) or []) for key in self.repos}
        self.commits = {key: [COMMIT] for key in self.repos}
        self.served = set(self.repos)  # the folders given, as opposed to repos created by a push
        self.commit_log: list[dict] = []
        self.cut, self.gated_token, self.log = cut, gated_token, log
        self.cut_done = False
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        store = upload.pop("store", None)
        self.setup_uploads(upload, Path(store) if store else Path(tempfile.mkdtemp(prefix="fakehub-")))
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub.handle(self, head=True)

            def do_GET(self):
                hub.handle(self, head=False)

            def do_POST(self):
                hub.handle_body(self, "POST")

            def do_PUT(self):
                hub.handle_body(self, "PUT")

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client went away mid-request (a cancelled upload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeHub":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def record(self, entry: dict) -> None:
        with self.lock:
            self.requests.append(entry)
            if self.log:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

    # -- routing -------------------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        auth = h.headers.get("Authorization")
        self.record({"method": "HEAD" if head else "GET", "path": path, "query": url.query, "range": h.headers.get("Range"), "auth": auth is not None})
        if path == "/api/whoami-v2":
            return self.whoami(h, auth)
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)(?:/revision/([^/]+))?", path)
        if m:
            return self.info(h, "model" if m[1] == "models" else "dataset", m[2], m[3] or "main", auth)
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+)", path)
        if m:
            return self.tree(h, "model" if m[1] == "models" else "dataset", m[2], m[3], auth)
        m = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        if m:
            return self.resolve(h, "dataset" if m[1] else "model", m[2], m[3], m[4], auth, head)
        self.error(h, 404, "EntryNotFound")

    def handle_body(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        path = unquote(url.path)
        body = _read_body(h)
        entry = {"method": method, "path": path, "query": url.query, "range": None, "auth": h.headers.get("Authorization") is not None}
        if path == "/api/repos/create":
            entry["payload"] = json.loads(body)
        self.record(entry)
        self.handle_write(h, method, path, url.query, h.headers.get("Authorization"), body)

    def error(self, h, status: int, code: str) -> None:
        self.json(h, {"error": code}, status, code)

    def json(self, h, payload, status: int = 200, code: str | None = None) -> None:
        body = json.dumps(payload).encode()
        h.send_response(status)
        if code:
            h.send_header("X-Error-Code", code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def repo(self, h, kind: str, repo_id: str, rev: str, auth: str | None) -> list[dict] | None:
        files = self.repos.get(f"{kind}:{repo_id}")
        if files is None:
            self.error(h, 404, "RepoNotFound")
            return None
        if self.private.get(f"{kind}:{repo_id}") and not (self.role(auth) and repo_id.split("/")[0] in self.namespaces()):
            self.error(h, 404, "RepoNotFound")
            return None
        if self.gated_token and f"{kind}:{repo_id}" in self.served and auth != f"Bearer {self.gated_token}":
            self.error(h, 403, "GatedRepo")
            return None
        if rev != "main" and rev not in self.commits[f"{kind}:{repo_id}"]:
            self.error(h, 404, "RevisionNotFound")
            return None
        return files

    def info(self, h, kind, repo_id, rev, auth) -> None:
        files = self.repo(h, kind, repo_id, rev, auth)
        if files is None:
            return
        siblings = [{"rfilename": f["path"], "size": f["size"], "blobId": f["git"],
                     **({"lfs": {"sha256": f["sha256"], "size": f["size"], "pointerSize": 134}} if f["sha256"] else {})} for f in files]
        key = f"{kind}:{repo_id}"
        self.json(h, {"id": repo_id, "sha": self.commits[key][-1], "private": self.private[key],
                      "gated": "auto" if self.gated_token and key in self.served else False, "siblings": siblings})

    def tree(self, h, kind, repo_id, rev, auth) -> None:
        files = self.repo(h, kind, repo_id, rev, auth)
        if files is None:
            return
        self.json(h, [{"type": "file", "oid": f["git"], "size": f["size"], "path": f["path"],
                       **({"lfs": {"oid": f["sha256"], "size": f["size"], "pointerSize": 134}} if f["sha256"] else {})} for f in files])

    def resolve(self, h, kind, repo_id, rev, name, auth, head: bool) -> None:
        files = self.repo(h, kind, repo_id, rev, auth)
        if files is None:
            return
        f = next((x for x in files if x["path"] == name), None)
        if f is None:
            return self.error(h, 404, "EntryNotFound")
        data = f["file"].read_bytes()
        start = 0
        rng = h.headers.get("Range")
        if rng and not head:
            m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            start = int(m[1]) if m else 0
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", self.commits[f"{kind}:{repo_id}"][-1])
        h.send_header("ETag", f'"{f["git"]}"')
        if f["sha256"]:
            h.send_header("X-Linked-Etag", f'"{f["sha256"]}"')
            h.send_header("X-Linked-Size", str(f["size"]))
        h.send_header("Accept-Ranges", "bytes")
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        if head:
            return
        body = data[start:]
        with self.lock:
            cut = self.cut == name and not self.cut_done
            if cut:
                self.cut_done = True
        if cut:
            h.wfile.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)  # the transfer dies mid-file
            return
        h.wfile.write(body)


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    """A request body sent with Content-Length or chunked (httpx streams a file object chunked)."""
    if h.headers.get("Transfer-Encoding", "").lower() != "chunked":
        return h.rfile.read(int(h.headers.get("Content-Length") or 0))
    out = bytearray()
    while (size := int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
        out += h.rfile.read(size)
        h.rfile.readline()
    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
        pass
    return bytes(out)


if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    repos = cfg.pop("repos", {})
    hub = FakeHub(repos, **cfg)
    print(f"PORT {hub.port}", flush=True)
    try:
        hub.server.serve_forever()
    except KeyboardInterrupt:
        pass
