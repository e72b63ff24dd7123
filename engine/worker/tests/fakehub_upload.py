"""The upload half of the loopback fake hub (fakehub.py): the endpoints `huggingface_hub` 1.33 calls to
create a repo and commit files to it over HTTP, with Xet off (the push job's path), answered the way
the hub answers them (read from the library: hf_api.py, _commit_api.py, lfs.py).

  GET  /api/whoami-v2                                    name, orgs with roleInOrg, auth.accessToken.role
  POST /api/repos/create                                 {name, organization, visibility|private, type}; 409 if it exists
  POST /api/validate-yaml                                the README's front matter must parse as a YAML mapping
  POST /api/{models,datasets}/{repo}/preupload/{rev}     per file: uploadMode (lfs|regular), shouldIgnore, oid on the hub
  POST /[datasets/]{repo}.git/info/lfs/objects/batch     LFS batch: `actions` only for objects not stored yet
  PUT  /lfs/upload/{oid}                                 basic transfer: the whole object in one body
  PUT  /lfs/part/{oid}/{n}, POST /lfs/complete/{oid}     multipart transfer: parts, then the completion with their ETags
  POST /lfs/verify                                       the object is stored with that size
  POST /api/{models,datasets}/{repo}/commit/{rev}        NDJSON: header, then file (base64) / lfsFile (oid) / deletedFile

Which files are LFS follows the hub's rule, scaled down for tiny models: a name the hub's default
.gitattributes tracks (*.safetensors, *.gguf, *.bin…), binary content (a NUL byte in the sample), or a
size of at least `lfs_threshold` (10 MB on the hub). An object is accepted only when its bytes hash to
its oid. Write endpoints need a token whose role is `write` and a namespace that is the user's or one
of their organizations where their role is not `read`: otherwise 401 / 403, as on the hub. Committed
files are written to `store/<owner>/<name>/` and served back by the download endpoints, so a pushed
repo can be pulled with the real client.

Test hooks: `fail_lfs_upload: n` answers the n-th LFS upload request with a 400 that the client does
not retry (an interrupted push: the objects before it are stored, nothing is committed);
`multipart_chunk: bytes` makes objects larger than that go through the multipart transfer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import parse_qs

import yaml

LFS_SUFFIXES = (".safetensors", ".gguf", ".bin", ".pt", ".pth", ".onnx", ".ckpt", ".h5", ".msgpack", ".model", ".npz", ".zip", ".tar.gz")


def file_entry(path: str, data: bytes, on_disk: Path, lfs: bool) -> dict:
    """A repo file as the download endpoints serve it (git sha1 always, sha256 for LFS files)."""
    git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return {"path": path, "size": len(data), "git": git, "sha256": hashlib.sha256(data).hexdigest() if lfs else None, "file": on_disk}


class UploadRoutes:
    """Mixed into FakeHub: the repo state (`repos`, `private`, `commits`) is the hub's, shared with downloads."""

    def setup_uploads(self, cfg: dict, store: Path) -> None:
        self.user = cfg.get("user") or {"name": "fake-user", "orgs": [{"name": "fake-org", "roleInOrg": "write"}]}
        self.tokens: dict[str, str] = cfg.get("tokens") or {}  # token -> role ("write" | "read")
        self.lfs_threshold = int(cfg.get("lfs_threshold") or 10 * 1024**2)
        self.multipart_chunk = cfg.get("multipart_chunk")
        self.fail_lfs_upload = cfg.get("fail_lfs_upload")
        self.lfs_uploads = 0
        self.store = store
        (store / ".lfs").mkdir(parents=True, exist_ok=True)
        self.parts: dict[str, dict[int, bytes]] = {}

    # -- who may write -------------------------------------------------------------------------
    def role(self, auth: str | None) -> str | None:
        token = auth.removeprefix("Bearer ") if auth else None
        return self.tokens.get(token) if token else None

    def namespaces(self) -> set[str]:
        return {self.user["name"], *(o["name"] for o in self.user.get("orgs", []))}

    def writable(self, namespace: str) -> bool:
        orgs = {o["name"]: o.get("roleInOrg") for o in self.user.get("orgs", [])}
        return namespace == self.user["name"] or (namespace in orgs and orgs[namespace] != "read")

    def may_write(self, h, repo_id: str, auth: str | None) -> bool:
        role = self.role(auth)
        if role is None:
            self.error(h, 401, "Unauthorized")
            return False
        if role != "write" or not self.writable(repo_id.split("/")[0]):
            self.error(h, 403, "Forbidden")
            return False
        return True

    def whoami(self, h, auth: str | None) -> None:
        role = self.role(auth)
        if role is None:
            return self.error(h, 401, "Unauthorized")
        self.json(h, {"type": "user", "name": self.user["name"], "fullname": self.user["name"],
                      "orgs": [{"type": "org", **o} for o in self.user.get("orgs", [])],
                      "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": role}}})

    # -- routing -------------------------------------------------------------------------------
    def handle_write(self, h, method: str, path: str, query: str, auth: str | None, body: bytes) -> None:
        if method == "POST" and path == "/api/repos/create":
            return self.create(h, json.loads(body), auth)
        if method == "POST" and path == "/api/validate-yaml":
            return self.validate_yaml(h, json.loads(body))
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
        if m and method == "POST":
            kind, repo_id, what = "model" if m[1] == "models" else "dataset", m[2], m[3]
            if f"{kind}:{repo_id}" not in self.repos:
                return self.error(h, 404, "RepoNotFound")
            if not self.may_write(h, repo_id, auth):
                return None
            if what == "preupload":
                return self.preupload(h, kind, repo_id, json.loads(body))
            return self.commit(h, kind, repo_id, body, parse_qs(query))
        m = re.fullmatch(r"/(datasets/)?([^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if m and method == "POST":
            return self.batch(h, m[2], json.loads(body), auth)
        m = re.fullmatch(r"/lfs/(upload|part|complete)/([0-9a-f]{64})(?:/(\d+))?", path)
        if m:
            return self.lfs_transfer(h, m[1], m[2], int(m[3]) if m[3] else None, body)
        if method == "POST" and path == "/lfs/verify":
            payload = json.loads(body)
            blob = self.store / ".lfs" / payload["oid"]
            return self.json(h, {}) if blob.is_file() and blob.stat().st_size == payload["size"] else self.error(h, 404, "EntryNotFound")
        return self.error(h, 404, "EntryNotFound")

    # -- repos ---------------------------------------------------------------------------------
    def create(self, h, payload: dict, auth: str | None) -> None:
        kind = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.user['name']}/{payload['name']}"
        if f"{kind}:{repo_id}" in self.repos:
            return self.json(h, {"error": "You already created this repo", "url": f"{self.url}/{repo_id}"}, 409)
        if not self.may_write(h, repo_id, auth):
            return None
        visibility = payload.get("visibility") or ("private" if payload.get("private") else "public")
        with self.lock:
            self.repos[f"{kind}:{repo_id}"] = []
            self.private[f"{kind}:{repo_id}"] = visibility == "private"
            self.commits[f"{kind}:{repo_id}"] = [hashlib.sha1(f"init {repo_id}".encode()).hexdigest()]
        self.json(h, {"url": f"{self.url}/{'datasets/' if kind == 'dataset' else ''}{repo_id}", "name": repo_id})

    def validate_yaml(self, h, payload: dict) -> None:
        m = re.match(r"---\n(.*?)\n---\n", payload["content"], re.S)
        try:
            meta = yaml.safe_load(m[1]) if m else {}
            ok = isinstance(meta, dict)
        except yaml.YAMLError:
            ok = False
        if ok:
            return self.json(h, {"errors": [], "warnings": []})
        self.json(h, {"errors": [{"message": "the front matter is not a YAML mapping"}], "warnings": []}, 400)

    def is_lfs(self, path: str, size: int, sample: bytes) -> bool:
        return path.endswith(LFS_SUFFIXES) or size >= self.lfs_threshold or b"\0" in sample

    def preupload(self, h, kind: str, repo_id: str, payload: dict) -> None:
        current = {f["path"]: f for f in self.repos[f"{kind}:{repo_id}"]}
        files = []
        for f in payload["files"]:
            lfs = self.is_lfs(f["path"], f["size"], base64.b64decode(f["sample"]))
            have = current.get(f["path"])
            oid = None if have is None else (have["sha256"] if have["sha256"] else have["git"])
            files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self.json(h, {"files": files})

    # -- LFS -----------------------------------------------------------------------------------
    def batch(self, h, repo_id: str, payload: dict, auth: str | None) -> None:
        if not self.may_write(h, repo_id, auth):
            return None
        objects = []
        for obj in payload["objects"]:
            oid, size = obj["oid"], obj["size"]
            if (self.store / ".lfs" / oid).is_file():
                objects.append({"oid": oid, "size": size})  # already stored: no actions, the client skips it
                continue
            verify = {"href": f"{self.url}/lfs/verify"}
            chunk = self.multipart_chunk
            if chunk and size > chunk:
                parts = {f"{n:05d}": f"{self.url}/lfs/part/{oid}/{n}" for n in range(1, -(-size // chunk) + 1)}
                upload = {"href": f"{self.url}/lfs/complete/{oid}", "header": {"chunk_size": str(chunk), **parts}}
            else:
                upload = {"href": f"{self.url}/lfs/upload/{oid}"}
            objects.append({"oid": oid, "size": size, "actions": {"upload": upload, "verify": verify}})
        self.json(h, {"transfer": "basic", "objects": objects})

    def lfs_transfer(self, h, what: str, oid: str, part: int | None, body: bytes) -> None:
        if what in ("upload", "part"):
            with self.lock:
                self.lfs_uploads += 1
                fail = self.lfs_uploads == self.fail_lfs_upload
            if fail:
                return self.error(h, 400, "UploadInterrupted")
        if what == "part":
            self.parts.setdefault(oid, {})[part] = body
            h.send_response(200)
            h.send_header("ETag", f'"{hashlib.md5(body).hexdigest()}"')
            h.send_header("Content-Length", "0")
            h.end_headers()
            return None
        if what == "complete":
            payload = json.loads(body)
            got = self.parts.pop(oid, {})
            etags = [p["etag"].strip('"') for p in payload["parts"]]
            if [hashlib.md5(got.get(n, b"")).hexdigest() for n in range(1, len(etags) + 1)] != etags:
                return self.error(h, 400, "BadPartEtag")
            body = b"".join(got[n] for n in range(1, len(etags) + 1))
        if hashlib.sha256(body).hexdigest() != oid:
            return self.error(h, 400, "OidMismatch")
        (self.store / ".lfs" / oid).write_bytes(body)
        self.json(h, {})

    # -- commits -------------------------------------------------------------------------------
    def commit(self, h, kind: str, repo_id: str, body: bytes, query: dict) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(x["value"] for x in lines if x["key"] == "header")
        key = f"{kind}:{repo_id}"
        folder = self.store / repo_id
        files = {f["path"]: f for f in self.repos[key]}
        for item in lines:
            value = item["value"]
            if item["key"] == "file":
                data = base64.b64decode(value["content"])
                lfs = False
            elif item["key"] == "lfsFile":
                blob = self.store / ".lfs" / value["oid"]
                if not blob.is_file():
                    return self.error(h, 422, "LfsObjectMissing")
                data, lfs = blob.read_bytes(), True
            elif item["key"] == "deletedFile":
                files.pop(value["path"], None)
                continue
            else:
                continue
            target = folder / value["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            files[value["path"]] = file_entry(value["path"], data, target, lfs)
        sha = hashlib.sha1(body + self.commits[key][-1].encode()).hexdigest()
        with self.lock:
            self.repos[key] = sorted(files.values(), key=lambda f: f["path"])
            self.commits[key].append(sha)
            self.commit_log.append({"repo": key, "summary": header["summary"], "files": [x["value"]["path"] for x in lines if x["key"] != "header"]})
        prefix = "datasets/" if kind == "dataset" else ""
        self.json(h, {"commitUrl": f"{self.url}/{prefix}{repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None})
