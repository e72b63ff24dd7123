/**
 * Every dataset issue Whetstone reports, with its stable code, severity and fix, and the log that
 * collects them while a file streams by. Errors block training (unless the user chose to skip the
 * rows they sit on); warnings do not. The log keeps counts for everything but only the first few
 * issues of each kind, so a file with a million bad rows reports in bounded memory.
 */
import type { DataIssue, Location, Severity } from "./types";

export const SKIP = "or skip the row with --skip-invalid (data.skip_invalid: true).";

export const ISSUE_CODES = {
  DATA_EMPTY_FILE: { severity: "error", hint: "The file has no records: add data, or remove the file." },
  DATA_BOM: { severity: "warning", hint: "Nothing to do: the UTF-8 byte-order mark was ignored (the source file is not modified)." },
  DATA_NOT_UTF8: { severity: "error", hint: `Save the file as UTF-8 (Excel: "CSV UTF-8"; an editor: reopen with the right encoding, save as UTF-8), ${SKIP}` },
  DATA_JSON_SYNTAX: { severity: "error", hint: `Fix the JSON at that line and column, ${SKIP}` },
  DATA_JSON_SHAPE: { severity: "error", hint: "A .json file holds an array of records, or an object whose values are arrays (of records, or columns of equal length). For one record per line, use .jsonl." },
  DATA_CSV_SYNTAX: { severity: "error", hint: `A field with commas, quotes or line breaks must be in double quotes, with inner quotes doubled; fix the quoting, ${SKIP}` },
  DATA_CSV_COLUMNS: { severity: "error", hint: `Each row needs as many fields as the header: look for an unquoted delimiter, ${SKIP}` },
  DATA_PARQUET_READ: { severity: "error", hint: "Re-export the file (pandas.DataFrame.to_parquet or pyarrow), or convert it to JSONL." },
  DATA_UNSUPPORTED_FORMAT: { severity: "error", hint: "Use .jsonl, .json, .csv, .tsv or .parquet files (JSON Lines, JSON and CSV also compressed: .jsonl.gz, .jsonl.zst, .jsonl.bz2, .jsonl.xz), or name the format with --format (data.format)." },
  DATA_SKIPPED_ENTRY: { severity: "warning", hint: "The rest of the folder was read without it: fix or remove the entry (a link whose target moved, a folder without read permission) if it holds data." },
  DATA_SHARD_MISSING: { severity: "warning", hint: "The folder holds part of a numbered set of shards: download the missing files, or train on what is here knowingly." },
  DATA_DECOMPRESS: { severity: "error", hint: "The compressed file is damaged or cut short: download it again, or decompress it yourself to see how far it reads." },
  DATA_LINE_TOO_LARGE: { severity: "error", hint: `Split the record, or check that the file is really one record per line, ${SKIP}` },
  DATA_NOT_OBJECT: { severity: "error", hint: `Each record must be an object such as {"messages": [...]}; fix the row, ${SKIP}` },
  DATA_UNKNOWN_SCHEMA: {
    severity: "error",
    hint: "Known shapes: messages (chat), conversations (ShareGPT), instruction/input/output (Alpaca), prompt/completion, text, prompt/chosen/rejected (preference), prompt alone (grpo). Rename the fields, or map them: data.columns {question: prompt, answer: completion} (CLI: --columns question=prompt,answer=completion).",
  },
  DATA_MISSING_FIELD: { severity: "error", hint: `Add the field, map another column onto it with data.columns (CLI: --columns), ${SKIP}` },
  DATA_MIXED_SCHEMA: { severity: "error", hint: `Every record of a dataset must have the same shape: fix or split off the odd rows, ${SKIP}` },
  DATA_UNKNOWN_ROLE: { severity: "error", hint: "Map the role: data.roles {NAME: user} (CLI: --roles NAME=user); roles are system, user, assistant, tool." },
  DATA_CONTENT_NOT_STRING: { severity: "error", hint: `Content must be text (a string, or a list of {"type": "text", "text": ...} parts); fix the row, ${SKIP}` },
  DATA_EMPTY_CONVERSATION: { severity: "error", hint: `Add the conversation's turns, ${SKIP}` },
  DATA_NO_ASSISTANT: { severity: "error", hint: `SFT trains on assistant turns: add the answer, ${SKIP}` },
  DATA_EMPTY_ASSISTANT: { severity: "error", hint: `An empty answer teaches the model to say nothing: fill it in, ${SKIP}` },
  DATA_NOT_ENDING_WITH_ASSISTANT: { severity: "warning", hint: "Turns after the last answer are never trained and only cost tokens: end each conversation with the assistant's answer." },
  DATA_NOT_ENDING_WITH_USER: { severity: "error", hint: `A grpo prompt is what the model answers next: end it with the user's turn (a conversation's last answer may follow; it becomes the row's reference), ${SKIP}` },
  DATA_LEADING_ASSISTANT: { severity: "error", hint: `A conversation starts with the user's turn (after an optional system prompt): add the user turn the answer replies to, or drop the opening assistant turn, ${SKIP}` },
  DATA_CONSECUTIVE_ROLES: { severity: "error", hint: `Most chat templates need user and assistant turns to alternate: merge the two turns, ${SKIP}` },
  DATA_EMPTY_FIELD: { severity: "error", hint: `Fill in the field, ${SKIP}` },
  DATA_FIELD_TYPE: { severity: "error", hint: `Give the field the type named above (in CSV, a list is a JSON array in the cell), ${SKIP}` },
  DATA_FIELD_TOO_LARGE: { severity: "error", hint: `A field this large cannot fit any max_length: split it, ${SKIP}` },
  DATA_EMPTY_PROMPT: { severity: "error", hint: `A preference pair answers a prompt: add the prompt field (the user's turn), or give chosen and rejected as whole conversations that start with the same user turn, ${SKIP}` },
  DATA_PAIR_PREFIX: { severity: "error", hint: `In an HH-style pair both transcripts must be the same conversation up to their last Assistant turn; fix the pair, ${SKIP}` },
  DATA_UNDESIRABLE: { severity: "warning", hint: "Rows labelled false are examples of bad answers: sft leaves them out (it would teach them); method kto trains on them as undesirable examples." },
  DATA_TOOLS_NOT_RENDERED: { severity: "warning", hint: "The model's chat template does not render tool definitions or tool calls, so the model will not see them: choose a model whose template supports tools (its chat template uses `tools`), or remove the tool fields." },
  DATA_PAIR_IDENTICAL: { severity: "error", hint: `A preference pair needs a chosen answer that differs from the rejected one: fix the pair, ${SKIP}` },
  DATA_DUPLICATE: { severity: "warning", hint: "Duplicates weigh a sample twice and encourage memorization: set data.dedupe: true (CLI: --dedupe) to keep only the first copy." },
  DATA_NEAR_DUPLICATE: { severity: "warning", hint: "These rows differ only in case, spacing or punctuation; remove them if they are the same sample." },
  DATA_TOO_LONG: { severity: "warning", hint: "Raise data.max_length, or choose data.overlong: drop, truncate or error." },
  DATA_NO_TRAINED_TOKENS: { severity: "warning", hint: "These samples have no assistant token left after templating and truncation and will be dropped: raise data.max_length or shorten the prompts." },
  DATA_TEMPLATE_ERROR: { severity: "error", hint: `Check the roles and their order against the model's chat template, ${SKIP}` },
  DATA_METHOD_MISMATCH: { severity: "error", hint: "Use a dataset of conversations (chat, ShareGPT, Alpaca or prompt/completion) for method sft, preference pairs for dpo, simpo or orpo, rows labelled true/false for kto, and prompts (or conversations) for grpo." },
  DATA_EMPTY: { severity: "error", hint: "Nothing is left to train on: fix the issues above, or add data." },
} as const satisfies Record<string, { severity: Severity; hint: string }>;

