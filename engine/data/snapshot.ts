/**
 * The data snapshot a run trains on: the source file is read (never written), each row validated
 * and normalized to `{"messages": [...]}`, and the result stored in the run folder with the
 * source's sha256, so a run can be reproduced and audited after the source changes. This is the
 * spine's minimal reader (chat-messages JSONL); richer formats plug in here.
 */
import { createReadStream, statSync, mkdirSync, createWriteStream, renameSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { once } from "node:events";
import { writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";

export const ROLES = ["system", "user", "assistant", "tool"] as const;

export interface SourceInfo {
  source: string;
  source_sha256: string;
  source_bytes: number;
  rows: number;
}

export interface SnapshotManifest extends SourceInfo {
  /** Held-out conversations: from data.validation, or split off train (then `split` says how). */
  validation: (SourceInfo & { split: { fraction: number; seed: number } | null }) | null;
  notes: string[];
  created_at: string;
}

export interface SnapshotProgress {
  bytes: number;
  totalBytes: number;
  rows: number;
}

export interface SnapshotOptions {
  validation?: string | null;
  validationSplit?: number;
  seed?: number;
  onProgress?: (p: SnapshotProgress) => void;
}

const MAX_REPORTED = 20;
type Row = { messages: Message[] };

/**
 * Write data/train.jsonl (and data/validation.jsonl) for a run. A split sends each conversation to
 * validation when a seeded hash of its content falls under the fraction: independent of file order,
 * and exact duplicates always land on the same side, so none leaks from train into validation.
 */
export async function writeSnapshot(source: string, runDir: string, opts: SnapshotOptions = {}): Promise<SnapshotManifest> {
  const dataDir = join(runDir, "data");
  mkdirSync(dataDir, { recursive: true });
  const notes: string[] = [];
  const train = new JsonlOut(join(dataDir, "train.jsonl"));
  const split = opts.validation ? 0 : (opts.validationSplit ?? 0);
  const seed = opts.seed ?? 0;
  const held = split > 0 || opts.validation ? new JsonlOut(join(dataDir, "validation.jsonl")) : undefined;
  let heldRows = 0;
  const info = await readConversations(source, notes, opts.onProgress, async (row) => {
    if (held && split > 0 && splitFraction(seed, row) < split) {
      heldRows++;
      await held.write(row);
    } else await train.write(row);
  });
  let validation: SnapshotManifest["validation"] = null;
  if (held && opts.validation) {
    const v = await readConversations(opts.validation, notes, undefined, (row) => held.write(row));
    validation = { ...v, split: null };
  } else if (held) {
    validation = { ...info, rows: heldRows, split: { fraction: split, seed } };
  }
  const trainRows = info.rows - (split > 0 ? heldRows : 0);
  if (trainRows === 0 || (validation && validation.rows === 0)) {
    await Promise.all([train.abort(), held?.abort()]);
    const which = trainRows === 0 ? "training" : "validation";
    throw new WhetstoneError({
      code: "DATA_EMPTY",
      message: `The ${which} set is empty after splitting ${info.rows} conversations with validation_split ${split}.`,
      hint: "Use more data or a different data.validation_split.",
      where: source,
    });
  }
  await Promise.all([train.commit(), held?.commit()]);
  const manifest: SnapshotManifest = { ...info, rows: trainRows, validation, notes, created_at: new Date().toISOString() };
  writeJsonAtomic(join(dataDir, "manifest.json"), manifest);
  return manifest;
}

function splitFraction(seed: number, row: Row): number {
  return parseInt(createHash("sha256").update(`${seed}\n${JSON.stringify(row)}`).digest("hex").slice(0, 8), 16) / 2 ** 32;
}

/** A JSONL file written to a temp path and renamed into place only when complete. */
class JsonlOut {
  private readonly tmp: string;
  private readonly out;
  constructor(private readonly path: string) {
    this.tmp = `${path}.${process.pid}.tmp`;
    this.out = createWriteStream(this.tmp);
  }
  async write(row: Row): Promise<void> {
    if (!this.out.write(JSON.stringify(row) + "\n")) await once(this.out, "drain");
  }
  async commit(): Promise<void> {
    this.out.end();
    await once(this.out, "finish");
    renameSync(this.tmp, this.path);
  }
  async abort(): Promise<void> {
    this.out.end();
    await once(this.out, "finish");
    rmSync(this.tmp, { force: true });
  }
}

/** Stream a conversations file, validating each row; throws with every problem's line if any. */
async function readConversations(source: string, notes: string[], onProgress: SnapshotOptions["onProgress"], onRow: (row: Row) => Promise<void>): Promise<SourceInfo> {
  const totalBytes = statSync(source).size;
  if (totalBytes === 0) {
    throw new WhetstoneError({ code: "DATA_EMPTY", message: `${source} is empty`, hint: "Add one conversation per line: {\"messages\": [...]}", where: source });
  }
  const hash = createHash("sha256");
  const problems: string[] = [];
  let problemCount = 0;
  let rows = 0;
  let bytes = 0;
  let lineNo = 0;
  const report = (problem: string) => {
    problemCount++;
    if (problems.length < MAX_REPORTED) problems.push(problem);
  };

  const input = createReadStream(source);
  input.on("data", (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  const lines = createInterface({ input, crlfDelay: Infinity });
  for await (let line of lines) {
    lineNo++;
    if (lineNo === 1 && line.startsWith("\uFEFF")) {
      line = line.slice(1);
      notes.push(`${source} starts with a UTF-8 byte-order mark; it was ignored.`);
    }
    if (line.trim() === "") continue;
    if (line.includes("\uFFFD")) {
      report(`line ${lineNo}: bytes that are not valid UTF-8 (save the file as UTF-8)`);
      continue;
    }
    const row = normalize(line);
    if (typeof row === "string") {
      report(`line ${lineNo}: ${row}`);
      continue;
    }
    rows++;
    await onRow(row);
    if (rows % 1000 === 0) onProgress?.({ bytes, totalBytes, rows });
  }
  onProgress?.({ bytes: totalBytes, totalBytes, rows });
  if (problemCount > 0) {
    throw new WhetstoneError({
      code: "DATA_INVALID",
      message: `${source}: ${problemCount} invalid row${problemCount === 1 ? "" : "s"}; first: ${problems[0]}`,
      hint: 'Each line must be a JSON object {"messages": [{"role": "user"|"assistant"|"system"|"tool", "content": "..."}]} with at least one assistant turn.',
      where: source,
      details: problems.length > 1 ? [...problems, ...(problemCount > problems.length ? [`… and ${problemCount - problems.length} more`] : [])] : undefined,
    });
  }
  if (rows === 0) throw new WhetstoneError({ code: "DATA_EMPTY", message: `${source} has no conversations`, hint: "Add one conversation per line.", where: source });
  return { source, source_sha256: hash.digest("hex"), source_bytes: totalBytes, rows };
}

type Message = { role: string; content: string };

/** A normalized row, or what is wrong with it. */
function normalize(line: string): { messages: Message[] } | string {
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (e) {
    const pos = /position (\d+)/.exec(String((e as Error).message));
    return `malformed JSON${pos ? ` at column ${Number(pos[1]) + 1}` : ""}: ${(e as Error).message.split("\n")[0]}`;
  }
  if (row === null || typeof row !== "object" || Array.isArray(row)) return "expected a JSON object";
  const messages = (row as { messages?: unknown }).messages;
  if (!Array.isArray(messages)) return "field 'messages' is missing or not a list";
  if (messages.length === 0) return "field 'messages' is empty";
  const out: Message[] = [];
  for (const [i, m] of messages.entries()) {
    if (m === null || typeof m !== "object") return `messages[${i}] is not an object`;
    const { role, content } = m as { role?: unknown; content?: unknown };
    if (typeof role !== "string" || !(ROLES as readonly string[]).includes(role)) {
      return `messages[${i}].role is ${JSON.stringify(role)}; expected one of ${ROLES.join(", ")}`;
    }
    if (typeof content !== "string") return `messages[${i}].content must be a string`;
    out.push({ role, content });
  }
  if (!out.some((m) => m.role === "assistant" && m.content.trim() !== "")) return "no non-empty assistant turn to train on";
  return { messages: out };
}
