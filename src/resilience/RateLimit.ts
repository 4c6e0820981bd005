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
import { Cause, Clock, Context, Duration, Effect, Either, Layer, Option, Schema, Scope } from "effect"
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
    // Read on every call: one step (`clockWith`) instead of `Clock.currentTimeMillis` and a `map`.
    pausedFor: (key) =>
      Effect.clockWith((clock) => Effect.succeed(Math.max(0, (pauses.get(key) ?? 0) - clock.unsafeCurrentTimeMillis())))
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

/** The keys of one limit: its own (pauses, concurrency) and its two windows'. */
interface Keys {
  readonly key: string
  readonly rpm: string
  readonly tpm: string
}

const keysOf = (key: string): Keys => ({ key, rpm: `${key}:rpm`, tpm: `${key}:tpm` })

/** Who a request goes to, and the keys it is limited under. */
interface Route {
  readonly target: Attempts.Target
  readonly keys: Keys
}

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
  // The default key is provider/model: its target and key strings are kept per
  // requested model (bounded; the target depends on nothing else), not rebuilt and
  // re-hashed by the store on every call.
  const routes = new Map<string | undefined, Route>()
  const routeOf = (request: LanguageModel.Request): Route => {
    if (options.key !== undefined || (options.perTenant && request.metadata?.tenant !== undefined)) {
      const target = Attempts.targetOf(inner, request)
      const key = options.key?.(request, target) ??
        (options.perTenant && request.metadata?.tenant !== undefined
          ? `${target.provider}/${target.model}/tenant:${request.metadata.tenant}`
          : `${target.provider}/${target.model}`)
      return { target, keys: keysOf(key) }
    }
    if (routes.size >= 1024) routes.clear()
    const known = routes.get(request.model)
    if (known !== undefined) return known
    const target = Attempts.targetOf(inner, request)
    const route = { target, keys: keysOf(`${target.provider}/${target.model}`) }
    routes.set(request.model, route)
    return route
  }

  const storeFailed = (error: unknown) =>
    Effect.logWarning("RateLimit: the store failed; letting the call through", error)

  const consume = (key: string, limit: number, tokens: number, onExceeded: "delay" | "fail") =>
    store.limiter.consume({ key, limit, tokens, window, algorithm: "fixed-window", onExceeded })

  /**
   * Charges (or refunds, when negative) tokens without checking the limit, then
   * succeeds with `value`. The same `limit` as the admitting call keeps the
   * window's TTL arithmetic right.
   */
  const charge = <A>(key: string, limit: number, tokens: number, value: A): Effect.Effect<A> =>
    tokens === 0 ? Effect.succeed(value) : Effect.match(consume(key, limit, Math.min(tokens, limit), "delay"), {
      onFailure: () => value,
      onSuccess: () => value
    })

  const refund = (keys: Keys, requests: number, tokens: number) =>
    Effect.zipRight(
      requests === 0 ? Effect.void : charge(keys.rpm, options.requestsPerMinute!, -requests, undefined),
      tokens === 0 ? Effect.void : charge(keys.tpm, options.tokensPerMinute!, -tokens, undefined)
    )

  // Admission is written as continuations (each step a `matchEffect` that calls the
  // next), not `Effect.gen` with a `map` and a `catchAll` per window: it runs on
  // every call, and this is ~2 µs a call less (of ~11). A step after a wait
  // or a log is built only once that has run (`flatMap`), as the generator did: the
  // call (`inner.generate`) is not made for a caller interrupted while waiting.

  /**
   * Admits one call under `keys`, then runs `next` with the tokens charged to TPM:
   * waits out a pause, takes its request and its estimated tokens, then waits for
   * the later of the two windows (delay mode). A caller that gives up while waiting
   * gives both back. A store failure lets the call through with nothing taken.
   */
  const admit = <A, E, R>(
    request: LanguageModel.Request,
    keys: Keys,
    target: Attempts.Target,
    next: (charged: number) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | LlmError.RateLimited, R> =>
    Effect.matchEffect(Effect.suspend(() => store.pausedFor(keys.key)), {
      onFailure: (error) => Effect.flatMap(storeFailed(error), () => takeWindows(request, keys, target, next)),
      onSuccess: (paused) => {
        if (!(paused > 0)) return takeWindows(request, keys, target, next)
        if (mode === "fail") return Effect.fail(limited(keys.key, "paused after a provider 429", paused, target))
        return Effect.zipRight(
          Metrics.recordRateLimitWait(keys.key, Duration.millis(paused), "paused"),
          Effect.flatMap(Effect.sleep(Duration.millis(paused)), () => takeWindows(request, keys, target, next))
        )
      }
    })

  const takeWindows = <A, E, R>(
    request: LanguageModel.Request,
    keys: Keys,
    target: Attempts.Target,
    next: (charged: number) => Effect.Effect<A, E, R>
  ): Effect.Effect<A, E | LlmError.RateLimited, R> => {
    type Admitted = Effect.Effect<A, E | LlmError.RateLimited, R>
    const tpm = options.tokensPerMinute
    const tokens = tpm === undefined ? 0 : Math.max(1, Math.ceil(estimate(request)))
    if (tpm !== undefined && tokens > tpm) {
      // No window can ever hold it: waiting would never end, and letting it
      // through would break the limit (the provider would refuse it too).
      return Effect.fail(limited(keys.key, `a request of about ${tokens} tokens, more than the ${tpm} tokens per window`, undefined, target))
    }
    /** After the RPM window: `requests` taken from it, `wait` its delay. */
    const takeTokens = (requests: number, wait: Duration.Duration): Admitted =>
      tpm === undefined ? waitThen(requests, 0, wait) : Effect.matchEffect(consume(keys.tpm, tpm, tokens, mode), {
        onFailure: (error): Admitted =>
          error.reason === "Exceeded"
            ? Effect.zipRight(
              refund(keys, requests, 0),
              Effect.fail(limited(keys.tpm, "tokens per window", Duration.toMillis(error.retryAfter), target))
            )
            : Effect.flatMap(storeFailed(error), () => waitThen(requests, 0, wait)),
        onSuccess: ({ delay }): Admitted =>
          Duration.isZero(delay) ? waitThen(requests, tokens, wait) : Effect.flatMap(
            Metrics.recordRateLimitWait(keys.tpm, delay, "tokens per window"),
            () => waitThen(requests, tokens, Duration.max(wait, delay))
          )
      })
    const waitThen = (requests: number, charged: number, wait: Duration.Duration): Admitted =>
      Duration.isZero(wait)
        ? next(charged)
        : Effect.flatMap(Effect.onInterrupt(Effect.sleep(wait), () => refund(keys, requests, charged)), () => next(charged))
    const rpm = options.requestsPerMinute
    return rpm === undefined ? takeTokens(0, Duration.zero) : Effect.matchEffect(consume(keys.rpm, rpm, 1, mode), {
      onFailure: (error): Admitted =>
        error.reason === "Exceeded"
          ? Effect.fail(limited(keys.rpm, "requests per window", Duration.toMillis(error.retryAfter), target))
          : Effect.flatMap(storeFailed(error), () => takeTokens(0, Duration.zero)),
      onSuccess: ({ delay }): Admitted =>
        Duration.isZero(delay) ? takeTokens(1, Duration.zero) : Effect.flatMap(
          Metrics.recordRateLimitWait(keys.rpm, delay, "requests per window"),
          () => takeTokens(1, delay)
        )
    })
  }

  /** Takes a concurrency slot for `key`; in scope while the call runs. */
  const enter = (key: string, target: Attempts.Target) =>
    Effect.flatMap(
      gateOf(key).acquire,
      (ok) => ok ? Effect.void : Effect.fail(limited(key, "concurrent calls", undefined, target))
    )

  /** Corrects TPM from the reported usage, then succeeds with `value`. */
  const settle = <A>(keys: Keys, charged: number, usage: LanguageModel.Usage, value: A): Effect.Effect<A> =>
    options.tokensPerMinute === undefined
      ? Effect.succeed(value)
      : charge(keys.tpm, options.tokensPerMinute, usage.totalTokens - charged, value)

  /**
   * After a failure: a provider 429 with a Retry-After pauses the key, and a call
   * the provider spent no tokens on (refused, or never reached) gives its estimate
   * back to the window.
   */
  const observe = (keys: Keys, charged: number, error: LlmError.LlmError) =>
    Effect.zipRight(
      (options.pauseOnProviderLimit ?? true) && error._tag === "RateLimited" && error.source === "provider" &&
        error.retryAfterMillis !== undefined && error.retryAfterMillis > 0
        ? store.pause(keys.key, error.retryAfterMillis).pipe(Effect.catchAll(storeFailed))
        : Effect.void,
      charged > 0 && spentNothing(error) ? refund(keys, 0, charged) : Effect.void
    )

  /** The call, settled after success and observed after failure (`tap` plus `tapError` in one step). */
  const call = (request: LanguageModel.Request, keys: Keys, charged: number) =>
    Effect.matchCauseEffect(inner.generate(request), {
      onFailure: (cause) => {
        const failure = Cause.failureOrCause(cause)
        return Either.isLeft(failure)
          ? Effect.zipRight(observe(keys, charged, failure.left), Effect.failCause(cause))
          : Effect.failCause(cause)
      },
      onSuccess: (response) => settle(keys, charged, response.usage, response)
    })

  // The concurrency slot comes first: a call refused for it (fail mode) or waiting
  // for it (delay mode) has taken nothing from the windows yet, so it neither
  // uses up requests it never makes nor starts in a window it was not counted in.
  // A scope only holds a slot: without `maxConcurrency` a call needs none (making
  // and closing one cost more than the rest of the layer).
  const generate = (request: LanguageModel.Request) => {
    const { keys, target } = routeOf(request)
    const admitted = admit(request, keys, target, (charged) => call(request, keys, charged))
    return options.maxConcurrency === undefined ? admitted : Effect.scoped(Effect.zipRight(enter(keys.key, target), admitted))
  }

  const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> => {
    const { keys, target } = routeOf(request)
    const open = admit(request, keys, target, (charged) =>
      Effect.map(
        Effect.tapError(LanguageModel.pullOf(inner, request), (error) => observe(keys, charged, error)),
        (pull) =>
          Attempts.observePull(
            pull,
            (finish) => settle(keys, charged, finish.usage, undefined),
            // Tokens were generated before a failure mid-stream: the estimate stays charged.
            (error) => observe(keys, 0, error)
          )
      ))
    return options.maxConcurrency === undefined ? open : Effect.zipRight(enter(keys.key, target), open)
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
