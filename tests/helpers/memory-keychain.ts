import type { Keychain } from "../../engine/secrets/token";

/** A keychain backend that holds the secret in the test's memory, as the OS keychain holds it in its own. */
export function memoryKeychain(): Keychain & { value: string | null } {
  return {
    name: "test keychain",
    value: null,
    get() {
      return this.value;
    },
    set(token) {
      this.value = token;
    },
    remove() {
      this.value = null;
    },
  };
}
