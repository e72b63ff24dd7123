/** Dataset problems grouped by code, each with its place (file:line, field) and its fix. */
import type { DatasetReport } from "../../../engine/data/report";

const place = (i: { file: string; line?: number; row?: number; element?: number; field?: string }) =>
  `${i.file.split(/[\\/]/).pop()}${i.element != null ? `: element ${i.element}` : i.line != null ? `:${i.line}` : i.row != null ? ` row ${i.row}` : ""}${i.field ? ` (${i.field})` : ""}`;

export function IssueList({ report }: { report: DatasetReport }) {
  if (report.summary.length === 0) return <p className="ok">No problems found.</p>;
  return (
    <ul className="issues" aria-label="Dataset problems">
      {report.summary.map((s) => (
        <li key={s.code} className={s.severity}>
          <strong>
            {s.severity} {s.code}
          </strong>{" "}
          {s.message}
          {s.rows > 1 && <span className="muted"> ({s.rows} rows)</span>}
          <ul>
            {s.examples.slice(0, 5).map((e, i) => (
              <li key={i}>
                <code>{place(e)}</code> {e.message}
              </li>
            ))}
          </ul>
          {s.hint && <p className="hint">{s.hint}</p>}
        </li>
      ))}
    </ul>
  );
}
