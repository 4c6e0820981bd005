/**
 * Client-side rate limits for a `LanguageModel`: requests per minute, tokens per
 * minute and concurrent calls, keyed by provider/model (and tenant, if asked).
 *
 * - RPM and TPM are counted by `@effect/experimental`'s `RateLimiter`
 *   (fixed-window algorithm) on a store: in memory (default) or Redis, so several
 *   processes share one limit. TPM is charged with an estimate before the call
 *   (default: prompt characters / 4 plus `maxTokens`) and corrected from the
 *   reported usage after it.
 * - `mode: "delay"` (default) waits for capacity; `mode: "fail"` fails at once with
 *   `RateLimited` (source `local`, with `retryAfterMillis`).
 * - A provider 429 with a Retry-After pauses the key in the store: every caller
 *   sharing it (every replica, with Redis) waits or fails until the pause is over.
 *
 * Written by hand on top of the library: the pause of a key and the concurrency
 * cap are not in `@effect/experimental` (its store only counts windows), so the
 * store here adds a `pause` record (a key with a TTL in Redis), and concurrency is
 * a semaphore per key inside each layer instance. The concurrency cap is therefore
 * per process; RPM, TPM and pauses are shared through the store. When the store
 * fails (Redis down) the limiter lets calls through and logs a warning: a rate
 * limiter should not take the service down with it.
 *
 * @since 0.1.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as RedisRateLimiter from "@effect/experimental/RateLimiter/Redis"
import { Clock, Context, Duration, Effect, Layer, Option, Schema, Scope } from "effect"
import { Redis, type RedisOptions } from "ioredis"
import { logOutages } from "../internal/redis.js"
import * as LanguageModel from "../LanguageModel.js"
import * as Metrics from "../telemetry/Metrics.js"
import * as LlmError from "../LlmError.js"
import * as Attempts from "./internal/attempts.js"

// -----------------------------------------------------------------------------
// Stores
// -----------------------------------------------------------------------------

/**
 * Where counts and pauses live.
 *
 * @since 0.1.0
 * @category models
 */
export interface Store {
  /** Counts RPM/TPM windows (`@effect/experimental` RateLimiter on a memory or Redis store). */
  readonly limiter: RateLimiter.RateLimiter
  /** Pauses a key for at least `millis` (a longer pause already set is kept). */
  readonly pause: (key: string, millis: number) => Effect.Effect<void, StoreError>
  /** How long a key is still paused, in millis (0 when it is not). */
  readonly pausedFor: (key: string) => Effect.Effect<number, StoreError>
}

/**
 * The store failed (e.g. Redis is unreachable).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>("effect-llm/RateLimit/StoreError")("StoreError", {
  message: Schema.String,
  cause: Schema.Defect
}) {}

const storeError = (cause: unknown) =>
  new StoreError({ message: `Rate limit store failure: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

/**
 * The store the `RateLimit` layers use. Optional: without it each layer keeps
 * its own memory store.
 *
 * @since 0.1.0
 * @category tags
 */
export class RateLimitStore extends Context.Tag("effect-llm/RateLimitStore")<RateLimitStore, Store>() {}

