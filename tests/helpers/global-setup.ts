/**
 * Once per vitest run, before any test file: build the compiled CLI if an engine source is newer.
 * Otherwise the first CLI each parallel file spawns rebuilds it at once, and a rebuild landing late
 * can overwrite the stale bundle that tests/scripts/cli-bundle.test.ts set up on purpose.
 */
// @ts-expect-error: a plain ES module script without types
import { buildCliBundle, cliBundleFresh } from "../../scripts/cli-bundle.mjs";

export default async function setup(): Promise<void> {
  if (!cliBundleFresh()) await buildCliBundle();
}
