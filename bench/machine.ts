/** A short description of the machine a benchmark ran on, stored with every result. */
import { cpus, totalmem, platform, release } from "node:os";
import { execFileSync } from "node:child_process";
import { workerPython, WORKER_DIR } from "../engine/paths";

export function describeMachine(): Record<string, unknown> {
  const cpu = cpus();
  let torch = "unknown";
  try {
    torch = execFileSync(workerPython(), ["-c", "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"], { cwd: WORKER_DIR, encoding: "utf8" }).trim();
  } catch {
    /* reported as unknown */
  }
  return { platform: `${platform()} ${release()}`, cpu: cpu[0]?.model ?? "?", cores: cpu.length, memory_gib: Math.round(totalmem() / 2 ** 30), torch, node: process.version, date: new Date().toISOString() };
}
