/**
 * The default judge: a small instruct model in ONNX form, downloaded once into
 * $WHETSTONE_HOME/judges/ and read from there ever after.
 *
 * - Resumable: each file streams into `<file>.part`; a later attempt asks for the rest with an HTTP
 *   Range request and appends (a server that answers 200 instead of 206 restarts the file).
 * - Checksum-verified: before the download, a HEAD request (redirects not followed, like
 *   huggingface_hub) reads the file's hash from the hub: `X-Linked-Etag` is the sha256 of an LFS
 *   file, a plain `ETag` of 40 hex digits the git blob sha1 of a small one. The finished file is
 *   hashed the same way; a mismatch deletes it and fails. A pinned sha256 in the spec wins.
 * - Cached: `whetstone-judge.json` is written last (atomically), so a folder with it is complete.
 * - One download at a time per folder (a lock file with the owner's pid; a dead owner's lock is taken over).
 * - Progress in bytes with an ETA; offline, a message that says what to do instead.
 */
import { createHash } from "node:crypto";
import { closeSync, createReadStream, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { isAlive } from "../runs/store";
import { writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";

export interface JudgeFile {
  path: string;
  /** Pinned sha256 (hex); null: take the hub's. */
  sha256?: string | null;
}

export interface JudgeSpec {
  repo: string;
  revision: string;
  files: JudgeFile[];
  /** Shown in messages before the sizes are known. */
  approxBytes: number;
}

/** Qwen2.5-0.5B-Instruct, int8-quantized for CPU (~0.5 GB): the smallest instruct model that judges sensibly. */
export const DEFAULT_JUDGE: JudgeSpec = {
  repo: "onnx-community/Qwen2.5-0.5B-Instruct",
  revision: "main",
  files: [{ path: "config.json" }, { path: "generation_config.json" }, { path: "tokenizer.json" }, { path: "tokenizer_config.json" }, { path: "onnx/model_quantized.onnx" }],
  approxBytes: 520e6,
};

export interface DownloadProgress {
  file: string;
  bytes: number;
  totalBytes: number | null;
  elapsed_s: number;
  eta_s: number | null;
}

export function hubEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  return (env.WHETSTONE_HF_ENDPOINT ?? env.HF_ENDPOINT ?? "https://huggingface.co").replace(/\/+$/, "");
}

export function judgeCacheDir(home: string, spec: JudgeSpec): string {
  return join(home, "judges", spec.repo.replace(/\//g, "--"));
}

const MANIFEST = "whetstone-judge.json";

export function isDownloaded(folder: string): boolean {
  return existsSync(join(folder, MANIFEST));
}

interface Remote {
  url: string;
  size: number | null;
  checksum: { kind: "sha256" | "git-sha1"; hex: string } | null;
}

/** Download `spec` into `folder` unless it is already complete; returns the folder. */
export async function ensureJudge(folder: string, spec: JudgeSpec, opts: { endpoint?: string; onProgress?: (p: DownloadProgress) => void; signal?: AbortSignal } = {}): Promise<string> {
  if (isDownloaded(folder)) return folder;
  const endpoint = opts.endpoint ?? hubEndpoint();
  mkdirSync(folder, { recursive: true });
  const unlock = await lock(folder, opts.signal);
  try {
    if (isDownloaded(folder)) return folder;
    const remotes: Remote[] = [];
    for (const f of spec.files) remotes.push(await head(endpoint, spec, f));
    const known = remotes.every((r) => r.size !== null) ? remotes.reduce((a, r) => a + r.size!, 0) : null;
    const t0 = Date.now();
    let base = 0;
    let freshTotal = 0; // bytes fetched by this attempt (resumed parts excluded), for the rate
    const record: Record<string, { bytes: number; sha256?: string; git_sha1?: string }> = {};
    for (const [i, f] of spec.files.entries()) {
      const remote = remotes[i]!;
      const dest = join(folder, f.path);
      let fresh = 0; // bytes fetched this session (for the ETA), not counting a resumed part
      await fetchFile(remote, dest, opts.signal, (have, got) => {
        fresh = got;
        const elapsed = (Date.now() - t0) / 1000;
        const done = base + have;
        const rate = elapsed > 0 ? (freshTotal + fresh) / elapsed : 0;
        opts.onProgress?.({ file: f.path, bytes: done, totalBytes: known, elapsed_s: elapsed, eta_s: known !== null && rate > 0 ? (known - done) / rate : null });
      });
      freshTotal += fresh;
      const bytes = statSync(dest).size;
      base += bytes;
      record[f.path] = { bytes, ...(await verify(dest, f, remote, spec)) };
    }
    writeJsonAtomic(join(folder, MANIFEST), { repo: spec.repo, revision: spec.revision, endpoint, files: record, downloaded_at: new Date().toISOString() });
    return folder;
  } finally {
    unlock();
  }
}

function offline(endpoint: string, spec: JudgeSpec, cause: string): WhetstoneError {
  return new WhetstoneError({
    code: "JUDGE_OFFLINE",
    message: `Cannot download the default judge model ${spec.repo} (about ${Math.round(spec.approxBytes / 1e6)} MB, once) from ${endpoint}: ${cause}.`,
    hint: "Connect to the internet and run again (the download resumes where it stopped), or judge without downloading: --judge PATH (a local ONNX model folder) or --judge URL (an OpenAI-compatible server such as llama.cpp, Ollama or vLLM).",
  });
}

function causeOf(e: unknown): string {
  const err = e as Error & { cause?: Error & { code?: string } };
  return err.cause?.code ? `${err.cause.code} (${err.cause.message})` : (err.cause?.message ?? err.message);
}

async function head(endpoint: string, spec: JudgeSpec, file: JudgeFile): Promise<Remote> {
  const url = `${endpoint}/${spec.repo}/resolve/${spec.revision}/${file.path}`;
  let res: Response;
  try {
    res = await fetch(url, { method: "HEAD", redirect: "manual" });
  } catch (e) {
    throw offline(endpoint, spec, causeOf(e));
  }
  if (res.status >= 400) {
    throw new WhetstoneError({ code: "JUDGE_DOWNLOAD_FAILED", message: `The hub answered ${res.status} for ${url}.`, hint: res.status === 401 || res.status === 403 ? "The model may need a login; download it yourself and pass --judge PATH." : "Try again later, or pass --judge PATH or --judge URL." });
  }
  const clean = (v: string | null) => (v ? v.replace(/^W\//, "").replace(/"/g, "").toLowerCase() : null);
  const linked = clean(res.headers.get("x-linked-etag"));
  const etag = clean(res.headers.get("etag"));
  const size = Number(res.headers.get("x-linked-size") ?? res.headers.get("content-length") ?? NaN);
  const checksum = file.sha256
    ? { kind: "sha256" as const, hex: file.sha256.toLowerCase() }
    : linked && /^[0-9a-f]{64}$/.test(linked)
      ? { kind: "sha256" as const, hex: linked }
      : etag && /^[0-9a-f]{64}$/.test(etag)
        ? { kind: "sha256" as const, hex: etag }
        : etag && /^[0-9a-f]{40}$/.test(etag)
          ? { kind: "git-sha1" as const, hex: etag }
          : null;
  const location = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
  return { url: location ? new URL(location, url).toString() : url, size: Number.isFinite(size) ? size : null, checksum };
}

/** Stream `remote` into dest.part, resuming what is there; renames to `dest` when complete. */
async function fetchFile(remote: Remote, dest: string, signal: AbortSignal | undefined, progress: (have: number, fresh: number) => void): Promise<void> {
  if (existsSync(dest)) return;
  mkdirSync(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  let have = existsSync(part) ? statSync(part).size : 0;
  if (remote.size !== null && have > remote.size) {
    rmSync(part);
    have = 0;
  }
  if (!(remote.size !== null && have === remote.size)) {
    let res: Response;
    try {
      res = await fetch(remote.url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal });
    } catch (e) {
      if (signal?.aborted) throw cancelledDownload();
      throw new WhetstoneError({ code: "JUDGE_OFFLINE", message: `The judge download stopped: ${causeOf(e)} (${have} bytes of ${dest} kept).`, hint: "Run again to resume, or pass --judge PATH or --judge URL." });
    }
    if (res.status === 416 && have > 0) {
      /* already complete: the server has nothing past our end */
    } else if (!res.ok || !res.body) {
      throw new WhetstoneError({ code: "JUDGE_DOWNLOAD_FAILED", message: `Downloading ${remote.url} failed: HTTP ${res.status}.`, hint: "Try again later, or pass --judge PATH or --judge URL." });
    } else {
      if (res.status === 200) have = 0; // the server ignored the range: start over
      const fd = openSync(part, have > 0 ? "a" : "w");
      let fresh = 0;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          writeSync(fd, chunk);
          have += chunk.length;
          fresh += chunk.length;
          progress(have, fresh);
        }
      } catch (e) {
        if (signal?.aborted) throw cancelledDownload();
        throw new WhetstoneError({ code: "JUDGE_OFFLINE", message: `The judge download was interrupted: ${causeOf(e)} (${have} bytes kept; the next attempt resumes).`, hint: "Run again to resume, or pass --judge PATH or --judge URL." });
      } finally {
        closeSync(fd);
      }
    }
  }
  if (remote.size !== null && statSync(part).size !== remote.size) {
    throw new WhetstoneError({ code: "JUDGE_OFFLINE", message: `The judge download of ${dest} ended early (${statSync(part).size} of ${remote.size} bytes).`, hint: "Run again to resume." });
  }
  renameSync(part, dest);
}

function cancelledDownload(): WhetstoneError {
  return new WhetstoneError({ code: "CANCELLED", message: "The judge download was cancelled (what arrived is kept and resumed next time).", hint: "Run it again." });
}

async function verify(path: string, file: JudgeFile, remote: Remote, spec: JudgeSpec): Promise<{ sha256?: string; git_sha1?: string }> {
  const sha256 = await hashFile(path, "sha256");
  const actual = remote.checksum?.kind === "git-sha1" ? await hashFile(path, "git-sha1") : sha256;
  if (remote.checksum && actual !== remote.checksum.hex) {
    rmSync(path, { force: true });
    throw new WhetstoneError({
      code: "JUDGE_CHECKSUM",
      message: `${spec.repo}/${file.path} failed its checksum (${remote.checksum.kind} ${actual.slice(0, 12)}…, expected ${remote.checksum.hex.slice(0, 12)}…); the file was deleted.`,
      hint: "Run again to download it afresh. If it keeps failing, a proxy may be altering downloads.",
    });
  }
  return remote.checksum?.kind === "git-sha1" ? { sha256, git_sha1: actual } : { sha256 };
}

/** sha256 of the bytes, or git's blob sha1 (sha1 of "blob <size>\0" + bytes). */
export async function hashFile(path: string, kind: "sha256" | "git-sha1"): Promise<string> {
  const hash = createHash(kind === "sha256" ? "sha256" : "sha1");
  if (kind === "git-sha1") hash.update(`blob ${statSync(path).size}\0`);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function lock(folder: string, signal?: AbortSignal): Promise<() => void> {
  const path = join(folder, ".download.lock");
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(readFileSync(path, "utf8"));
      if (!Number.isInteger(owner) || owner <= 0 || (!isAlive(owner) && owner !== process.pid)) {
        rmSync(path, { force: true });
        continue;
      }
      if (signal?.aborted) throw cancelledDownload();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
