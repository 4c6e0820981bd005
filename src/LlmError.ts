/**
 * The typed failures of an LLM call: one tagged class per failure kind.
 *
 * Callers branch with `Effect.catchTag("RateLimited", ...)`; middleware asks
 * {@link isRetryable}, {@link isFallbackable} and {@link retryAfter} instead of
 * matching on messages. Every class is a `Schema.TaggedError`, so errors encode to
 * JSON for the gateway, caches and evaluation reports.
 *
 * @since 0.1.0
 */
import { Duration, Option, Predicate, Schema } from "effect"

const common = {
  /** The provider that raised or caused the failure, when one did. */
  provider: Schema.optional(Schema.String),
  /** The model that was asked, when known. */
  model: Schema.optional(Schema.String),
  /** A human-readable explanation; never contains secrets. */
  message: Schema.String
}

/**
 * Too many requests: a provider 429 (`rate_limit_exceeded`) or a local limiter in
 * fail mode. Retry after `retryAfterMillis`; another provider may serve meanwhile.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimited extends Schema.TaggedError<RateLimited>("effect-llm/RateLimited")("RateLimited", {
  ...common,
  /** Where the limit is: the provider's, or a limiter of ours. */
  source: Schema.Literal("provider", "local"),
  /** How long to wait before the same key has capacity again. */
  retryAfterMillis: Schema.optional(Schema.NonNegative)
}) {}

/**
 * The provider could not serve now: overloaded (529), a 5xx, a timeout, a network
 * failure, a stream that ended without finishing, or an open circuit breaker.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>("effect-llm/ProviderUnavailable")(
  "ProviderUnavailable",
  {
    ...common,
    kind: Schema.Literal("overloaded", "server", "timeout", "network", "stream-interrupted", "circuit-open"),
    /** The HTTP status, when there was a response. */
    status: Schema.optional(Schema.Number),
    /** A provider's Retry-After on a 503/529, or a breaker's remaining cooldown. */
    retryAfterMillis: Schema.optional(Schema.NonNegative)
  }
) {}

/**
 * The account is out of credit or quota (429 `insufficient_quota`, billing).
 * Retrying the same provider does not help; another may serve.
 *
 * @since 0.1.0
 * @category errors
 */
export class QuotaExhausted extends Schema.TaggedError<QuotaExhausted>("effect-llm/QuotaExhausted")("QuotaExhausted", {
  ...common,
  status: Schema.optional(Schema.Number)
}) {}

/**
 * The credentials were refused (401/403).
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthenticationFailed extends Schema.TaggedError<AuthenticationFailed>("effect-llm/AuthenticationFailed")(
  "AuthenticationFailed",
  {
    ...common,
    status: Schema.optional(Schema.Number)
  }
) {}

/**
 * The prompt (plus the requested output) does not fit the model's context window.
 * A model with a larger window may serve it.
 *
 * @since 0.1.0
 * @category errors
 */
export class ContextLengthExceeded extends Schema.TaggedError<ContextLengthExceeded>(
  "effect-llm/ContextLengthExceeded"
)("ContextLengthExceeded", {
  ...common,
  status: Schema.optional(Schema.Number)
}) {}

/**
 * The provider's content policy refused the request or cut the answer.
 *
 * @since 0.1.0
 * @category errors
 */
export class ContentFiltered extends Schema.TaggedError<ContentFiltered>("effect-llm/ContentFiltered")(
  "ContentFiltered",
  {
    ...common,
    status: Schema.optional(Schema.Number)
  }
) {}

/**
 * The request is wrong and no provider will accept it as it is: a malformed
 * request caught before the network, or another 4xx.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("effect-llm/InvalidRequest")("InvalidRequest", {
  ...common,
  status: Schema.optional(Schema.Number),
  /** The provider's error code, or our own for requests refused before the call. */
  code: Schema.optional(Schema.String),
  /** The offending parameter or path, when known. */
  param: Schema.optional(Schema.String)
}) {}

