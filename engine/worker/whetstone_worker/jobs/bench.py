"""The `bench` command: standard benchmarks (lm-evaluation-harness) on the tuned model and its base.

The numbers are comparable with published tables only if the prompts, few-shot sampling, answer
extraction, metrics and standard errors are lm-eval's own, so this module scores nothing itself: it
loads the tasks, builds lm-eval's Hugging Face model (`HFLM`) for each side and calls its
`simple_evaluate`, then reshapes the result into one row per task, metric and filter. The deltas
and their standard errors are the engine's (engine/bench/), which stores the report.

The tuned model is the base folder plus the run's adapter through HFLM's `peft=` argument (PEFT's
`PeftModel.from_pretrained`, adapter not merged): that is the function the run trained, base weights
untouched and the LoRA term added in the forward pass. Merging would round `W + scale·B·A` into the
base dtype first (bf16 on a GPU), a small but real change; `peft=` is also how lm-eval itself is
documented to score an adapter. A full fine-tune's folder is simply `pretrained=`. The sides run one
after the other, one model in memory at a time.

Tasks are loaded once, one name at a time and before any model, so a name lm-eval does not know, a
task whose data cannot be downloaded (offline) or one that needs a package the worker lacks (IFEval:
langdetect) fails in seconds and names the task. When the hub cannot be reached at all, the job
switches the libraries to offline mode first (offline_if_unreachable): cached data still loads. Standard tasks download their data into the Hugging
Face caches on first use; a thread reports the bytes as they arrive.

Progress: HFLM tells its cache hook about every finished request (`add_partial`, a no-op unless a
request cache is configured). We install a hook that counts them instead, and stops the job at a
cancel; wrapping the three request methods gives each batch's size, so the ETA is per request.
"""

from __future__ import annotations

import difflib
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from ..device import inference_device
from ..errors import Cancelled, WorkerError
from ..protocol import Emitter

LM_EVAL_VERSION = "0.4.13"
REQUEST_KINDS = ("loglikelihood", "loglikelihood_rolling", "generate_until")
# Requests per forward pass on the CPU and MPS; on CUDA lm-eval finds the largest batch that fits.
BATCH = {"cpu": 8, "mps": 8}
_REINSTALL = "Run Whetstone's setup again (`npm run setup` in its folder) while connected to the internet."


def run(job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]) -> dict:
    return Bench(job_id, command, emitter, cancelled).run()


def bench_site() -> Path:
    """The venv's folder for scikit-learn (scripts/setup.mjs, requirements-bench-site.txt): off every
    other job's sys.path, because transformers imports it at start whenever it can find it."""
    return Path(sys.prefix) / "bench-site"


def import_lm_eval():
    """lm_eval's entry points, or BENCH_UNAVAILABLE when the worker's environment lacks it."""
    site = str(bench_site())
    if os.path.isdir(site) and site not in sys.path:
        sys.path.append(site)
    # Our own progress replaces lm-eval's and datasets' bars (they would fill the run's log), and the
    # bootstrap of corpus-level metrics (chrF, BLEU) runs in this process instead of a fork pool.
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DISABLE_MULTIPROC", "1")
    try:
        import lm_eval
        from lm_eval import simple_evaluate
        from lm_eval.api.model import CacheHook
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as err:
        raise WorkerError(
            "BENCH_UNAVAILABLE",
            f"lm-evaluation-harness cannot be imported in the worker's Python environment ({err}).",
            f"{_REINSTALL} It installs lm_eval=={LM_EVAL_VERSION} into the worker's environment.",
        ) from None
    cache_builtin_index()
    skip_environment_report()
    return lm_eval, simple_evaluate, CacheHook, HFLM, TaskManager


def skip_environment_report() -> None:
    """simple_evaluate ends each side by collecting torch's environment report into its result (pip
    list, nvidia-smi, lscpu and more as subprocesses: 0.7 s and as much CPU on a laptop, per side), a
    field the bench never reads: its report names the versions that matter itself."""
    from lm_eval import evaluator

    evaluator.add_env_info = lambda storage: None


def index_cache_dir() -> Path:
    """Where the built-in task index is kept: in the worker's environment, beside the lm-eval it was
    read from (rebuilding the environment drops it with the package)."""
    return Path(sys.prefix) / "whetstone-cache"


