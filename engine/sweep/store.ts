/**
 * Sweeps on disk: <home>/sweeps/<id>/sweep.json (the whole state, written atomically after every
 * change) and, once judged, sweep.md beside it. Trials are ordinary runs in <home>/runs; the sweep
 * names them. A sweep whose driving process died while it ran reads as `interrupted`, and resumes.
 */
import { StateStore } from "../util/state-store";
import { SweepStatusSchema, type SweepStatus } from "./schema";

export class SweepStore extends StateStore<SweepStatus> {
  constructor(home: string) {
    super(home, {
      folder: "sweeps",
      file: "sweep.json",
      report: "sweep.md",
      schema: SweepStatusSchema as unknown as import("zod").ZodType<SweepStatus>,
      active: ["running", "judging"],
      noun: "sweep",
      notFound: "SWEEP_NOT_FOUND",
      ambiguous: "SWEEP_AMBIGUOUS",
      listHint: "`whetstone sweeps` lists the sweeps.",
    });
  }
}