/**
 * The call would exceed a spending limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetExceeded extends Schema.TaggedError<BudgetExceeded>("effect-llm/BudgetExceeded")("BudgetExceeded", {
  ...common,
  /** The budget scope, e.g. `global`, `tenant:acme`. */
  scope: Schema.String,
  /** The period, e.g. `day`, `month`, `window:1 hour`. */
  period: Schema.String,
  /** The limit in USD. */
  limit: Schema.Number,
  /** Spent plus reserved in USD when the call was refused. */
  spent: Schema.Number,
  /** The worst-case cost in USD the call asked to reserve. */
  requested: Schema.Number,
  /** When the period rolls over or open reservations may free room. */
  retryAfterMillis: Schema.optional(Schema.NonNegative)
}) {}

/**
 * One reason a guard flagged a text: the rule, its family, its weight and where it
 * matched.
 *
 * @since 0.1.0
 * @category models
 */
export class Finding extends Schema.Class<Finding>("effect-llm/Finding")({
  rule: Schema.String,
  family: Schema.optional(Schema.String),
  weight: Schema.optional(Schema.Number),
  /** The matched text (possibly normalized or decoded), truncated. */
  match: Schema.optional(Schema.String),
  /** `[start, end)` offsets in the scanned text, when they map back. */
  span: Schema.optional(Schema.Tuple(Schema.Number, Schema.Number))
}) {}

/**
 * The input scanner scored the request above its threshold.
 *
 * @since 0.1.0
 * @category errors
 */
export class InjectionDetected extends Schema.TaggedError<InjectionDetected>("effect-llm/InjectionDetected")(
  "InjectionDetected",
  {
    ...common,
    score: Schema.Number,
    findings: Schema.Array(Finding)
  }
) {}

/**
 * The output guard refused the answer (a leaked canary, a secret, PII in reject
 * mode, a tool call outside the allowed actions, a schema violation).
 *
 * @since 0.1.0
 * @category errors
 */
export class OutputRejected extends Schema.TaggedError<OutputRejected>("effect-llm/OutputRejected")("OutputRejected", {
  ...common,
  reason: Schema.String,
  findings: Schema.Array(Finding)
}) {}

/**
 * Structured output that would not decode after every re-ask.
 *
 * @since 0.1.0
 * @category errors
 */
export class MalformedOutput extends Schema.TaggedError<MalformedOutput>("effect-llm/MalformedOutput")(
  "MalformedOutput",
  {
    ...common,
    /** The last raw output. */
    raw: Schema.String,
    /** The readable decode issues of the last attempt. */
    issues: Schema.String,
    attempts: Schema.Number,
    finishReason: Schema.optional(Schema.String)
  }
) {}

/**
 * One member of a fallback chain and how it failed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderFailure {
  readonly provider: string
  readonly model: string
  readonly error: LlmError
}

const ProviderFailure: Schema.Schema<ProviderFailure, ProviderFailureEncoded> = Schema.Struct({
  provider: Schema.String,
  model: Schema.String,
  error: Schema.suspend((): Schema.Schema<LlmError, LlmErrorEncoded> => LlmError)
})

interface ProviderFailureEncoded {
  readonly provider: string
  readonly model: string
  readonly error: LlmErrorEncoded
}

/**
 * Every member of a fallback chain failed; `failures` lists each in order.
 *
 * @since 0.1.0
 * @category errors
 */
export class AllProvidersFailed extends Schema.TaggedError<AllProvidersFailed>("effect-llm/AllProvidersFailed")(
  "AllProvidersFailed",
  {
    ...common,
    failures: Schema.Array(ProviderFailure)
  }
) {}

/**
 * Any failure of an LLM call.
 *
 * @since 0.1.0
 * @category models
 */
