/**
 * Reading the rate-limit headers providers send: `retry-after-ms`, `retry-after`
 * (seconds or an HTTP-date), OpenAI's `x-ratelimit-*` and Anthropic's
 * `anthropic-ratelimit-*`.
 */

/** A header lookup over the SDKs' `Headers` objects. */
export interface HeaderSource {
  readonly get: (name: string) => string | null
}

/** Parses an OpenAI reset duration such as `1s`, `6m0s`, `250ms`, `1h2m3.5s`. */
export const parseResetDuration = (value: string): number | undefined => {
  const parts = value.trim().match(/^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/)
  if (parts === null || parts.slice(1).every((p) => p === undefined)) return undefined
  const [, h, m, s, ms] = parts
  return (Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)) * 1000 + Number(ms ?? 0)
}

const nonNegative = (ms: number) => Math.max(0, Math.round(ms))

/**
 * How long the response asks the client to wait, in milliseconds: `retry-after-ms`
 * first, then `retry-after` as seconds or as an HTTP-date (relative to `now`),
 * then the reset time of an exhausted OpenAI or Anthropic limit.
 */
export const retryAfterMillis = (headers: HeaderSource | undefined, now: number): number | undefined => {
  if (headers === undefined) return undefined
  const ms = headers.get("retry-after-ms")
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return nonNegative(Number(ms))
  const after = headers.get("retry-after")
  if (after !== null && after.trim() !== "") {
    if (/^\d+(\.\d+)?$/.test(after.trim())) return nonNegative(Number(after) * 1000)
    const date = Date.parse(after)
    if (!Number.isNaN(date)) return nonNegative(date - now)
  }
  return exhaustedResetMillis(headers, now)
}

const exhaustedResetMillis = (headers: HeaderSource, now: number): number | undefined => {
  const waits: Array<number> = []
  for (const kind of ["requests", "tokens", "input-tokens", "output-tokens"]) {
    if (headers.get(`x-ratelimit-remaining-${kind}`) === "0") {
      const reset = headers.get(`x-ratelimit-reset-${kind}`)
      const wait = reset === null ? undefined : parseResetDuration(reset)
      if (wait !== undefined) waits.push(wait)
    }
    if (headers.get(`anthropic-ratelimit-${kind}-remaining`) === "0") {
      const reset = headers.get(`anthropic-ratelimit-${kind}-reset`)
      const at = reset === null ? NaN : Date.parse(reset)
      if (!Number.isNaN(at)) waits.push(at - now)
    }
  }
  return waits.length === 0 ? undefined : nonNegative(Math.max(...waits))
}

/** Whether a provider message says the prompt does not fit the context window. */
export const isContextLengthMessage = (message: string): boolean =>
  /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|input is too long|exceeds the context/i
    .test(message)
