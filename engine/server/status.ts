/**
 * Every error code the engine, the worker and the server can answer with, and its HTTP status.
 * One explicit entry per code, no prefix rules: a new code must be placed here deliberately, and
 * tests/engine/server/status.test.ts scans the sources (TypeScript `code: "…"`, the worker's
 * `WorkerError("…")`, the dataset issue table) and fails on any code missing from this table.
 *
 * Only INTERNAL (a bug in Whetstone) is a 5xx. Everything else is something the caller or the
 * machine's state can change, said in the error's message and hint:
 *   400  the request, or a file or folder it names, is wrong
 *   401/403  token, Host or Origin refused
 *   404  the run, file, model or method named does not exist
 *   409  the run or task is in a state that does not allow it (running, finished, taken)
 *   413  the request is too large
 *   422  well-formed, but this model, data or machine cannot do it (memory, disk, template)
 *   424  a process or service it depends on failed (the worker, the judge, the Hub)
 * 422 and 424 rather than 507/502/503 keep "5xx" meaning "a bug to report".
 */

export const STATUS_BY_CODE = {
  INTERNAL: 500,

  // The request itself.
  API_BAD_JSON: 400,
  API_BAD_REQUEST: 400,
  API_BAD_URL: 400,
  API_BAD_PATH: 400,
  API_SYSTEM_PATH: 403,
  API_PATH_NOT_FOUND: 404,
  API_UNKNOWN_METHOD: 404,
  API_NOT_FOUND: 404,
  API_TOO_LARGE: 413,
  METHOD_NOT_ALLOWED: 405,
  UNAUTHORIZED: 401,
  API_TOKEN_IN_URL: 401,
  FORBIDDEN_HOST: 403,
  FORBIDDEN_ORIGIN: 403,
  USAGE: 400,

  // Configs.
  CONFIG_INVALID: 400,
  CONFIG_MISSING: 400,
  CONFIG_SYNTAX: 400,
  CONFIG_NOT_FOUND: 404,
  INIT_FROM_INVALID: 400,
  INIT_FROM_BASE_MISMATCH: 422,
  INIT_FROM_NOT_READY: 409,
  NODES_INVALID: 400,

  // Datasets (the issue codes of engine/data/issues.ts and the loaders').
  DATA_INVALID: 400,
  DATA_EMPTY: 400,
  DATA_EMPTY_FILE: 400,
  DATA_BOM: 400,
  DATA_NOT_UTF8: 400,
  DATA_JSON_SYNTAX: 400,
  DATA_JSON_SHAPE: 400,
  DATA_CSV_SYNTAX: 400,
  DATA_CSV_COLUMNS: 400,
  DATA_PARQUET_READ: 400,
  DATA_UNSUPPORTED_FORMAT: 400,
  DATA_DECOMPRESS: 400,
  DATA_LINE_TOO_LARGE: 400,
  DATA_NOT_OBJECT: 400,
  DATA_UNKNOWN_SCHEMA: 400,
  DATA_MISSING_FIELD: 400,
  DATA_MIXED_SCHEMA: 400,
  DATA_UNKNOWN_ROLE: 400,
  DATA_CONTENT_NOT_STRING: 400,
  DATA_EMPTY_CONVERSATION: 400,
  DATA_NO_ASSISTANT: 400,
  DATA_EMPTY_ASSISTANT: 400,
  DATA_NOT_ENDING_WITH_ASSISTANT: 400,
  DATA_NOT_ENDING_WITH_USER: 400,
  DATA_CONSECUTIVE_ROLES: 400,
  DATA_EMPTY_FIELD: 400,
  DATA_FIELD_TYPE: 400,
  DATA_FIELD_TOO_LARGE: 400,
  DATA_EMPTY_PROMPT: 400,
  DATA_PAIR_PREFIX: 400,
  DATA_UNDESIRABLE: 400,
  DATA_TOOLS_NOT_RENDERED: 400,
  DATA_PAIR_IDENTICAL: 400,
  DATA_DUPLICATE: 400,
  DATA_NEAR_DUPLICATE: 400,
  DATA_TOO_LONG: 400,
  DATA_NO_TRAINED_TOKENS: 400,
  DATA_METHOD_MISMATCH: 400,
  // GRPO's rewards (the worker's rewards.py): a reward the config describes wrongly, a row without the
  // field it reads, a reward file that is missing or raises.
  REWARD_INVALID: 400,
  REWARD_MISSING: 400,
  REWARD_FIELD_MISSING: 400,
  REWARD_FIELD_INVALID: 400,
  REWARD_FILE_NOT_FOUND: 404,
  REWARD_FAILED: 422,
  DATA_BAD_MAPPING: 400,
  DATA_INDEX: 400,
  DATA_JUDGMENTS: 400,
  DATA_SKIPPED_ENTRY: 400,
  DATA_SHARD_MISSING: 400,
  DATA_LEADING_ASSISTANT: 400,
  DATA_UNREADABLE: 403,
  DATA_NOT_FOUND: 404,
  DATA_UPLOAD_TOO_LARGE: 413,
  DATA_TEMPLATE_ERROR: 422,
  TEMPLATE_ERROR: 422,
  TEMPLATE_MISSING: 422,
  GOLDFISH_TABLE: 424,

  // Runs and their tasks.
  RUN_NOT_FOUND: 404,
  RUN_ID_INVALID: 400,
  RUN_DAMAGED: 422,
  RUN_AMBIGUOUS: 409,
  RUN_ACTIVE: 409,
  SWEEP_NOT_FOUND: 404,
  SWEEP_AMBIGUOUS: 400,
  SWEEP_INVALID: 400,
  SWEEP_GRID_INVALID: 400,
  SWEEP_ACTIVE: 409,
  SWEEP_COMPLETED: 409,
  SWEEP_NOT_OURS: 409,
  SWEEP_FAILED: 424,
  RUN_COMPLETED: 409,
  RUN_NOT_RESUMABLE: 409,
  RUN_NOT_READY: 409,
  RUN_NOT_EXPORTABLE: 409,
  RUN_NOT_AUDITABLE: 409,
  TASK_RUNNING: 409,
  AUDIT_RUNNING: 409,
  CANCELLED: 409,
  CHECKPOINT_CORRUPT: 422,
  PREFLIGHT_DOES_NOT_FIT: 422,
  PREFLIGHT_UNSUPPORTED: 422,
  NON_FINITE_LOSS: 422,
  OUT_OF_MEMORY: 422,
  DISK_FULL: 422,

  // The folder browser (listFolders).
  FOLDER_NOT_FOUND: 404,
  FOLDER_OUTSIDE_ROOTS: 403,

  // Models, exports, merges, generation, evaluation.
  MODEL_NOT_FOUND: 404,
  MODEL_NOT_CACHED: 404,
  MODEL_UNREADABLE: 422,
  MODEL_NO_TOKENIZER: 422,
  MODEL_LOAD_FAILED: 422,
  MODEL_CUSTOM_CODE: 422,
  MODEL_UNSUPPORTED: 422,
  EXPORT_INVALID: 400,
  EXPORT_EXISTS: 409,
  EXPORT_UNSUPPORTED: 422,
  EXPORT_WRITE_FAILED: 422,
  EXPORT_BAD_RESULT: 424,
  AUDIT_BAD_REPORT: 424,
  MERGE_INVALID: 400,
  MERGE_EXISTS: 409,
  MERGE_MISMATCH: 422,
  MERGE_DIFFERENT_BASES: 422,
  GENERATE_INVALID: 400,
  EVAL_PROMPTS_INVALID: 400,
  EVAL_NO_PROMPTS: 400,
  EVAL_PROMPTS_NOT_FOUND: 404,

  // Benchmarks (lm-evaluation-harness).
  BENCH_RUNNING: 409,
  BENCH_UNKNOWN_TASK: 400,
  BENCH_TASK_FAILED: 422,
  BENCH_UNAVAILABLE: 424,
  BENCH_DEPENDENCY_MISSING: 424,
  BENCH_DATA_OFFLINE: 503,  // the network is not there now: try again when connected
  BENCH_BAD_REPORT: 424,

  // Data synthesis (whetstone synth).
  SYNTH_INVALID: 400,
  SYNTH_RUNNING: 409,
  SYNTH_NO_SEEDS: 400,
  SYNTH_SEEDS_NOT_FOUND: 404,
  SYNTH_OUT_INVALID: 400,
  SYNTH_OUT_MISMATCH: 409,
  SYNTH_TEMPLATE_UNSUPPORTED: 422,
  SYNTH_TAXONOMY_INVALID: 400,
  SYNTH_TAXONOMY_NOT_FOUND: 404,
  SYNTH_SYLLABUS_INVALID: 400,
  SYNTH_TAXONOMY_NOT_COPIED: 403,

  // Self-bootstrapped rounds (whetstone rounds).
  ROUNDS_INVALID: 400,
  ROUNDS_NO_PROMPTS: 400,
  ROUNDS_NOT_FOUND: 404,
  ROUNDS_AMBIGUOUS: 400,
  ROUNDS_ACTIVE: 409,
  ROUNDS_COMPLETED: 409,
  ROUNDS_NOT_OURS: 409,
  ROUNDS_NO_DATA: 422,
  ROUNDS_NO_PAIRS: 422,
  ROUNDS_DATA_INVALID: 422,
  ROUNDS_RUN_FAILED: 424,
  ROUNDS_FAILED: 424,

  // The judge.
  JUDGE_NOT_FOUND: 404,
  JUDGE_CONTEXT: 422,
  JUDGE_NO_TEMPLATE: 422,
  JUDGE_TOKENS: 422,
  JUDGE_UNSUPPORTED: 422,
  JUDGE_NO_LOGPROBS: 422,
  JUDGE_CHECKSUM: 424,
  JUDGE_OFFLINE: 503,  // the network or the judge's server is not there now: try again later
  JUDGE_DOWNLOAD_FAILED: 424,
  JUDGE_UNREACHABLE: 503,  // the network or the judge's server is not there now: try again later
  JUDGE_ENDPOINT_ERROR: 424,
  JUDGE_LOAD_FAILED: 424,
  JUDGE_FAILED: 424,

  // The Hugging Face Hub and the keychain.
  HUB_NOT_FOUND: 404,
  HUB_REVISION_NOT_FOUND: 404,
  HUB_DISK_FULL: 422,
  HUB_GATED: 424,
  HUB_UNAUTHORIZED: 424,
  HUB_OFFLINE: 503,  // the network or the judge's server is not there now: try again later
  HUB_HTTP_ERROR: 424,
  HUB_VERIFY_FAILED: 424,
  HUB_TOKEN_MISSING: 422,
  HUB_REPO_NOT_OURS: 403,
  HUB_WRITE_DENIED: 403,
  HUB_REPO_PUBLIC: 409,
  HUB_PUSH_FAILED: 424,
  PUSH_BAD_RESULT: 424,
  TOKEN_INVALID: 400,
  KEYCHAIN_UNAVAILABLE: 422,
  KEYCHAIN_FAILED: 422,

  // The worker process.
  WORKER_MISSING: 424,
  WORKER_START_FAILED: 424,
  WORKER_NO_HELLO: 424,
  WORKER_CRASHED: 424,
  ENGINE_ERROR: 424,
  WORKER_EXITED: 424,
  WORKER_GONE: 424,
  WORKER_KILLED: 424,
  WORKER_STOPPED: 424,
  PROTOCOL_MISMATCH: 424,
  PROTOCOL_ERROR: 424,
  ENGINE_EXITED: 424,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof STATUS_BY_CODE;

export function isMappedCode(code: string): code is ErrorCode {
  return Object.prototype.hasOwnProperty.call(STATUS_BY_CODE, code);
}

/** The HTTP status for an error code; an unmapped code is a bug in this table (500, and logged by the caller). */
export function statusFor(code: string): number {
  return isMappedCode(code) ? STATUS_BY_CODE[code] : 500;
}
