/**
 * The dataset report and sample preview as terminal text. Plain text reads the same in a file or
 * a pipe; on a TTY, trained tokens are green and goldfish-dropped tokens red and struck through.
 * Without colors the marks are brackets: [[trained]] and {{dropped}}.
 */
import type { DatasetReport, SamplePreview } from "../data/report";
import { formatLocation } from "../data/issues";
import { bar, duration } from "./format";

const int = (n: number) => n.toLocaleString("en-US");

export function formatDatasetReport(r: DatasetReport): string {
  const base = r.files.length > 1 ? r.path : undefined;
  const out: string[] = [];
  for (const f of r.files) {
    const name = base ? formatLocation({ file: f.path }, base) : f.path;
    out.push(`${name}  ${f.format ?? "?"} · ${f.schema ?? "unknown schema"} · ${size(f.bytes)} · ${int(f.rows)} rows  (sha256 ${f.sha256.slice(0, 12)}…)`);
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  if (r.summary.length) out.push("");
  for (const s of r.summary) {
    const head = `${s.severity}[${s.code}]`;
    if (s.count === 1) {
      out.push(`${head} ${formatLocation(s.first, base)}${s.first.field ? ` (${s.first.field})` : ""}: ${s.message}`);
    } else {
      const places = s.count > s.rows ? ` (${int(s.count)} places)` : "";
      out.push(`${head} ${s.message === s.first.message ? `${int(s.rows)} row${s.rows === 1 ? "" : "s"}${places}: ` : ""}${s.message}`);
      for (const i of s.examples) out.push(`  ${formatLocation(i, base)}${i.field ? ` (${i.field})` : ""}: ${i.message}`);
      if (s.count > s.examples.length) out.push(`  … ${int(s.count - s.examples.length)} more`);
    }
    out.push(`  hint: ${s.hint}`);
  }
  out.push("", ...formatStats(r));
  out.push("", `${r.trainable ? "✓" : "✗"} ${r.verdict}`);
  return out.join("\n");
}

function formatStats(r: DatasetReport): string[] {
  const s = r.stats;
  const lines = [`samples     ${int(s.samples)} valid of ${int(s.rows)} rows${s.invalid_rows ? ` (${int(s.invalid_rows)} invalid)` : ""}; read in ${r.elapsed_s.toFixed(2)} s`];
  const kinds = Object.entries(s.by_kind).filter(([, n]) => n > 0);
  if (kinds.length > 1) lines.push(`kinds       ${kinds.map(([k, n]) => `${k} ${int(n)}`).join(" · ")}`);
  if (s.turns) {
    lines.push(`turns       ${s.turns.min === s.turns.max ? s.turns.min : `${s.turns.min}–${s.turns.max}`} per conversation, mean ${s.turns.mean}`);
    lines.push(`roles       ${Object.entries(s.roles).map(([k, n]) => `${k} ${int(n)}`).join(" · ")}`);
  }
  lines.push(`duplicates  ${int(s.duplicates)} exact, ${int(s.near_duplicates)} near`);
  const t = s.tokens;
  if (!t) {
    lines.push("tokens      (pass --model DIR for token lengths, overlong samples and trained tokens, with the model's own tokenizer)");
    return lines;
  }
  lines.push(`tokenizer   ${t.tokenizer} (template: ${t.template_source ?? "none"}), max_length ${t.max_length}, overlong: ${t.overlong}`);
  lines.push(`tokens      min ${t.length.min} · p50 ${t.length.p50} · mean ${t.length.mean} · p95 ${t.length.p95} · max ${t.length.max}`);
  const top = Math.max(1, ...t.histogram.map((b) => b.count));
  const labels = t.histogram.map((b, i) => (b.le === null ? `> ${t.histogram[i - 1]?.le ?? 0}` : `≤ ${b.le}`));
  const w = Math.max(...labels.map((l) => l.length));
  t.histogram.forEach((b, i) => lines.push(`  ${labels[i]!.padStart(w)}  ${String(int(b.count)).padStart(8)}  ${bar(b.count / top, 30).trimEnd()}`));
  const fates = [t.dropped_too_long ? `${int(t.dropped_too_long)} dropped as too long` : "", t.truncated ? `${int(t.truncated)} truncated` : "", t.dropped_no_trained_tokens ? `${int(t.dropped_no_trained_tokens)} dropped with no trained token` : ""].filter(Boolean);
  if (r.kind === "prompt") lines.push(`per epoch   ${int(t.kept)} prompts${fates.length ? ` (${fates.join(", ")})` : ""}: ${int(t.tokens_per_epoch)} prompt tokens; the completions are sampled in training`);
  else lines.push(`per epoch   ${int(t.kept)} samples${fates.length ? ` (${fates.join(", ")})` : ""}: ${int(t.tokens_per_epoch)} tokens, ${int(t.trained_tokens_per_epoch)} trained`);
  if (t.estimated_seconds_per_epoch !== null) lines.push(`time        about ${duration(t.estimated_seconds_per_epoch)} per epoch at the given throughput`);
  return lines;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let x = bytes / 1024;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) [x, u] = [x / 1024, u + 1];
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[u]}`;
}

export function formatPreview(p: SamplePreview, color: boolean): string {
  const where = formatLocation({ file: p.file, line: p.line, row: p.row, element: p.element });
  const out = [`${where} (index ${p.index}) · ${p.schema ?? "unknown schema"}`];
  for (const i of p.issues) out.push(`${i.severity}[${i.code}]${i.field ? ` ${i.field}` : ""}: ${i.message}`);
  if (!p.sample) {
    out.push("This row is invalid, so there is nothing to render.");
    return out.join("\n");
  }
  const g = p.goldfish;
  const fate = p.dropped === "too_long" ? `; ${p.length} tokens is over max_length: training drops this sample` : p.dropped === "no_trained_tokens" ? "; no trained token: training drops this sample" : p.truncated ? `; truncated from ${p.length} tokens` : "";
  out.push(
    `template ${p.template_source ?? "-"} · ${p.tokens.length} tokens, ${p.trained_tokens} trained${g ? `, ${g.dropped_tokens === null ? "?" : g.dropped_tokens} dropped by goldfish (${g.variant}, k ${g.k}${g.variant === "hashed" ? `, h ${g.h}` : ""})` : ""}${fate}`,
  );
  if (g?.note) out.push(`goldfish: ${g.note}`);
  out.push("", renderTokens(p.tokens, color), "");
  out.push(color ? "legend: \x1b[32mtrained\x1b[0m  \x1b[9;31mdropped by goldfish\x1b[0m  untrained  (↵ is a line break)" : "legend: [[trained]]  {{dropped by goldfish}}  untrained text as is  (↵ is a line break)");
  return out.join("\n");
}

function renderTokens(tokens: SamplePreview["tokens"], color: boolean): string {
  const show = (t: string) => t.replace(/\n/g, "↵\n");
  let s = "";
  let inTrained = false;
  for (const t of tokens) {
    const text = show(t.text);
    if (color) {
      s += t.dropped ? `\x1b[9;31m${text}\x1b[0m` : t.trained ? `\x1b[32m${text}\x1b[0m` : text;
      continue;
    }
    if (t.trained && !inTrained) s += "[[";
    if (!t.trained && inTrained) s += "]]";
    inTrained = t.trained;
    s += t.dropped ? `{{${text}}}` : text;
  }
  if (inTrained && !color) s += "]]";
  return s;
}
