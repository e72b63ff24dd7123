/**
 * The Hugging Face cache as every HF tool lays it out, read from TypeScript: where it is, which repos
 * it holds, and the snapshot folder a hub id resolves to. Downloads go through the worker's `pull`
 * command (huggingface_hub); this side only reads.
 *
 *   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
 *     models--org--name/refs/main          the commit `main` points to
 *     models--org--name/snapshots/<commit>/ the files (symlinks into blobs/)
 *     datasets--org--name/…                the same for datasets
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { WhetstoneError } from "../util/errors";

export { isHubId } from "./hub-id";

export type RepoType = "model" | "dataset";

export function hubCache(env: NodeJS.ProcessEnv = process.env): string {
  return env.HF_HUB_CACHE ?? join(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface"), "hub");
}

export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
}

function repoFolder(repoId: string, type: RepoType, env: NodeJS.ProcessEnv): string {
  return join(hubCache(env), `${type}s--${repoId.replace(/\//g, "--")}`);
}

/** The cached snapshot folder of `repoId` at `revision` (a branch, tag or commit), or null. */
export function cachedSnapshot(repoId: string, type: RepoType = "model", env: NodeJS.ProcessEnv = process.env, revision = "main"): string | null {
  const folder = repoFolder(repoId, type, env);
  const ref = join(folder, "refs", revision);
  const commit = existsSync(ref) ? readFileSync(ref, "utf8").trim() : /^[0-9a-f]{40}$/.test(revision) ? revision : null;
  if (!commit) return null;
  const snapshot = join(folder, "snapshots", commit);
  if (!existsSync(snapshot)) return null;
  if (type === "model" && !existsSync(join(snapshot, "config.json"))) return null;
  return snapshot;
}

export interface CachedRepo {
  id: string;
  type: RepoType;
  path: string;
  bytes: number;
}

/** Every repo with a complete `main` snapshot in the cache. */
export function listCached(env: NodeJS.ProcessEnv = process.env): CachedRepo[] {
  const cache = hubCache(env);
  if (!existsSync(cache)) return [];
  const out: CachedRepo[] = [];
  for (const name of readdirSync(cache).sort()) {
    const m = /^(models|datasets)--(.+?)--(.+)$/.exec(name);
    if (!m) continue;
    const type: RepoType = m[1] === "models" ? "model" : "dataset";
    const id = `${m[2]}/${m[3]}`;
    const path = cachedSnapshot(id, type, env);
    if (!path) continue;
    let bytes = 0;
    const blobs = join(cache, name, "blobs");
    if (existsSync(blobs)) for (const b of readdirSync(blobs)) if (!b.endsWith(".incomplete")) bytes += statSync(join(blobs, b)).size;
    out.push({ id, type, path, bytes });
  }
  return out;
}

/**
 * `model.path` may be a hub id: the cached snapshot when there is one, else an error with the pull
 * command. A local folder of the same relative name wins (checked by the caller).
 */
export function resolveHubModel(repoId: string, env: NodeJS.ProcessEnv = process.env): string {
  const snapshot = cachedSnapshot(repoId, "model", env);
  if (snapshot) return snapshot;
  throw new WhetstoneError({
    code: "MODEL_NOT_CACHED",
    message: `model.path: '${repoId}' is not a local folder, and the hub model ${repoId} is not in the Hugging Face cache (${hubCache(env)}).`,
    hint: `Download it with \`whetstone models pull ${repoId}\` (from ${hubEndpoint(env)}), or set model.path to a local model folder.`,
  });
}
