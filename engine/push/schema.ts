/** The push's API shapes, free of Node imports so the renderer can share them. */
import * as z from "zod";

import { PUSH_FORMATS } from "../export/formats";
import { isHubId } from "../models/hub-id";

export { PUSH_FORMATS };

export const PushOptionsSchema = z.strictObject({
  repo: z
    .string()
    .refine(isHubId, "a hub repo id is owner/name, e.g. my-name/my-model")
    .describe("The Hub repo, owner/name: your user name or one of your organizations. Created unless it exists."),
  format: z.enum(PUSH_FORMATS).default("safetensors").describe("safetensors: the merged model; adapter: the LoRA adapter alone; gguf: one llama.cpp/Ollama file."),
  private: z.boolean().default(false).describe("Create the repo private (an existing public repo is refused, never made private)."),
});
export type PushOptions = z.output<typeof PushOptionsSchema>;

/** One push, as stored in the run's reports/pushes.json (newest last) and returned by pushRun. */
export const PushRecordSchema = z.looseObject({
  run_id: z.string(),
  created_at: z.string(),
  repo_id: z.string(),
  url: z.string(),
  commit: z.string(),
  commit_url: z.string(),
  created: z.boolean(),
  private: z.boolean(),
  format: z.enum(PUSH_FORMATS),
  /** The export folder whose files were uploaded, and whether this push wrote it (else an earlier export was reused). */
  folder: z.string(),
  exported: z.boolean(),
  files: z.number(),
  bytes: z.number(),
  uploaded_bytes: z.number(),
  /** Files the hub already had (a resumed push), not sent again. */
  already_on_hub: z.array(z.string()),
  seconds: z.number(),
});
export type PushRecord = z.infer<typeof PushRecordSchema>;
