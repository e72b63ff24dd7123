"""The `push` command: an exported model folder and its model card, uploaded to a Hugging Face Hub repo.

Everything goes through `huggingface_hub`; the token is `$HF_TOKEN` (put there by the engine, as for
pulls), the hub `endpoint`, else `$HF_ENDPOINT`. Steps, each with its own error, and nothing is
uploaded before the checks have passed:

  1. `whoami`: who the token is, its role (read or write) and the user's organizations with their role.
  2. The repo's owner against those: a repo under someone else's name is refused whether it exists or
     not (the hub would not let us create it either), as is an organization where the user only reads
     and a read-only token. A token the hub refuses for another reason (fine-grained, without write
     access there) is refused by the hub itself at step 3 or at the first upload request, still
     before a byte of a file is sent.
  3. The repo: created unless it exists, private when asked (else as the hub makes new repos: public,
     unless an organization's policy says private). An existing public repo is not made
     private behind the user's back: that push is refused. With `check_only` the job ends here, having
     created nothing: the engine asks this before a long export, so a wrong repo fails in seconds.
  4. Each file's sha256, with byte progress: the LFS object id the hub stores it under.
  5. One file at a time through `HfApi.preupload_lfs_files`: the hub says whether the file is LFS or
     a regular git file, and its LFS batch API answers with upload actions only for objects it does
     not have yet; the library skips the others. That is the resume: a push cut short leaves the
     objects it finished in the hub's storage, and the next push sends only the rest (read in
     huggingface_hub 1.33: `_upload_lfs_files` drops batch answers without `actions`). Byte progress
     counts what the library reads to send, with an ETA from the bytes actually sent.
  6. One `create_commit` with every file: LFS pointers for the objects, small files inline, and files
     the hub already has unchanged left out by the library (an unchanged re-push makes no commit).

Xet: with hf_xet installed huggingface_hub uploads through the hub's Xet storage. Pushes here take
the LFS path instead (`HF_HUB_DISABLE_XET`, set for this worker only), which the hub accepts for
Xet-backed repos too and which the tests run end to end against the loopback fake hub; what it gives
up is Xet's chunk-level deduplication between versions of a file, which fine-tuned weights (every
tensor changed) hardly get. upload_large_folder takes the same path without Xet, one file per batch.

The README.md is rendered here, from the engine's facts and the export's, naming the repo (how to
load it from the hub), rather than copied from the export folder.
"""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import Cancelled, WorkerError
from ..protocol import Emitter
from .export import card
from .progress import Progress

_READ = 8 * 1024**2


def run(job_id: str, message: dict, emitter: Emitter, cancelled) -> dict:
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    from huggingface_hub.utils import disable_progress_bars

    constants.HF_HUB_DISABLE_XET = True  # the LFS path: see the docstring
    disable_progress_bars()  # progress leaves as protocol events, not as tqdm bars on stderr
    repo_id, private = message["repo_id"], message["private"]
    endpoint = (message["endpoint"] or constants.ENDPOINT).rstrip("/")
    api = HfApi(endpoint=endpoint)
    errors = _Errors(repo_id, endpoint)
    progress = Progress(job_id, emitter, cancelled)
    progress.start("check", None, "", f"Checking {repo_id} on {endpoint}")
    if not os.environ.get("HF_TOKEN"):
        raise WorkerError("HUB_TOKEN_MISSING", f"Pushing to {repo_id} needs a Hugging Face access token with write access, and none is set.",
                          f"Create a token with write access at {endpoint}/settings/tokens and store it with `whetstone models login` (or set HF_TOKEN).")
    with errors:
        me = api.whoami()
        try:
            exists, public = True, not api.repo_info(repo_id).private
        except GatedRepoError:
            exists, public = True, True  # someone's gated repo
        except RepositoryNotFoundError:
            exists, public = False, not private
    _check_owner(me, repo_id, exists, endpoint)
    if exists and private and public:
        raise WorkerError("HUB_REPO_PUBLIC", f"{repo_id} already exists and is public; this push asked for a private repo.",
                          f"Push to a new repo name (it is created private), or make {repo_id} private in its settings on {endpoint} and push again.")
    if message["check_only"]:
        return {"repo_id": repo_id, "url": f"{endpoint}/{repo_id}", "exists": exists, "private": not public, "user": me.get("name")}
    if message["folder"] is None or message["export"] is None:
        raise WorkerError("PROTOCOL_ERROR", "A push command without check_only needs a folder and its export's facts.", "The engine and the worker disagree on the protocol; update both to the same version.")
    files = _collect(Path(message["folder"]))
    readme = card.render(message["card"], {**message["export"], "files": [{"path": p, "bytes": s} for p, _f, s in files]}, repo_id=repo_id)
    with errors:
        if not exists:
            # Without --private the hub's default applies (public, unless an organization makes its repos private).
            api.create_repo(repo_id, private=True if private else None, exist_ok=True)
            public = not api.repo_info(repo_id).private
            emitter.log(job_id, "info", f"created {'public' if public else 'private'} repo {repo_id}")
    operations = _hash(files, readme.encode("utf-8"), progress)
    started = time.monotonic()
    with errors:
        sent, on_hub = _upload(api, repo_id, operations, progress)
        changed = len(operations) - len(on_hub)
        progress.start("commit", None, "", f"Committing {changed} changed files to {repo_id}" if changed else f"Nothing changed on {repo_id}: no new commit")
        commit = api.create_commit(repo_id, operations=operations, commit_message=message["commit_message"])
    total = sum(op.upload_info.size for op in operations)
    emitter.log(job_id, "info", f"{repo_id}@{commit.oid[:12]}: {len(operations)} files, {total:,} bytes ({sent:,} sent, {len(on_hub)} already on the hub)")
    return {"repo_id": repo_id, "url": f"{endpoint}/{repo_id}", "commit": commit.oid, "commit_url": commit.commit_url,
            "created": not exists, "private": not public,
            "files": len(operations), "bytes": total, "uploaded_bytes": sent, "already_on_hub": on_hub,
            "seconds": round(time.monotonic() - started, 3)}


