/**
 * The engine's checks of the draft, run in the background as the draft changes: the model folder
 * (checkModel, as soon as a path is typed), the data file (inspectDataset, again after a reload
 * with the last report still shown) and the run plan (planRun, with the data's token counts).
 * Each result is stored with what it was made for, so a step never shows an answer to an old
 * question: until the new one arrives it says "checking…".
 */
import { useCallback, useEffect } from "react";
import { useAppStore } from "../store/store";
import { errorInfo, useClient } from "../client/context";
import { draftToConfig } from "../lib/draft";
import { suggestSettings } from "../lib/suggest";
import type { DatasetReport } from "../../../engine/api/public";

let readThisLoad = false;

export function useDraftChecks(): void {
  const client = useClient();
  const modelPath = useAppStore((s) => s.draft.modelPath.trim());
  const inspect = useInspect();

  useEffect(() => {
    if (!modelPath || !client.has("checkModel")) return;
    let live = true;
    const t = setTimeout(() => {
      useAppStore.getState().setModelCheck(null, true);
      client.checkModel({ path: modelPath }).then(
        (c) => live && useAppStore.getState().setModelCheck(c),
        (e) => live && useAppStore.getState().setModelCheck({ input: modelPath, path: modelPath, ok: false, adapter: false, architecture: null, checks: [{ item: "folder", ok: false, required: true, detail: errorInfo(e).message }] }),
      );
    }, 250);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [client, modelPath]);

  // After a reload (or an app restart) read the file again, once per page load (it may have changed
  // on disk); the last report stays shown meanwhile. Coming back from the Runs tab reads it only when
  // there is no report for it.
  useEffect(() => {
    const s = useAppStore.getState();
    const stale = !s.report || s.report.path !== s.draft.dataPath;
    if (s.draft.dataPath && !s.inspecting && (stale || !readThisLoad)) void inspect(s.draft.dataPath, { keep: true });
    readThisLoad = true;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Token counts belong to a tokenizer: once another model folder checks out, count the data with it.
  const modelOkNow = useAppStore((s) => s.modelCheck?.input === modelPath && s.modelCheck.ok);
  useEffect(() => {
    const s = useAppStore.getState();
    if (modelOkNow && s.draft.dataPath && s.report?.path === s.draft.dataPath && s.inspectedWith !== modelPath && !s.inspecting) void inspect(s.draft.dataPath, { keep: true });
  }, [modelOkNow, modelPath, inspect]);

  const config = useAppStore((s) => JSON.stringify(draftToConfig(s.draft)));
  const tokens = useAppStore((s) => (s.report && s.report.path === s.draft.dataPath ? s.report.stats.tokens : null));
  const samples = useAppStore((s) => s.report?.stats.samples ?? 0);
  const modelOk = useAppStore((s) => s.modelCheck?.input === modelPath && s.modelCheck.ok);
  useEffect(() => {
    if (!client.has("planRun") || !modelOk) return;
    let live = true;
    const t = setTimeout(() => {
      const data = tokens ? { samples, tokens_per_epoch: tokens.tokens_per_epoch, longest: tokens.length.max } : undefined;
      client.planRun({ config: JSON.parse(config) as unknown, ...(data ? { data } : {}) }).then(
        (result) => live && useAppStore.getState().setPlan({ result, config }),
        (e) => live && useAppStore.getState().setPlan(null, { config, message: errorInfo(e).message }),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [client, config, tokens, samples, modelOk]);
}

/**
 * inspectDataset with the model's tokenizer when one is chosen. A report for a file the draft has
 * not had defaults for yet fills in the data-derived ones (epochs, max length, validation split).
 */
export function useInspect() {
  const client = useClient();
  return useCallback(
    async (path: string, { keep = false }: { keep?: boolean } = {}) => {
      const s = useAppStore.getState();
      const { modelPath, maxLength, skipInvalid } = s.draft;
      s.beginInspect(keep);
      try {
        let report: DatasetReport;
        let counted = modelPath.trim();
        try {
          report = await client.inspectDataset({ path, maxLength, skipInvalid, ...(modelPath ? { model: modelPath.trim() } : {}) });
        } catch (e) {
          // A model folder that does not load still leaves the rows to check: check them, say why tokens are missing.
          const err = errorInfo(e);
          if (!modelPath || !err.code.startsWith("MODEL_")) throw e;
          report = await client.inspectDataset({ path, maxLength, skipInvalid });
          counted = "";
          report = { ...report, notes: [`No token statistics or template preview: the model folder did not load (${err.message})`, ...report.notes] };
        }
        const now = useAppStore.getState();
        if (now.draft.dataPath !== path) return; // another file was dropped meanwhile
        now.setReport(report, counted);
        if (now.draft.suggestedFor !== path) {
          const { epochs, maxLength: suggestedLength, validationSplit } = suggestSettings(now.draft, report);
          now.updateDraft({ epochs, maxLength: suggestedLength, validationSplit, suggestedFor: path });
        }
      } catch (e) {
        useAppStore.getState().setReportError(errorInfo(e));
      }
    },
    [client],
  );
}

/** Make a file the wizard's dataset, as dropping it does: its own choices reset, then the engine checks it. */
export function useChooseDataFile() {
  const inspect = useInspect();
  return useCallback(
    async (path: string, name: string) => {
      // Choices about the last file (skipping its invalid rows) do not carry over to this one.
      useAppStore.getState().updateDraft({ dataPath: path, dataName: name, skipInvalid: false });
      await inspect(path);
    },
    [inspect],
  );
}
