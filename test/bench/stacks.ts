/**
 * The stacks the benchmarks measure.
 *
 * - {@link stackConfig}: the "full stack" as a `Stack.layer` configuration (used
 *   end to end and by the gateway): telemetry, input guard, exact cache (memory),
 *   output guard, budget, fallback over two providers, each with circuit breaker,
 *   rate limit and retry. Limits are set high enough never to bind: the bookkeeping
 *   runs on every call, the waiting never happens.
 * - {@link buildInProcess}: the same layers, in the same order, built with each
 *   module's `make` over a zero-latency model, so one layer at a time can be added
 *   (`Stack.layer` only builds real providers). The semantic cache can be added too.
 * - {@link zeroModel}: a zero-latency `LanguageModel` answering like
 *   `ScriptedModel` does (same `Response` shape and token estimate), minus its
 *   recorder: `ScriptedModel` keeps every request it saw (copying the list on each
 *   call, which is right for tests and quadratic over a 100,000-call benchmark).
 */
import { ConfigProvider, Effect, Layer, Logger, ManagedRuntime, Stream } from "effect"
import * as CacheStore from "../../src/cache/CacheStore.js"
import * as ResponseCache from "../../src/cache/ResponseCache.js"
import * as SemanticCache from "../../src/cache/SemanticCache.js"
import * as Budget from "../../src/cost/Budget.js"
import * as BudgetStore from "../../src/cost/BudgetStore.js"
import * as Pricing from "../../src/cost/Pricing.js"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Embeddings from "../../src/providers/Embeddings.js"
import * as Fallback from "../../src/resilience/Fallback.js"
import * as RateLimit from "../../src/resilience/RateLimit.js"
import * as Retry from "../../src/resilience/Retry.js"
import * as Stack from "../../src/Stack.js"
import * as Telemetry from "../../src/telemetry/Telemetry.js"

export const MODEL = "gpt-4.1-mini"

/** Resilience settings shared by every measured stack (and mirrored in Portkey's config). */
export const retryOptions = { maxAttempts: 3, baseDelay: "50 millis", maxDelay: "1 second" } as const
export const rateLimitOptions = { requestsPerMinute: 100_000_000, tokensPerMinute: 1_000_000_000_000 } as const
export const budgetLimits = [{ scope: "global", period: "day", usd: 1_000_000_000 }] as const

/** The full stack as a configuration for `Stack.layer`, over two OpenAI-compatible endpoints. */
export const stackConfig = (
  primaryBaseURL: string,
  backupBaseURL: string,
  options: { readonly guard?: boolean; readonly budget?: boolean; readonly telemetry?: boolean; readonly rateLimit?: boolean } = {}
): Stack.StackConfigInput => ({
  providers: {
    primary: { type: "openai", model: MODEL, baseURL: primaryBaseURL, apiKeyEnv: "BENCH_OPENAI_KEY" },
    backup: { type: "openai", model: MODEL, baseURL: backupBaseURL, apiKeyEnv: "BENCH_OPENAI_KEY" }
  },
  retry: retryOptions,
  ...(options.rateLimit === false ? {} : { rateLimit: rateLimitOptions }),
  cache: { exact: { store: "memory", ttl: "1 hour" } },
  ...(options.budget === false ? {} : { budget: { limits: [...budgetLimits], defaultMaxTokens: 1024 } }),
  ...(options.guard === false ? {} : { guard: { input: {}, output: {} } }),
  telemetry: options.telemetry === false ? false : {}
})

/** The equivalent of Portkey's retry + fallback + cache config: no guard, budget, rate limit or telemetry. */
export const equivalentConfig = (primaryBaseURL: string, backupBaseURL: string): Stack.StackConfigInput =>
  stackConfig(primaryBaseURL, backupBaseURL, { guard: false, budget: false, telemetry: false, rateLimit: false })

/**
 * The stack with nothing but its provider: one member, no retry, rate limit,
 * breaker, cache, budget, guard or telemetry. What building on Effect and the
 * provider adapter cost before any layer's own work.
 */
export const bareConfig = (baseURL: string): Stack.StackConfigInput => ({
  providers: {
    primary: { type: "openai", model: MODEL, baseURL, apiKeyEnv: "BENCH_OPENAI_KEY", retry: false, rateLimit: false, breaker: false }
  },
  telemetry: false
})

/** The API key the configs above read from `BENCH_OPENAI_KEY` (the simulator takes any). */
export const BENCH_KEY = "sk-bench-0000"

/** Where `Stack.layer` finds {@link BENCH_KEY}. */
export const benchKeyConfig = Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BENCH_OPENAI_KEY", BENCH_KEY]])))

