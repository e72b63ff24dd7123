/**
 * How far the judge's verdicts can be trusted (engine/judge/trust.ts): position consistency, tie
 * share and mean confidence, with the engine's warning when the judge is guessing. Shown under every
 * evaluation and comparison; reports written before the figures existed show nothing.
 */
import type { JudgeTrust as Trust } from "../../../engine/api/public";

const share = (x: number) => (Number.isFinite(x) ? `${Math.round(100 * x)}%` : "n/a");

export function JudgeTrust({ trust }: { trust: Trust | undefined }) {
  if (!trust) return null;
  return (
    <div className="judge-trust" data-testid="judge-trust">
      <p>
        Judge trust: the verdict stayed the same when the answers swapped places on <strong>{share(trust.position_consistency)}</strong> of {trust.n} prompts; ties{" "}
        {share(trust.tie_share)}; mean confidence {Number.isFinite(trust.mean_confidence) ? trust.mean_confidence.toFixed(2) : "n/a"} (1/3: no preference, 1: certain).
      </p>
      {trust.warning && (
        <p role="alert" className="warn">
          {trust.warning}
        </p>
      )}
    </div>
  );
}

/** For a comparison: the least consistent match's figures (the one that limits what the ranking is worth). */
export function weakestTrust(summaries: readonly { judge_trust?: Trust }[]): Trust | undefined {
  return summaries
    .map((s) => s.judge_trust)
    .filter((t): t is Trust => t !== undefined)
    .sort((a, b) => a.position_consistency - b.position_consistency)[0];
}
