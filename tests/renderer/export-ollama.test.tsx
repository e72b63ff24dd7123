// @vitest-environment jsdom
/** The export step's Ollama line: the command that makes an `ollama` export a model, and its copy button. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { OllamaCreate } from "../../renderer/src/wizard/ExportStep";

afterEach(cleanup);

describe("OllamaCreate", () => {
  it("shows `ollama create NAME -f <out>/Modelfile` with a valid model name and copies it", async () => {
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<OllamaCreate outDir="/home/me/exports/My Run" name="Run_2026 12:02" />);
    const line = 'ollama create run_2026-12-02 -f "/home/me/exports/My Run/Modelfile"';
    expect(screen.getByTestId("ollama-create").textContent).toBe(line);
    fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith(line);
    expect(await screen.findByRole("button", { name: "Copied" })).toBeTruthy();
  });
});
