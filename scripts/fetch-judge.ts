/**
 * `npm run fetch-judge`: download the default judge into the local cache ($WHETSTONE_HOME/judges/…),
 * exactly as the app would on first use, so that `npm run package` can put it into the installer
 * (engine/judge/bundled.ts). Run it on a machine with internet; it resumes an interrupted download.
 */
import { fetchDefaultJudge } from "../engine/judge/bundled-scripts";

const code = await fetchDefaultJudge(process.stdout, process.stderr);
process.exit(code);
