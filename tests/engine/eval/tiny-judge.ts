/**
 * The tiny judge for tests: the tiny fixture model exported to ONNX by the project's own export code
 * (tests/helpers/onnx-build.ts), built once into the git-ignored .cache/ and rebuilt when the
 * fixture's weights change. Its weights are random: its verdicts are noise, fine for testing the
 * judging machinery, not for what it picks (bench/planted-judge.ts is a judge that prefers something).
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES_DIR, ensureTinyModel } from "../../helpers/fixture";
import { exportOnnx, markBuilt, takeBuildLock } from "../../helpers/onnx-build";

export const TINY_JUDGE = join(FIXTURES_DIR, "tiny-judge-onnx");

export function ensureTinyJudge(): string {
  const model = ensureTinyModel();
  const stamp = String(statSync(join(model, "model.safetensors")).mtimeMs);
  const release = takeBuildLock(TINY_JUDGE, stamp);
  if (!release) return TINY_JUDGE;
  try {
    exportOnnx(model, TINY_JUDGE, { name: "tiny-judge" });
    markBuilt(TINY_JUDGE, stamp);
  } finally {
    release();
  }
  return TINY_JUDGE;
}