/** Keeps the telemetry layer's log line (it is built and handed to the logger) without printing it. */
export const silentLogger = Logger.replace(Logger.defaultLogger, Logger.none)

/** `Stack.layer(config)` as a runtime, with the bench key and the silent logger. */
export const stackRuntime = (config: Stack.StackConfigInput) =>
  ManagedRuntime.make(Stack.layer(config).pipe(Layer.provide(benchKeyConfig), Layer.merge(silentLogger)))

// -----------------------------------------------------------------------------
// In process
// -----------------------------------------------------------------------------

const estimateTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

/**
 * A zero-latency model that answers `text` (see the module comment). Its answers
 * are built without the Schema class constructors (`Construct.make`, complete
 * props): a validated `new Response(...)` costs ~35 µs here, which is the
 * harness's cost, not the stack's.
 */
export const zeroModel = (provider = "openai", text = "Paris is the capital of France."): LanguageModel.Service => {
  const outputTokens = estimateTokens(text)
  const answer = (request: LanguageModel.Request) => {
    let chars = request.messages.length - 1
    for (const m of request.messages) chars += m.content.length
    return Construct.make(LanguageModel.Response, {
      text,
      toolCalls: [],
      finishReason: "stop",
      usage: Construct.make(LanguageModel.Usage, {
        inputTokens: Math.max(1, Math.ceil(chars / 4)),
        outputTokens,
        cachedInputTokens: 0,
        cacheWriteTokens: 0,
        reasoningTokens: 0
      }),
      provider,
      model: request.model ?? MODEL,
      attempts: [],
      latencyMillis: 0
    })
  }
  return {
    models: [{ provider, model: MODEL }],
    generate: (request) => Effect.sync(() => answer(request)),
    stream: (request) => Stream.suspend(() => Stream.fromIterable(LanguageModel.toEvents(answer(request))))
  }
}

/** The layers of the full stack, innermost first (the order they are added in). */
export const layerNames = [
  "retry",
  "rateLimit",
  "fallback",
  "budget",
  "guardOutput",
  "responseCache",
  "semanticCache",
  "guardInput",
  "telemetry"
] as const

export type LayerName = typeof layerNames[number]

/** What the in-process "full stack" holds: everything `stackConfig` configures (no semantic cache). */
export const fullStack: ReadonlyArray<LayerName> = layerNames.filter((n) => n !== "semanticCache")

/** Everything but the guards (their scan cost depends on the prompt; see docs/benchmarks/guard.json). */
export const withoutGuards: ReadonlyArray<LayerName> = fullStack.filter((n) => n !== "guardInput" && n !== "guardOutput")

/** Dependencies of the stateful layers: pricing, budget store, cache store, embedder. */
export const inProcessDeps = Layer.mergeAll(
  Pricing.layer(),
  BudgetStore.layerMemory,
  CacheStore.layerMemory({ maxEntries: 10_000 }),
  Embeddings.layerLocal()
)

/**
 * Builds the stack holding `layers` (in canonical order whatever the order given)
 * over zero-latency models (`model`, {@link zeroModel} by default): the primary, and
 * a backup behind the fallback.
 */
export const buildInProcess = (
  layers: ReadonlyArray<LayerName>,
  model: (provider: string) => LanguageModel.Service = zeroModel
) =>
  Effect.gen(function*() {
    const has = (name: LayerName) => layers.includes(name)
    const member = (provider: string) =>
      Effect.gen(function*() {
        let service = model(provider)
        if (has("retry")) service = yield* Retry.make(retryOptions)(service)
        if (has("rateLimit")) service = yield* RateLimit.make(rateLimitOptions)(service)
        return service
      })
    let service = yield* member("openai")
    if (has("fallback")) {
      const backup = yield* member("openai-backup")
      service = yield* Fallback.make([{ name: "primary", service }, { name: "backup", service: backup }])
    }
    if (has("budget")) service = yield* Budget.make({ limits: budgetLimits, defaultMaxTokens: 1024 })(service)
    // The guard is loaded only when measured (the other layers' figures do not depend on it).
    const Guard = has("guardInput") || has("guardOutput")
      ? yield* Effect.promise(() => import("../../src/guard/Guard.js"))
      : undefined
    if (Guard !== undefined && has("guardOutput")) service = yield* Guard.makeOutput({})(service)
    if (has("responseCache")) service = yield* ResponseCache.make({ ttl: "1 hour" })(service)
    if (has("semanticCache")) service = yield* SemanticCache.make({ ttl: "1 hour" })(service)
    if (Guard !== undefined && has("guardInput")) service = yield* Guard.makeInput({})(service)
    if (has("telemetry")) service = yield* Telemetry.make({ cache: has("responseCache") })(service)
    return service
  })
