/**
 * The engine's rounds methods (startRounds, getRounds, listRounds, awaitRounds, resumeRounds,
 * cancelRounds): the loops this engine drives, their state on disk, and the switch that cancels
 * each. Kept out of engine.ts, which only hands the calls on.
 */
import type { ApiInput } from "../api/contract";
import { WhetstoneError } from "../util/errors";
import { resolveInitFrom } from "../runs/lineage";
import { planRounds, type NewRounds } from "./plan";
import { driveRounds, newRoundsStatus, type RoundsHost } from "./rounds";
import type { RoundsSpec, RoundsStatus } from "./schema";
import { RoundsStore } from "./store";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class RoundsService {
  private readonly store: RoundsStore;
  private readonly drivers = new Map<string, { done: Promise<RoundsStatus>; abort: AbortController }>();

  constructor(
    private readonly host: RoundsHost,
    home: string,
    private readonly publish: (s: RoundsStatus) => void,
  ) {
    this.store = new RoundsStore(home);
  }

  /** Plan the loop (its block, prompts and round config checked), write it, and start driving it. */
  async start(input: ApiInput<"startRounds">): Promise<RoundsStatus> {
    const { raw, baseDir, configPath, lineOf, defaultName } = (await import("../config/file")).readRawConfig(input, "startRounds", "rounds");
    const { rounds: block, sweep: _sweep, ...rest } = raw;
    const name = input.name ?? (typeof rest.name === "string" && NAME.test(rest.name) ? rest.name : defaultName);
    const request: NewRounds = { raw: rest, baseDir, configPath, name, block, overrides: (input.spec ?? {}) as Partial<RoundsSpec>, lineOf };
    const plan = planRounds(request);
    // A loop that starts from a finished run: it must be completed and trained on this config's model.
    const startRun = plan.startFrom !== null ? resolveInitFrom(this.host.store, plan.startFrom, plan.baseModel).run : null;
    const status = this.store.save({ ...newRoundsStatus(this.store, request, plan), start_run: startRun });
    this.publish(status);
    this.drive(status.id);
    return status;
  }

  private drive(id: string): void {
    const abort = new AbortController();
    const done = driveRounds(this.host, this.store, id, this.publish, abort.signal).finally(() => this.drivers.delete(id));
    this.drivers.set(id, { done, abort });
  }

  get(ref: string): RoundsStatus {
    return this.store.get(this.store.resolve(ref));
  }

  list(): RoundsStatus[] {
    return this.store.list();
  }

  async wait(ref: string): Promise<RoundsStatus> {
    const id = this.store.resolve(ref);
    return (await this.drivers.get(id)?.done) ?? this.store.get(id);
  }

  resume(ref: string): RoundsStatus {
    const id = this.store.resolve(ref);
    const status = this.store.get(id);
    if (this.drivers.has(id) || status.state === "running") {
      throw new WhetstoneError({ code: "ROUNDS_ACTIVE", message: `Rounds ${id} are running${status.owner_pid ? ` (process ${status.owner_pid})` : ""}.`, hint: "Wait for them, or cancel them first." });
    }
    if (status.state === "completed") throw new WhetstoneError({ code: "ROUNDS_COMPLETED", message: `Rounds ${id} have already completed: ${status.stopped ?? "every round ran"}.`, hint: "Start new rounds (from the best round's run: init_from) to go further." });
    const running = this.store.save({ ...status, state: "running", owner_pid: process.pid, finished_at: null, error: null });
    this.publish(running);
    this.drive(id);
    return running;
  }

  async cancel(ref: string): Promise<RoundsStatus> {
    const id = this.store.resolve(ref);
    const driver = this.drivers.get(id);
    if (!driver) {
      const status = this.store.get(id);
      if (status.state !== "running") return status;
      throw new WhetstoneError({ code: "ROUNDS_NOT_OURS", message: `Rounds ${id} are driven by another Whetstone process (pid ${status.owner_pid}).`, hint: "Cancel them there (Ctrl-C in its terminal)." });
    }
    driver.abort.abort();
    return driver.done;
  }

  /** Cancel every loop this engine drives and wait for them (the engine is closing). */
  async close(): Promise<void> {
    for (const { abort } of this.drivers.values()) abort.abort();
    await Promise.all([...this.drivers.values()].map((d) => d.done.catch(() => undefined)));
  }
}