class _Errors:
    """The hub's refusals as WorkerErrors, around each group of hub calls (a context manager)."""

    def __init__(self, repo_id: str, endpoint: str):
        self.repo_id, self.endpoint = repo_id, endpoint

    def __enter__(self):
        return self

    def __exit__(self, kind, err, tb):
        if err is None or isinstance(err, (WorkerError, Cancelled)):
            return False
        cancel = _cause(err, Cancelled)
        if cancel is not None:
            raise cancel from None
        raise self.translate(err) from None

    def translate(self, err: BaseException) -> BaseException:
        import httpx
        from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

        again = "Push again: the files already on the hub are not sent again."
        if _cause(err, (httpx.ConnectError, httpx.TimeoutException, OfflineModeIsEnabled)) is not None:
            return WorkerError("HUB_OFFLINE", f"Cannot reach {self.endpoint} to push {self.repo_id} ({type(err).__name__}).",
                               f"Connect to the internet (and unset HF_HUB_OFFLINE if it is set). {again}", recoverable=True)
        http = _cause(err, HfHubHTTPError)
        status = http.response.status_code if http is not None and http.response is not None else None
        if status == 401:
            return WorkerError("HUB_UNAUTHORIZED", f"{self.endpoint} refused the token (401) while pushing {self.repo_id}.",
                               f"The token is invalid or expired: create one with write access at {self.endpoint}/settings/tokens and run `whetstone models login`.")
        if status == 403:
            return WorkerError("HUB_WRITE_DENIED", f"{self.endpoint} refused to let this token write to {self.repo_id} (403); nothing was uploaded.",
                               f"Use a token with write access to {self.repo_id.split('/')[0]} (a fine-grained token needs write access to that namespace or repo): {self.endpoint}/settings/tokens.")
        if http is not None:
            detail = " ".join(line.strip() for line in str(http).splitlines() if line.strip())[:300]
            step = f" ({err})" if err is not http else ""  # the library's wrapper names the file: "Error while uploading 'x' to the Hub."
            return WorkerError("HUB_PUSH_FAILED", f"{self.endpoint} answered an error while pushing {self.repo_id}{step}: {detail}", again, recoverable=True)
        return err


def _cause(err: BaseException | None, kinds):
    """`err` or the first error of its kind in its chain (the library wraps upload failures in RuntimeError)."""
    while err is not None:
        if isinstance(err, kinds):
            return err
        err = err.__cause__ or err.__context__
    return None


def _check_owner(me: dict, repo_id: str, exists: bool, endpoint: str) -> None:
    owner, name = repo_id.split("/")
    user = me.get("name") or "?"
    orgs = {o.get("name"): o.get("roleInOrg") for o in me.get("orgs") or [] if o.get("name")}
    who = f"{user}" + (f" (organizations: {', '.join(sorted(orgs))})" if orgs else " (no organizations)")
    # A differently cased own name is taken as ours; should the hub disagree, it refuses the creation or
    # the first upload request, still before any file's bytes.
    roles = {k.casefold(): v for k, v in orgs.items()}
    if owner.casefold() != user.casefold() and owner.casefold() not in roles:
        where = f"{repo_id} exists and belongs to {owner}" if exists else f"{owner} is neither you nor one of your organizations, so {repo_id} cannot be created there"
        raise WorkerError("HUB_REPO_NOT_OURS", f"{where}: the token is {who}. Nothing was uploaded.",
                          f"Push to a repo under your own name, e.g. {user}/{name}, or under an organization you write to.")
    if roles.get(owner.casefold()) == "read":
        raise WorkerError("HUB_WRITE_DENIED", f"Your role in the organization {owner} is read-only, so {repo_id} cannot be written. Nothing was uploaded.",
                          f"Ask an admin of {owner} for write access, or push to a repo of your own ({user}/{name}).")
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise WorkerError("HUB_WRITE_DENIED", f"The token is read-only, so nothing can be pushed to {repo_id}. Nothing was uploaded.",
                          f"Create a token with write access at {endpoint}/settings/tokens and store it with `whetstone models login` (or set HF_TOKEN).")


