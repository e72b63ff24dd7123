/**
 * The fields every stored job starts with (a sweep, a round loop; state-store.ts keeps them on disk).
 * Free of Node imports: the job schemas that hold it are shared with the renderer.
 */
import { z } from "zod";

/** The fields every stored job starts with (a sweep, a round loop): what it is, who drives it, and the config its runs start from. */
export const JOB_HEADER = {
  id: z.string(),
  name: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  finished_at: z.string().nullable(),
  /** pid of the engine process that drives it while it runs. */
  owner_pid: z.number().int().nullable(),
  /** The config its runs start from (validated, without its own block), and the folder its relative paths are resolved against. */
  base_config: z.record(z.string(), z.unknown()),
  base_dir: z.string(),
  config_path: z.string().nullable(),
};
