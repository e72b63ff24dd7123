"""jobs/bench.py in-process on the tiny model and two local lm-eval tasks (tests/fixtures/bench: a
multiple-choice task, a generate_until task scored by exact match and chrF, and a rolling
log-likelihood task scored by perplexity), so nothing is
downloaded. The oracle is lm-eval itself: each side's every number equals `simple_evaluate` with
`model="hf"` on the same folder, adapter and tasks. Also: the adapter is really applied, requests
are counted into progress with an ETA, a cancel stops inside lm-eval's request loop, and unknown,
offline and failing tasks are errors that name the task."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from support import Recorder

from whetstone_worker.errors import WorkerError
from whetstone_worker.jobs import bench
from whetstone_worker.protocol import Emitter
from whetstone_worker.server import run_task

FIXTURES = Path(__file__).parent / "fixtures" / "bench"
TASKS = ["whetstone_capitals", "whetstone_sums", "whetstone_passages"]


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory) -> Path:
    """The fixture tasks with their data paths made absolute (lm-eval reads data_files against the cwd)."""
    out = tmp_path_factory.mktemp("bench-tasks")
    for f in FIXTURES.iterdir():
        text = f.read_text(encoding="utf-8")
        (out / f.name).write_text(text.replace("{data_dir}", str(out)) if f.suffix == ".yaml" else text, encoding="utf-8")
    return out


def command(tiny_model, adapter, task_dir, **overrides) -> dict:
    return {"model_path": str(tiny_model), "tuned_path": str(adapter), "tuned_kind": "adapter", "sides": ["tuned", "base"],
            "tasks": TASKS, "limit": None, "num_fewshot": None, "chat_template": False, "batch_size": 8,
            "include_path": str(task_dir)} | overrides


def run_bench(cmd: dict, cancelled=lambda: False) -> Recorder:
    recorder = Recorder()
    run_task(bench.run, "bench", cmd, recorder.emitter, cancelled)
    return recorder


def offline_with_an_empty_cache(monkeypatch, cache: Path) -> None:
    """huggingface_hub and datasets offline, with caches that hold nothing: a built-in task's data cannot load."""
    import datasets.config
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache / "hub"))


@pytest.fixture(scope="module")
def outcome(tiny_model, adapter, task_dir):
    recorder = run_bench(command(tiny_model, adapter, task_dir))
    done = recorder.of("done")[-1]
    assert done["status"] == "completed"
    return done["result"], recorder


def test_each_side_equals_lm_evals_own_simple_evaluate(outcome, tiny_model, adapter, task_dir):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    result, _ = outcome
    assert result["lm_eval_version"] == bench.LM_EVAL_VERSION and result["tasks"] == TASKS
    manager = TaskManager(include_path=str(task_dir), include_defaults=False)
    for side, args in (("tuned", {"pretrained": str(tiny_model), "peft": str(adapter), "dtype": "float32"}),
                       ("base", {"pretrained": str(tiny_model), "dtype": "float32"})):
        oracle = simple_evaluate(model="hf", model_args=args, tasks=TASKS, task_manager=manager,
                                 batch_size=8, device="cpu", log_samples=False)
        expected = {(task, *key.split(",")): value for task, entry in oracle["results"].items() for key, value in entry.items()
                    if "," in key and not key.split(",")[0].endswith("_stderr")}
        rows = result["sides"][side]["rows"]
        assert {(r["task"], r["metric"], r["filter"]) for r in rows} == set(expected), side
        for r in rows:
            assert r["value"] == expected[(r["task"], r["metric"], r["filter"])], (side, r)
            stderr = oracle["results"][r["task"]][f"{r['metric']}_stderr,{r['filter']}"]
            assert r["stderr"] == (None if stderr == "N/A" else stderr), (side, r)  # lm-eval has none for perplexity
            assert r["higher_is_better"] is (r["task"] != "whetstone_passages") and r["top"] is True
        assert result["sides"][side]["n_samples"] == {"whetstone_capitals": 12, "whetstone_sums": 8, "whetstone_passages": 4}
    metrics = {(r["task"], r["metric"]) for r in result["sides"]["base"]["rows"]}
    assert {("whetstone_capitals", "acc"), ("whetstone_capitals", "acc_norm"), ("whetstone_sums", "exact_match"), ("whetstone_sums", "chrf"),
            ("whetstone_passages", "word_perplexity"), ("whetstone_passages", "byte_perplexity"), ("whetstone_passages", "bits_per_byte")} == metrics


