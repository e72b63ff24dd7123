/**
 * The goldfish drop mask, ported from the worker's losses/goldfish.py (read its docstring for the
 * method; the conventions are identical): mask[i] is about token i as a target, mask[0] is never
 * set, and a token is shown as dropped when it is trained and masked.
 *
 * - hashed: for i ≥ h, key = (product of ids[i−h+1..i] as wrapping int64) mod 1,000,003 (never
 *   negative, as torch's remainder), dropped when TABLE[key] < float32(1/k). TABLE is the worker's
 *   1,000,003 float32 uniforms from torch's CPU generator seeded 2971215073. Re-implementing
 *   torch's Mersenne Twister and its float conversion in TypeScript would be a second source of
 *   truth that could drift, so the worker writes the table once into
 *   .cache/goldfish/table-2971215073-1000003.f32 (4 MB, `python -m whetstone_worker.data.preview
 *   --export-goldfish-table`) and this module reads it; the cross-language test checks the masks.
 * - static: tokens k, 2k, 3k, …
 * - random: a fresh seeded mask per epoch, drawn with numpy's PCG64; not reproduced here. The
 *   preview shows no tokens for it, only the expected rate 1/k.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { layout, WORKER_DIR, workerPython } from "../paths";
import { WhetstoneError } from "../util/errors";

export const TABLE_SIZE = 1_000_003;
export const TABLE_SEED = 2971215073;
const M = BigInt(TABLE_SIZE);

export interface GoldfishOptions {
  k: number;
  h: number;
  variant: "hashed" | "static" | "random";
}

export function goldfishTablePath(cacheDir = layout().cacheDir): string {
  return join(cacheDir, "goldfish", `table-${TABLE_SEED}-${TABLE_SIZE}.f32`);
}

let cached: Float32Array | null = null;

/** The hashed variant's table: read from the cache, written there by the worker on first use. */
export async function goldfishTable(opts: { cacheDir?: string; python?: string } = {}): Promise<Float32Array> {
  if (cached) return cached;
  const path = goldfishTablePath(opts.cacheDir);
  if (!existsSync(path) || statSync(path).size !== TABLE_SIZE * 4) {
    try {
      await promisify(execFile)(opts.python ?? workerPython(), ["-m", "whetstone_worker.data.preview", "--export-goldfish-table", path], { cwd: WORKER_DIR });
    } catch (e) {
      throw new WhetstoneError({
        code: "GOLDFISH_TABLE",
        message: `The goldfish hash table could not be made by the worker: ${(e as Error).message.split("\n")[0]}`,
        hint: "Run `npm install` (it sets up the worker's Python), or preview without goldfish.",
        where: path,
      });
    }
  }
  const bytes = readFileSync(path);
  const table = new Float32Array(TABLE_SIZE);
  for (let i = 0; i < TABLE_SIZE; i++) table[i] = bytes.readFloatLE(i * 4);
  cached = table;
  return table;
}

/** Bool mask over the sample's tokens (1 = left out of the loss as a target); null for `random`. */
export function goldfishDropMask(ids: ArrayLike<number>, cfg: GoldfishOptions, table?: Float32Array): Uint8Array | null {
  const n = ids.length;
  const mask = new Uint8Array(n);
  if (cfg.variant === "random") return null;
  if (n < 2) return mask;
  const k = cfg.k;
  if (cfg.variant === "static") {
    for (let i = k; i < n; i += k) mask[i] = 1;
    return mask;
  }
  if (!table) throw new Error("the hashed goldfish variant needs the table (goldfishTable())");
  const h = cfg.h;
  const threshold = Math.fround(1 / k);
  for (let i = h; i < n; i++) {
    let p = 1n;
    for (let j = i - h + 1; j <= i; j++) p = BigInt.asIntN(64, p * BigInt(ids[j]!));
    const key = Number(((p % M) + M) % M);
    if (table[key]! < threshold) mask[i] = 1;
  }
  return mask;
}