/**
 * A store in memory (counts on the Effect clock, so `TestClock` drives it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStoreMemory: Effect.Effect<Store> = Effect.gen(function*() {
  const limiter = yield* Effect.provide(RateLimiter.make, RateLimiter.layerStoreMemory)
  const pauses = new Map<string, number>()
  return {
    limiter,
    pause: (key, millis) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        pauses.set(key, Math.max(pauses.get(key) ?? 0, now + millis))
      }),
    pausedFor: (key) => Effect.map(Clock.currentTimeMillis, (now) => Math.max(0, (pauses.get(key) ?? 0) - now))
  }
})

/**
 * A memory store as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreMemory: Layer.Layer<RateLimitStore> = Layer.effect(RateLimitStore, makeStoreMemory)

/**
 * Options of the Redis store: a `url` (`redis://[:password@]host:port[/db]`) or
 * ioredis options, and a key `prefix` (default `effect-llm:ratelimit:`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RedisStoreOptions {
  readonly url?: string | undefined
  readonly redis?: RedisOptions | undefined
  readonly prefix?: string | undefined
}

const redisOptions = (options: RedisStoreOptions): RedisOptions => {
  if (options.url === undefined) return options.redis ?? {}
  const url = new URL(options.url)
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined
  return {
    // While Redis is down a command fails after one retry (the limiter then lets the
    // call through) instead of waiting through ioredis's 20. The windows' client keeps
    // its offline queue: with one, `quit` on a disconnected client resolves at once.
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    host: url.hostname,
    port: url.port === "" ? 6379 : Number(url.port),
    ...(url.username !== "" ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== "" ? { password: decodeURIComponent(url.password) } : {}),
    ...(db !== undefined && Number.isFinite(db) ? { db } : {}),
    ...options.redis
  }
}

const pauseScript = `
local ttl = redis.call("PTTL", KEYS[1])
if ttl < tonumber(ARGV[1]) then
  redis.call("SET", KEYS[1], "1", "PX", ARGV[1])
end
return 1
`

/**
 * A store in Redis: windows through `@effect/experimental`'s Redis RateLimiter
 * store, pauses as keys with a TTL. Several processes with the same prefix share
 * limits. Connections close with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStoreRedis = (options: RedisStoreOptions = {}): Effect.Effect<Store, never, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = options.prefix ?? "effect-llm:ratelimit:"
    const connection = redisOptions(options)
    const windows = yield* RedisRateLimiter.make({ ...connection, prefix })
    const limiter = yield* RateLimiter.make.pipe(Effect.provideService(RateLimiter.RateLimiterStore, windows))
    const runtime = yield* Effect.runtime<never>()
    const redis = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        // No offline queue: a pause or its check fails at once while Redis is down.
        const client = new Redis({ enableOfflineQueue: false, ...connection, lazyConnect: true })
        logOutages(client, "Redis rate-limit store", runtime)
        // Waits for the first connection, and starts anyway when Redis is down: the
        // client keeps reconnecting.
        await client.connect().catch(() => undefined)
        return client
      }),
      (client) => Effect.promise(() => client.quit().catch(() => client.disconnect()))
    )
    const pauseKey = (key: string) => `${prefix}${key}:pause`
    return {
      limiter,
      pause: (key, millis) =>
        Effect.tryPromise({
          try: () => redis.eval(pauseScript, 1, pauseKey(key), Math.max(1, Math.ceil(millis))),
          catch: storeError
        }).pipe(Effect.asVoid),
      pausedFor: (key) =>
        Effect.tryPromise({
          try: () => redis.pttl(pauseKey(key)),
          catch: storeError
        }).pipe(Effect.map((ttl) => Math.max(0, ttl)))
    }
  })

/**
 * A Redis store as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStoreRedis = (options?: RedisStoreOptions): Layer.Layer<RateLimitStore> =>
  Layer.scoped(RateLimitStore, makeStoreRedis(options))

// -----------------------------------------------------------------------------
// The middleware
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Requests admitted per window (default: unlimited). */
  readonly requestsPerMinute?: number | undefined
  /** Tokens (input + output) admitted per window (default: unlimited). */
  readonly tokensPerMinute?: number | undefined
  /** Calls in flight at once per key, in this process (default: unlimited). */
  readonly maxConcurrency?: number | undefined
  /** The window of the RPM/TPM counts (default 1 minute). */
  readonly window?: Duration.DurationInput | undefined
  /** Wait for capacity (`delay`, default) or fail with `RateLimited` (`fail`). */
  readonly mode?: "delay" | "fail" | undefined
  /** Keep separate limits per `request.metadata.tenant` (default false). */
  readonly perTenant?: boolean | undefined
  /** A custom key; replaces provider/model(/tenant). */
  readonly key?: ((request: LanguageModel.Request, target: { readonly provider: string; readonly model: string }) => string) | undefined
  /**
   * Tokens a request will use, charged to TPM before the call (default: prompt
   * characters / 4, plus `maxTokens`). Plug a tokenizer here, e.g. the `Tokens`
   * module's count.
   */
  readonly estimateTokens?: ((request: LanguageModel.Request) => number) | undefined
  /** Pause the key when the provider answers 429 with a Retry-After (default true). */
  readonly pauseOnProviderLimit?: boolean | undefined
}

/**
 * The default token estimate: four characters a token for every message, plus
 * the requested `maxTokens` of output.
 *
 * @since 0.1.0
 * @category utils
 */
export const estimateTokens = (request: LanguageModel.Request): number => {
  const chars = request.messages.reduce((n, m) => n + m.content.length + (m.role === "assistant"
    ? m.toolCalls.reduce((k, c) => k + c.name.length + c.arguments.length, 0)
    : 0), 0)
  return Math.ceil(chars / 4) + (request.maxTokens ?? 0)
}

interface Gate {
  readonly acquire: Effect.Effect<boolean, never, Scope.Scope>
}

const makeGate = (mode: "delay" | "fail", max: number): Gate => {
  if (mode === "delay") {
    const semaphore = Effect.unsafeMakeSemaphore(max)
    const release = semaphore.release(1)
    // The wait for a slot stays interruptible (a caller that gives up leaves the
    // queue at once: `acquireRelease` would wait uninterruptibly for the slot);
    // once taken, the release is registered before anything can interrupt.
    return {
      acquire: Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.flatMap(Effect.scope, (scope) => Effect.as(Scope.addFinalizer(scope, release), true))
        )
      )
    }
  }
  let inUse = 0
  return {
    acquire: Effect.acquireRelease(
      Effect.sync(() => inUse < max ? (inUse++, true) : false),
      (taken) => Effect.sync(() => void (taken && inUse--))
    )
  }
}

