/** Dataset problems grouped by code, each with its place (file:line, field) and its fix. */
import type { DatasetReport } from "../../../engine/api/public";
import { ISSUE_WORDING } from "../lib/error-wording";
import { forPeople } from "../lib/messages";

/** Where: the user's name for the file (not the stored copy's hashed name), JSON element, line or row, field. */
const place = (i: { file: string; line?: number; row?: number; element?: number; field?: string }, files: Record<string, string>) =>
  `${files[i.file] ?? i.file.split(/[\\/]/).pop()}${i.element != null ? `: element ${i.element}` : i.line != null ? `:${i.line}` : i.row != null ? ` row ${i.row}` : ""}${i.field ? ` (${i.field})` : ""}`;

export function IssueList({ report, fileName = null }: { report: DatasetReport; fileName?: string | null }) {
  const files: Record<string, string> = fileName ? { [report.path]: fileName } : {};
  if (report.summary.length === 0) return <p className="ok">No problems found.</p>;
  return (
    <ul className="issues" aria-label="Dataset problems">
      {report.summary.map((s) => (
        <li key={s.code} className={s.severity}>
          <strong>
            {s.severity} {s.code}
          </strong>{" "}
          {forPeople(s.message, files)}
          {s.rows > 1 && <span className="muted"> ({s.rows} rows)</span>}
          <ul>
            {s.examples.slice(0, 5).map((e, i) => (
              <li key={i}>
                <code>{place(e, files)}</code> {forPeople(e.message, files)}
              </li>
            ))}
          </ul>
          <p className="hint">{ISSUE_WORDING[s.code] ?? forPeople(s.hint, files)}</p>
        </li>
      ))}
    </ul>
  );
}
