/**
 * Observability for LLM calls: a span per call and per attempt (OpenTelemetry
 * GenAI semantic conventions), metrics (see `Metrics`), and one structured log
 * line per call — with credentials redacted from all three.
 *
 * `Telemetry.layer` is the outermost middleware of the canonical stack, so it
 * sees the whole call: every retry and fallback below it, and whether a cache
 * answered. It uses Effect's own tracing (`Effect.withSpan`, span attributes,
 * `Tracer.span` for attempt spans); any tracer Effect is given exports it —
 * `layerOtlp` (OTLP/HTTP through `@effect/opentelemetry`) or an OpenTelemetry SDK
 * through `@effect/opentelemetry`'s `NodeSdk`.
 *
 * What a call span carries:
 * - name `{operation} {model}` (e.g. `chat gpt-4.1-mini`), kind `client`;
 * - `gen_ai.operation.name`, `gen_ai.provider.name` and the older `gen_ai.system`,
 *   `gen_ai.request.model` / `max_tokens` / `temperature` / `top_p` / `seed` /
 *   `stop_sequences`, `gen_ai.response.model` / `id` / `finish_reasons`,
 *   `gen_ai.usage.input_tokens` / `output_tokens` (and cache read/creation,
 *   reasoning), `gen_ai.response.time_to_first_chunk` for streams, `error.type`;
 * - ours: `effect_llm.cost_usd`, `effect_llm.cost.estimated`,
 *   `effect_llm.cache.hit` (`exact`/`semantic`), `effect_llm.attempts`,
 *   `effect_llm.route`, `effect_llm.retries`, `effect_llm.fallback.used`,
 *   `effect_llm.fallback.member`, `effect_llm.tenant`, `effect_llm.outcome`.
 *
 * The attempts are those the layers below record in `Response.attempts` (or the
 * stream's `Finish.attempts`, or the failures of `AllProvidersFailed`). Their
 * child spans (`attempt {model}`) are built after the call from each attempt's
 * duration: failed attempts are laid out one after another from the start of the
 * call, the serving attempt ends when the call ends. The waits between attempts
 * (backoff) are the gaps; their exact start times are not recorded below us.
 *
 * Redaction: every failure and defect leaving the layer is rebuilt with API keys,
 * `Authorization` headers and the configured `secrets` removed (the error keeps its
 * class), before the span records it; log entries emitted while a call runs (by
 * this layer or any layer below it) pass through a redacting logger. Prompt and
 * output content are recorded only when asked (`recordPrompts`, `recordOutputs`).
 *
 * @since 0.1.0
 */
import * as Otlp from "@effect/opentelemetry/Otlp"
import { FetchHttpClient } from "@effect/platform"
import type * as OtelApi from "@opentelemetry/api"
import {
  Cause,
  Chunk,
  Clock,
  Context,
  Duration,
  Effect,
  Exit,
  type Fiber,
  FiberRef,
  HashMap,
  HashSet,
  Layer,
  Logger,
  LogLevel,
  Metric,
  type MetricLabel,
  Option,
  Redacted,
  Scope,
  Tracer
} from "effect"
import * as Construct from "../internal/construct.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as FiberAccess from "./internal/fiber.js"
import * as Redaction from "./internal/redaction.js"
import { MAX_LABEL_SETS, tagged, withLabels } from "./internal/tagged.js"
import * as Metrics from "./Metrics.js"

// -----------------------------------------------------------------------------
// Options
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** `gen_ai.operation.name` and the first word of span names (default `chat`). */
  readonly operation?: string | undefined
  /** Record the request messages in the log line and the span (default false). */
  readonly recordPrompts?: boolean | undefined
  /** Record the answer text in the log line and the span (default false). */
  readonly recordOutputs?: boolean | undefined
  /** Longest recorded prompt or output, in characters (default 4000). */
  readonly maxContentLength?: number | undefined
  /**
   * Secrets to scrub by value wherever they appear (gateway keys, provider keys
   * whose shape no pattern knows). Key shapes of the major providers and
   * `Authorization` headers are always scrubbed.
   */
  readonly secrets?: ReadonlyArray<string | Redacted.Redacted<string>> | undefined
  /** A cache sits below: count an answer without cache info as a miss (default false). */
  readonly cache?: boolean | undefined
  /** Add a `tenant` label to the request metrics (default false: tenants can be many). */
  readonly tenantLabel?: boolean | undefined
  /** Record the user id (`metadata.user`) on spans and logs (default false). */
  readonly recordUser?: boolean | undefined
  /** Record metrics (default true). */
  readonly metrics?: boolean | undefined
  /** Log one line per call, and at which levels (default: Info on success, Warning on failure). */
  readonly log?: boolean | {
    readonly success?: LogLevel.Literal | undefined
    readonly failure?: LogLevel.Literal | undefined
  } | undefined
  /** Attributes added to every call span (e.g. `{ "deployment.environment": "prod" }`). */
  readonly attributes?: Readonly<Record<string, string | number | boolean>> | undefined
}

/**
 * Span attribute names used by the layer (GenAI semantic conventions and ours).
 * The GenAI names are still "incubating" in `@opentelemetry/semantic-conventions`,
 * which advises copying them rather than importing them.
 *
 * @since 0.1.0
 * @category constants
 */
