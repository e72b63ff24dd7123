/**
 * The page's Content-Security-Policy, one string for both homes of the UI: the Electron app://
 * protocol (electron/window.ts) and the loopback server's browser mode (static.ts). The page loads
 * only its own scripts and talks only to its own origin; plugins, <base> rewrites, being framed by
 * another page and form posts are all off.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join("; ");