def cache_builtin_index() -> None:
    """Every TaskManager indexes lm-eval's ~14,000 built-in task files afresh: about 6.5 s of YAML
    on a laptop core, before any task loads, at every bench and at every mistyped task name. That
    part of the index depends only on the installed lm-eval, so it is read from a pickle instead
    (about 0.5 s; builtin_index). Custom task folders are indexed afresh each time, after the
    built-in ones and overriding them with lm-eval's own warning, as lm-eval does."""
    from lm_eval.tasks import _index, manager

    build = _index.TaskIndex.build
    if hasattr(build, "uncached"):
        return
    root = Path(manager.__file__).parent

    def cached(paths, *, resolve_includes=True):
        paths = [Path(p) for p in paths]
        if not paths or paths[0] != root or not resolve_includes:
            return build(paths, resolve_includes=resolve_includes)
        index = builtin_index(build, root, index_cache_dir())
        for name, entry in build(paths[1:], resolve_includes=True).items():
            if name in index:
                _index.log.warning("Task '%s' from %s overrides existing task from %s", name, entry.yaml_path, index[name].yaml_path)
            index[name] = entry
        return index

    cached.uncached = build
    _index.TaskIndex.build = staticmethod(cached)


def index_builtin_tasks() -> int:
    """Reads lm-eval's built-in task index into its cache (builtin_index) if it is not there yet, and
    returns how many tasks it holds. Setup calls it once lm-eval is installed, so the first benchmark
    (and the first mistyped task name) does not pay the ~6.5 s of indexing."""
    import_lm_eval()
    from lm_eval.tasks import _index, manager

    build = getattr(_index.TaskIndex.build, "uncached", _index.TaskIndex.build)
    return len(builtin_index(build, Path(manager.__file__).parent, index_cache_dir()))


def builtin_index(build, root: Path, cache: Path) -> dict:
    """lm-eval's index of the task folder `root` (`build([root])`), from `cache` when that lm-eval
    wrote it: the file is named by lm-eval's version, the install time of the folder's __init__.py
    and the folder's path (the index holds each task's file by its path: a venv reached through
    another path, or moved, indexes afresh), so an upgrade or a reinstall indexes afresh too. Written
    atomically (temp file + rename) by whichever worker builds it first; a cache that cannot be read
    or written is only slower."""
    import hashlib
    import pickle

    import lm_eval

    where = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    stamp = f"{getattr(lm_eval, '__version__', LM_EVAL_VERSION)}-{(root / '__init__.py').stat().st_mtime_ns}-{where}"
    file = cache / f"lm-eval-tasks-{stamp}.pickle"
    try:
        with open(file, "rb") as f:
            index = pickle.load(f)
        if isinstance(index, dict):
            return index
    except Exception:  # noqa: BLE001: missing, partial or from another lm-eval: built afresh below
        pass
    index = build([root], resolve_includes=True)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{file.name}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
        for old in cache.glob("lm-eval-tasks-*.pickle"):
            if old != file:
                old.unlink(missing_ok=True)
    except OSError:
        pass
    return index