export const Attributes = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  system: "gen_ai.system",
  requestModel: "gen_ai.request.model",
  requestMaxTokens: "gen_ai.request.max_tokens",
  requestTemperature: "gen_ai.request.temperature",
  requestTopP: "gen_ai.request.top_p",
  requestSeed: "gen_ai.request.seed",
  requestStopSequences: "gen_ai.request.stop_sequences",
  responseModel: "gen_ai.response.model",
  responseId: "gen_ai.response.id",
  responseFinishReasons: "gen_ai.response.finish_reasons",
  responseTimeToFirstChunk: "gen_ai.response.time_to_first_chunk",
  usageInputTokens: "gen_ai.usage.input_tokens",
  usageOutputTokens: "gen_ai.usage.output_tokens",
  usageCacheReadInputTokens: "gen_ai.usage.cache_read.input_tokens",
  usageCacheCreationInputTokens: "gen_ai.usage.cache_creation.input_tokens",
  usageReasoningOutputTokens: "gen_ai.usage.reasoning.output_tokens",
  inputMessages: "gen_ai.input.messages",
  outputMessages: "gen_ai.output.messages",
  errorType: "error.type",
  costUsd: "effect_llm.cost_usd",
  costEstimated: "effect_llm.cost.estimated",
  cacheHit: "effect_llm.cache.hit",
  cacheSimilarity: "effect_llm.cache.similarity",
  cacheAgeMillis: "effect_llm.cache.age_ms",
  attempts: "effect_llm.attempts",
  route: "effect_llm.route",
  retries: "effect_llm.retries",
  fallbackUsed: "effect_llm.fallback.used",
  fallbackMember: "effect_llm.fallback.member",
  tenant: "effect_llm.tenant",
  user: "effect_llm.user",
  outcome: "effect_llm.outcome",
  stream: "effect_llm.stream",
  latencyMillis: "effect_llm.latency_ms",
  attemptIndex: "effect_llm.attempt.index",
  attemptOutcome: "effect_llm.attempt.outcome",
  attemptDurationMillis: "effect_llm.attempt.duration_ms"
} as const

// -----------------------------------------------------------------------------
// Redaction helpers (public: the gateway and others use them)
// -----------------------------------------------------------------------------

/**
 * Text with credentials removed: provider key shapes, `Bearer`/`Authorization`
 * values, key headers and parameters, URL credentials, and `secrets` by value.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactText = (text: string, secrets?: ReadonlyArray<string | Redacted.Redacted<string>>): string =>
  Redaction.makeRedactor(secrets).text(text)

/**
 * A cause with every failure and defect redacted; `LlmError`s keep their class.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactCause = <E>(
  cause: Cause.Cause<E>,
  secrets?: ReadonlyArray<string | Redacted.Redacted<string>>
): Cause.Cause<E> => Redaction.cause(Redaction.makeRedactor(secrets), cause)

/**
 * A logger that redacts messages, causes and annotations before `logger` sees them.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactingLogger = <Output>(
  logger: Logger.Logger<unknown, Output>,
  secrets?: ReadonlyArray<string | Redacted.Redacted<string>>
): Logger.Logger<unknown, Output> => Redaction.logger(Redaction.makeRedactor(secrets), logger)

const wrapLoggers = (redactor: Redaction.Redactor) =>
(loggers: HashSet.HashSet<Logger.Logger<unknown, unknown>>) =>
  HashSet.map(loggers, (logger) => Redaction.logger(redactor, logger))

/**
 * Wraps every logger installed so far (console, OTLP, custom) in a redacting one,
 * for the whole program. Provide it after (outside) the layers that install
 * loggers. Calls through `Telemetry.layer` are redacted without it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedactLogs = (secrets?: ReadonlyArray<string | Redacted.Redacted<string>>): Layer.Layer<never> =>
  Layer.scopedDiscard(Effect.locallyScopedWith(FiberRef.currentLoggers, wrapLoggers(Redaction.makeRedactor(secrets))))

// -----------------------------------------------------------------------------
// The middleware
// -----------------------------------------------------------------------------

type Operation = "generate" | "stream"

/** What a finished call reports (a `Response` or a stream's `Finish`). */
interface Served {
  readonly id: string | undefined
  readonly provider: string
  readonly model: string
  readonly finishReason: LanguageModel.FinishReason
  readonly usage: LanguageModel.Usage
  readonly cost: LanguageModel.Cost | undefined
  readonly cache: LanguageModel.CacheInfo | undefined
  readonly attempts: ReadonlyArray<LanguageModel.Attempt>
}

type Outcome =
  | { readonly _tag: "success"; readonly served: Served; readonly text: string | undefined }
  | { readonly _tag: "failure"; readonly error: LlmError.LlmError }
  | { readonly _tag: "defect"; readonly cause: Cause.Cause<unknown> }
  | { readonly _tag: "interrupted" }
  | { readonly _tag: "cancelled" }

interface Call {
  readonly operation: Operation
  readonly request: LanguageModel.Request
  readonly target: { readonly provider: string; readonly model: string }
  readonly span: Tracer.Span | undefined
  readonly startMillis: number
  readonly endMillis: number
  readonly startNanos: bigint
  readonly endNanos: bigint
  readonly firstTokenMillis: number | undefined
  readonly outcome: Outcome
}

const servedOfResponse = (r: LanguageModel.Response): Served => ({
  id: r.id,
  provider: r.provider,
  model: r.model,
  finishReason: r.finishReason,
  usage: r.usage,
  cost: r.cost,
  cache: r.cache,
  attempts: r.attempts
})

const servedOfFinish = (f: LanguageModel.Finish): Served => ({
  id: f.id,
  provider: f.provider,
  model: f.model,
  finishReason: f.reason,
  usage: f.usage,
  cost: f.cost,
  cache: f.cache,
  attempts: f.attempts
})

const outcomeOfCause = (cause: Cause.Cause<LlmError.LlmError>): Outcome => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return { _tag: "failure", error: failure.value }
  if (Cause.isInterruptedOnly(cause)) return { _tag: "interrupted" }
  return { _tag: "defect", cause }
}

const outcomeLabel = (outcome: Outcome): string =>
  outcome._tag === "success" ? "success" : outcome._tag === "failure" ? outcome.error._tag : outcome._tag

/** The attempts of a call: recorded by the layers below, or the failures of a fallback chain. */
const attemptsOf = (outcome: Outcome): ReadonlyArray<LanguageModel.Attempt> => {
  if (outcome._tag === "success") return outcome.served.attempts
  if (outcome._tag === "failure" && outcome.error._tag === "AllProvidersFailed") {
    return outcome.error.failures.map((f) =>
      Construct.make(LanguageModel.Attempt, {
        provider: f.provider,
        model: f.model,
        outcome: "failure",
        error: f.error._tag,
        message: f.error.message,
        durationMillis: 0
      })
    )
  }
  return []
}

