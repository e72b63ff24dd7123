/**
 * What the UI may import from the engine, besides the contract (contract.ts) and its events
 * (events.ts): the shapes of the API's answers and the tables the UI shows (methods, their settings,
 * export formats). The renderer imports from engine/api/ only (tests/renderer/imports.test.ts), so
 * the engine's folders can move without the UI noticing.
 */
export type { DatasetReport, SamplePreview } from "../data/report";
export type { AuditReport } from "../audit/schema";
export type { BenchReport, BenchRow } from "../bench/schema";
export { BENCH_PRESETS, changeLevel } from "../bench/schema";
export type { CompareReport, EvalReport } from "../eval/schema";
export type { ExportRecord } from "../export/schema";
export { EXPORT_FORMATS, GGUF_QUANTIZATIONS } from "../export/schema";
export type { PushRecord } from "../push/schema";
export { PUSH_FORMATS } from "../push/schema";
export { isHubId } from "../models/hub-id";
export type { RunStatus } from "../runs/types";
export type { TaskKind } from "../jobs/kinds";
export type { JudgeTrust } from "../judge/trust";
export { GoldfishSchema, RewardSchema, RunConfigSchema, type Reward, type RewardInput } from "../config/schema";
export { GRPO_LOSS_TYPES, GRPO_SCALE_REWARDS, METHOD_TABLE, PAIR_METHODS, PREFERENCE_FIELDS, PREFERENCE_METHODS, dataKindFor, hasSftTerm, trainsOnSeveralDevices } from "../config/methods";
export type { EarlyStopRule, SettingValue, SweepSpec, SweepStatus, Trial } from "../sweep/schema";
export { applySettings } from "../sweep/grid";
export type { Match, Round, RoundsSpec, RoundsStatus, StopMetric } from "../rounds/schema";
export { roundModel } from "../rounds/schema";
