/**
 * The path-like arguments of API calls, checked before the engine sees them: run references,
 * files and folders to read, folders to write. The contract (engine/api/contract.ts) checks types;
 * this checks what the strings point at, for the two doors untrusted callers come through (the
 * loopback server and the Electron IPC bridge). The CLI calls the engine in-process with the
 * user's own arguments and does not come through here.
 *
 * Run references are ids or names, never paths: letters, digits, '.', '_', '-', starting with a
 * letter or digit, so `../../other/runs/X` cannot be joined onto the runs folder.
 */
import { homedir } from "node:os";
import { isAbsolute, resolve } from "node:path";
import { WhetstoneError } from "../util/errors";
import { isHubId } from "../models/hub";
import { checkOutputFolder, checkReadablePath, type PathKind } from "./path-checks";

const RUN_REF = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

type Field =
  | { name: string; as: "run"; except?: string }
  | { name: string; as: "runs" }
  | { name: string; as: "read"; kind: PathKind; orUrl?: boolean }
  /** A list of paths to read, each checked as `read` is. */
  | { name: string; as: "reads"; kind: PathKind }
  | { name: string; as: "write" }
  | { name: string; as: "config" }
  | { name: string; as: "revision" }
  /** An object whose own fields are checked (a sweep's spec: its judge and prompts). */
  | { name: string; as: "nested"; fields: Field[] };

const id: Field = { name: "id", as: "run" };
const judging: Field[] = [
  { name: "prompts", as: "read", kind: "file" },
  { name: "judge", as: "read", kind: "folder", orUrl: true },
];
const configInput: Field[] = [{ name: "configPath", as: "read", kind: "file" }, { name: "baseDir", as: "read", kind: "folder" }, { name: "config", as: "config" }];

/** The path-like fields of each method (methods not listed have none). */
export const PATH_ARGUMENTS: Record<string, Field[]> = {
  getRun: [id],
  awaitRun: [id],
  getMetrics: [id],
  getLog: [id],
  getSamples: [id],
  resumeRun: [id],
  cancelRun: [id],
  cancelTask: [id],
  auditRun: [id, { name: "embeddingModel", as: "read", kind: "folder" }],
  getAudit: [id],
  exportRun: [id, { name: "out", as: "write" }],
  getExports: [id],
  cancelExport: [id],
  pushRun: [id],
  getPushes: [id],
  benchRun: [id],
  getBench: [id],
  evalRun: [id, { name: "against", as: "run", except: "base" }, ...judging],
  getEval: [id, { name: "against", as: "run", except: "base" }],
  compareRuns: [{ name: "ids", as: "runs" }, ...judging],
  getComparison: [id],
  scoreJudgments: [{ name: "path", as: "read", kind: "file" }],
  generate: [id],
  mergeRuns: [{ name: "ids", as: "runs" }, ...judging],
  cancelEval: [id],
  inspectDataset: [{ name: "path", as: "read", kind: "file or folder" }, { name: "model", as: "read", kind: "folder" }],
  previewDataset: [{ name: "path", as: "read", kind: "file or folder" }, { name: "model", as: "read", kind: "folder" }],
  createRun: configInput,
  planRun: configInput,
  preflightRun: configInput,
  // The hub client names cache files after the revision (refs/<revision>): a branch, tag or commit, never a path.
  pullModel: [{ name: "revision", as: "revision" }],
  // Sweep ids are named like run ids (a stamp, a name, 4 hex digits): checked the same way.
  startSweep: [...configInput, { name: "spec", as: "nested", fields: judging }],
  getSweep: [id],
  awaitSweep: [id],
  resumeSweep: [id],
  cancelSweep: [id],
  synthData: [
    { name: "out", as: "write" },
    { name: "model", as: "read", kind: "folder" },
    { name: "run", as: "run" },
    { name: "seeds", as: "read", kind: "file or folder" },
    { name: "evalPrompts", as: "read", kind: "file or folder" },
    { name: "evalRun", as: "run" },
    { name: "taxonomy", as: "read", kind: "file" },
    { name: "responderModels", as: "reads", kind: "folder" },
    { name: "responderRuns", as: "runs" },
    { name: "judge", as: "read", kind: "folder", orUrl: true },
  ],
  cancelSynth: [{ name: "out", as: "write" }],
  copySynthTaxonomy: [{ name: "out", as: "write" }],
  // Rounds ids are named like run ids; a rounds block's paths are checked with the config's (checkConfigPaths).
  startRounds: [
    ...configInput,
    {
      name: "spec",
      as: "nested",
      fields: [...judging, { name: "synth", as: "nested", fields: ["seeds", "evalPrompts", "eval_prompts"].map((name): Field => ({ name, as: "read", kind: "file or folder" })) }],
    },
  ],
  getRounds: [id],
  awaitRounds: [id],
  resumeRounds: [id],
  cancelRounds: [id],
};

/** A caller's string as an error message may quote it: control characters shown as '?', at most 80 characters. */
function shown(value: string): string {
  const clean = value.replace(/[\x00-\x1f\x7f]/g, "?");
  return clean.length > 80 ? `${clean.slice(0, 80)}…` : clean;
}

