"""A loopback stand-in for the Hugging Face Hub, serving local folders as repos the way the hub does.

Only the endpoints `huggingface_hub` (1.x) calls for a download, with the headers it reads:

  GET  /api/{models,datasets}/{repo}[/revision/{rev}]   repo info (`sha`, `siblings` with size, blobId, lfs)
  GET  /api/{models,datasets}/{repo}/tree/{rev}         file listing (`oid`, `size`, `lfs.oid`) for checksums
  HEAD /[datasets/]{repo}/resolve/{rev}/{path}          X-Repo-Commit, ETag / X-Linked-Etag, Content-Length / X-Linked-Size
  GET  same                                             the bytes; `Range: bytes=N-` answers 206 with Content-Range

Errors carry the hub's X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound) so the client raises
its own exceptions. `*.safetensors` files are served as LFS (etag = sha256), the rest as git blobs
(etag = git sha1). Test hooks: `cut` names a file whose first GET sends the headers for the whole
file, half the bytes, then drops the connection; `gated_token` makes a repo answer 403 GatedRepo to
requests without that bearer token. Every request is appended to `log` as JSON (method, path,
range, whether an Authorization header came; never the token itself).

Run as a script for the TypeScript tests: `python fakehub.py CONFIG.json` prints `PORT <n>` once
listening. CONFIG: {"repos": {"model:org/name": "/folder", ...}, "cut": "model.safetensors",
"gated_token": null, "log": "/path/requests.jsonl"}.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _files(folder: Path) -> list[dict]:
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        data = p.read_bytes()
        lfs = p.suffix == ".safetensors"
        git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        sha = hashlib.sha256(data).hexdigest()
        out.append({"path": p.relative_to(folder).as_posix(), "size": len(data), "git": git, "sha256": sha if lfs else None, "file": p})
    return out


class FakeHub:
    def __init__(self, repos: dict[str, str], cut: str | None = None, gated_token: str | None = None, log: str | None = None):
        self.repos = {key: _files(Path(folder)) for key, folder in repos.items()}
        self.cut, self.gated_token, self.log = cut, gated_token, log
        self.cut_done = False
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                hub.handle(self, head=True)

            def do_GET(self):
                hub.handle(self, head=False)

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

    def error(self, h, status: int, code: str) -> None:
        body = json.dumps({"error": code}).encode()
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def json(self, h, payload) -> None:
        body = json.dumps(payload).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def repo(self, h, kind: str, repo_id: str, rev: str, auth: str | None) -> list[dict] | None:
        files = self.repos.get(f"{kind}:{repo_id}")
        if files is None:
            self.error(h, 404, "RepoNotFound")
            return None
        if self.gated_token and auth != f"Bearer {self.gated_token}":
            self.error(h, 403, "GatedRepo")
            return None
        if rev not in ("main", COMMIT):
            self.error(h, 404, "RevisionNotFound")
            return None
        return files

    def info(self, h, kind, repo_id, rev, auth) -> None:
        files = self.repo(h, kind, repo_id, rev, auth)
        if files is None:
            return
        siblings = [{"rfilename": f["path"], "size": f["size"], "blobId": f["git"],
                     **({"lfs": {"sha256": f["sha256"], "size": f["size"], "pointerSize": 134}} if f["sha256"] else {})} for f in files]
        self.json(h, {"id": repo_id, "sha": COMMIT, "private": False, "gated": "auto" if self.gated_token else False, "siblings": siblings})

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
        h.send_header("X-Repo-Commit", COMMIT)
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


if __name__ == "__main__":
    cfg = json.loads(Path(sys.argv[1]).read_text())
    hub = FakeHub(cfg["repos"], cut=cfg.get("cut"), gated_token=cfg.get("gated_token"), log=cfg.get("log"))
    print(f"PORT {hub.port}", flush=True)
    try:
        hub.server.serve_forever()
    except KeyboardInterrupt:
        pass