export type LlmError =
  | RateLimited
  | ProviderUnavailable
  | QuotaExhausted
  | AuthenticationFailed
  | ContextLengthExceeded
  | ContentFiltered
  | InvalidRequest
  | BudgetExceeded
  | InjectionDetected
  | OutputRejected
  | MalformedOutput
  | AllProvidersFailed

type LlmErrorEncoded = Schema.Schema.Encoded<
  | typeof RateLimited
  | typeof ProviderUnavailable
  | typeof QuotaExhausted
  | typeof AuthenticationFailed
  | typeof ContextLengthExceeded
  | typeof ContentFiltered
  | typeof InvalidRequest
  | typeof BudgetExceeded
  | typeof InjectionDetected
  | typeof OutputRejected
  | typeof MalformedOutput
  | typeof AllProvidersFailed
>

/**
 * The schema of {@link LlmError}: encodes any failure to JSON and back.
 *
 * @since 0.1.0
 * @category schemas
 */
export const LlmError: Schema.Schema<LlmError, LlmErrorEncoded> = Schema.Union(
  RateLimited,
  ProviderUnavailable,
  QuotaExhausted,
  AuthenticationFailed,
  ContextLengthExceeded,
  ContentFiltered,
  InvalidRequest,
  BudgetExceeded,
  InjectionDetected,
  OutputRejected,
  MalformedOutput,
  AllProvidersFailed
)

/**
 * The tag of every {@link LlmError} class.
 *
 * @since 0.1.0
 * @category models
 */
export type Tag = LlmError["_tag"]

const tags: ReadonlySet<string> = new Set<Tag>([
  "RateLimited",
  "ProviderUnavailable",
  "QuotaExhausted",
  "AuthenticationFailed",
  "ContextLengthExceeded",
  "ContentFiltered",
  "InvalidRequest",
  "BudgetExceeded",
  "InjectionDetected",
  "OutputRejected",
  "MalformedOutput",
  "AllProvidersFailed"
])

/**
 * Whether a value is one of the {@link LlmError} classes.
 *
 * @since 0.1.0
 * @category guards
 */
export const isLlmError = (u: unknown): u is LlmError =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && tags.has(u._tag) && u instanceof Error

/**
 * Whether trying the same provider again may succeed: rate limits and
 * unavailability, except an open circuit (the breaker decides when to probe).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isRetryable = (error: LlmError): boolean => {
  switch (error._tag) {
    case "RateLimited":
      return true
    case "ProviderUnavailable":
      return error.kind !== "circuit-open"
    default:
      return false
  }
}

/**
 * Whether another member of a fallback chain may serve the request. Content
 * filtering and output rejection are opt-in per chain (see `Fallback`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isFallbackable = (error: LlmError): boolean => {
  switch (error._tag) {
    case "RateLimited":
    case "ProviderUnavailable":
    case "QuotaExhausted":
    case "AuthenticationFailed":
    case "ContextLengthExceeded":
      return true
    default:
      return false
  }
}

/**
 * How long the error asks the caller to wait before trying the same key again. For
 * `AllProvidersFailed`: the shortest wait among its members, when each gave one.
 *
 * @since 0.1.0
 * @category getters
 */
export const retryAfter = (error: LlmError): Option.Option<Duration.Duration> => {
  switch (error._tag) {
    case "RateLimited":
    case "ProviderUnavailable":
    case "BudgetExceeded":
      return error.retryAfterMillis === undefined
        ? Option.none()
        : Option.some(Duration.millis(error.retryAfterMillis))
    case "AllProvidersFailed": {
      // The soonest any member may be tried again; unknown as soon as one member
      // failed without saying (it may answer right away).
      let soonest: Duration.Duration | undefined
      for (const failure of error.failures) {
        const wait = retryAfter(failure.error)
        if (Option.isNone(wait)) return Option.none()
        if (soonest === undefined || Duration.lessThan(wait.value, soonest)) soonest = wait.value
      }
      return Option.fromNullable(soonest)
    }
    default:
      return Option.none()
  }
}