class Bench:
    """One bench command: load tasks → for each side, build HFLM and evaluate → rows."""

    def __init__(self, job_id: str, command: dict, emitter: Emitter, cancelled: Callable[[], bool]):
        self.id, self.cmd, self.emitter, self.cancelled = job_id, command, emitter, cancelled
        self.t0 = time.monotonic()
        self.device, self.dtype = inference_device()

    def progress(self, phase: str, current: float, total: float | None, unit: str, message: str, eta: float | None = None) -> None:
        self.emitter.progress(self.id, self.t0, phase, current, total, unit, message, eta)

    def run(self) -> dict:
        cmd = self.cmd
        lm_eval, simple_evaluate, CacheHook, HFLM, TaskManager = import_lm_eval()
        self.check_models()
        import datasets.config
        from huggingface_hub import constants

        # The offline switch is for this job only: a worker runs many jobs, and a pull or push after a
        # benchmark must still reach the hub.
        before = constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE
        try:
            self.unreachable = offline_if_unreachable()
            return self.evaluate_all(lm_eval, simple_evaluate, CacheHook, HFLM, TaskManager)
        finally:
            constants.HF_HUB_OFFLINE, datasets.config.HF_HUB_OFFLINE = before

    def evaluate_all(self, lm_eval, simple_evaluate, CacheHook, HFLM, TaskManager) -> dict:
        cmd = self.cmd
        self.progress("data", 0, len(cmd["tasks"]), "tasks", "Indexing lm-evaluation-harness's tasks")
        manager, tasks = self.load_tasks_from(TaskManager)
        sides = {}
        for step, side in enumerate(cmd["sides"], 1):
            if self.cancelled():
                raise Cancelled
            sides[side] = self.evaluate(side, f"{step} of {len(cmd['sides'])}", tasks, manager, simple_evaluate, CacheHook, HFLM)
        return {
            "lm_eval_version": getattr(lm_eval, "__version__", LM_EVAL_VERSION),
            "tasks": cmd["tasks"],
            "settings": {"limit": cmd["limit"], "num_fewshot": cmd["num_fewshot"], "chat_template": cmd["chat_template"],
                         "batch_size": self.batch_size(), "device": self.device.type, "dtype": str(self.dtype).removeprefix("torch."),
                         "model_path": cmd["model_path"], "tuned_path": cmd["tuned_path"], "tuned_kind": cmd["tuned_kind"],
                         "include_path": cmd["include_path"]},
            "sides": sides,
            "seconds": round(time.monotonic() - self.t0, 3),
        }

    def check_models(self) -> None:
        from .. import modeling

        modeling.check_model_dir(self.cmd["model_path"], "base model")
        tuned, kind = self.cmd["tuned_path"], self.cmd["tuned_kind"]
        if "tuned" in self.cmd["sides"]:
            marker = "adapter_config.json" if kind == "adapter" else "config.json"
            if tuned is None or not (Path(tuned) / marker).is_file():
                raise WorkerError("MODEL_NOT_FOUND", f"No tuned {kind or 'model'} at {tuned}: {marker} is missing.",
                                  "Benchmark a finished run: its outputs/adapter (LoRA) or outputs/model (full fine-tune) must exist.")

    def batch_size(self) -> int | str:
        return self.cmd["batch_size"] or BATCH.get(self.device.type, "auto")

    def model_args(self, side: str) -> dict:
        """HFLM's arguments for one side, exactly as `simple_evaluate(model="hf", model_args=…)` takes them."""
        cmd = self.cmd
        args = {"pretrained": cmd["model_path"], "dtype": str(self.dtype).removeprefix("torch.")}
        if side == "tuned" and cmd["tuned_kind"] == "adapter":
            args["peft"] = cmd["tuned_path"]
        elif side == "tuned":
            args["pretrained"] = cmd["tuned_path"]
        return args

    def load_tasks_from(self, TaskManager) -> tuple:
        """The task manager and the loaded tasks. Indexing lm-eval's own 14,000 task files takes about 6 s
        (0.5 s from the cache: cache_builtin_index), so when every asked task is in the custom task
        folder, that folder alone is indexed (milliseconds);
        if its tasks then fail to load (a group of its own may name built-in tasks), or a name is not
        there, everything is indexed and loaded, and any error comes from that whole index."""
        cmd = self.cmd
        if cmd["include_path"]:
            custom = TaskManager(include_path=cmd["include_path"], include_defaults=False)
            if all(Path(name).is_file() or custom.match_tasks([name]) for name in cmd["tasks"]):
                try:
                    return custom, self.load_tasks(custom)
                except WorkerError:
                    pass
            manager = TaskManager(include_path=cmd["include_path"])
        else:
            manager = TaskManager()
        return manager, self.load_tasks(manager)

    def load_tasks(self, manager) -> list:
        """The requested tasks as lm-eval objects (a group, a task, or a tag's tasks), loaded one by one."""
        names = self.cmd["tasks"]
        for name in names:
            if not Path(name).is_file() and not manager.match_tasks([name]):
                close = difflib.get_close_matches(name, manager.all_tasks, n=3, cutoff=0.6)
                raise WorkerError(
                    "BENCH_UNKNOWN_TASK",
                    f"lm-evaluation-harness {LM_EVAL_VERSION} has no task, group or tag named '{name}'"
                    + (f" (did you mean {', '.join(repr(c) for c in close)}?)." if close else "."),
                    "Use a task name from lm-eval's task list (mmlu, gsm8k, arc_challenge, hellaswag, ifeval, …), or the "
                    "folder of your own task YAML files as the custom task folder.",
                )
        loaded = []
        watcher = _DownloadWatcher(self)
        try:
            for i, name in enumerate(names):
                if self.cancelled():
                    raise Cancelled
                watcher.task = f"{name} ({i + 1} of {len(names)} tasks)"
                self.progress("data", i, len(names), "tasks", f"Loading the data of {watcher.task}")
                try:
                    result = manager.load([name])
                except Cancelled:
                    raise
                except Exception as err:  # noqa: BLE001 - each becomes an error naming the task
                    raise _task_error(name, err, self.unreachable) from err
                groups, tasks = result.get("groups", {}), result["tasks"]
                loaded.extend([groups[name]] if name in groups else [tasks[name]] if name in tasks else list(tasks.values()))
        finally:
            watcher.stop()
        self.progress("data", len(names), len(names), "tasks", f"Loaded {len(names)} task(s)")
        return loaded

    def evaluate(self, side: str, step: str, tasks: list, manager, simple_evaluate, CacheHook, HFLM) -> dict:
        args = self.model_args(side)
        self.progress("load", 0, 1, "model", f"Loading the {side} model ({step}): {args['pretrained']}" + (f" with the adapter {args['peft']}" if "peft" in args else ""))
        lm = HFLM(**args, device=str(self.device), batch_size=self.batch_size())
        counter = _RequestCounter(self, side, step, CacheHook)
        counter.install(lm)
        self.progress("load", 1, 1, "model", f"The {side} model is ready")
        start = time.monotonic()
        results = simple_evaluate(model=lm, tasks=tasks, task_manager=manager, limit=self.cmd["limit"], num_fewshot=self.cmd["num_fewshot"],
                                  apply_chat_template=self.cmd["chat_template"], log_samples=False)
        del lm
        return {**side_rows(results), "model_args": args, "requests": counter.finished, "seconds": round(time.monotonic() - start, 3)}


