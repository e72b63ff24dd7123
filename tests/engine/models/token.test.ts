/** Where the hub token comes from and where it may go: the environment, else the keychain; never stored without one. */
import { describe, expect, it } from "vitest";
import { hubEnv, hubToken, platformKeychain, storeHubToken } from "../../../engine/secrets/token";
import { memoryKeychain } from "../../helpers/memory-keychain";

const TOKEN = "hf_abcdefghijklmnopqrstuvwxyz012345";

describe("hub token", () => {
  it("prefers HF_TOKEN of the process, else the keychain", () => {
    const kc = memoryKeychain();
    expect(hubToken({}, kc)).toEqual({ token: null, source: "none" });
    expect(storeHubToken(`  ${TOKEN}\n`, kc)).toBe("test keychain");
    expect(kc.value).toBe(TOKEN);
    expect(hubToken({}, kc)).toEqual({ token: TOKEN, source: "keychain" });
    expect(hubToken({ HF_TOKEN: "hf_fromenvironment0000000000" }, kc).source).toBe("environment");
  });

  it("refuses what is not a token, and says so when there is no keychain instead of writing a file", () => {
    expect(() => storeHubToken("password123", memoryKeychain())).toThrow(/does not look like a Hugging Face access token/);
    expect(() => storeHubToken(TOKEN, null)).toThrow(expect.objectContaining({ code: "KEYCHAIN_UNAVAILABLE", hint: expect.stringContaining("HF_TOKEN") }));
    expect(platformKeychain("linux", { WHETSTONE_KEYCHAIN: "none" })).toBeNull();
  });

  it("hands the worker only HF_TOKEN", () => {
    expect(hubEnv({ HF_TOKEN: TOKEN, WHETSTONE_KEYCHAIN: "none" })).toEqual({ HF_TOKEN: TOKEN });
    expect(hubEnv({ WHETSTONE_KEYCHAIN: "none" })).toEqual({});
  });
});