interface RouteSummary {
  readonly route: ReadonlyArray<string>
  readonly retries: number
  /** Distinct provider/model pairs in order of first appearance. */
  readonly members: ReadonlyArray<string>
  readonly retriedTargets: ReadonlyArray<{ readonly provider: string; readonly model: string }>
}

const targetKey = (provider: string, model: string) => `${provider}/${model}`

const noTargets: ReadonlyArray<{ readonly provider: string; readonly model: string }> = []
const emptyRoute: RouteSummary = { route: [], retries: 0, members: [], retriedTargets: noTargets }

const routeStep = (a: LanguageModel.Attempt, key: string) => `${key}:${a.outcome}${a.error !== undefined ? `:${a.error}` : ""}`

/** The route of a call's attempts. Summaries are only read, so the empty one is shared. */
const summarizeRoute = (attempts: ReadonlyArray<LanguageModel.Attempt>): RouteSummary => {
  // No attempts (a cache hit, a bare model) or one (the usual call): nothing to dedupe.
  if (attempts.length === 0) return emptyRoute
  if (attempts.length === 1) {
    const a = attempts[0]!
    const key = targetKey(a.provider, a.model)
    return { route: [routeStep(a, key)], retries: 0, members: [key], retriedTargets: noTargets }
  }
  const route: Array<string> = []
  const members: Array<string> = []
  const retriedTargets: Array<{ provider: string; model: string }> = []
  for (const a of attempts) {
    const key = targetKey(a.provider, a.model)
    route.push(routeStep(a, key))
    if (members.includes(key)) retriedTargets.push({ provider: a.provider, model: a.model })
    else members.push(key)
  }
  return { route, retries: retriedTargets.length, members, retriedTargets }
}

