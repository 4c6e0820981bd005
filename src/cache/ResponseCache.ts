/**
 * An exact response cache: the same request, served by the same model for the same
 * tenant, is answered once and then from the cache.
 *
 * - Key: sha256 of the canonical request — messages, sampling parameters, stop,
 *   seed, tools and tool choice, response format, the provider and model that will
 *   serve (`request.model`, or the stack's first model), the tenant
 *   (`metadata.tenant`) and an optional namespace. Object key order and spelled-out
 *   defaults do not change it; `metadata.user`/`tags` only when `varyBy` says so;
 *   `request.cache` never.
 * - Requests with `temperature > 0` are passed through unless `cacheSampled`.
 * - `request.cache.bypass` skips the cache both ways; `refresh` skips the read and
 *   overwrites the entry.
 * - Concurrent identical misses make one call (single-flight): the first caller
 *   leads, the others wait for its answer. If the leader is interrupted, a waiter
 *   takes over; if it fails, the waiters get the same failure (nothing is stored).
 * - Streams are recorded as they pass and replayed, on a hit, as the same events;
 *   a stream and a generate call of the same request share entries.
 * - Only successes are stored (errors and `OutputRejected` from a guard below are
 *   failures), only for the finish reasons in `cacheableFinishReasons`, and under
 *   the model that produced the answer: a fallback's answer is never served to a
 *   later request for the primary model.
 * - A hit carries `cache: { kind: "exact", ageMillis }`, `cost` zero (when the
 *   stored answer had one), no `attempts`, and the lookup's latency; `usage` is
 *   what the answer originally took.
 * - Store failures never fail a call: they are logged and count as a miss.
 *
 * Single-flight is a map of `Deferred`s rather than effect's `Cache`: `Cache`
 * memoizes failures for its TTL and knows nothing of streams, refresh or a leader
 * that was interrupted. `@effect/experimental`'s `PersistedCache` has the same
 * limits (see `CacheStore`); its `BackingPersistence` is what the stores are.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Deferred, Duration, Effect, Exit, Layer, Option, Schema, Stream } from "effect"
import * as Construct from "../internal/construct.js"
import * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"
import { CacheStore, layerMemory as CacheStoreLayerMemory } from "./CacheStore.js"
import { expectedServing, producedBy, requestKey, type Serving, type VaryBy } from "./internal/key.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** How long an entry lives (default 1 hour). */
  readonly ttl?: Duration.DurationInput | undefined
  /** Also cache requests with `temperature > 0` (default false: a sampled answer is meant to vary). */
  readonly cacheSampled?: boolean | undefined
  /**
   * Cache requests that set no temperature (default true). Providers then use their
   * default, which may sample; set false to cache only `temperature: 0`.
   */
  readonly cacheUnsetTemperature?: boolean | undefined
  /** Metadata beside the tenant that takes part in the key (default none). */
  readonly varyBy?: VaryBy | undefined
  /** A namespace in the key, e.g. a prompt or application version (default none). */
  readonly namespace?: string | undefined
  /** Answers stored only when they finished so (default `stop`, `length`, `tool_calls`). */
  readonly cacheableFinishReasons?: ReadonlyArray<LanguageModel.FinishReason> | undefined
}

/**
 * A stored answer: the response, or the events of a stream as they went out.
 *
 * @since 0.1.0
 * @category models
 */
export class Entry extends Schema.Class<Entry>("effect-llm/ResponseCache/Entry")({
  storedAt: Schema.Number,
  payload: Schema.Union(
    Schema.TaggedStruct("Response", { response: LanguageModel.Response }),
    Schema.TaggedStruct("Events", { events: Schema.Array(LanguageModel.StreamEvent) })
  )
}) {}

const decodeEntry = Schema.decodeUnknown(Entry)

/**
 * What is handed to the store: the entry itself. Stores keep JSON
 * (`JSON.stringify`), and the JSON of an entry is the JSON of its Schema encoding:
 * every field of `Entry` and of the `LanguageModel` classes inside encodes to
 * itself (no transformations), so encoding first only cost time (~10 µs a call).
 * A test checks the equality; a field with a transformation added later must
 * bring `Schema.encodeSync(Entry)` back here.
 */
const toStored = (entry: Entry): unknown => entry

/**
 * The cache key of a request served by `serving` (the provider and model); what
 * the cache computes, exposed for tools and tests.
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (
  request: LanguageModel.Request,
  serving: Serving,
  options: Pick<Options, "namespace" | "varyBy"> = {}
): string => requestKey(request, serving, options)

/**
 * Whether the options let a request be cached (its temperature).
 *
 * @since 0.1.0
 * @category predicates
 */
export const isCacheable = (request: LanguageModel.Request, options: Options = {}): boolean => {
  if (request.cache?.bypass === true) return false
  if (request.temperature === undefined) return options.cacheUnsetTemperature ?? true
  return request.temperature === 0 || options.cacheSampled === true
}

