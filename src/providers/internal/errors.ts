/**
 * Maps what the provider SDKs throw to `LlmError`: by HTTP status, the error body's
 * type and code, and the rate-limit headers. Shared by the OpenAI and Anthropic
 * adapters; each passes its SDK's view of the error.
 */
import * as LlmError from "../../LlmError.js"
import { redact } from "../../internal/redact.js"
import { type HeaderSource, isContextLengthMessage, retryAfterMillis } from "./http.js"

/** What the adapters extract from an SDK's `APIError`. */
export interface ApiFailure {
  readonly status: number | undefined
  /** The provider's error type (`rate_limit_error`, `insufficient_quota`, ...). */
  readonly type: string | undefined
  readonly code: string | undefined
  readonly param?: string | undefined
  readonly message: string
  readonly headers: HeaderSource | undefined
}

/** Which call failed. */
export interface Origin {
  readonly provider: string
  readonly model: string
}

const quotaMarkers = /insufficient_quota|billing|quota/i
/** Anthropic reports an empty balance as a 400 invalid_request_error; only its text tells. */
const quotaMessages = /credit balance is too low|exceeded your current quota/i
const contentMarkers = /content_filter|content_policy|content policy|safety system/i

/**
 * Classifies an API failure: a status when there was one (HTTP error), the body's
 * type and code otherwise (an error event inside a 200 stream).
 */
export const fromApiFailure = (failure: ApiFailure, origin: Origin, now: number): LlmError.LlmError => {
  const message = redact(failure.message)
  const param = failure.param === undefined ? undefined : redact(failure.param)
  const base = { provider: origin.provider, model: origin.model, message }
  const withStatus = { ...base, status: failure.status }
  const kind = `${failure.type ?? ""} ${failure.code ?? ""}`
  const retryAfter = retryAfterMillis(failure.headers, now)

  if (isQuota(failure.status, kind) || ((failure.status === 400 || failure.status === 429) && quotaMessages.test(message))) return new LlmError.QuotaExhausted(withStatus)
  if (failure.status === 429 || /rate_limit/.test(kind)) {
    return new LlmError.RateLimited({ ...base, source: "provider", retryAfterMillis: retryAfter })
  }
  if (failure.status === 401 || failure.status === 403 || /authentication_error|permission_error|invalid_api_key/.test(kind)) {
    return new LlmError.AuthenticationFailed(withStatus)
  }
  if (/context_length_exceeded/.test(kind) || ((failure.status === 400 || failure.status === 413 || failure.status === undefined) && isContextLengthMessage(message))) {
    return new LlmError.ContextLengthExceeded(withStatus)
  }
  if (contentMarkers.test(kind)) return new LlmError.ContentFiltered(withStatus)
  if (failure.status === 529 || /overloaded/.test(kind)) {
    return new LlmError.ProviderUnavailable({ ...withStatus, kind: "overloaded", retryAfterMillis: retryAfter })
  }
  if (failure.status === 408 || failure.status === 504 || /timeout_error/.test(kind)) {
    return new LlmError.ProviderUnavailable({ ...withStatus, kind: "timeout", retryAfterMillis: retryAfter })
  }
  if (failure.status === undefined || failure.status >= 500 || failure.status === 409) {
    // An error event inside a 200 stream without a recognised type is the server's failure.
    if (failure.status === undefined && /invalid_request/.test(kind)) {
      return new LlmError.InvalidRequest({ ...base, code: failure.code ?? failure.type, param })
    }
    return new LlmError.ProviderUnavailable({ ...withStatus, kind: "server", retryAfterMillis: retryAfter })
  }
  return new LlmError.InvalidRequest({ ...withStatus, code: failure.code ?? failure.type, param })
}

const isQuota = (status: number | undefined, kind: string) =>
  status === 402 || /billing_error/.test(kind) || ((status === 429 || status === undefined) && quotaMarkers.test(kind))

/** A failure without a response: connection refused or reset, a timeout, an abort. */
export const fromTransport = (
  kind: "timeout" | "network" | "stream-interrupted",
  error: unknown,
  origin: Origin
): LlmError.ProviderUnavailable =>
  new LlmError.ProviderUnavailable({
    provider: origin.provider,
    model: origin.model,
    kind,
    message: redact(
      `${kind === "timeout" ? "Request timed out" : kind === "network" ? "Network failure" : "The stream was cut"}: ${
        describe(error)
      }`
    )
  })

/**
 * An answer the provider sent that does not fit the model (a null where a count
 * belongs, a tool call without an id): a server fault, retryable and counted by
 * breakers, instead of the defect a throwing constructor would raise.
 */
export const malformedAnswer = (error: unknown, origin: Origin): LlmError.ProviderUnavailable =>
  new LlmError.ProviderUnavailable({
    provider: origin.provider,
    model: origin.model,
    kind: "server",
    message: redact(`Malformed answer from the provider: ${describe(error).split("\n")[0]}`)
  })

const describe = (error: unknown): string => {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : ""
    return `${error.message}${cause}`
  }
  return String(error)
}
