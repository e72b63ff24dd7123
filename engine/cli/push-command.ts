/** `whetstone push RUN --repo OWNER/NAME [--private] [--format F]`: a run's model and card on the Hugging Face Hub. */
import { formatPush } from "../push/push";
import { hubEndpoint } from "../models/hub";
import { hubToken } from "../secrets/token";
import { WhetstoneError } from "../util/errors";
import type { PushOptions } from "../push/schema";
import { defined, followTask } from "./commands";
import { EXIT, type Client, type Io } from "./io";

/** Ctrl-C stops the export or the upload; what the hub stored stays there, and the next push does not send it again. */
export async function pushCommand(engine: Client, ref: string, io: Io, opts: { json?: boolean; repo?: string; format?: PushOptions["format"]; private?: boolean }): Promise<number> {
  const { repo, json } = opts;
  if (!repo) throw new WhetstoneError({ code: "USAGE", message: "`whetstone push RUN` needs --repo OWNER/NAME.", hint: "e.g. whetstone push RUN --repo my-name/my-model (--private creates it private)" });
  const { runId, progress } = await followTask(engine, ref, io, "push", "Stopping the push; `whetstone push` again resumes it (files already on the hub are not sent again).");
  io.out.write(`pushing ${runId} (${opts.format ?? "safetensors"}) to ${hubEndpoint()}/${repo}${opts.private ? ", private" : ""}\n`);
  const { token, source } = hubToken();
  if (token) io.out.write(`  with the access token from the ${source}\n`);
  let record;
  try {
    record = await engine.call("pushRun", { id: runId, repo, ...defined({ format: opts.format, private: opts.private }) });
  } catch (e) {
    progress.finish();
    if ((e as { code?: string }).code !== "CANCELLED") throw e;
    io.err(`push of ${runId} to ${repo} stopped; \`whetstone push ${runId} --repo ${repo}\` again resumes it\n`);
    return EXIT.cancelled;
  }
  progress.finish();
  io.out.write((json ? JSON.stringify(record, null, 2) : formatPush(record)) + "\n");
  return EXIT.ok;
}
