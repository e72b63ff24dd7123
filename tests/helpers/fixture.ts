/** The tiny fixture model, built once by the worker's own builder (idempotent, cached). */
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROJECT_ROOT, WORKER_DIR, workerPython } from "../../engine/paths";
import { PREFERENCE_FIELDS, PREFERENCE_METHODS } from "../../engine/config/methods";

export const FIXTURES_DIR = process.env.WHETSTONE_FIXTURES_DIR ?? join(PROJECT_ROOT, ".cache", "fixtures");
export const TINY_MODEL = join(FIXTURES_DIR, "tiny-llama");
export const TINY_DATA = join(PROJECT_ROOT, "examples", "tiny-chat.jsonl");

export function ensureTinyModel(): string {
  execFileSync(workerPython(), ["-m", "whetstone_fixtures.tiny", "--out", TINY_MODEL], { cwd: WORKER_DIR, stdio: "pipe" });
  return TINY_MODEL;
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), "whetstone-home-"));
}

/** A small, fast training config on the tiny model; `over` patches sections. */
export function tinyConfig(over: { training?: Record<string, unknown>; data?: Record<string, unknown>; [k: string]: unknown } = {}) {
  const { training, data, ...rest } = over;
  return {
    name: "tiny-test",
    model: { path: TINY_MODEL },
    data: { train: TINY_DATA, max_length: 192, ...data },
    lora: { r: 4, alpha: 8 },
    training: { epochs: 1, micro_batch_size: 8, learning_rate: 3e-3, checkpoint_every: 3, max_steps: 8, ...training },
    ...rest,
  };
}

export function writeConfig(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Every preference method's settings, null: a resolved preference block is these, with its method's own filled in. */
export const nullSettings: Record<string, null> = Object.fromEntries(PREFERENCE_METHODS.flatMap((m) => Object.keys(PREFERENCE_FIELDS[m])).map((k) => [k, null]));