const limited = (key: string, what: string, retryAfterMillis: number | undefined, target: Attempts.Target) =>
  new LlmError.RateLimited({
    provider: target.provider,
    model: target.model,
    source: "local",
    retryAfterMillis: retryAfterMillis === undefined ? undefined : Math.max(0, Math.ceil(retryAfterMillis)),
    message: `Local rate limit reached (${what}) for ${key}`
  })

/** Failures after which the provider has spent no tokens on the call: refused before any, or never reached. */
const spentNothing = (error: LlmError.LlmError): boolean => {
  switch (error._tag) {
    case "InvalidRequest":
    case "AuthenticationFailed":
    case "ContextLengthExceeded":
    case "RateLimited":
    case "QuotaExhausted":
      return true
    case "ProviderUnavailable":
      return error.kind === "network" || error.kind === "circuit-open"
    default:
      return false
  }
}

/**
 * Wraps one service with limits, using the given store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (store: Store, options: Options = {}) =>
(inner: LanguageModel.Service): LanguageModel.Service => {
  const mode = options.mode ?? "delay"
  const window = Duration.decode(options.window ?? "1 minute")
  const estimate = options.estimateTokens ?? estimateTokens
  const gates = new Map<string, Gate>()
  const gateOf = (key: string) => {
    let gate = gates.get(key)
    if (gate === undefined) gates.set(key, gate = makeGate(mode, options.maxConcurrency!))
    return gate
  }
  const keyOf = (request: LanguageModel.Request, target: Attempts.Target) =>
    options.key?.(request, target) ??
      (options.perTenant && request.metadata?.tenant !== undefined
        ? `${target.provider}/${target.model}/tenant:${request.metadata.tenant}`
        : `${target.provider}/${target.model}`)

  const storeFailed = (error: unknown) =>
    Effect.logWarning("RateLimit: the store failed; letting the call through", error)

  /**
   * Takes `tokens` from a window, without waiting: the wait it needs (delay mode)
   * or a failure (fail mode). A store failure lets the call through with nothing
   * taken (`taken` 0).
   */
  const take = (key: string, what: string, limit: number, tokens: number, target: Attempts.Target) =>
    store.limiter.consume({ key, limit, tokens, window, algorithm: "fixed-window", onExceeded: mode }).pipe(
      Effect.map((result) => ({ delay: result.delay, taken: tokens })),
      Effect.catchAll((error) =>
        error.reason === "Exceeded"
          ? Effect.fail(limited(key, what, Duration.toMillis(error.retryAfter), target))
          : Effect.as(storeFailed(error), { delay: Duration.zero, taken: 0 })
      )
    )

  /**
   * Charges (or refunds, when negative) tokens without checking the limit. The
   * same `limit` as the admitting call keeps the window's TTL arithmetic right.
   */
  const charge = (key: string, limit: number, tokens: number) =>
    tokens === 0 ? Effect.void : store.limiter.consume({
      key,
      limit,
      tokens: Math.min(tokens, limit),
      window,
      algorithm: "fixed-window",
      onExceeded: "delay"
    }).pipe(Effect.asVoid, Effect.catchAll(() => Effect.void))

  const refund = (key: string, requests: number, tokens: number) =>
    Effect.zipRight(
      requests === 0 ? Effect.void : charge(`${key}:rpm`, options.requestsPerMinute!, -requests),
      tokens === 0 ? Effect.void : charge(`${key}:tpm`, options.tokensPerMinute!, -tokens)
    )

  /**
   * Admits one call under `key`: takes its request and its estimated tokens, then
   * waits for the later of the two windows (delay mode). A caller that gives up
   * while waiting gives both back. Returns the tokens charged to TPM.
   */
  const admit = (request: LanguageModel.Request, key: string, target: Attempts.Target) =>
    Effect.gen(function*() {
      const paused = yield* store.pausedFor(key).pipe(Effect.catchAll((e) => Effect.as(storeFailed(e), 0)))
      if (paused > 0) {
        if (mode === "fail") return yield* Effect.fail(limited(key, "paused after a provider 429", paused, target))
        yield* Metrics.recordRateLimitWait(key, Duration.millis(paused), "paused")
        yield* Effect.sleep(Duration.millis(paused))
      }
      const tpm = options.tokensPerMinute
      const tokens = tpm === undefined ? 0 : Math.max(1, Math.ceil(estimate(request)))
      if (tpm !== undefined && tokens > tpm) {
        // No window can ever hold it: waiting would never end, and letting it
        // through would break the limit (the provider would refuse it too).
        return yield* Effect.fail(limited(key, `a request of about ${tokens} tokens, more than the ${tpm} tokens per window`, undefined, target))
      }
      let wait = Duration.zero
      let requests = 0
      if (options.requestsPerMinute !== undefined) {
        const rpm = yield* take(`${key}:rpm`, "requests per window", options.requestsPerMinute, 1, target)
        requests = rpm.taken
        if (!Duration.isZero(rpm.delay)) {
          yield* Metrics.recordRateLimitWait(`${key}:rpm`, rpm.delay, "requests per window")
          wait = rpm.delay
        }
      }
      let charged = 0
      if (tpm !== undefined) {
        const taken = yield* take(`${key}:tpm`, "tokens per window", tpm, tokens, target).pipe(
          Effect.tapError(() => refund(key, requests, 0))
        )
        charged = taken.taken
        if (!Duration.isZero(taken.delay)) {
          yield* Metrics.recordRateLimitWait(`${key}:tpm`, taken.delay, "tokens per window")
          wait = Duration.max(wait, taken.delay)
        }
      }
      if (!Duration.isZero(wait)) yield* Effect.onInterrupt(Effect.sleep(wait), () => refund(key, requests, charged))
      return charged
    })

  /** Takes a concurrency slot for `key`; in scope while the call runs. */
  const enter = (key: string, target: Attempts.Target) =>
    Effect.flatMap(
      gateOf(key).acquire,
      (ok) => ok ? Effect.void : Effect.fail(limited(key, "concurrent calls", undefined, target))
    )

  const settle = (key: string, charged: number, usage: LanguageModel.Usage) =>
    options.tokensPerMinute === undefined ? Effect.void : charge(`${key}:tpm`, options.tokensPerMinute, usage.totalTokens - charged)

  /**
   * After a failure: a provider 429 with a Retry-After pauses the key, and a call
   * the provider spent no tokens on (refused, or never reached) gives its estimate
   * back to the window.
   */
  const observe = (key: string, charged: number, error: LlmError.LlmError) =>
    Effect.zipRight(
      (options.pauseOnProviderLimit ?? true) && error._tag === "RateLimited" && error.source === "provider" &&
        error.retryAfterMillis !== undefined && error.retryAfterMillis > 0
        ? store.pause(key, error.retryAfterMillis).pipe(Effect.catchAll(storeFailed))
        : Effect.void,
      charged > 0 && spentNothing(error) ? refund(key, 0, charged) : Effect.void
    )

  const call = (request: LanguageModel.Request, key: string, charged: number) =>
    inner.generate(request).pipe(
      Effect.tap((response) => settle(key, charged, response.usage)),
      Effect.tapError((error) => observe(key, charged, error))
    )

  // The concurrency slot comes first: a call refused for it (fail mode) or waiting
  // for it (delay mode) has taken nothing from the windows yet, so it neither
  // uses up requests it never makes nor starts in a window it was not counted in.
  // A scope only holds a slot: without `maxConcurrency` a call needs none (making
  // and closing one cost more than the rest of the layer).
  const generate = (request: LanguageModel.Request) => {
    const target = Attempts.targetOf(inner, request)
    const key = keyOf(request, target)
    const admitted = Effect.flatMap(admit(request, key, target), (charged) => call(request, key, charged))
    return options.maxConcurrency === undefined ? admitted : Effect.scoped(Effect.zipRight(enter(key, target), admitted))
  }

  const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> => {
    const target = Attempts.targetOf(inner, request)
    const key = keyOf(request, target)
    const open = Effect.flatMap(admit(request, key, target), (charged) =>
      Effect.map(
        Effect.tapError(LanguageModel.pullOf(inner, request), (error) => observe(key, charged, error)),
        (pull) =>
          Attempts.observePull(
            pull,
            (finish) => settle(key, charged, finish.usage),
            // Tokens were generated before a failure mid-stream: the estimate stays charged.
            (error) => observe(key, 0, error)
          )
      ))
    return options.maxConcurrency === undefined ? open : Effect.zipRight(enter(key, target), open)
  }

  return {
    models: inner.models,
    generate,
    stream: (request) => LanguageModel.fromPull(streamPull(request)),
    streamPull
  }
}

/**
 * Wraps one service with limits, on the `RateLimitStore` in context or, without
 * one, a memory store of its own.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) => (inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.gen(function*() {
    const store = yield* Effect.serviceOption(RateLimitStore).pipe(
      Effect.flatMap(Option.match({ onNone: () => makeStoreMemory, onSome: Effect.succeed }))
    )
    return makeWith(store, options)(inner)
  })

/**
 * The limits as a Layer from `LanguageModel` to `LanguageModel`. Provide
 * `layerStoreRedis(...)` to share limits between processes; without a store each
 * layer instance counts in its own memory.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))
