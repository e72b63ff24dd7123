/**
 * "Push to the Hugging Face Hub" under the export step (and on a run's page): the repo, private or
 * not, the format, the token, progress with ETA, and where the model went. The engine reuses an
 * earlier export of the format or makes one, checks the repo is the user's before sending anything,
 * and resumes a stopped push; this panel only asks and shows.
 */
import { useEffect, useState } from "react";
import { useAppStore } from "../store/store";
import { useClient } from "../client/context";
import { useTask } from "../client/use-task";
import { tokenBridge } from "../client/engine-client";
import { TaskControls } from "../components/TaskControls";
import { PUSH_FORMATS, isHubId, type PushRecord } from "../../../engine/api/public";
import { bytes } from "../lib/format";
import { needsCompletedRun } from "../lib/run-gates";
import { HubTokenField } from "./HubTokenField";
import { FormatChoice } from "./FormatChoice";

export function PushPanel({ runId }: { runId: string }) {
  const client = useClient();
  const state = useAppStore((s) => s.runs[runId]?.state);
  const [repo, setRepo] = useState("");
  const [isPrivate, setPrivate] = useState(false);
  const [format, setFormat] = useState<(typeof PUSH_FORMATS)[number]>("safetensors");
  const [pushes, setPushes] = useState<PushRecord[]>([]);
  const [tokens] = useState(() => tokenBridge());
  const { run: track } = useTask(`push:${runId}`);
  const gate = needsCompletedRun(state, "Push");
  const repoProblem = repo && !isHubId(repo) ? "Write it as your-name/model-name (letters, digits, - _ .)." : null;

  useEffect(() => {
    client.getPushes({ id: runId }).then(setPushes, () => undefined);
  }, [client, runId]);

  const push = () =>
    track(async () => {
      await client.pushRun({ id: runId, repo, format, private: isPrivate });
      setPushes(await client.getPushes({ id: runId }));
    });
  const last = pushes[pushes.length - 1];
  return (
    <section aria-labelledby="push-heading" className="export push">
      <h3 id="push-heading">Push to the Hugging Face Hub</h3>
      <p className="muted small">Upload the model with its model card to a repository of yours. Files already there are not sent again, so a stopped push resumes where it left off.</p>
      <div className="field">
        <label htmlFor="push-repo">Repository</label>
        <input id="push-repo" value={repo} onChange={(e) => setRepo(e.target.value.trim())} placeholder="your-name/model-name" spellCheck={false} aria-invalid={repoProblem ? true : undefined} aria-describedby="push-repo-note" />
        <small id="push-repo-note">{repoProblem ?? "Under your Hugging Face name or an organization you may write to; created if it does not exist."}</small>
      </div>
      <label className="choice">
        <input type="checkbox" checked={isPrivate} onChange={(e) => setPrivate(e.target.checked)} />
        <span>Private repository: only you (and your organization) can see it. An existing public repository is not made private.</span>
      </label>
      <FormatChoice legend="What to upload" name="push-format" formats={PUSH_FORMATS} value={format} onChange={setFormat} />
      <HubTokenField bridge={tokens} write />
      <TaskControls runId={runId} kind="push" labels={{ start: "Push", running: "Pushing…", stop: "Stop push", progress: "Push progress" }} gate={gate} incomplete={!repo || repoProblem !== null} onStart={push} />
      {last && (
        <div className="result" data-testid="push-result">
          <p>
            ✓ <strong>{last.format}</strong> pushed to{" "}
            <a href={last.url} target="_blank" rel="noreferrer" data-testid="push-url">
              {last.url}
            </a>
            {last.private ? " (private)" : ""}: {last.files} files, {bytes(last.bytes)}; {bytes(last.uploaded_bytes)} sent
            {last.already_on_hub.length ? `, ${last.already_on_hub.length} already there` : ""}.
          </p>
        </div>
      )}
    </section>
  );
}
