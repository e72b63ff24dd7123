/** `whetstone bench`: lm-evaluation-harness on a run and its base, the table with deltas. */
import { benchPaths, formatBench } from "../bench/bench";
import type { BenchOptions } from "../bench/schema";
import { WhetstoneError } from "../util/errors";
import { defined, runFolder } from "./commands";
import { follow, settle } from "./eval-commands";
import { EXIT, type Client, type Io } from "./io";

export interface BenchValues {
  json?: boolean;
  tasks?: string;
  limit?: number;
  against?: string;
  "num-fewshot"?: number;
  "chat-template"?: boolean;
  "batch-size"?: number;
  "task-dir"?: string;
}

export async function benchCommand(engine: Client, ref: string, io: Io, values: BenchValues): Promise<number> {
  const tasks = (values.tasks ?? "").split(",").map((t) => t.trim()).filter(Boolean);
  if (tasks.length === 0) {
    throw new WhetstoneError({ code: "USAGE", message: "`whetstone bench` needs --tasks.", hint: "e.g. whetstone bench RUN --tasks arc_challenge,gsm8k --limit 200 (lm-eval's task names: mmlu, gsm8k, arc_challenge, hellaswag, ifeval, …)" });
  }
  if (values.against !== undefined && values.against !== "base") {
    throw new WhetstoneError({ code: "USAGE", message: `--against ${values.against}: benchmarks compare a run with its base only.`, hint: "Leave --against out (or pass base); benchmark the other run on its own and compare the two reports." });
  }
  const options: Partial<BenchOptions> = defined({ limit: values.limit, numFewshot: values["num-fewshot"], chatTemplate: values["chat-template"], batchSize: values["batch-size"], taskDir: values["task-dir"] });
  const { status, dir } = await engine.call("getRun", { id: ref });
  const runId = status.id;
  const progress = follow(engine, runId, io, "benchmark", "bench");
  io.out.write(`benchmarking ${runId} and its base on ${tasks.join(", ")}${values.limit ? ` (at most ${values.limit} documents per task)` : ""}\n`);
  const report = await settle(progress, io, "benchmark", engine.call("benchRun", { id: runId, tasks, ...options }));
  if (!report) return EXIT.cancelled;
  if (values.json) io.out.write(JSON.stringify(report, null, 2) + "\n");
  else io.out.write(`${formatBench(report)}\n\nreport: ${benchPaths(runFolder(dir), runId).json}\n`);
  return EXIT.ok;
}
