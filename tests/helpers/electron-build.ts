/** electron/dist as scripts/start.mjs builds it (main, preload, the packaged app's judge thread), into `outDir`. */
import { join } from "node:path";
import { build, type BuildOptions } from "esbuild";
import { PROJECT_ROOT } from "../../engine/paths";

export async function buildElectronDist(outDir = join(PROJECT_ROOT, "electron", "dist"), only?: "judge-thread"): Promise<void> {
  const common: BuildOptions = { bundle: true, platform: "node", target: "node20", external: ["electron"], logLevel: "warning" };
  const src = (f: string) => join(PROJECT_ROOT, f);
  await build({ ...common, entryPoints: [src("engine/judge/thread.ts")], outfile: join(outDir, "judge-thread.mjs"), format: "esm", packages: "external" });
  if (only) return;
  await build({ ...common, entryPoints: [src("electron/main.ts")], outfile: join(outDir, "main.js"), format: "esm", packages: "external" });
  await build({ ...common, entryPoints: [src("electron/preload.ts")], outfile: join(outDir, "preload.cjs"), format: "cjs" });
}