export type IssueCode = keyof typeof ISSUE_CODES;

export function makeIssue(code: IssueCode, at: Location, message: string, over: { hint?: string; severity?: Severity } = {}): DataIssue {
  const def = ISSUE_CODES[code];
  const issue: DataIssue = { code, severity: over.severity ?? def.severity, message, hint: over.hint ?? def.hint, file: at.file };
  for (const k of ["line", "row", "element", "column", "byte", "field"] as const) if (at[k] !== undefined) (issue as unknown as Record<string, unknown>)[k] = at[k];
  return issue;
}

/** A group of issues of one code (and one subject, e.g. one unknown role name), counted. */
export interface IssueSummary {
  code: string;
  severity: Severity;
  /** Issues in the group. */
  count: number;
  /** Rows (records) they sit on: one row with two bad fields counts once. File-level issues count one each. */
  rows: number;
  message: string;
  hint: string;
  first: DataIssue;
  /** The first few issues of the group (the first included). */
  examples: DataIssue[];
}

type Summarize = (rows: number, first: DataIssue) => Partial<IssueSummary>;
interface Group {
  count: number;
  rows: number;
  /** The row the group's last issue sat on, so a row's further issues do not count it again. */
  lastRow: string | null;
  kept: DataIssue[];
  summary?: Summarize;
}