def test_multiple_choice_scores_match_the_models_own_log_likelihoods(outcome, tiny_model, adapter, task_dir):
    """Independent of lm-eval's code: score each choice by the summed log-probability of " choice" after
    the question with transformers (and PEFT for the tuned side); accuracy is the share of questions
    whose gold choice scores highest, acc_norm the same per character of the choice (lm-eval divides by
    the choice's length without the space before it)."""
    import torch
    from peft import PeftModel

    from whetstone_worker import modeling

    result, _ = outcome
    tokenizer = modeling.load_tokenizer(tiny_model, False)
    docs = [json.loads(line) for line in (task_dir / "capitals.jsonl").read_text(encoding="utf-8").splitlines()]
    base = modeling.load_model(tiny_model, torch.float32, False, torch.device("cpu")).eval()
    for side in ("base", "tuned"):  # PEFT injects the adapter into `base` itself: the base side goes first
        model = base if side == "base" else PeftModel.from_pretrained(base, str(adapter)).eval()
        hits = hits_norm = 0
        for doc in docs:
            context = f"Question: {doc['question']}\nAnswer:"
            scores = []
            for choice in doc["choices"]:
                ctx, whole = tokenizer(context, add_special_tokens=False)["input_ids"], tokenizer(context + " " + choice, add_special_tokens=False)["input_ids"]
                with torch.no_grad():
                    logits = model(torch.tensor([whole])).logits[0].log_softmax(-1)
                scores.append(sum(float(logits[i - 1, whole[i]]) for i in range(len(ctx), len(whole))))
            hits += max(range(4), key=lambda i: scores[i]) == doc["answer"]
            hits_norm += max(range(4), key=lambda i: scores[i] / len(doc["choices"][i])) == doc["answer"]
        rows = {r["metric"]: r["value"] for r in result["sides"][side]["rows"] if r["task"] == "whetstone_capitals"}
        assert (rows["acc"], rows["acc_norm"]) == (hits / len(docs), hits_norm / len(docs)), side


def test_the_adapter_is_applied_and_requests_are_counted(outcome):
    result, recorder = outcome
    tuned, base = ({(r["task"], r["metric"]): r["value"] for r in result["sides"][s]["rows"]} for s in ("tuned", "base"))
    # The random adapter changes the model: perplexity is continuous, so it always shows there.
    assert all(tuned[("whetstone_passages", m)] != base[("whetstone_passages", m)] for m in ("word_perplexity", "byte_perplexity", "bits_per_byte"))
    assert result["sides"]["tuned"]["model_args"]["peft"] and "peft" not in result["sides"]["base"]["model_args"]
    # 12 questions × 4 choices of log-likelihood, 8 generations, 4 rolling log-likelihoods: each counted once per side.
    assert result["sides"]["tuned"]["requests"] == result["sides"]["base"]["requests"] == 12 * 4 + 8 + 4
    requests = [p for p in recorder.of("progress") if p["unit"] == "requests"]
    assert {p["phase"] for p in requests} == {"tuned", "base"}
    finals = [p for p in requests if p["current"] == p["total"] and p["current"] > 0]
    assert sorted(p["total"] for p in finals) == [4, 4, 8, 8, 48, 48] and all(p["eta_s"] == 0 for p in finals)
    assert any(p["eta_s"] is None for p in requests)  # before the first request finishes there is no rate yet
    assert json.dumps(result)  # the result travels as JSON


def test_limit_and_one_side(tiny_model, adapter, task_dir):
    result = run_bench(command(tiny_model, adapter, task_dir, sides=["base"], limit=3, tasks=["whetstone_capitals"])).of("done")[-1]["result"]
    assert list(result["sides"]) == ["base"] and result["sides"]["base"]["n_samples"] == {"whetstone_capitals": 3}
    assert result["sides"]["base"]["requests"] == 3 * 4 and result["settings"]["limit"] == 3


