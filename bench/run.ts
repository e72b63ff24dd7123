/**
 * `npm run bench -- NAME [options]`: runs one benchmark from bench/ and writes its results to
 * bench/results/ (JSON + markdown, with the machine and the exact command). Benchmarks compare
 * against a baseline measured in the same run, never against numbers from another day.
 */
const benches: Record<string, () => Promise<{ main: (argv: string[]) => Promise<void> }>> = {
  goldfish: () => import("./goldfish"),
  ingest: () => import("./ingest"),
  estimator: () => import("./estimator"),
  trainer: () => import("./trainer"),
  lc: () => import("./lc"),
  "cli-start": () => import("./cli-start"),
  "worker-job": () => import("./worker-job"),
  sweep: () => import("./sweep"),
  "sweep-parallel": () => import("./sweep-parallel"),
};

const [bench, ...rest] = process.argv.slice(2);
if (!bench || !(bench in benches)) {
  console.error(`usage: npm run bench -- ${Object.keys(benches).join("|")} [options]`);
  process.exit(2);
}
await (await benches[bench]!()).main(rest);

export {};
