/**
 * The judge's pick among a sweep's finished trials: the ranking by Bradley–Terry strength (the best
 * marked), and each comparison's win rate and length-controlled win rate with its 95% interval.
 * The judge labels models by run id (and the base by its folder); here they are trials and "the base model".
 */
import { useAppStore } from "../store/store";
import { TableHead } from "../components/TableHead";
import { num } from "../lib/format";
import { settingsInWords } from "../lib/sweep";
import type { SweepStatus } from "../../../engine/api/public";

/** Win rates come in percent (0–100), as in evaluation reports. */
const pct = (v: number) => `${v.toFixed(1)}%`;

export function SweepRanking({ sweep }: { sweep: SweepStatus }) {
  const sel = sweep.selection!;
  const { navigate } = useAppStore.getState();
  const byRun = new Map(sweep.trials.filter((t) => t.run_id).map((t) => [t.run_id!, t]));
  const name = (label: string) => {
    const t = byRun.get(label);
    return t ? `Trial ${t.index}` : label.startsWith("base") ? "The base model" : label;
  };
  const best = sel.best_trial !== null ? sweep.trials.find((t) => t.index === sel.best_trial) : undefined;
  return (
    <section aria-label="The judge's pick" className="sweep-pick">
      <h3>The judge's pick</h3>
      {best && (
        <p data-testid="sweep-best">
          <strong>Best: trial {best.index}</strong> ({settingsInWords(best.settings)}).{" "}
          <button type="button" className="link" onClick={() => navigate({ name: "run", id: best.run_id! })}>
            Open its run
          </button>
        </p>
      )}
      {sel.note && <p className="muted">{sel.note}</p>}
      {sel.ranking[0]?.run_id === null && best && <p className="muted">The judge preferred the base model's answers to every trial's: look at the intervals below before reading much into the order.</p>}
      {sel.ranking.length > 0 && (
        <table className="ranking" data-testid="ranking">
          <TableHead columns={["Rank", "Model", "Strength"]} />
          <tbody>
            {sel.ranking.map((r) => (
              <tr key={r.label} className={r.run_id !== null && r.run_id === sel.best_run ? "best" : undefined}>
                <td>{r.rank}</td>
                <td>
                  {name(r.label)}
                  {r.run_id !== null && r.run_id === sel.best_run && <span className="badge"> ★ best</span>}
                  {byRun.get(r.label) && <div className="muted small">{settingsInWords(byRun.get(r.label)!.settings)}</div>}
                </td>
                <td>{num(r.strength)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {sel.matches.length > 0 && (
        <details open>
          <summary>Head to head ({sel.matches.length} comparisons)</summary>
          <p className="muted small">How often the judge preferred the first over the second (ties count half); the length-controlled rate discounts a preference for longer answers. The range is its 95% confidence interval: overlapping ranges are not a clear difference.</p>
          <table className="matches" data-testid="matches">
            <TableHead columns={["Model", "Against", "Prompts", "Win rate", "Length-controlled (95% CI)"]} />
            <tbody>
              {sel.matches.map((m) => (
                <tr key={`${m.model}|${m.baseline}`}>
                  <td>{name(m.model)}</td>
                  <td>{name(m.baseline)}</td>
                  <td>{m.n}</td>
                  <td>{pct(m.win_rate)}</td>
                  <td>
                    {pct(m.lc_win_rate)} <span className="muted">({pct(m.lc_low)} – {pct(m.lc_high)})</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </section>
  );
}
