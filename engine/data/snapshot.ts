/**
 * The data snapshot a run trains on: the source file is read (never written), each row validated
 * and normalized to `{"messages": [...]}`, and the result stored in the run folder with the
 * source's sha256, so a run can be reproduced and audited after the source changes. This is the
 * spine's minimal reader (chat-messages JSONL); richer formats plug in here.
 */
import { createReadStream, statSync, mkdirSync, createWriteStream, renameSync } from "node:fs";
import { createHash } from "node:crypto";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { once } from "node:events";
import { writeJsonAtomic } from "../util/atomic";
import { WhetstoneError } from "../util/errors";

export const ROLES = ["system", "user", "assistant", "tool"] as const;

export interface SnapshotManifest {
  source: string;
  source_sha256: string;
  source_bytes: number;
  rows: number;
  notes: string[];
  created_at: string;
}

export interface SnapshotProgress {
  bytes: number;
  totalBytes: number;
  rows: number;
}

const MAX_REPORTED = 20;

export async function writeSnapshot(source: string, runDir: string, onProgress?: (p: SnapshotProgress) => void): Promise<SnapshotManifest> {
  const totalBytes = statSync(source).size;
  if (totalBytes === 0) {
    throw new WhetstoneError({ code: "DATA_EMPTY", message: `${source} is empty`, hint: "Add one conversation per line: {\"messages\": [...]}", where: source });
  }
  const dataDir = join(runDir, "data");
  mkdirSync(dataDir, { recursive: true });
  const outPath = join(dataDir, "train.jsonl");
  const tmpPath = `${outPath}.${process.pid}.tmp`;
  const out = createWriteStream(tmpPath);
  const hash = createHash("sha256");
  const notes: string[] = [];
  const problems: string[] = [];
  let problemCount = 0;
  let rows = 0;
  let bytes = 0;
  let lineNo = 0;

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
      notes.push("The file starts with a UTF-8 byte-order mark; it was ignored.");
    }
    if (line.trim() === "") continue;
    if (line.includes("\uFFFD")) {
      report(`line ${lineNo}: bytes that are not valid UTF-8`, "Save the file as UTF-8.");
      continue;
    }
    const problem = normalize(line);
    if (typeof problem === "string") {
      report(`line ${lineNo}: ${problem}`);
      continue;
    }
    rows++;
    if (!out.write(JSON.stringify(problem) + "\n")) await once(out, "drain");
    if (rows % 1000 === 0) onProgress?.({ bytes, totalBytes, rows });
  }
  out.end();
  await once(out, "finish");
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
  if (rows === 0) {
    throw new WhetstoneError({ code: "DATA_EMPTY", message: `${source} has no conversations`, hint: "Add one conversation per line.", where: source });
  }
  renameSync(tmpPath, outPath);
  const manifest: SnapshotManifest = {
    source,
    source_sha256: hash.digest("hex"),
    source_bytes: totalBytes,
    rows,
    notes,
    created_at: new Date().toISOString(),
  };
  writeJsonAtomic(join(dataDir, "manifest.json"), manifest);
  return manifest;

  function report(problem: string, _hint?: string) {
    problemCount++;
    if (problems.length < MAX_REPORTED) problems.push(problem);
  }
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
