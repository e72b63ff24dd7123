/**
 * What `npm run fetch-judge` and `npm run package` do (scripts/ only wire these), as functions the
 * tests call with the tiny judge standing in for the default one.
 */
import { join } from "node:path";
import { PROJECT_ROOT, whetstoneHome } from "../paths";
import { WhetstoneError } from "../util/errors";
import { stageJudge, type StageResult } from "./bundled";
import { DEFAULT_JUDGE, ensureJudge, judgeCacheDir, type JudgeSpec } from "./download";

/** electron-builder.yml's extraResources copies this folder to RESOURCES/judge. */
export const STAGING_DIR = join(PROJECT_ROOT, "build", "judge");

interface Out {
  write(s: string): unknown;
}

/** Download (or confirm) the default judge in the local cache; exit code 0 on success. */
export async function fetchDefaultJudge(out: Out, err: Out, opts: { home?: string; spec?: JudgeSpec; endpoint?: string } = {}): Promise<number> {
  const spec = opts.spec ?? DEFAULT_JUDGE;
  const folder = judgeCacheDir(opts.home ?? whetstoneHome(), spec);
  out.write(`Fetching the default judge ${spec.repo} (about ${Math.round(spec.approxBytes / 1e6)} MB) into ${folder}\n`);
  let last = 0;
  try {
    await ensureJudge(folder, spec, {
      endpoint: opts.endpoint,
      onProgress: (p) => {
        if (Date.now() - last < 2000) return;
        last = Date.now();
        out.write(`  ${p.file}: ${(p.bytes / 1e6).toFixed(0)}${p.totalBytes ? ` of ${(p.totalBytes / 1e6).toFixed(0)}` : ""} MB\n`);
      },
    });
  } catch (e) {
    if (e instanceof WhetstoneError) {
      err.write(e.format() + "\n");
      return 1;
    }
    throw e;
  }
  out.write(`The default judge is in ${folder}; \`npm run package\` will put it into the installer.\n`);
  return 0;
}

/** Stage the cached default judge for electron-builder (or clear the staging folder, with a note). */
export function stageDefaultJudge(out: Out, opts: { home?: string; spec?: JudgeSpec; stagingDir?: string } = {}): StageResult {
  const result = stageJudge(opts.home ?? whetstoneHome(), opts.stagingDir ?? STAGING_DIR, opts.spec ?? DEFAULT_JUDGE);
  out.write(result.message + "\n");
  return result;
}
