/**
 * A run's list of records in a JSON file (reports/exports.json, reports/pushes.json): read back (empty
 * when there is none yet) and appended to by rewriting the file atomically, so a crash never leaves a
 * torn list.
 */
import { existsSync, readFileSync } from "node:fs";
import { writeJsonAtomic } from "./atomic";

/** A JSON file's value, or null when there is no such file. */
export function readJson(path: string): unknown {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as unknown) : null;
}

export function readRecords<T>(path: string): T[] {
  const stored = readJson(path);
  return Array.isArray(stored) ? (stored as T[]) : [];
}

export function appendRecord<T>(path: string, record: T): T {
  writeJsonAtomic(path, [...readRecords<T>(path), record]);
  return record;
}
