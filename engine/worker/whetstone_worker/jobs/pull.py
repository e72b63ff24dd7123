"""The `pull` command: download a model or dataset repo from the Hugging Face Hub into the standard cache.

Everything goes through `huggingface_hub` so other tools share the cache (`$HF_HUB_CACHE`, else
`$HF_HOME/hub`) and the endpoint (`endpoint`, else `$HF_ENDPOINT`) and token (`$HF_TOKEN`, put in
the environment by the engine, never in a command) are honoured the way every HF tool honours them.

Steps, each with its own error:
  1. `repo_info` with file metadata: the commit, every file's size and LFS sha256. A gated repo
     without access, a missing repo, or no connection (with the files not cached) stop here.
  2. Disk space: the bytes still to fetch (files whose blob is not cached, minus partial
     `.incomplete` downloads that will be resumed) against the free space of the cache's disk.
  3. `snapshot_download`: resumable (an interrupted file continues with a Range request, in this
     attempt's retries or the next pull), sizes checked against the hub's headers. A thread watches
     the cache's blobs and reports bytes with an ETA as protocol progress.
  4. `verify_repo_checksums`: every file's git sha1 or LFS sha256 against the hub's listing.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from ..errors import WorkerError
from ..protocol import Emitter

_MARGIN = 256 * 1024**2  # keep this much free beyond the download
_CHUNK = 256 * 1024


def _offline(repo_id: str, repo_type: str, endpoint: str, cache: str, err: Exception) -> WorkerError:
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    kind = "dataset" if repo_type == "dataset" else "model"
    if isinstance(err, OfflineModeIsEnabled) or constants.HF_HUB_OFFLINE:
        return WorkerError(
            "HUB_OFFLINE",
            f"HF_HUB_OFFLINE is set, so nothing is downloaded, and the {kind} {repo_id} is not in the Hugging Face cache ({cache}).",
            f"Unset HF_HUB_OFFLINE and run `whetstone models pull {repo_id}{' --dataset' if kind == 'dataset' else ''}` again, or copy the {kind} from another machine and point "
            + ("data.train at the local folder or file." if kind == "dataset" else "model.path at its local folder."),
            recoverable=True,
        )
    local = "data.train at the local folder or file" if kind == "dataset" else "model.path at a local folder with config.json, *.safetensors weights and the tokenizer files"
    return WorkerError(
        "HUB_OFFLINE",
        f"Cannot reach {endpoint} ({type(err).__name__}) and the {kind} {repo_id} is not in the Hugging Face cache ({cache}).",
        f"Connect to the internet and run `whetstone models pull {repo_id}{' --dataset' if kind == 'dataset' else ''}` again, "
        f"or copy the {kind} from another machine and set {local}.",
        recoverable=True,
    )


def _free_bytes(path: Path) -> int:
    p = path
    while not p.exists() and p.parent != p:
        p = p.parent
    return shutil.disk_usage(p).free


def _on_disk(storage: Path, files: list[tuple[str, int, str]]) -> int:
    """Bytes of `files` already in the cache: complete blobs plus partial `.incomplete` downloads."""
    done = 0
    for _name, size, etag in files:
        blob = storage / "blobs" / etag
        if blob.exists():
            done += size
        else:
            partial = storage / "blobs" / f"{etag}.incomplete"
            try:
                done += min(size, partial.stat().st_size)
            except OSError:
                pass
    return done


def run(job_id: str, message: dict, emitter: Emitter, cancelled) -> dict:
    import httpx
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.file_download import repo_folder_name

    # 256 KiB reads instead of the library's 10 MiB: an interrupted transfer keeps all but the last
    # 256 KiB for the resume, and the progress moves smoothly on slow links.
    constants.DOWNLOAD_CHUNK_SIZE = _CHUNK
    repo_id, repo_type = message["repo_id"], message["repo_type"]
    revision = message["revision"] or "main"
    endpoint = (message["endpoint"] or constants.ENDPOINT).rstrip("/")
    cache = message["cache_dir"] or constants.HF_HUB_CACHE
    page = f"{endpoint}/{'datasets/' if repo_type == 'dataset' else ''}{repo_id}"
    api = HfApi(endpoint=endpoint)
    has_token = bool(os.environ.get("HF_TOKEN"))
    login = "Store a token with `whetstone models login` (or set HF_TOKEN for this process)."

    def translate(err: Exception) -> WorkerError:
        if isinstance(err, GatedRepoError):
            return WorkerError(
                "HUB_GATED",
                f"{repo_id} is gated: its authors require you to accept their licence{'' if has_token else ' and to be logged in'} before downloading.",
                f"Open {page}, sign in and accept the licence (access is usually granted at once), then pull again."
                + ("" if has_token else f" {login}"),
            )
        if isinstance(err, RevisionNotFoundError):
            return WorkerError("HUB_REVISION_NOT_FOUND", f"{repo_id} has no revision '{revision}'.", f"Check the branch, tag or commit on {page}.")
        if isinstance(err, RepositoryNotFoundError):
            return WorkerError(
                "HUB_NOT_FOUND",
                f"No {repo_type} {repo_id} on {endpoint}{'' if has_token else ' (or it is private)'}.",
                f"Check the id on {endpoint} (it is owner/name, case-sensitive)"
                + (f"; pass --dataset for a dataset" if repo_type == "model" else "")
                + ("." if has_token else f". For a private repo: {login}"),
            )
        if isinstance(err, (httpx.ConnectError, httpx.TimeoutException, OfflineModeIsEnabled, LocalEntryNotFoundError)):
            return _offline(repo_id, repo_type, endpoint, cache, err)
        if isinstance(err, HfHubHTTPError) and err.response is not None and err.response.status_code == 401:
            return WorkerError("HUB_UNAUTHORIZED", f"{endpoint} refused the token for {repo_id} (401).", f"The token is invalid or expired: create one at {endpoint}/settings/tokens and run `whetstone models login`.")
        if isinstance(err, HfHubHTTPError):
            return WorkerError("HUB_HTTP_ERROR", f"{endpoint} answered an error for {repo_id}: {str(err).splitlines()[0]}", "The hub may be down; try again later.", recoverable=True)
        raise err

    try:
        info = api.repo_info(repo_id, repo_type=repo_type, revision=revision, files_metadata=True)
    except Exception as err:  # noqa: BLE001 - translated or re-raised
        raise translate(err) from None
    files = [(s.rfilename, int(s.size or 0), s.lfs.sha256 if s.lfs else s.blob_id) for s in (info.siblings or [])]
    storage = Path(cache) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    total = sum(size for _n, size, _e in files)
    initial = _on_disk(storage, files)
    needed = total - initial
    free = _free_bytes(Path(cache))
    if needed + _MARGIN > free:
        gib = 1024**3
        raise WorkerError(
            "HUB_DISK_FULL",
            f"{repo_id} needs {needed / gib:.2f} GiB more in {cache}, which has {free / gib:.2f} GiB free.",
            "Free some space (`hf cache scan` lists what the cache holds), or point HF_HOME at a larger disk and pull again.",
        )
    emitter.log(job_id, "info", f"{repo_id}@{info.sha[:12]}: {len(files)} files, {total:,} bytes ({initial:,} already cached)")

    start = time.monotonic()
    stop = threading.Event()

    def report(final: bool = False) -> None:
        current = _on_disk(storage, files)
        elapsed = time.monotonic() - start
        rate = (current - initial) / elapsed if elapsed > 0 else 0.0
        eta = 0.0 if final else ((total - current) / rate if rate > 0 else None)
        emitter.emit("progress", id=job_id, phase="download", current=current, total=total, unit="bytes", elapsed_s=round(elapsed, 3),
                     eta_s=None if eta is None else round(eta, 1), message=f"{repo_id}: {current / 1e6:.1f} of {total / 1e6:.1f} MB")

    def watch() -> None:
        while not stop.wait(0.5):
            report()

    watcher = threading.Thread(target=watch, name="pull-progress", daemon=True)
    watcher.start()
    try:
        path = snapshot_download(repo_id, repo_type=repo_type, revision=revision, endpoint=endpoint, cache_dir=cache)
    except Exception as err:  # noqa: BLE001
        raise translate(err) from None
    finally:
        stop.set()
        watcher.join()
    report(final=True)

    try:
        check = api.verify_repo_checksums(repo_id, repo_type=repo_type, revision=info.sha, cache_dir=cache)
    except Exception as err:  # noqa: BLE001
        raise translate(err) from None
    if check.mismatches or check.missing_paths:
        bad = [m.path for m in check.mismatches] + check.missing_paths
        raise WorkerError(
            "HUB_VERIFY_FAILED",
            f"{repo_id}: {len(bad)} downloaded file(s) do not match the hub's checksums: {', '.join(bad[:5])}",
            f"Delete {storage} and pull again; if it repeats, the disk or a proxy is corrupting downloads.",
            recoverable=True,
        )
    return {
        "repo_id": repo_id,
        "repo_type": repo_type,
        "revision": revision,
        "commit": info.sha,
        "path": path,
        "files": len(files),
        "bytes": total,
        "downloaded_bytes": max(0, total - initial),
        "verified_files": check.checked_count,
        "gated": bool(getattr(info, "gated", False)),
    }
