/**
 * `npm run package [-- electron-builder options]`: stage the cached default judge into build/judge
 * (engine/judge/bundled.ts; nothing when it is not cached, with a note), then build the installers
 * with electron-builder from electron-builder.yml. Build the app first (`npm start` builds
 * renderer/dist and electron/dist).
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { PROJECT_ROOT } from "../engine/paths";
import { STAGING_DIR, stageDefaultJudge } from "../engine/judge/bundled-scripts";

stageDefaultJudge(process.stdout);
const builder = spawnSync(process.execPath, [join(PROJECT_ROOT, "node_modules", "electron-builder", "cli.js"), ...process.argv.slice(2)], { cwd: PROJECT_ROOT, stdio: "inherit" });
rmSync(STAGING_DIR, { recursive: true, force: true }); // the staged copy is in the installers now
process.exit(builder.status ?? 1);
