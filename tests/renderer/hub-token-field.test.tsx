// @vitest-environment jsdom
/**
 * The token field of the model step, wired to the main process's real token service (with a fake
 * safeStorage standing in for Electron's) as the preload would wire it.
 */
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { chooseTokenStore, HubTokenService, type SafeStorageLike } from "../../electron/hub-token";
import type { TokenBridge } from "../../renderer/src/client/engine-client";
import { HubTokenField } from "../../renderer/src/wizard/HubTokenField";

const TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123";
const reversed: SafeStorageLike = {
  isEncryptionAvailable: () => true,
  getSelectedStorageBackend: () => "gnome_libsecret",
  encryptString: (s) => Buffer.from([...s].reverse().join("") + "~", "utf8").map((b) => b ^ 0x33),
  decryptString: (b) => [...Buffer.from(b.map((x) => x ^ 0x33)).toString("utf8").slice(0, -1)].reverse().join(""),
};

function setup(backend = "gnome_libsecret") {
  const userData = mkdtempSync(join(tmpdir(), "whetstone-token-ui-"));
  const service = new HubTokenService(chooseTokenStore({ ...reversed, getSelectedStorageBackend: () => backend }, userData, "linux", () => null), {});
  const bridge: TokenBridge = { hasToken: async () => service.status(), setToken: async (t) => service.set(t), clearToken: async () => service.clear() };
  render(<HubTokenField bridge={bridge} />);
  return { userData };
}

afterEach(cleanup);

describe("HubTokenField", () => {
  it("saves the token from a labelled password field, says it is kept in the OS keychain, and removes it", async () => {
    const { userData } = setup();
    const input = screen.getByLabelText("Hugging Face access token") as HTMLInputElement;
    expect(input.type).toBe("password");
    expect(screen.getByText(/stored encrypted in the OS keychain/)).toBeTruthy();
    await screen.findByText(/No token saved/);

    fireEvent.change(input, { target: { value: TOKEN } });
    fireEvent.click(screen.getByRole("button", { name: "Save token" }));
    await screen.findByText(/A token is saved\./);
    expect(input.value).toBe("");
    const files = readdirSync(userData);
    expect(files).toHaveLength(1);
    expect(readFileSync(join(userData, files[0]!)).includes(Buffer.from(TOKEN))).toBe(false);
    expect(document.body.innerHTML).not.toContain(TOKEN);

    fireEvent.click(screen.getByRole("button", { name: "Remove token" }));
    await screen.findByText(/No token saved/);
    expect(readdirSync(userData)).toEqual([]);
  });

  it("shows what is wrong with a bad token", async () => {
    setup();
    fireEvent.change(screen.getByLabelText("Hugging Face access token"), { target: { value: "my password" } });
    fireEvent.click(screen.getByRole("button", { name: "Save token" }));
    expect((await screen.findByRole("alert")).textContent).toMatch(/token was refused.*huggingface\.co\/settings\/tokens.*TOKEN_INVALID/);
  });

  it("says why nothing can be stored where safeStorage would be plain text, and disables the field", async () => {
    setup("basic_text");
    expect((await screen.findByRole("status")).textContent).toMatch(/basic_text.*HF_TOKEN/);
    await waitFor(() => expect((screen.getByLabelText("Hugging Face access token") as HTMLInputElement).disabled).toBe(true));
  });

  it("points a browser window to `whetstone models login`", () => {
    render(<HubTokenField bridge={null} />);
    expect(screen.getByText(/whetstone models login/)).toBeTruthy();
    expect(screen.queryByLabelText("Hugging Face access token")).toBeNull();
  });
});