// Built from already-valid parts with `Construct.make`: a Schema class constructor
// costs 1-15 µs per instance even without validation.
const hitInfo = (storedAt: number, now: number) =>
  Construct.make(LanguageModel.CacheInfo, { kind: "exact", ageMillis: Math.max(0, now - storedAt) })

const zeroCost = (cost: LanguageModel.Cost | undefined) =>
  cost === undefined ? undefined : Construct.make(LanguageModel.Cost, { usd: 0, estimated: false })

const asHitResponse = (response: LanguageModel.Response, cache: LanguageModel.CacheInfo, latencyMillis: number) =>
  Construct.make(LanguageModel.Response, { ...response, cache, cost: zeroCost(response.cost), attempts: [], latencyMillis })

const asHitFinish = (finish: LanguageModel.Finish, cache: LanguageModel.CacheInfo, latencyMillis: number) =>
  Construct.make(LanguageModel.Finish, { ...finish, cache, cost: zeroCost(finish.cost), attempts: [], latencyMillis })

/**
 * Wraps a `LanguageModel` service with the cache, using the `CacheStore` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
(inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service, never, CacheStore> =>
  Effect.gen(function*() {
    const store = yield* CacheStore
    const ttl = Duration.decode(options.ttl ?? "1 hour")
    const finishReasons = new Set(options.cacheableFinishReasons ?? ["stop", "length", "tool_calls"])
    const flights = new Map<string, Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError>>()

    interface Plan {
      readonly key: string
      readonly expected: Serving
      readonly refresh: boolean
    }
    const planOf = (request: LanguageModel.Request): Plan | undefined => {
      if (!isCacheable(request, options)) return undefined
      const expected = expectedServing(request, inner.models)
      return { key: requestKey(request, expected, options), expected, refresh: request.cache?.refresh === true }
    }

    // The memory store hands out one frozen value per entry: decode it once. (Redis
    // and SQLite parse a new value per read, which simply misses here.)
    const decoded = new WeakMap<object, Entry>()
    const decodeOnce = (raw: unknown) => {
      const known = typeof raw === "object" && raw !== null ? decoded.get(raw) : undefined
      return known !== undefined
        ? Effect.succeed(known)
        : Effect.tap(decodeEntry(raw), (entry) => {
          if (typeof raw === "object" && raw !== null && Object.isFrozen(raw)) decoded.set(raw, entry)
        })
    }

    const lookup = (key: string): Effect.Effect<Option.Option<Entry>> =>
      store.get(key).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.succeedNone,
          onSome: (raw) =>
            decodeOnce(raw).pipe(
              Effect.map(Option.some),
              Effect.catchAll(() =>
                Effect.as(Effect.ignore(store.remove(key)), Option.none<Entry>()).pipe(
                  Effect.tap(() => Effect.logWarning("ResponseCache: dropped an entry that does not decode"))
                )
              )
            )
        })),
        Effect.catchAll((error) =>
          Effect.as(Effect.logWarning("ResponseCache: store read failed, treated as a miss", error), Option.none())
        )
      )

    /** Stores an answer under the model that produced it; never fails. */
    const save = (
      request: LanguageModel.Request,
      plan: Plan,
      entry: Entry,
      reported: Serving,
      reason: LanguageModel.FinishReason
    ): Effect.Effect<void> => {
      if (!finishReasons.has(reason)) return Effect.void
      const served = producedBy(reported, plan.expected, inner.models)
      const key = served.provider === plan.expected.provider && served.model === plan.expected.model
        ? plan.key
        : requestKey(request, served, options)
      return store.set(key, toStored(entry), Option.some(ttl)).pipe(
        Effect.catchAll((error) => Effect.logWarning("ResponseCache: store write failed", error))
      )
    }

    const entryResponse = (entry: Entry): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      entry.payload._tag === "Response"
        ? Effect.succeed(entry.payload.response)
        : LanguageModel.collect(Stream.fromIterable(entry.payload.events))

    const entryEvents = (entry: Entry): ReadonlyArray<LanguageModel.StreamEvent> =>
      entry.payload._tag === "Events" ? entry.payload.events : LanguageModel.toEvents(entry.payload.response)

    const serveGenerate = (entry: Entry, started: number) =>
      Effect.flatMap(entryResponse(entry), (response) =>
        Effect.map(Clock.currentTimeMillis, (now) => asHitResponse(response, hitInfo(entry.storedAt, now), now - started)))

    const serveStream = (entry: Entry, started: number) =>
      Stream.unwrap(Effect.map(Clock.currentTimeMillis, (now) => {
        const cache = hitInfo(entry.storedAt, now)
        return Stream.fromIterable(entryEvents(entry).map((event) =>
          event._tag === "Finish" ? asHitFinish(event, cache, now - started) : event
        ))
      }))

    /** Joins the call in flight for the key, or registers a new one and leads it. */
    const join = <A>(
      plan: Plan,
      onFollow: (flight: Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError>) => A,
      onLead: (flight: Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError>) => A
    ): Effect.Effect<A> =>
      Effect.flatMap(Deferred.make<Option.Option<Entry>, LlmError.LlmError>(), (mine) =>
        Effect.sync(() => {
          const existing = flights.get(plan.key)
          if (existing !== undefined) return onFollow(existing)
          flights.set(plan.key, mine)
          return onLead(mine)
        }))

    const release = (plan: Plan, flight: Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError>) =>
      Effect.zipRight(
        Deferred.succeed(flight, Option.none()),
        Effect.sync(() => {
          if (flights.get(plan.key) === flight) flights.delete(plan.key)
        })
      )

    const settle = (flight: Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError>, cause: Cause.Cause<LlmError.LlmError>) =>
      Cause.isInterruptedOnly(cause) ? Deferred.succeed(flight, Option.none()) : Deferred.failCause(flight, cause)

    const generateShared = (
      request: LanguageModel.Request,
      plan: Plan,
      started: number
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.flatten(join(
        plan,
        (flight) =>
          Effect.flatMap(
            Deferred.await(flight),
            Option.match({
              onNone: () => attemptGenerate(request, { ...plan, refresh: false }, started),
              onSome: (entry) => serveGenerate(entry, started)
            })
          ),
        (flight) =>
          inner.generate(request).pipe(
            Effect.tap((response) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                const entry = Construct.make(Entry, { storedAt: now, payload: { _tag: "Response", response } })
                return Effect.zipRight(
                  save(request, plan, entry, response, response.finishReason),
                  Deferred.succeed(flight, Option.some(entry))
                )
              })
            ),
            Effect.onExit((exit) => Exit.isFailure(exit) ? settle(flight, exit.cause) : Effect.void),
            Effect.ensuring(release(plan, flight))
          )
      ))

    const attemptGenerate = (
      request: LanguageModel.Request,
      plan: Plan,
      started: number
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      plan.refresh
        ? generateShared(request, plan, started)
        : Effect.flatMap(
          lookup(plan.key),
          Option.match({
            onNone: () => generateShared(request, plan, started),
            onSome: (entry) => serveGenerate(entry, started)
          })
        )

    const streamShared = (
      request: LanguageModel.Request,
      plan: Plan,
      started: number
    ): Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError> =>
      Stream.unwrap(join(
        plan,
        (flight) =>
          Stream.unwrap(Effect.map(
            Deferred.await(flight),
            Option.match({
              onNone: () => attemptStream(request, { ...plan, refresh: false }, started),
              onSome: (entry) => serveStream(entry, started)
            })
          )),
        (flight) =>
          Stream.suspend(() => {
            const recorded: Array<LanguageModel.StreamEvent> = []
            const complete = Effect.suspend(() => {
              const last = recorded[recorded.length - 1]
              if (last === undefined || last._tag !== "Finish") return Effect.void
              return Effect.flatMap(Clock.currentTimeMillis, (now) => {
                const entry = Construct.make(Entry, { storedAt: now, payload: { _tag: "Events", events: recorded } })
                return Effect.zipRight(save(request, plan, entry, last, last.reason), Deferred.succeed(flight, Option.some(entry)))
              })
            })
            return inner.stream(request).pipe(
              // Recorded per chunk (no effect per event).
              Stream.mapChunks((chunk) => {
                for (const event of chunk) recorded.push(event)
                return chunk
              }),
              Stream.concat(Stream.execute(complete)),
              Stream.onError((cause) => settle(flight, cause)),
              Stream.ensuring(release(plan, flight))
            )
          })
      ))

    const attemptStream = (
      request: LanguageModel.Request,
      plan: Plan,
      started: number
    ): Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError> =>
      plan.refresh
        ? streamShared(request, plan, started)
        : Stream.unwrap(Effect.map(
          lookup(plan.key),
          Option.match({
            onNone: () => streamShared(request, plan, started),
            onSome: (entry) => serveStream(entry, started)
          })
        ))

    return {
      models: inner.models,
      generate: (request) => {
        const plan = planOf(request)
        if (plan === undefined) return inner.generate(request)
        return Effect.flatMap(Clock.currentTimeMillis, (started) => attemptGenerate(request, plan, started))
      },
      stream: (request) => {
        const plan = planOf(request)
        if (plan === undefined) return inner.stream(request)
        return Stream.unwrap(Effect.map(Clock.currentTimeMillis, (started) => attemptStream(request, plan, started)))
      }
    }
  })

/**
 * The cache as a Layer from `LanguageModel` to `LanguageModel`; provide a
 * `CacheStore` (`CacheStore.layerMemory()` is the default choice).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | CacheStore> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))

/**
 * The cache with its own in-memory LRU store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options?: Options & { readonly maxEntries?: number | undefined; readonly maxBytes?: number | undefined }
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  layer(options).pipe(Layer.provide(CacheStoreLayerMemory(options)))