def test_a_cancel_stops_inside_the_request_loop(tiny_model, adapter, task_dir):
    seen = []

    def cancelled() -> bool:
        seen.append(1)
        return len(seen) > 5  # past the task loading, within the first side's requests

    recorder = run_bench(command(tiny_model, adapter, task_dir), cancelled)
    assert recorder.of("done")[-1]["status"] == "cancelled"
    assert not any(p["phase"] == "base" for p in recorder.of("progress"))


def test_unknown_task_is_named_with_close_matches(tiny_model, adapter, task_dir):
    with pytest.raises(WorkerError) as err:
        run_bench(command(tiny_model, adapter, task_dir, tasks=["whetstone_capitals", "arc_challange"]))
    assert err.value.code == "BENCH_UNKNOWN_TASK" and "'arc_challange'" in err.value.message and "'arc_challenge'" in err.value.message


def test_a_standard_task_offline_says_which_task_and_what_to_do(tiny_model, adapter, task_dir, monkeypatch):
    offline_with_an_empty_cache(monkeypatch, task_dir / "empty-hf-cache")
    with pytest.raises(WorkerError) as err:
        run_bench(command(tiny_model, adapter, task_dir, tasks=["arc_challenge"]))
    assert err.value.code == "BENCH_DATA_OFFLINE" and err.value.recoverable
    assert "'arc_challenge'" in err.value.message and "offline mode is on" in err.value.message
    assert "Connect to the internet" in err.value.hint


def test_an_unreachable_hub_fails_at_once_and_says_so(tiny_model, adapter, task_dir, monkeypatch):
    """No offline mode, but nothing listens where the hub should be: the job goes offline itself
    instead of retrying for a minute; the local tasks, whose data is on disk, still run."""
    import time

    import datasets.config
    from huggingface_hub import constants

    cache = task_dir / "empty-hf-cache-2"
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: connection refused
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache / "hub"))
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    recorder, loading = Recorder(), []
    emitter = Emitter(lambda line: (recorder._write(line), "hellaswag (2 of 2" in line and loading.append(time.monotonic())))
    with pytest.raises(WorkerError) as err:
        run_task(bench.run, "bench", command(tiny_model, adapter, task_dir, tasks=["whetstone_capitals", "hellaswag"]), emitter, lambda: False)
    assert err.value.code == "BENCH_DATA_OFFLINE" and "'hellaswag'" in err.value.message
    assert "cannot connect to 127.0.0.1" in err.value.message
    assert loading and time.monotonic() - loading[0] < 15  # no retries (five of them take about a minute)
    # The switch was for that job only: later jobs in the same worker (a pull, a push) reach the hub.
    assert constants.HF_HUB_OFFLINE is False and datasets.config.HF_HUB_OFFLINE is False


def test_a_broken_custom_task_is_named(tiny_model, adapter, task_dir, tmp_path):
    (tmp_path / "broken.yaml").write_text(
        "task: whetstone_broken\ndataset_path: json\ndataset_kwargs:\n  data_files:\n    test: /nonexistent/broken.jsonl\n"
        "output_type: multiple_choice\ntest_split: test\ndoc_to_text: '{{q}}'\ndoc_to_choice: '{{c}}'\ndoc_to_target: 0\n",
        encoding="utf-8",
    )
    with pytest.raises(WorkerError) as err:
        run_bench(command(tiny_model, adapter, tmp_path, tasks=["whetstone_broken"]))
    assert err.value.code == "BENCH_TASK_FAILED" and "'whetstone_broken'" in err.value.message