def side_rows(results: dict) -> dict:
    """One row per task, metric and filter from simple_evaluate's answer; stderr None where lm-eval has none ("N/A")."""
    nested = {name for children in results.get("group_subtasks", {}).values() for name in children}
    higher = results.get("higher_is_better", {})
    rows = []
    for task, entry in {**results.get("results", {}), **results.get("groups", {})}.items():
        for key, value in entry.items():
            metric, sep, filt = key.partition(",")
            if not sep or metric.endswith("_stderr") or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            stderr = entry.get(f"{metric}_stderr,{filt}")
            rows.append({
                "task": task,
                "alias": str(entry.get("alias", task)),
                "top": task not in nested,
                "metric": metric,
                "filter": filt,
                "value": float(value),
                "stderr": float(stderr) if isinstance(stderr, (int, float)) and not isinstance(stderr, bool) else None,
                "higher_is_better": higher.get(task, {}).get(metric),
            })
    unique = {(r["task"], r["metric"], r["filter"]): r for r in rows}
    return {
        "rows": list(unique.values()),
        "n_samples": {task: n.get("effective") for task, n in results.get("n-samples", {}).items()},
        "n_shot": results.get("n-shot", {}),
        "versions": {task: v for task, v in results.get("versions", {}).items() if isinstance(v, (int, float, str))},
    }


