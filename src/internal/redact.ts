/**
 * Removes credentials from text before it reaches an error message, a log line or
 * a span: API-key shapes of the major providers, Stripe, GitHub, Slack and AWS,
 * and `Bearer` tokens.
 */
const patterns: ReadonlyArray<RegExp> = [
  /\bsk-ant-[A-Za-z0-9_-]{8,}/g,
  /\b(?:sk|pk|rk)-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{8,}/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bAIza[0-9A-Za-z_-]{20,}/g,
  // The shapes the output guard refuses: Stripe, GitHub, Slack, AWS access keys.
  /\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{8,}/g,
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g,
  /\bxox[abprs]-[A-Za-z0-9-]{10,}/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g
]

/** The text with every credential-shaped token replaced by `[REDACTED]`. */
export const redact = (text: string): string =>
  patterns.reduce((out, pattern) => out.replace(pattern, "[REDACTED]"), text)