def test_a_custom_group_that_names_a_built_in_task_indexes_the_built_in_ones_too(tiny_model, adapter, task_dir, tmp_path, monkeypatch):
    """The custom folder alone is indexed when it has every asked name (lm-eval's 15,000 files take
    about 6 s); a group of its own that names a built-in task still finds it: here arc_challenge,
    whose data is not cached, so the error is the built-in task's offline error, not 'unknown'."""
    import shutil

    folder = tmp_path / "tasks"
    shutil.copytree(task_dir, folder)
    (folder / "mixed.yaml").write_text("group: whetstone_mixed\ntask:\n  - whetstone_capitals\n  - arc_challenge\n", encoding="utf-8")
    offline_with_an_empty_cache(monkeypatch, tmp_path / "empty-hf-cache")
    with pytest.raises(WorkerError) as err:
        run_bench(command(tiny_model, adapter, folder, tasks=["whetstone_mixed"]))
    assert err.value.code == "BENCH_DATA_OFFLINE", err.value.message


def test_setup_indexes_the_built_in_tasks_into_the_environment():
    """What `npm install` runs once lm-eval is in (scripts/setup.mjs, benchIndex): the whole built-in
    index, in the cache the benchmark jobs read, so their first TaskManager does not build it."""
    import lm_eval.tasks

    assert bench.index_builtin_tasks() > 10_000
    root = Path(lm_eval.tasks.__file__).parent
    stamp = f"{(root / '__init__.py').stat().st_mtime_ns}-{hashlib.sha256(str(root).encode()).hexdigest()[:12]}"
    assert [f.name for f in bench.index_cache_dir().glob("lm-eval-tasks-*.pickle")] == [f"lm-eval-tasks-{bench.LM_EVAL_VERSION}-{stamp}.pickle"]


def test_the_built_in_task_index_is_read_from_its_cache_and_rebuilt_for_another_install(tmp_path):
    """A copy of some of lm-eval's own task folders stands in for the built-in one: the first index is
    built and written, the second read back equal without building, and a reinstall (a new mtime of
    the folder's __init__.py) builds afresh and replaces the old file."""
    import shutil

    import lm_eval.tasks
    from lm_eval.tasks._index import TaskIndex

    bench.cache_builtin_index()
    build = TaskIndex.build.uncached
    root = tmp_path / "tasks"
    for name in ("arc", "hellaswag", "mmlu"):
        shutil.copytree(Path(lm_eval.tasks.__file__).parent / name, root / name)
    (root / "__init__.py").write_text("", encoding="utf-8")
    calls = []

    def counting(paths, *, resolve_includes=True):
        calls.append(list(paths))
        return build(paths, resolve_includes=resolve_includes)

    cache = tmp_path / "cache"
    fresh = bench.builtin_index(counting, root, cache)
    assert len(calls) == 1 and len(fresh) > 60 and {"arc_challenge", "hellaswag", "mmlu"} <= set(fresh)
    files = list(cache.glob("lm-eval-tasks-*.pickle"))
    assert len(files) == 1
    again = bench.builtin_index(counting, root, cache)
    assert len(calls) == 1  # read, not built
    assert again.keys() == fresh.keys()
    for name, entry in fresh.items():
        assert (again[name].kind, again[name].yaml_path, again[name].cfg, again[name].tags) == (entry.kind, entry.yaml_path, entry.cfg, entry.tags), name

    os.utime(root / "__init__.py", ns=(1, 1))  # a reinstall
    bench.builtin_index(counting, root, cache)
    assert len(calls) == 2
    assert [f.name for f in cache.glob("lm-eval-tasks-*.pickle")] != [files[0].name] and len(list(cache.glob("*.pickle"))) == 1
    # The same install reached through another path (a symlink, a moved venv): the index names each
    # task's file by its path, so it is built for that path, not read with the other path's files.
    (tmp_path / "elsewhere").symlink_to(root)
    moved = bench.builtin_index(counting, tmp_path / "elsewhere", cache)
    assert len(calls) == 3
    assert all(str(entry.yaml_path).startswith(str(tmp_path / "elsewhere")) for entry in moved.values() if entry.yaml_path)
    # Through lm-eval's own TaskManager: a custom folder is still indexed afresh, after the built-in tasks.
    from lm_eval.tasks import TaskManager

    custom = tmp_path / "custom"
    shutil.copytree(FIXTURES, custom)
    manager = TaskManager(include_path=str(custom))
    assert {"whetstone_capitals", "arc_challenge", "hellaswag"} <= set(manager.all_tasks)
