/**
 * Removes credentials from text before it reaches an error message, a log line or
 * a span: API-key shapes of the major providers and `Bearer` tokens.
 */
const patterns: ReadonlyArray<RegExp> = [
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g,
  /\b(?:sk|pk|rk)-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bAIza[0-9A-Za-z_-]{20,}/g
]

/** The text with every credential-shaped token replaced by `[REDACTED]`. */
export const redact = (text: string): string =>
  patterns.reduce((out, pattern) => out.replace(pattern, "[REDACTED]"), text)
