/**
 * Building a local ONNX judge once into the git-ignored .cache/: the project's own export code
 * (whetstone_worker.jobs.export, format onnx) and a build lock. A folder counts as built when its
 * stamp file, written last, holds the stamp of its inputs; a lock folder beside it keeps two
 * processes (parallel test files, a bench beside the tests) from building it at once. Used by the
 * random tiny judge of the tests (tests/engine/eval/tiny-judge.ts) and the planted judge of the
 * sweep bench (bench/planted-judge.ts).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { WORKER_DIR, workerPython } from "../../engine/paths";

const EXPORT = `
import sys
from whetstone_worker.jobs.export import job
from whetstone_worker.protocol import Emitter
model, tuned, out, name = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
command = {"model_path": model, "tuned_path": tuned, "tuned_kind": "model", "format": "onnx", "out_dir": out, "dtype": "float32",
           "quantization": None, "shard_size_mb": 1000, "overwrite": True, "card": {"name": name, "base_model": model}}
result = job.run(name, command, Emitter(lambda line: None), lambda: False)
print(result["checks"])
`;

/** Export the full model at `tuned` (fine-tuned from `model`, or `model` itself) to ONNX in the transformers.js layout at `out`. */
export function exportOnnx(model: string, out: string, { tuned = model, name }: { tuned?: string; name: string }): void {
  execFileSync(workerPython(), ["-c", EXPORT, model, tuned, out, name], { cwd: WORKER_DIR, stdio: "pipe", env: { ...process.env, OMP_NUM_THREADS: "1" } });
}

const STAMP_FILE = ".whetstone-source";

export function isBuilt(folder: string, stamp: string): boolean {
  const file = join(folder, STAMP_FILE);
  return existsSync(file) && readFileSync(file, "utf8") === stamp;
}

/** Mark `folder` built from `stamp`: the build's last write. */
export function markBuilt(folder: string, stamp: string): void {
  writeFileSync(join(folder, STAMP_FILE), stamp);
}

/**
 * Wait for `folder`'s build lock and take it: the function that releases it, or null when the
 * folder is (or, while waiting, became) built from `stamp` and there is nothing to build. A lock
 * older than `staleAfterS` of waiting is taken to be a crashed builder's and broken.
 */
export function takeBuildLock(folder: string, stamp: string, staleAfterS = 300): (() => void) | null {
  if (isBuilt(folder, stamp)) return null;
  const lock = `${folder}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let tries = 0; ; tries++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (tries > staleAfterS * 2) rmSync(lock, { recursive: true, force: true });
      execFileSync("sleep", ["0.5"]);
      if (isBuilt(folder, stamp)) return null;
    }
  }
  if (isBuilt(folder, stamp)) {
    rmSync(lock, { recursive: true, force: true });
    return null;
  }
  return () => rmSync(lock, { recursive: true, force: true });
}
