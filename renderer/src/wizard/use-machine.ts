/**
 * This machine as the doctor sums it up: the accelerator's name and the GPU count. Asked once per
 * engine client and shared by the steps that show it (a doctor run starts Python: seconds, not
 * milliseconds); null until it answers, and when the engine cannot say.
 */
import { useEffect, useState } from "react";
import { useClient } from "../client/context";
import type { EngineClient } from "../client/engine-client";

export interface Machine {
  accelerator: string;
  /** The GPUs a run can train on together ("All" in the GPUs choice). */
  gpus: number;
}

const asked = new WeakMap<EngineClient, Promise<Machine | null>>();

function machineOf(client: EngineClient): Promise<Machine | null> {
  let answer = asked.get(client);
  if (!answer) {
    answer = client.has("doctor") ? client.doctor({}).then(({ summary }) => ({ accelerator: summary.accelerator, gpus: summary.gpus }), () => null) : Promise.resolve(null);
    asked.set(client, answer);
  }
  return answer;
}

export function useMachine(): Machine | null {
  const client = useClient();
  const [machine, setMachine] = useState<Machine | null>(null);
  useEffect(() => {
    let live = true;
    void machineOf(client).then((m) => live && setMachine(m));
    return () => {
      live = false;
    };
  }, [client]);
  return machine;
}
