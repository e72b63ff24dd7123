/**
 * Rounds on disk: <home>/rounds/<id>/rounds.json (the whole state, written atomically after every
 * change), round-<r>.jsonl (each round's synthesized data) and rounds.md (the report). Each round's
 * training is an ordinary run in <home>/runs. A loop whose driving process died reads as
 * `interrupted`, and resumes.
 */
import { join } from "node:path";
import { StateStore } from "../util/state-store";
import { RoundsStatusSchema, type RoundsStatus } from "./schema";

export class RoundsStore extends StateStore<RoundsStatus> {
  constructor(home: string) {
    super(home, {
      folder: "rounds",
      file: "rounds.json",
      report: "rounds.md",
      schema: RoundsStatusSchema as unknown as import("zod").ZodType<RoundsStatus>,
      active: ["running"],
      noun: "round loop",
      notFound: "ROUNDS_NOT_FOUND",
      ambiguous: "ROUNDS_AMBIGUOUS",
      listHint: "`whetstone rounds` (with no config) lists them.",
    });
  }

  dataFile(id: string, round: number): string {
    return join(this.folder(id), `round-${round}.jsonl`);
  }
}