def _collect(folder: Path) -> list[tuple[str, Path, int]]:
    """The export's files as (path in the repo, file, size): everything but its README.md and hidden files."""
    if not folder.is_dir():
        raise WorkerError("EXPORT_INVALID", f"The export folder {folder} is missing.", "Export the run again, then push.")
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and rel != "README.md" and not any(part.startswith(".") for part in rel.split("/")):
            out.append((rel, p, p.stat().st_size))
    return out


def _operations():
    from huggingface_hub import CommitOperationAdd

    class CountedAdd(CommitOperationAdd):
        """A file whose reads while the library sends it (`as_file(with_tqdm=True)`: LFS uploads, basic or
        multipart) report the furthest byte read, so retries of a part are not counted twice."""

        on_read = staticmethod(lambda position: None)

        @contextmanager
        def as_file(self, with_tqdm: bool = False):
            if not with_tqdm or not isinstance(self.path_or_fileobj, str):
                with super().as_file() as f:
                    yield f
                return
            with open(self.path_or_fileobj, "rb") as f:
                read = f.read

                def counted(size: int = -1) -> bytes:
                    data = read(size)
                    self.on_read(f.tell())
                    return data

                f.read = counted
                yield f

    return CountedAdd


def _hash(files: list[tuple[str, Path, int]], readme: bytes, progress: Progress) -> list:
    """The commit's operations, each file's sha256 computed here with progress (the library would read
    each file again without saying so)."""
    CountedAdd = _operations()
    progress.start("hash", float(sum(size for _r, _p, size in files)), "bytes", "Computing checksums")
    operations = []
    for rel, path, _size in files:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_READ):
                digest.update(chunk)
                progress.advance(len(chunk), f"checksum of {rel}")
        op = CountedAdd(path_in_repo=rel, path_or_fileobj=str(path))
        op.upload_info.sha256 = digest.digest()
        operations.append(op)
    operations.append(CountedAdd(path_in_repo="README.md", path_or_fileobj=readme))
    return operations


def _upload(api, repo_id: str, operations: list, progress: Progress) -> tuple[int, list[str]]:
    """Send what the hub lacks, a file at a time; returns the bytes that travel (now, or inside the
    commit) and the files the hub already has. The phase's total shrinks as files turn out to be
    regular git files (sent inside the commit) or already stored, so its ETA counts only bytes that
    still have to travel now."""
    total = float(sum(op.upload_info.size for op in operations))
    progress.start("upload", total, "bytes", f"Uploading to {repo_id}")
    sent, on_hub = 0, []
    for op in operations:
        reached = [0]

        def on_read(position: int, op=op, reached=reached) -> None:
            if position > reached[0]:
                step, reached[0] = position - reached[0], position
                progress.advance(step, f"{op.path_in_repo}: {(progress.current + step) / 1e6:.1f} of {progress.total / 1e6:.1f} MB sent")

        op.on_read = on_read
        progress.check()
        api.preupload_lfs_files(repo_id, additions=[op])
        size = op.upload_info.size
        # The library records the hub's answer on the operation: `_upload_mode` "lfs" (sent above, unless the
        # hub had the object) or "regular" (sent inside the commit, which leaves out a file whose `_remote_oid`,
        # the git blob id at that path on the hub, is the content's own).
        if op._upload_mode == "lfs":
            sent += reached[0]
            had = reached[0] == 0
        else:
            had = op._remote_oid == _git_blob_id(op)
            sent += 0 if had else size
        progress.total -= size - reached[0]
        if had:
            on_hub.append(op.path_in_repo)
    were = f"; {len(on_hub)} of the files {'was' if len(on_hub) == 1 else 'were'} on the hub already" if on_hub else ""
    progress.advance(0, f"{progress.current / 1e6:.1f} MB uploaded{were}")
    return sent, on_hub


def _git_blob_id(op) -> str:
    with op.as_file() as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