def offline_if_unreachable() -> str | None:
    """The hub's host when this machine cannot connect to it (then the libraries are put in offline
    mode), else None. Without this, a task whose data is not cached fails only after huggingface_hub's
    five retries, about a minute; with it, at once, and a cached task loads from the cache. Skipped
    behind a proxy (a direct connection says nothing there) and when offline mode is already on."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlparse(constants.ENDPOINT)
    host = url.hostname or "huggingface.co"
    try:
        socket.create_connection((host, url.port or (443 if url.scheme == "https" else 80)), timeout=3).close()
        return None
    except OSError:
        constants.HF_HUB_OFFLINE = True
        import datasets.config

        datasets.config.HF_HUB_OFFLINE = True
        return host


def _task_error(name: str, err: Exception, unreachable: str | None = None) -> WorkerError:
    """An error loading one task: its data offline, a package it needs, or what lm-eval said."""
    chain, seen = [], err
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    missing = next((e for e in chain if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None:
        return WorkerError(
            "BENCH_DEPENDENCY_MISSING",
            f"The task '{name}' needs the Python package '{missing.name}', which the worker's environment does not have.",
            f"{_REINSTALL} Setup installs the packages lm-eval's standard tasks use when it can reach the package index.",
        )
    offline = [e for e in chain if isinstance(e, (ConnectionError, TimeoutError)) or type(e).__name__ in
               ("OfflineModeIsEnabled", "LocalEntryNotFoundError", "ConnectError", "ConnectTimeout", "ReadTimeout")]
    if offline:
        from huggingface_hub import constants

        forced = (f" (this computer cannot connect to {unreachable})" if unreachable else
                  " (offline mode is on: HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)" if constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE") == "1" else "")
        return WorkerError(
            "BENCH_DATA_OFFLINE",
            f"The data of the task '{name}' is not in the Hugging Face cache and cannot be downloaded{forced}: {_first_line(offline[0])}",
            "Connect to the internet and run the benchmark again: the data is downloaded once, then read from the cache. "
            "Or download it on a connected machine (the same benchmark there) and copy its Hugging Face cache folder here.",
            recoverable=True,
        )
    return WorkerError(
        "BENCH_TASK_FAILED",
        f"lm-evaluation-harness could not load the task '{name}': {type(err).__name__}: {_first_line(err)}",
        "Check the task's name and, for a custom task, its YAML file and data files (paths in data_files are read "
        "relative to the folder Whetstone runs in: use full paths).",
    )


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class _RequestCounter:
    """Counts finished requests through HFLM's cache hook, reports them with an ETA, and stops at a cancel."""

    def __init__(self, bench: Bench, side: str, step: str, CacheHook):
        self.bench, self.side, self.step = bench, side, step
        self.finished, self.done, self.total, self.kind = 0, 0, 0, ""
        self.started = self.last = time.monotonic()
        counter = self

        class Hook(CacheHook):
            def add_partial(self, attr, req, res) -> None:
                counter.tick()

        self.hook = Hook(None)

    def install(self, lm) -> None:
        lm.set_cache_hook(self.hook)
        for kind in REQUEST_KINDS:
            setattr(lm, kind, self.wrap(kind, getattr(lm, kind)))

    def wrap(self, kind: str, method):
        def call(requests, *args, **kwargs):
            self.kind, self.done, self.total = kind.replace("_", " "), 0, len(requests)
            self.started = time.monotonic()
            self.report()
            return method(requests, *args, **kwargs)

        return call

    def tick(self) -> None:
        if self.bench.cancelled():
            raise Cancelled
        self.done += 1
        self.finished += 1
        now = time.monotonic()
        if now - self.last >= 0.5 or self.done == self.total:
            self.last = now
            self.report()

    def report(self) -> None:
        elapsed = time.monotonic() - self.started
        eta = (self.total - self.done) * elapsed / self.done if self.done else None
        self.bench.progress(self.side, self.done, self.total, "requests",
                            f"{self.side.capitalize()} model ({self.step}): {self.kind} requests {self.done} of {self.total}", eta)


class _DownloadWatcher:
    """Reports the bytes that arrive in the Hugging Face caches while tasks load (their data downloads)."""

    def __init__(self, bench: Bench):
        self.bench, self.task = bench, ""
        self.folders = _data_caches()
        self.initial = _bytes_under(self.folders)
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="bench-data", daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while not self.halt.wait(1.0):
            grown = _bytes_under(self.folders) - self.initial
            if grown > 0:
                self.bench.progress("download", grown, None, "bytes", f"Downloading the data of {self.task}: {grown / 1e6:.1f} MB")

    def stop(self) -> None:
        self.halt.set()
        self.thread.join()


def _data_caches() -> list[Path]:
    from huggingface_hub import constants

    folders = [Path(constants.HF_HUB_CACHE)]
    try:
        import datasets.config

        folders.append(Path(datasets.config.HF_DATASETS_CACHE))
    except ImportError:
        pass
    return folders


def _bytes_under(folders: list[Path]) -> int:
    """Bytes of the datasets in the caches (the hub cache's model folders are skipped: they do not change here)."""
    total = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith("models--"):
                continue
            for root, _dirs, files in os.walk(entry):
                for f in files:
                    try:
                        total += os.lstat(os.path.join(root, f)).st_size
                    except OSError:
                        pass
    return total