/** Collects issues: counts every one (and the rows they sit on), keeps the first `perGroup` of each group for the report. */
export class IssueLog {
  private readonly groups = new Map<string, Group>();
  private readonly order: string[] = [];

  constructor(private readonly perGroup = 20) {}

  add(issue: DataIssue, group = "", summary?: Summarize): void {
    const key = `${issue.code}\u0000${group}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { count: 0, rows: 0, lastRow: null, kept: [], summary };
      this.groups.set(key, g);
      this.order.push(key);
    }
    g.count++;
    // Issues of one row arrive together (a row is checked whole), so comparing with the last row suffices.
    const row = issue.row !== undefined ? `${issue.file}\u0000r${issue.row}` : issue.line !== undefined ? `${issue.file}\u0000l${issue.line}` : null;
    if (row === null || row !== g.lastRow) g.rows++;
    g.lastRow = row;
    if (g.kept.length < this.perGroup) g.kept.push(issue);
  }

  /** Add everything another log collected (a file's log into the dataset's). */
  merge(other: IssueLog): void {
    for (const key of other.order) {
      const o = other.groups.get(key)!;
      const g = this.groups.get(key);
      if (!g) {
        this.groups.set(key, { ...o, kept: [...o.kept] });
        this.order.push(key);
      } else {
        g.count += o.count;
        g.rows += o.rows;
        g.lastRow = o.lastRow;
        g.kept.push(...o.kept.slice(0, Math.max(0, this.perGroup - g.kept.length)));
      }
    }
  }

  count(severity?: Severity): number {
    let n = 0;
    for (const g of this.groups.values()) if (!severity || g.kept[0]!.severity === severity) n += g.count;
    return n;
  }

  /** The kept issues, errors first, in the order they were found. */
  issues(): DataIssue[] {
    const all = this.order.flatMap((k) => this.groups.get(k)!.kept);
    return [...all.filter((i) => i.severity === "error"), ...all.filter((i) => i.severity === "warning")];
  }

  summaries(): IssueSummary[] {
    const out = this.order.map((k) => {
      const g = this.groups.get(k)!;
      const first = g.kept[0]!;
      const base: IssueSummary = { code: first.code, severity: first.severity, count: g.count, rows: g.rows, message: first.message, hint: first.hint, first, examples: g.kept.slice(0, 3) };
      return { ...base, ...g.summary?.(g.rows, first) };
    });
    return [...out.filter((s) => s.severity === "error"), ...out.filter((s) => s.severity === "warning")];
  }
}

/** `file:line:column` (or `file row N`, or `file: element N` for records that share a line) for messages. */
export function formatLocation(at: Location, base?: string): string {
  const file = base && at.file.startsWith(base) ? at.file.slice(base.length).replace(/^[\\/]/, "") || at.file : at.file;
  if (at.element !== undefined) return at.column !== undefined && at.line !== undefined ? `${file}:${at.line}:${at.column} (element ${at.element})` : `${file}: element ${at.element}`;
  if (at.line !== undefined) return `${file}:${at.line}${at.column !== undefined ? `:${at.column}` : ""}`;
  if (at.row !== undefined) return `${file} row ${at.row}`;
  return file;
}
