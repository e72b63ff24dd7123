/**
 * `whetstone models pull ID`: one worker `pull` command (huggingface_hub, into the standard cache),
 * its byte progress relayed with ETA. Not a run and not a GPU job, so it takes no device lock and
 * writes no run folder. The token goes to the worker as HF_TOKEN in its environment (from this
 * process's HF_TOKEN or the OS keychain) and is never part of the command, which is what the
 * protocol log records. Cancelling kills the worker: the partial `.incomplete` files stay in the
 * cache and the next pull resumes them.
 */
import { hubOnlyWorkerEnv } from "../secrets/token";
import { WhetstoneError } from "../util/errors";
import { isHubId, type RepoType } from "./hub";
import { runOneShot, type OneShotContext } from "./oneshot";

export interface PullOptions {
  repoId: string;
  type: RepoType;
  revision?: string | null;
  /** The hub; default HF_ENDPOINT, else huggingface.co (resolved by the worker). */
  endpoint?: string | null;
  cacheDir?: string | null;
}

export interface PullResult {
  repo_id: string;
  repo_type: RepoType;
  commit: string;
  path: string;
  files: number;
  bytes: number;
  downloaded_bytes: number;
  verified_files: number;
}

export async function pullRepo(opts: PullOptions, ctx: OneShotContext = {}): Promise<PullResult> {
  if (!isHubId(opts.repoId)) {
    throw new WhetstoneError({ code: "USAGE", message: `'${opts.repoId}' is not a hub id.`, hint: "Hub ids are owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct." });
  }
  const env = hubOnlyWorkerEnv(ctx.env);
  const result = await runOneShot(
    "pull",
    (id) => ({ v: 1, type: "pull", id, repo_id: opts.repoId, repo_type: opts.type, revision: opts.revision ?? null, endpoint: opts.endpoint ?? null, cache_dir: opts.cacheDir ?? null }),
    // Spawned, not forked: a download needs huggingface_hub only (the worker skips torch: hubOnlyWorkerEnv),
    // and its online environment would start a fork server of its own (torch, transformers and peft
    // imported, ~350 MB held for ten minutes).
    { ...ctx, env, fork: false },
    {
      cancelled: new WhetstoneError({ code: "CANCELLED", message: `The download of ${opts.repoId} was cancelled.`, hint: `Run \`whetstone models pull ${opts.repoId}\` again: it resumes where it stopped.` }),
      retry: `Run \`whetstone models pull ${opts.repoId}\` again: it resumes.`,
    },
  );
  return result as unknown as PullResult;
}
