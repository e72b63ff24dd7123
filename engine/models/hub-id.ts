/** Hub repo ids as the hub spells them, `owner/name` (letters, digits, `-`, `_`, `.`; no leading `.`, no `..`); Node-free, so the renderer's contract shares it. */
export const HUB_ID = /^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/;

export function isHubId(value: string): boolean {
  return HUB_ID.test(value) && !value.includes("..");
}
