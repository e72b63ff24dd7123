/**
 * The tiny judge for tests: the tiny fixture model exported to ONNX by the project's own export code
 * (whetstone_worker.jobs.export, format onnx), built once into the git-ignored .cache/ and rebuilt when
 * the fixture's weights change. A lock folder keeps two test processes from building it at once.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WORKER_DIR, workerPython } from "../../../engine/paths";
import { FIXTURES_DIR, ensureTinyModel } from "../../helpers/fixture";

export const TINY_JUDGE = join(FIXTURES_DIR, "tiny-judge-onnx");

const EXPORT = `
import sys
from whetstone_worker.jobs.export import job
from whetstone_worker.protocol import Emitter
model, out = sys.argv[1], sys.argv[2]
command = {"model_path": model, "tuned_path": model, "tuned_kind": "model", "format": "onnx", "out_dir": out, "dtype": "float32",
           "quantization": None, "shard_size_mb": 1000, "overwrite": True, "card": {"name": "tiny-judge", "base_model": model}}
result = job.run("tiny-judge", command, Emitter(lambda line: None), lambda: False)
print(result["checks"])
`;

export function ensureTinyJudge(): string {
  const model = ensureTinyModel();
  const stamp = String(statSync(join(model, "model.safetensors")).mtimeMs);
  const stampFile = join(TINY_JUDGE, ".whetstone-source");
  if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return TINY_JUDGE;
  const lock = `${TINY_JUDGE}.lock`;
  for (let tries = 0; ; tries++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (tries > 600) rmSync(lock, { recursive: true, force: true }); // a crashed builder's lock
      execFileSync("sleep", ["0.5"]);
      if (existsSync(stampFile) && readFileSync(stampFile, "utf8") === stamp) return TINY_JUDGE;
    }
  }
  try {
    execFileSync(workerPython(), ["-c", EXPORT, model, TINY_JUDGE], { cwd: WORKER_DIR, stdio: "pipe", env: { ...process.env, OMP_NUM_THREADS: "1" } });
    writeFileSync(stampFile, stamp);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return TINY_JUDGE;
}