const truncate = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…[truncated]` : text)

const inputMessagesJson = (request: LanguageModel.Request): string =>
  JSON.stringify(request.messages.map((m) => ({
    role: m.role,
    parts: [
      ...(m.content.length > 0 ? [{ type: "text", content: m.content }] : []),
      ...(m.role === "assistant"
        ? m.toolCalls.map((c) => ({ type: "tool_call", id: c.id, name: c.name, arguments: c.arguments }))
        : [])
    ]
  })))

const outputMessagesJson = (text: string, finishReason: string): string =>
  JSON.stringify([{ role: "assistant", parts: [{ type: "text", content: text }], finish_reason: finishReason }])

const millisToSeconds = (ms: number) => ms / 1000

/** How `@effect/opentelemetry` marks the spans it backs with an OpenTelemetry span (its `OtelSpan`). */
const OtelSpanTypeId = Symbol.for("@effect/opentelemetry/Tracer/OtelSpan")

/**
 * Sets string-array attributes (`gen_ai.response.finish_reasons`, ...). Effect's
 * span API takes `unknown` values and the OpenTelemetry SDK bridge turns
 * non-scalars into strings, so arrays go to the OpenTelemetry span itself; other
 * spans get them through `attribute` (what `currentOtelSpan`'s view of them does).
 */
const setArrayAttributes = (
  span: Tracer.Span,
  entries: ReadonlyArray<readonly [string, ReadonlyArray<string>]>
): void => {
    // What `OtelTracer.currentOtelSpan` does for this span, without building an
    // OpenTelemetry view of a non-OpenTelemetry span on every call.
    const otel = OtelSpanTypeId in span ? (span as unknown as { readonly span: OtelApi.Span }).span : undefined
    for (const [key, value] of entries) {
      if (otel !== undefined) otel.setAttribute(key, [...value])
      else span.attribute(key, [...value])
    }
}

/** What a call does with a metric: update it (a counter or a histogram of numbers). */
type Updatable = Pick<Metric.Metric<unknown, number, unknown>, "unsafeUpdate">

const TOKENS_INPUT = 0
const TOKENS_OUTPUT = 1
const TOKENS_CACHED_INPUT = 2
const TOKENS_REASONING = 3
const tokenTypes = ["input", "output", "cached_input", "reasoning"] as const

/**
 * The metrics of one label set (operation, provider, model, outcome, tenant):
 * requests and latency, and the others tagged on first use. Labels in the order
 * they always had (the same metric keys).
 */
class CallMetrics {
  readonly requests: Updatable
  readonly latency: Updatable
  private readonly base: { readonly provider: string; readonly model: string }
  private readonly tenant: { readonly tenant?: string }
  private ttft: Updatable | undefined
  private fallback: Updatable | undefined
  private readonly byTokenType: Array<Updatable | undefined> = [undefined, undefined, undefined, undefined]
  private readonly byEstimated: Array<Updatable | undefined> = [undefined, undefined]
  constructor(operation: Operation, provider: string, model: string, outcome: string, tenant: string | undefined) {
    this.base = { provider, model }
    this.tenant = tenant === undefined ? {} : { tenant }
    const labels = { operation, provider, model, outcome, ...this.tenant }
    this.requests = withLabels(Metrics.requests, labels)
    this.latency = withLabels(Metrics.latency, labels)
  }
  timeToFirstToken(): Updatable {
    return this.ttft ??= withLabels(Metrics.timeToFirstToken, this.base)
  }
  fallbacks(): Updatable {
    return this.fallback ??= withLabels(Metrics.fallbacks, this.base)
  }
  tokens(type: number): Updatable {
    return this.byTokenType[type] ??= withLabels(Metrics.tokens, { ...this.base, type: tokenTypes[type]!, ...this.tenant })
  }
  cost(estimated: boolean): Updatable {
    return this.byEstimated[estimated ? 1 : 0] ??= withLabels(Metrics.costUsd, {
      ...this.base,
      estimated: String(estimated),
      ...this.tenant
    })
  }
}

/**
 * Wraps one LanguageModel service with spans, metrics and a log line per call.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) => (inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.sync(() => {
    const operationName = options.operation ?? "chat"
    const redactor = Redaction.makeRedactor(options.secrets)
    const maxContent = options.maxContentLength ?? 4000
    const logOptions = options.log === false ? undefined : options.log === true || options.log === undefined ? {} : options.log
    const successLevel = LogLevel.fromLiteral(logOptions?.success ?? "Info")
    const failureLevel = LogLevel.fromLiteral(logOptions?.failure ?? "Warning")
    const metricsOn = options.metrics !== false

    const targetOf = (request: LanguageModel.Request) => {
      const first = inner.models[0]
      return { provider: first?.provider ?? "unknown", model: request.model ?? first?.model ?? "unknown" }
    }

    const content = (text: string) => truncate(redactor.text(text), maxContent)

    const requestAttributes = (request: LanguageModel.Request, operation: Operation): Record<string, unknown> => {
      const target = targetOf(request)
      const attrs: Record<string, unknown> = {
        ...options.attributes,
        [Attributes.operationName]: operationName,
        [Attributes.providerName]: target.provider,
        [Attributes.system]: target.provider,
        [Attributes.requestModel]: target.model,
        [Attributes.stream]: operation === "stream"
      }
      if (request.maxTokens !== undefined) attrs[Attributes.requestMaxTokens] = request.maxTokens
      if (request.temperature !== undefined) attrs[Attributes.requestTemperature] = request.temperature
      if (request.topP !== undefined) attrs[Attributes.requestTopP] = request.topP
      if (request.seed !== undefined) attrs[Attributes.requestSeed] = request.seed
      if (request.metadata?.tenant !== undefined) attrs[Attributes.tenant] = request.metadata.tenant
      if (options.recordUser === true && request.metadata?.user !== undefined) attrs[Attributes.user] = request.metadata.user
      if (options.recordPrompts === true) attrs[Attributes.inputMessages] = content(inputMessagesJson(request))
      return attrs
    }

    const spanName = (request: LanguageModel.Request) => `${operationName} ${targetOf(request).model}`

    /** Child spans for the attempts, laid out on the call's timeline (see the module comment). */
    const attemptSpans = (call: Call, attempts: ReadonlyArray<LanguageModel.Attempt>, tracer: Tracer.Tracer): void => {
      if (call.span === undefined || !call.span.sampled || attempts.length === 0) return
          const parent = call.span
          const total = call.endNanos - call.startNanos
          const clamp = (t: bigint) => (t < call.startNanos ? call.startNanos : t > call.endNanos ? call.endNanos : t)
          let cursor = call.startNanos
          attempts.forEach((attempt, index) => {
            const duration = BigInt(Math.round(attempt.durationMillis * 1_000_000))
            const last = index === attempts.length - 1
            const serving = last && attempt.outcome === "success"
            const start = clamp(serving ? call.endNanos - (duration > total ? total : duration) : cursor)
            const end = clamp(start + duration)
            if (!serving && attempt.outcome !== "interrupted") cursor = end
            const span = tracer.span(
              `attempt ${attempt.model}`,
              Option.some(parent),
              Context.empty(),
              [],
              start,
              "client",
              { kind: "client" }
            )
            span.attribute(Attributes.operationName, operationName)
            span.attribute(Attributes.providerName, attempt.provider)
            span.attribute(Attributes.system, attempt.provider)
            span.attribute(Attributes.requestModel, attempt.model)
            span.attribute(Attributes.attemptIndex, index)
            span.attribute(Attributes.attemptOutcome, attempt.outcome)
            span.attribute(Attributes.attemptDurationMillis, attempt.durationMillis)
            if (attempt.error !== undefined) span.attribute(Attributes.errorType, attempt.error)
            if (attempt.outcome === "failure" || attempt.outcome === "skipped") {
              const error = new Error(redactor.text(attempt.message ?? attempt.error ?? "failed"))
              error.name = attempt.error ?? "Error"
              Object.defineProperty(error, "stack", { value: `${error.name}: ${error.message}`, writable: true, configurable: true })
              span.end(end, Exit.fail(error))
            } else {
              span.end(end, Exit.void)
            }
          })
    }

    const annotateSpan = (
      call: Call,
      attempts: ReadonlyArray<LanguageModel.Attempt>,
      route: RouteSummary,
      member: number
    ): void => {
        const span = call.span
        if (span === undefined) return
        const arrays: Array<readonly [string, ReadonlyArray<string>]> = []
        const set = (key: string, value: unknown) =>
          Array.isArray(value) ? arrays.push([key, value as ReadonlyArray<string>]) : span.attribute(key, value)
        if (call.request.stop !== undefined) set(Attributes.requestStopSequences, call.request.stop)
        const outcome = call.outcome
        set(Attributes.outcome, outcomeLabel(outcome))
        set(Attributes.latencyMillis, call.endMillis - call.startMillis)
        set(Attributes.attempts, attempts.length)
        if (route.route.length > 0) set(Attributes.route, route.route)
        set(Attributes.retries, route.retries)
        if (call.firstTokenMillis !== undefined) {
          set(Attributes.responseTimeToFirstChunk, millisToSeconds(call.firstTokenMillis - call.startMillis))
        }
        if (outcome._tag === "success") {
          const s = outcome.served
          set(Attributes.providerName, s.provider)
          set(Attributes.system, s.provider)
          set(Attributes.responseModel, s.model)
          if (s.id !== undefined) set(Attributes.responseId, s.id)
          set(Attributes.responseFinishReasons, [s.finishReason])
          set(Attributes.usageInputTokens, s.usage.inputTokens)
          set(Attributes.usageOutputTokens, s.usage.outputTokens)
          if (s.usage.cachedInputTokens > 0) set(Attributes.usageCacheReadInputTokens, s.usage.cachedInputTokens)
          if (s.usage.cacheWriteTokens > 0) set(Attributes.usageCacheCreationInputTokens, s.usage.cacheWriteTokens)
          if (s.usage.reasoningTokens > 0) set(Attributes.usageReasoningOutputTokens, s.usage.reasoningTokens)
          if (s.cost !== undefined) {
            set(Attributes.costUsd, s.cost.usd)
            set(Attributes.costEstimated, s.cost.estimated)
          }
          if (s.cache !== undefined) {
            set(Attributes.cacheHit, s.cache.kind)
            set(Attributes.cacheAgeMillis, s.cache.ageMillis)
            if (s.cache.similarity !== undefined) set(Attributes.cacheSimilarity, s.cache.similarity)
          }
          if (member >= 0) {
            set(Attributes.fallbackMember, member)
            set(Attributes.fallbackUsed, member > 0)
          }
          if (options.recordOutputs === true && outcome.text !== undefined) {
            set(Attributes.outputMessages, content(outputMessagesJson(outcome.text, s.finishReason)))
          }
        } else if (outcome._tag === "failure") {
          set(Attributes.errorType, outcome.error._tag)
          if (outcome.error.provider !== undefined) set(Attributes.providerName, outcome.error.provider)
        } else if (outcome._tag === "defect") {
          set(Attributes.errorType, "defect")
        }
        if (arrays.length > 0) setArrayAttributes(span, arrays)
    }

    // The metrics a call updates, tagged once per label set and kept together:
    // one key per call instead of a label record, a key string and a lookup per
    // metric (~3 µs a call). Bounded like internal/tagged.ts.
    const callMetrics = new Map<string, CallMetrics>()
    const attemptMetrics = new Map<string, Updatable>()
    const cacheMiss = tagged(Metrics.cacheLookups, { result: "miss", kind: "none" })
    const callMetricsOf = (operation: Operation, provider: string, model: string, outcome: string, tenant: string | undefined) => {
      // Lengths first: the fields run together without a separator they could hold.
      const key = `${outcome.length} ${provider.length} ${model.length} ${operation}${outcome}${provider}${model}${tenant ?? ""}`
      let out = callMetrics.get(key)
      if (out === undefined) {
        if (callMetrics.size >= MAX_LABEL_SETS) callMetrics.clear()
        out = new CallMetrics(operation, provider, model, outcome, tenant)
        callMetrics.set(key, out)
      }
      return out
    }
    const attemptMetric = (attempt: LanguageModel.Attempt) => {
      const error = attempt.error ?? "none"
      const key =
        `${attempt.provider.length} ${attempt.model.length} ${attempt.outcome.length} ${attempt.provider}${attempt.model}${attempt.outcome}${error}`
      let out = attemptMetrics.get(key)
      if (out === undefined) {
        if (attemptMetrics.size >= MAX_LABEL_SETS) attemptMetrics.clear()
        out = withLabels(Metrics.attempts, { provider: attempt.provider, model: attempt.model, outcome: attempt.outcome, error })
        attemptMetrics.set(key, out)
      }
      return out
    }

    const recordMetrics = (
      call: Call,
      attempts: ReadonlyArray<LanguageModel.Attempt>,
      route: RouteSummary,
      member: number,
      labels: ReadonlyArray<MetricLabel.MetricLabel>
    ): void => {
      if (!metricsOn) return
      const outcome = call.outcome
      const provider = outcome._tag === "success"
        ? outcome.served.provider
        : outcome._tag === "failure"
        ? outcome.error.provider ?? call.target.provider
        : call.target.provider
      const model = outcome._tag === "success"
        ? outcome.served.model
        : outcome._tag === "failure"
        ? outcome.error.model ?? call.target.model
        : call.target.model
      const tenant = options.tenantLabel === true ? call.request.metadata?.tenant ?? "none" : undefined
      const metrics = callMetricsOf(call.operation, provider, model, outcomeLabel(outcome), tenant)
      // Updated with the fiber's metric labels, as `Metric.update` would.
      metrics.requests.unsafeUpdate(1, labels)
      metrics.latency.unsafeUpdate(millisToSeconds(call.endMillis - call.startMillis), labels)
      if (call.firstTokenMillis !== undefined) {
        metrics.timeToFirstToken().unsafeUpdate(millisToSeconds(call.firstTokenMillis - call.startMillis), labels)
      }
      for (const attempt of attempts) attemptMetric(attempt).unsafeUpdate(1, labels)
      for (const target of route.retriedTargets) tagged(Metrics.retries, target).unsafeUpdate(1, labels)
      if (outcome._tag === "success") {
        const s = outcome.served
        if (s.cache !== undefined) {
          tagged(Metrics.cacheLookups, { result: "hit", kind: s.cache.kind }).unsafeUpdate(1, labels)
        } else {
          if (options.cache === true && call.request.cache?.bypass !== true) cacheMiss.unsafeUpdate(1, labels)
          const usage = s.usage
          if (usage.inputTokens > 0) metrics.tokens(TOKENS_INPUT).unsafeUpdate(usage.inputTokens, labels)
          if (usage.outputTokens > 0) metrics.tokens(TOKENS_OUTPUT).unsafeUpdate(usage.outputTokens, labels)
          if (usage.cachedInputTokens > 0) metrics.tokens(TOKENS_CACHED_INPUT).unsafeUpdate(usage.cachedInputTokens, labels)
          if (usage.reasoningTokens > 0) metrics.tokens(TOKENS_REASONING).unsafeUpdate(usage.reasoningTokens, labels)
          if (s.cost !== undefined && s.cost.usd > 0) metrics.cost(s.cost.estimated).unsafeUpdate(s.cost.usd, labels)
        }
        if (member > 0) metrics.fallbacks().unsafeUpdate(1, labels)
      }
    }

    /** The call's log line, emitted on `fiber` (its current span, loggers and annotations). */
    const logLine = (
      call: Call,
      attempts: ReadonlyArray<LanguageModel.Attempt>,
      route: RouteSummary,
      runtimeFiber: Fiber.RuntimeFiber<unknown, unknown>
    ): void => {
      if (logOptions === undefined) return
      const fiber = FiberAccess.access(runtimeFiber)
      const outcome = call.outcome
      // Below the minimum log level the line would be dropped: skip building it.
      const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
      const level = outcome._tag === "failure" ? failureLevel : outcome._tag === "defect" ? LogLevel.Error : successLevel
      if (LogLevel.greaterThan(minimum, level)) return
      const annotations: Record<string, unknown> = {
        "gen_ai.operation.name": operationName,
        operation: call.operation,
        outcome: outcomeLabel(outcome),
        provider: call.target.provider,
        model: call.target.model,
        latency_ms: call.endMillis - call.startMillis,
        attempts: attempts.length
      }
      if (route.route.length > 1) annotations.route = route.route.join(" > ")
      if (route.retries > 0) annotations.retries = route.retries
      if (call.request.metadata?.tenant !== undefined) annotations.tenant = call.request.metadata.tenant
      if (options.recordUser === true && call.request.metadata?.user !== undefined) annotations.user = call.request.metadata.user
      if (call.firstTokenMillis !== undefined) annotations.ttft_ms = call.firstTokenMillis - call.startMillis
      if (options.recordPrompts === true) annotations.prompt = content(inputMessagesJson(call.request))
      let message: string
      let cause: Cause.Cause<unknown> = Cause.empty
      switch (outcome._tag) {
        case "success": {
          const s = outcome.served
          message = `${operationName} ${s.model}: ${s.finishReason}`
          annotations.provider = s.provider
          annotations.model = s.model
          annotations.finish_reason = s.finishReason
          annotations.input_tokens = s.usage.inputTokens
          annotations.output_tokens = s.usage.outputTokens
          if (s.cost !== undefined) annotations.cost_usd = s.cost.usd
          if (s.cache !== undefined) annotations.cache = s.cache.kind
          if (options.recordOutputs === true && outcome.text !== undefined) annotations.output = content(outcome.text)
          break
        }
        case "failure":
          message = `${operationName} ${outcome.error.model ?? call.target.model} failed: ${outcome.error._tag}`
          annotations.error = outcome.error._tag
          annotations.error_message = redactor.text(outcome.error.message)
          if (outcome.error.provider !== undefined) annotations.provider = outcome.error.provider
          if (outcome.error.model !== undefined) annotations.model = outcome.error.model
          break
        case "defect":
          message = `${operationName} ${call.target.model} died`
          cause = outcome.cause
          annotations.error = "defect"
          break
        case "interrupted":
          message = `${operationName} ${call.target.model} interrupted`
          break
        case "cancelled":
          message = `${operationName} ${call.target.model}: stream ended early by the consumer`
          break
      }
      // What `Effect.annotateLogs(record)(Effect.logWithLevel(...))` does, in one
      // batch of inserts and without setting the fiber's annotations.
      const current = fiber.getFiberRef(FiberRef.currentLogAnnotations)
      FiberAccess.logWith(
        runtimeFiber,
        message,
        cause,
        level,
        HashMap.mutate(current, (map) => {
          for (const key in annotations) HashMap.set(map, key, annotations[key])
        })
      )
    }

    /**
     * Span attributes, attempt spans, metrics and the log line of a finished call,
     * synchronously on `runtimeFiber`. `inSpan`: the call's span is already the
     * current one (generate); otherwise it is made current for the log line.
     */
    const finishOn = (call: Call, runtimeFiber: Fiber.RuntimeFiber<unknown, unknown>, inSpan: boolean): void => {
      const fiber = FiberAccess.access(runtimeFiber)
      const attempts = attemptsOf(call.outcome)
      const route = summarizeRoute(attempts)
      // Which fallback member served (its index among the targets tried), or -1.
      const member = call.outcome._tag === "success"
        ? route.members.indexOf(targetKey(call.outcome.served.provider, call.outcome.served.model))
        : -1
      annotateSpan(call, attempts, route, member)
      attemptSpans(call, attempts, runtimeFiber.currentTracer)
      recordMetrics(call, attempts, route, member, fiber.getFiberRef(FiberRef.currentMetricLabels))
      if (call.span === undefined || inSpan) return logLine(call, attempts, route, runtimeFiber)
      const context = fiber.getFiberRef(FiberRef.currentContext)
      fiber.setFiberRef(FiberRef.currentContext, Context.add(context, Tracer.ParentSpan, call.span))
      try {
        logLine(call, attempts, route, runtimeFiber)
      } finally {
        fiber.setFiberRef(FiberRef.currentContext, context)
      }
    }


    // The installed loggers are usually the same set call after call: wrap each set
    // once. Sets are not always the same object, though: a scope closing patches the
    // fiber's refs back, which rebuilds an equal set. So each logger gets one
    // wrapper for good (an equal set maps to an equal set of the same wrappers, and
    // Effect's ref diffing sees no change), and a logger that is already one of
    // this layer's wrappers is kept as it is. Wrapping afresh per stream cost new
    // logger objects whose hashes every later ref diff and patch had to compute:
    // most of a stream's fixed cost here (~1-2 ms CPU).
    type AnyLogger = Logger.Logger<unknown, unknown>
    const wrapped = new WeakMap<HashSet.HashSet<AnyLogger>, HashSet.HashSet<AnyLogger>>()
    const wrapperOf = new WeakMap<AnyLogger, AnyLogger>()
    const wrappers = new WeakSet<AnyLogger>()
    const wrapOne = (logger: AnyLogger): AnyLogger => {
      if (wrappers.has(logger)) return logger
      let wrapper = wrapperOf.get(logger)
      if (wrapper === undefined) {
        wrapper = Redaction.logger(redactor, logger)
        wrapperOf.set(logger, wrapper)
        wrappers.add(wrapper)
      }
      return wrapper
    }
    const redactLoggers = (loggers: HashSet.HashSet<AnyLogger>) => {
      let out = wrapped.get(loggers)
      if (out === undefined) {
        let all = true
        for (const logger of loggers) if (!wrappers.has(logger)) all = false
        out = all ? loggers : HashSet.map(loggers, wrapOne)
        wrapped.set(loggers, out)
      }
      return out
    }
    /** Attempt messages carry provider error text: scrub them on the way out too. */
    const redactAttempts = (attempts: ReadonlyArray<LanguageModel.Attempt>) =>
      Redaction.unknown(redactor, attempts) as ReadonlyArray<LanguageModel.Attempt>
    const redactResponse = (response: LanguageModel.Response): LanguageModel.Response => {
      const attempts = redactAttempts(response.attempts)
      return attempts === response.attempts ? response : Construct.make(LanguageModel.Response, { ...response, attempts })
    }
    const redactEvent = (event: LanguageModel.StreamEvent): LanguageModel.StreamEvent => {
      if (event._tag !== "Finish") return event
      const attempts = redactAttempts(event.attempts)
      return attempts === event.attempts ? event : Construct.make(LanguageModel.Finish, { ...event, attempts })
    }
    const redactFailure = (cause: Cause.Cause<LlmError.LlmError>) => Redaction.cause(redactor, cause)

    // One span step and one match around the inner call; the loggers and the
    // parent span are set on the fiber and restored with plain ref writes (what
    // `Effect.locallyWith` / `Effect.withSpan` do, minus their acquire/release
    // steps), and everything after the call is synchronous (`finishOn`).
    // The span is made inside the mask: an interrupt between making it and
    // attaching what ends it would leave it open.
    const generate = (request: LanguageModel.Request): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(
          // No stack trace: it would point into this file (the caller's frames are
          // not on the stack by then), and capturing one cost ~15-30 µs a call.
          Effect.makeSpan(spanName(request), {
            kind: "client",
            attributes: requestAttributes(request, "generate"),
            captureStackTrace: false
          }),
          (span) =>
            Effect.withFiberRuntime<LanguageModel.Response, LlmError.LlmError>((runtimeFiber) => {
              const fiber = FiberAccess.access(runtimeFiber)
              const clock = Context.get(runtimeFiber.currentDefaultServices, Clock.Clock)
              const timing = fiber.getFiberRef(FiberRef.currentTracerTimingEnabled)
              const startMillis = clock.unsafeCurrentTimeMillis()
              const startNanos = clock.unsafeCurrentTimeNanos()
              const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
              const context = fiber.getFiberRef(FiberRef.currentContext)
              fiber.setFiberRef(FiberRef.currentLoggers, redactLoggers(loggers))
              fiber.setFiberRef(FiberRef.currentContext, Context.add(context, Tracer.ParentSpan, span))
              const done = (exit: Exit.Exit<LanguageModel.Response, LlmError.LlmError>) =>
                Effect.withFiberRuntime<LanguageModel.Response, LlmError.LlmError>((runtimeFiber) => {
                  const endMillis = clock.unsafeCurrentTimeMillis()
                  const endNanos = clock.unsafeCurrentTimeNanos()
                  try {
                    finishOn({
                      operation: "generate",
                      request,
                      target: targetOf(request),
                      span,
                      startMillis,
                      endMillis,
                      startNanos,
                      endNanos,
                      firstTokenMillis: undefined,
                      outcome: Exit.isSuccess(exit)
                        ? { _tag: "success", served: servedOfResponse(exit.value), text: exit.value.text }
                        : outcomeOfCause(exit.cause)
                    }, runtimeFiber, true)
                  } finally {
                    const fiber = FiberAccess.access(runtimeFiber)
                    fiber.setFiberRef(FiberRef.currentLoggers, loggers)
                    fiber.setFiberRef(FiberRef.currentContext, context)
                    if (span.status._tag !== "Ended") span.end(timing ? endNanos : BigInt(0), exit)
                  }
                  return exit
                })
              return Effect.matchCauseEffect(restore(inner.generate(request)), {
                onFailure: (cause) => done(Exit.failCause(redactFailure(cause))),
                onSuccess: (response) => done(Exit.succeed(redactResponse(response)))
              })
            })
        )
      )

    /**
     * `effect` with the redacting loggers and `span` as the parent span, both set
     * on the running fiber and restored on every exit (what `locallyWith` and
     * `provideService` do, without their acquire/release steps).
     */
    const inCall = <A, E, R>(span: Tracer.Span, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.withFiberRuntime<A, E, R>((runtimeFiber) => {
          const fiber = FiberAccess.access(runtimeFiber)
          const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
          const context = fiber.getFiberRef(FiberRef.currentContext)
          fiber.setFiberRef(FiberRef.currentLoggers, redactLoggers(loggers))
          fiber.setFiberRef(FiberRef.currentContext, Context.add(context, Tracer.ParentSpan, span))
          const reset = () => {
            fiber.setFiberRef(FiberRef.currentLoggers, loggers)
            fiber.setFiberRef(FiberRef.currentContext, context)
          }
          return Effect.matchCauseEffect(restore(effect), {
            onFailure: (cause) => {
              reset()
              return Effect.failCause(cause)
            },
            onSuccess: (value) => {
              reset()
              return Effect.succeed(value)
            }
          })
        })
      )

    // A stream's fixed cost was mostly scope bookkeeping: `Effect.addFinalizer`
    // (and `locallyScopedWith`, built on it) diff and patch every fiber ref of the
    // acquiring and the closing fiber, twice each, when the scope closes. Here the
    // finalizer goes straight into the scope (`Scope.addFinalizerExit`: it needs no
    // refs of the acquiring fiber, `finishOn` sets what the log line needs), the
    // loggers and the parent span are set per pull (`inCall`, which also replaces a
    // `provideService` per pull), and the span, clock and state live in one
    // synchronous step.
    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      // Uninterruptible from making the span to adding the finalizer that ends it.
      Effect.uninterruptibleMask((restore) => Effect.flatMap(
        Effect.makeSpan(spanName(request), {
          kind: "client",
          attributes: requestAttributes(request, "stream"),
          captureStackTrace: false
        }),
        (span) =>
          Effect.withFiberRuntime<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>((runtimeFiber) => {
            const clock = Context.get(runtimeFiber.currentDefaultServices, Clock.Clock)
            const timing = FiberAccess.access(runtimeFiber).getFiberRef(FiberRef.currentTracerTimingEnabled)
            const scope = Context.get(runtimeFiber.currentContext as Context.Context<Scope.Scope>, Scope.Scope)
            const startMillis = clock.unsafeCurrentTimeMillis()
            const startNanos = clock.unsafeCurrentTimeNanos()
            let firstTokenMillis: number | undefined
            let finishEvent: LanguageModel.Finish | undefined
            let failure: Cause.Cause<LlmError.LlmError> | undefined
            let text = ""
            const close = (scopeExit: Exit.Exit<unknown, unknown>) =>
              Effect.withFiberRuntime<void>((closing) => {
                const endMillis = clock.unsafeCurrentTimeMillis()
                const endNanos = clock.unsafeCurrentTimeNanos()
                const outcome: Outcome = failure !== undefined
                  ? outcomeOfCause(failure)
                  : finishEvent !== undefined
                  ? { _tag: "success", served: servedOfFinish(finishEvent), text }
                  : Exit.isFailure(scopeExit) && Cause.isInterrupted(scopeExit.cause)
                  ? { _tag: "interrupted" }
                  : { _tag: "cancelled" }
                const fiber = FiberAccess.access(closing)
                const loggers = fiber.getFiberRef(FiberRef.currentLoggers)
                fiber.setFiberRef(FiberRef.currentLoggers, redactLoggers(loggers))
                try {
                  finishOn({
                    operation: "stream",
                    request,
                    target: targetOf(request),
                    span,
                    startMillis,
                    endMillis,
                    startNanos,
                    endNanos,
                    firstTokenMillis,
                    outcome
                  }, closing, false)
                } finally {
                  fiber.setFiberRef(FiberRef.currentLoggers, loggers)
                  const spanExit: Exit.Exit<unknown, unknown> = failure !== undefined
                    ? Exit.failCause(failure)
                    : outcome._tag === "interrupted" && Exit.isFailure(scopeExit)
                    ? scopeExit
                    : Exit.void
                  if (span.status._tag !== "Ended") span.end(timing ? endNanos : BigInt(0), spanExit)
                }
                return Effect.void
              })
            // One stage over the inner pull (no map/mapErrorCause/tap/tapErrorCause
            // stages): events redacted and observed per chunk, the clock read only
            // until the first token.
            const observe = (chunk: Chunk.Chunk<LanguageModel.StreamEvent>) => {
              for (const event of chunk) {
                switch (event._tag) {
                  case "TextDelta":
                    if (options.recordOutputs === true && text.length <= maxContent) text += event.text
                    firstTokenMillis ??= clock.unsafeCurrentTimeMillis()
                    break
                  case "ToolCallDelta":
                    firstTokenMillis ??= clock.unsafeCurrentTimeMillis()
                    break
                  case "Finish":
                    finishEvent = event
                    break
                }
              }
              return Chunk.map(chunk, redactEvent)
            }
            const onFailure = (
              cause: Cause.Cause<Option.Option<LlmError.LlmError>>
            ): Effect.Effect<never, Option.Option<LlmError.LlmError>> =>
              Option.match(Cause.flipCauseOption(cause), {
                onNone: () => Effect.fail(Option.none()),
                onSome: (errors) => {
                  const redacted = redactFailure(errors)
                  failure = redacted
                  return Effect.failCause(Cause.map(redacted, Option.some))
                }
              })
            // Opening (behind a fallback, a wait for a first event) can be interrupted;
            // a failure to open is the call's failure.
            const opened = Effect.catchAllCause(
              restore(inCall(span, LanguageModel.pullOf(inner, request))),
              (cause) => {
                // An interrupted opening is told by the scope's exit, as a stream's.
                if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
                failure = redactFailure(cause)
                return Effect.failCause(failure)
              }
            )
            return Effect.zipRight(
              Scope.addFinalizerExit(scope, close),
              Effect.map(opened, (upstream): LanguageModel.StreamPull =>
                Effect.matchCauseEffect(inCall(span, upstream), {
                  onFailure,
                  onSuccess: (chunk) => Effect.succeed(observe(chunk))
                }))
            )
          })
      ))

    return {
      models: inner.models,
      generate,
      stream: (request) => LanguageModel.fromPull(streamPull(request)),
      streamPull
    } satisfies LanguageModel.Service
  })

/**
 * The telemetry middleware as a Layer from `LanguageModel` to `LanguageModel`;
 * the outermost layer of a stack.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))

// -----------------------------------------------------------------------------
// Export
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface OtlpOptions {
  /** The collector's OTLP/HTTP base URL, e.g. `http://localhost:4318` (`/v1/traces` etc. are appended). */
  readonly url: string
  /** `service.name` (default `effect-llm`). */
  readonly serviceName?: string | undefined
  readonly serviceVersion?: string | undefined
  /** Resource attributes, e.g. `{ "deployment.environment": "prod" }`. */
  readonly attributes?: Readonly<Record<string, unknown>> | undefined
  /** Headers sent to the collector (an auth token, a tenant id). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** How often spans, metrics and logs are pushed (default 5 seconds; metrics 10 seconds). */
  readonly exportInterval?: Duration.DurationInput | undefined
  /** Secrets scrubbed from every exported log line (see `layerRedactLogs`). */
  readonly secrets?: ReadonlyArray<string | Redacted.Redacted<string>> | undefined
}

/**
 * Exports Effect's spans, metrics and logs to an OpenTelemetry collector over
 * OTLP/HTTP (JSON), with `@effect/opentelemetry`'s OTLP exporter and the platform
 * `fetch` client. Every exported log line is redacted.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<never> => {
  const interval = options.exportInterval
  return layerRedactLogs(options.secrets).pipe(
    Layer.provideMerge(
      Otlp.layerJson({
        baseUrl: options.url,
        resource: {
          serviceName: options.serviceName ?? "effect-llm",
          serviceVersion: options.serviceVersion,
          attributes: { ...options.attributes }
        },
        headers: options.headers,
        tracerExportInterval: interval,
        loggerExportInterval: interval,
        metricsExportInterval: interval
      })
    ),
    Layer.provide(FetchHttpClient.layer)
  )
}