export function checkRunRef(value: string, where: string): void {
  if (!RUN_REF.test(value)) {
    throw new WhetstoneError({
      code: "RUN_ID_INVALID",
      message: `${where}: '${shown(value)}' is not a run id or name (runs are named by letters, digits, '.', '_' and '-', never by a path).`,
      hint: "Use a run id or name as the run list shows it.",
      where,
    });
  }
}

export interface ArgumentContext {
  /** The engine's data folder (WHETSTONE_HOME): never an export destination, nor any folder above it. */
  home: string;
}

/** Check the path-like arguments of `method`'s payload; throws a 4xx WhetstoneError naming the field. */
export function checkApiArguments(method: string, payload: unknown, ctx: ArgumentContext): void {
  const fields = PATH_ARGUMENTS[method];
  if (!fields || typeof payload !== "object" || payload === null) return; // the contract reports wrong shapes
  checkFields(method, fields, payload as Record<string, unknown>, ctx, "");
}

function checkFields(method: string, fields: Field[], input: Record<string, unknown>, ctx: ArgumentContext, prefix: string): void {
  const baseDir = typeof input.baseDir === "string" && isAbsolute(input.baseDir) ? input.baseDir : undefined;
  for (const field of fields) {
    const value = input[field.name];
    const where = `${method}: ${prefix}${field.name}`;
    if (field.as === "nested") {
      if (typeof value === "object" && value !== null) checkFields(method, field.fields, value as Record<string, unknown>, ctx, `${prefix}${field.name}.`);
      continue;
    }
    if (field.as === "runs") {
      if (Array.isArray(value)) value.forEach((v, i) => typeof v === "string" && v !== "" && checkRunRef(v, `${where}[${i}]`));
      continue;
    }
    if (field.as === "reads") {
      if (Array.isArray(value)) value.forEach((v, i) => typeof v === "string" && v !== "" && checkReadablePath(v, { where: `${where}[${i}]`, kind: field.kind }));
      continue;
    }
    if (field.as === "config") {
      if (typeof value === "object" && value !== null) checkConfigPaths(value as Record<string, unknown>, `${method}: config`, baseDir);
      continue;
    }
    if (typeof value !== "string" || value === "") continue; // the contract says what is missing
    if (field.as === "revision") {
      if (!/^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$/.test(value) || value.split("/").includes("..") || value.includes("//")) {
        throw new WhetstoneError({ code: "API_BAD_REQUEST", message: `${where}: '${shown(value)}' is not a branch, tag or commit.`, hint: "Give a revision as the Hub shows it, e.g. main, v1.0 or a commit hash.", where });
      }
    } else if (field.as === "run") {
      if (value !== field.except) checkRunRef(value, where);
    } else if (field.as === "write") {
      checkOutputFolder(value, { where, kind: "folder" }, [homedir(), ctx.home]);
    } else if (!(field.orUrl && /^https?:\/\//i.test(value))) {
      checkReadablePath(value, { where, kind: field.kind });
    }
  }
}

/**
 * A run config object's paths: model.path, data.train, data.validation, and init_from when it is a
 * folder. model.path and data.train may also be hub ids (`org/name`), which the config validator
 * looks up in the Hugging Face cache: those are not paths and pass.
 */
function checkConfigPaths(config: Record<string, unknown>, where: string, baseDir: string | undefined): void {
  const at = (p: unknown) => (typeof p !== "string" || isAbsolute(p) ? p : baseDir ? resolve(baseDir, p) : isHubId(p) ? undefined : p);
  const model = config.model as Record<string, unknown> | undefined;
  const data = config.data as Record<string, unknown> | undefined;
  const reads: [unknown, string, PathKind][] = [
    [model?.path, "model.path", "folder"],
    [data?.train, "data.train", "file or folder"],
    [data?.validation, "data.validation", "file or folder"],
  ];
  const sweep = config.sweep as Record<string, unknown> | undefined;
  if (typeof sweep?.prompts === "string") reads.push([sweep.prompts, "sweep.prompts", "file"]);
  if (typeof sweep?.judge === "string" && !/^https?:\/\//i.test(sweep.judge)) reads.push([sweep.judge, "sweep.judge", "folder"]);
  const rounds = config.rounds as Record<string, unknown> | undefined;
  if (typeof rounds?.prompts === "string") reads.push([rounds.prompts, "rounds.prompts", "file"]);
  if (typeof rounds?.judge === "string" && !/^https?:\/\//i.test(rounds.judge)) reads.push([rounds.judge, "rounds.judge", "folder"]);
  const synth = rounds?.synth as Record<string, unknown> | undefined;
  for (const key of ["seeds", "eval_prompts", "evalPrompts"]) if (typeof synth?.[key] === "string") reads.push([synth[key], `rounds.synth.${key}`, "file or folder"]);
  const init = config.init_from;
  if (typeof init === "string") {
    if (/[\\/]/.test(init)) reads.push([init, "init_from", "folder"]);
    else checkRunRef(init, `${where}.init_from`);
  }
  for (const [value, name, kind] of reads) {
    const v = at(value);
    if (typeof v === "string" && v !== "") checkReadablePath(v, { where: `${where}.${name}`, kind }, { mustExist: false });
  }
}
