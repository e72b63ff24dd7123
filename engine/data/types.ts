/**
 * The shapes every part of dataset ingestion shares: what a reader yields (a raw record with its
 * location), what normalization produces (one of five sample kinds), and what validation reports
 * (an issue with file, line or row, field, and what to do).
 */

import { METHOD_TABLE, METHODS, type Method } from "../config/methods";

export const ROLES = ["system", "user", "assistant", "tool"] as const;
export type Role = (typeof ROLES)[number];
/** A function call an assistant turn makes, in the shape Hugging Face chat templates read. */
export interface ToolCall {
  type: "function";
  function: { name: string; arguments: unknown };
}
export interface Message {
  role: Role;
  content: string;
  /** Function calls of an assistant turn (OpenAI `tool_calls`, ShareGPT `function_call`). */
  tool_calls?: ToolCall[];
}

export const FORMATS = ["jsonl", "json", "csv", "tsv", "parquet"] as const;
export type FileFormat = (typeof FORMATS)[number];

export const SCHEMAS = ["chat", "sharegpt", "alpaca", "prompt_completion", "text", "preference", "unpaired", "prompt"] as const;
export type SchemaName = (typeof SCHEMAS)[number];

/** What a schema normalizes to; the snapshot stores one JSON object of that shape per line.
 *  `tools` (function schemas) travels with a sample to the chat template's `tools=`. */
export type SampleKind = "chat" | "text" | "preference" | "unpaired" | "prompt";
export type ChatSample = { messages: Message[]; tools?: unknown[] };
export type TextSample = { text: string };
export type PreferenceSample = { prompt: Message[]; chosen: Message[]; rejected: Message[]; tools?: unknown[] };
/** Unpaired preference (KTO): one conversation whose last answer is desirable (true) or not. */
export type UnpairedSample = { messages: Message[]; label: boolean; tools?: unknown[] };
/** A prompt to sample completions of (GRPO): the turns up to the user's, and the row's other fields
 *  by their names in the source (what rewards read, e.g. `answer`; `reference`: the row's own answer turn). */
export type PromptSample = { prompt: Message[]; fields: Record<string, unknown>; tools?: unknown[] };
export type Sample = ChatSample | TextSample | PreferenceSample | UnpairedSample | PromptSample;

export { METHODS, type Method } from "../config/methods";

/** The methods each kind of sample can train, the kind's own first (sft on unpaired data leaves the rows labelled false out). */
export const METHODS_FOR: Record<SampleKind, readonly Method[]> = {
  chat: methodsFor("chat"),
  preference: methodsFor("preference"),
  unpaired: methodsFor("unpaired"),
  prompt: methodsFor("prompt"),
  text: [],
};

function methodsFor(kind: SampleKind): Method[] {
  const trains = (m: Method) => (METHOD_TABLE[m].trains as readonly string[]).indexOf(kind);
  return METHODS.filter((m) => trains(m) >= 0).sort((a, b) => trains(a) - trains(b));
}

export function kindOf(schema: SchemaName): SampleKind {
  return schema === "text" || schema === "preference" || schema === "unpaired" || schema === "prompt" ? schema : "chat";
}

export function sampleKind(s: Sample): SampleKind {
  return "label" in s ? "unpaired" : "fields" in s ? "prompt" : "messages" in s ? "chat" : "text" in s ? "text" : "preference";
}

/** The turns of a sample (a pair's prompt and both answers, a grpo row's prompt); null for plain text. */
export function turnsOf(s: Sample): Message[] | null {
  if ("text" in s) return null;
  if ("fields" in s) return s.prompt;
  if ("messages" in s) return s.messages;
  return [...s.prompt, ...s.chosen, ...s.rejected];
}

/** Where something is: a file and, as far as known, its line (text formats) or row (Parquet). */
export interface Location {
  file: string;
  /** 1-based line where the record starts (JSONL, JSON, CSV/TSV). */
  line?: number;
  /** 1-based record number within the file (CSV data rows, Parquet rows, JSON elements). */
  row?: number;
  /** 1-based element of a JSON array, set when records share a line (a one-line file), where the line says little. */
  element?: number;
  /** 1-based character column (JSON syntax errors). */
  column?: number;
  /** 0-based byte offset in the file (encoding errors). */
  byte?: number;
  /** The field in the source's own names, e.g. `conversations[2].from` or `output`. */
  field?: string;
}

export type Severity = "error" | "warning";

export interface DataIssue extends Location {
  code: string;
  severity: Severity;
  message: string;
  hint: string;
}

/** One record as a reader yields it: a value to normalize, or the reason it could not be read. */
export interface RawRecord {
  file: string;
  line?: number;
  row: number;
  /** Set when the record shares its line with another (see Location.element). */
  element?: number;
  value?: unknown;
  /** Set when the record could not be parsed (syntax, encoding, size): the row is invalid. */
  issue?: DataIssue;
}

/** Options that steer reading and normalization (the config's data.format/schema/columns/roles). */
export interface IngestOptions {
  /** Force a file format instead of sniffing it from the extension and content. */
  format?: FileFormat;
  /** Force a schema instead of detecting it per row. */
  schema?: SchemaName;
  /** Rename source columns to the fields a schema uses, e.g. {question: "prompt", answer: "completion"}. */
  columns?: Record<string, string>;
  /** Map role names to roles, e.g. {hummany: "user", bot: "assistant"}. */
  roles?: Record<string, string>;
  /** Largest string field accepted, in characters (default 1,000,000). */
  maxFieldChars?: number;
  /** Largest line or record a reader buffers, in bytes (default 64 MiB). */
  maxRecordBytes?: number;
}

export interface ReadProgress {
  file: string;
  bytes: number;
  totalBytes: number;
  rows: number;
  elapsed_s: number;
  eta_s: number | null;
}
