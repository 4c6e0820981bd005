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
 * Single-flight is a map of flights (each with a `Deferred` once a second caller
 * waits) rather than effect's `Cache`: `Cache`
 * memoizes failures for its TTL and knows nothing of streams, refresh or a leader
 * that was interrupted. `@effect/experimental`'s `PersistedCache` has the same
 * limits (see `CacheStore`); its `BackingPersistence` is what the stores are.
 *
 * @since 0.1.0
 */
import * as Persistence from "@effect/experimental/Persistence"
import { Cause, type Clock, Deferred, Duration, Effect, Either, Exit, identity, Layer, Option, ParseResult, Schema, Scope, Stream } from "effect"
import * as Construct from "../internal/construct.js"
import * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"
import { CacheStore, type CacheStoreError, layerMemory as CacheStoreLayerMemory } from "./CacheStore.js"
import * as Direct from "./internal/direct.js"
import { eventsOf, hitInfo, hitResponse, replayPull } from "./internal/hit.js"
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

/**
 * What is handed to the store: the entry itself. Stores keep JSON
 * (`JSON.stringify`), and the JSON of an entry is the JSON of its Schema encoding:
 * every field of `Entry` and of the `LanguageModel` classes inside encodes to
 * itself (no transformations), so encoding first only cost time (~10 µs a call).
 * A test checks the equality; a field with a transformation added later must
 * bring `Schema.encodeSync(Entry)` back here.
 */
const toStored = (entry: Entry): unknown => entry

// -----------------------------------------------------------------------------
// Reading entries back
// -----------------------------------------------------------------------------
//
// `Schema.decodeUnknown(Entry)` checks a stored value and builds the classes
// inside; the building (a Schema class constructor per object: entry, response,
// usage, cost, tool calls, attempts) was most of its ~30 µs, paid on every Redis or
// SQLite hit. The check stays the Schema's: the value is validated against the
// encoded side of `Entry` with its refinements (`encodedBoundSchema`: the same
// checks the decode makes, as the classes add no transformations but the
// constructor defaults), then the instances are built from the checked parts with
// `Construct.make`, filling the same defaults. A test compares the result with the
// Schema decode on valid and broken values.

const validateStored = ParseResult.validateEither(Schema.encodedBoundSchema(Entry), { onExcessProperty: "ignore" })

/** How to read one class: its fields in order, members that are classes, constructor defaults. */
interface Reader<A extends object> {
  readonly Class: { readonly prototype: A; readonly fields: Schema.Struct.Fields }
  readonly members?: Readonly<Record<string, (raw: never) => unknown>>
  readonly defaults?: Readonly<Record<string, () => unknown>>
}

/**
 * An instance of the reader's class from a checked encoded value: the fields in
 * the schema's order, an absent optional left absent and a constructor default
 * filled in (as the decode does), class members read by their own readers.
 */
const read = <A extends object>(reader: Reader<A>, keys: ReadonlyArray<string>, raw: object): A => {
  const out = Object.create(reader.Class.prototype) as Record<string, unknown>
  for (const key of keys) {
    const value = (raw as Record<string, unknown>)[key]
    if (value === undefined) {
      const fill = reader.defaults?.[key]
      if (fill !== undefined) out[key] = fill()
    } else {
      const member = reader.members?.[key] as ((raw: unknown) => unknown) | undefined
      out[key] = member === undefined ? value : member(value)
    }
  }
  return out as A
}

const reader = <A extends object>(spec: Reader<A>) => {
  // A tagged class's decode puts `_tag` last.
  const keys = Object.keys(spec.Class.fields).sort((a, b) => Number(a === "_tag") - Number(b === "_tag"))
  return (raw: object): A => read(spec, keys, raw)
}
const each = <A>(one: (raw: object) => A) => (raw: ReadonlyArray<object>): ReadonlyArray<A> => raw.map(one)

const zero = () => 0
const none = () => []
const usageFrom = reader({
  Class: LanguageModel.Usage,
  defaults: { cachedInputTokens: zero, cacheWriteTokens: zero, reasoningTokens: zero }
})
const answerMembers = {
  usage: usageFrom,
  cost: reader({ Class: LanguageModel.Cost }),
  cache: reader({ Class: LanguageModel.CacheInfo }),
  attempts: each(reader({ Class: LanguageModel.Attempt })),
  toolCalls: each(reader({ Class: LanguageModel.ToolCall }))
}
const responseFrom = reader({ Class: LanguageModel.Response, members: answerMembers, defaults: { toolCalls: none, attempts: none } })
const eventFrom: Record<LanguageModel.StreamEvent["_tag"], (raw: object) => LanguageModel.StreamEvent> = {
  TextDelta: reader({ Class: LanguageModel.TextDelta }),
  ToolCallDelta: reader({ Class: LanguageModel.ToolCallDelta }),
  UsageEvent: reader({ Class: LanguageModel.UsageEvent, members: { usage: usageFrom } }),
  Finish: reader({ Class: LanguageModel.Finish, members: answerMembers, defaults: { attempts: none } })
}

/**
 * A stored value as an `Entry`, or `undefined` when it is not one: the Schema's
 * checks, instances built by hand (see above).
 *
 * @since 0.1.0
 * @category conversions
 */
export const entryFromStored = (stored: unknown): Entry | undefined => {
  const checked = validateStored(stored)
  if (Either.isLeft(checked)) return undefined
  const raw = checked.right
  return Construct.make(Entry, {
    storedAt: raw.storedAt,
    payload: raw.payload._tag === "Response"
      ? { _tag: "Response", response: responseFrom(raw.payload.response) }
      : { _tag: "Events", events: raw.payload.events.map((event) => eventFrom[event._tag](event)) }
  })
}

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

type Outcome = Exit.Exit<Option.Option<Entry>, LlmError.LlmError>

/**
 * A call in flight for a key. Its `Deferred` is made only when a second caller
 * arrives (most misses have no company, and making one was ~6% of a miss); the
 * outcome is kept for a caller that arrives after it is known and before the
 * flight is forgotten. `none` tells a waiter to look again (the leader was
 * interrupted or its answer is not stored).
 */
interface Flight {
  waiters: Deferred.Deferred<Option.Option<Entry>, LlmError.LlmError> | undefined
  outcome: Outcome | undefined
}

const settle = (flight: Flight, outcome: Outcome): void => {
  if (flight.outcome !== undefined) return
  flight.outcome = outcome
  if (flight.waiters !== undefined) Deferred.unsafeDone(flight.waiters, outcome)
}

const noneOutcome: Outcome = Exit.succeed(Option.none())

const awaitFlight = (flight: Flight): Effect.Effect<Option.Option<Entry>, LlmError.LlmError> =>
  flight.outcome !== undefined
    ? flight.outcome
    : Effect.fiberIdWith((fiberId) => {
      if (flight.outcome !== undefined) return flight.outcome
      flight.waiters ??= Deferred.unsafeMake<Option.Option<Entry>, LlmError.LlmError>(fiberId)
      return Deferred.await(flight.waiters)
    })

/**
 * Wraps a `LanguageModel` service with the cache, using the `CacheStore` in context.
 *
 * A hit is one `clockWith`, the store read and a synchronous build of the answer:
 * no spans, no `Option` chains, no stream machinery beyond one chunk for a replay.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
(inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service, never, CacheStore> =>
  Effect.gen(function*() {
    const store = yield* CacheStore
    const ttlDuration = Duration.decode(options.ttl ?? "1 hour")
    const ttl = Option.some(ttlDuration)
    const ttlMillis = Duration.toMillis(ttlDuration)
    const finishReasons = new Set(options.cacheableFinishReasons ?? ["stop", "length", "tool_calls"])
    const flights = new Map<string, Flight>()

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

    // The memory store hands out one frozen value per entry: read it once. (Redis
    // and SQLite parse a new value per read, which simply misses here.) The answer a
    // recorded stream adds up to, and the events of a stored response, are kept per
    // entry the same way.
    const entries = new WeakMap<object, Entry>()
    const collected = new WeakMap<Entry, LanguageModel.Response>()
    const replays = new WeakMap<Entry, ReadonlyArray<LanguageModel.StreamEvent>>()
    const entryOf = (raw: unknown): Entry | undefined => {
      const cacheable = typeof raw === "object" && raw !== null && Object.isFrozen(raw)
      const known = cacheable ? entries.get(raw) : undefined
      if (known !== undefined) return known
      const entry = entryFromStored(raw)
      if (entry !== undefined && cacheable) entries.set(raw, entry)
      return entry
    }

    // A synchronous store (memory, SQLite) is read and written by direct calls
    // (see `internal/direct.ts`), made by `lookup` and `save` when they are called:
    // both are called only while the cache's effect runs (from the callbacks of
    // `clockWith`, `flatMap`, `matchCauseEffect` and `suspend`), never when an
    // effect is built to run later.
    const direct = Direct.of(store)

    const readFailed = <A, E, R>(error: CacheStoreError, onMiss: () => Effect.Effect<A, E, R>) =>
      Effect.zipRight(Effect.logWarning("ResponseCache: store read failed, treated as a miss", error), Effect.suspend(onMiss))

    const found = <A, E, R>(
      key: string,
      now: number,
      raw: Option.Option<unknown>,
      onHit: (entry: Entry) => Effect.Effect<A, E, R>,
      onMiss: () => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> => {
      if (Option.isNone(raw)) return onMiss()
      const entry = entryOf(raw.value)
      if (entry !== undefined) return now - entry.storedAt < ttlMillis ? onHit(entry) : onMiss()
      return Effect.zipRight(
        Effect.zipRight(Effect.ignore(store.remove(key)), Effect.logWarning("ResponseCache: dropped an entry that does not decode")),
        Effect.suspend(onMiss)
      )
    }

    /**
     * Reads the key and continues with `onHit` or `onMiss` in the same step (a
     * failed read or an entry that does not decode is logged and is a miss). An
     * entry older than this cache's `ttl` is a miss too: a shared or persistent
     * store may hold entries written with a longer one (another replica, an earlier
     * deployment), and the store's own expiry only knows the writer's.
     */
    const lookup = <A, E, R>(
      key: string,
      now: number,
      onHit: (entry: Entry) => Effect.Effect<A, E, R>,
      onMiss: () => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> => {
      if (direct !== undefined) {
        let raw: Option.Option<unknown>
        try {
          raw = direct.get(key)
        } catch (cause) {
          return readFailed(Persistence.PersistenceBackingError.make("get", cause), onMiss)
        }
        return found(key, now, raw, onHit, onMiss)
      }
      // Methods, not arrow properties: tsx names those with a `defineProperty` per call (see `attempt` in `CacheStore`).
      return Effect.matchEffect(store.get(key), {
        onFailure(error) {
          return readFailed(error, onMiss)
        },
        onSuccess(raw) {
          return found(key, now, raw, onHit, onMiss)
        }
      })
    }

    const writeFailed = (error: CacheStoreError) => Effect.logWarning("ResponseCache: store write failed", error)

    /**
     * Stores an answer under the model that produced it and succeeds with `result`;
     * never fails. `restore` is the caller's: an asynchronous store's write is
     * interruptible, a direct one is done here.
     */
    const save = <A>(
      request: LanguageModel.Request,
      plan: Plan,
      entry: Entry,
      reported: Serving,
      reason: LanguageModel.FinishReason,
      result: A,
      restore: (effect: Effect.Effect<A>) => Effect.Effect<A>
    ): Effect.Effect<A> => {
      if (!finishReasons.has(reason)) return Effect.succeed(result)
      const served = producedBy(reported, plan.expected, inner.models)
      const key = served.provider === plan.expected.provider && served.model === plan.expected.model
        ? plan.key
        : requestKey(request, served, options)
      if (direct !== undefined) {
        try {
          direct.set(key, toStored(entry), ttl)
          return Effect.succeed(result)
        } catch (cause) {
          return Effect.as(writeFailed(Persistence.PersistenceBackingError.make("set", cause)), result)
        }
      }
      return restore(Effect.matchEffect(store.set(key, toStored(entry), ttl), {
        onFailure(error) {
          return Effect.as(writeFailed(error), result)
        },
        onSuccess() {
          return Effect.succeed(result)
        }
      }))
    }

    const storedResponse = (entry: Entry): LanguageModel.Response | undefined => {
      if (entry.payload._tag === "Response") return entry.payload.response
      let response = collected.get(entry)
      if (response === undefined) {
        response = LanguageModel.fromEvents(entry.payload.events)
        if (response !== undefined) collected.set(entry, response)
      }
      return response
    }

    const storedEvents = (entry: Entry): ReadonlyArray<LanguageModel.StreamEvent> => {
      if (entry.payload._tag === "Events") return entry.payload.events
      let events = replays.get(entry)
      if (events === undefined) {
        events = eventsOf(entry.payload.response)
        replays.set(entry, events)
      }
      return events
    }

    const serveGenerate = (entry: Entry, clock: Clock.Clock, started: number) => {
      const response = storedResponse(entry)
      if (response === undefined) {
        // Events without a Finish (written by something else): fail as collecting them would.
        return LanguageModel.collect(Stream.fromIterable(entry.payload._tag === "Events" ? entry.payload.events : []))
      }
      const now = clock.unsafeCurrentTimeMillis()
      return Effect.succeed(hitResponse(response, hitInfo("exact", entry.storedAt, now), now - started))
    }

    /** A hit as a pull: its events in one chunk, then the end. */
    const servePull = (entry: Entry, clock: Clock.Clock, started: number): LanguageModel.StreamPull => {
      const now = clock.unsafeCurrentTimeMillis()
      return replayPull(storedEvents(entry), hitInfo("exact", entry.storedAt, now), now - started)
    }

    /**
     * Joins the call in flight for the key, or registers a new one and leads it.
     * Uninterruptible until `onLead` has attached what lands the flight (it makes
     * the call interruptible again with `restore`): an interrupt in between would
     * leave a flight no one lands, and every later caller of the key waiting on it.
     */
    const join = <A, E, R>(
      plan: Plan,
      onFollow: (flight: Flight) => Effect.Effect<A, E, R>,
      onLead: (flight: Flight, restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E, R> =>
      // `uninterruptibleMask` calls its function when it runs: no `suspend` needed.
      Effect.uninterruptibleMask((restore) => {
        const existing = flights.get(plan.key)
        if (existing !== undefined) return restore(onFollow(existing))
        const mine: Flight = { waiters: undefined, outcome: undefined }
        flights.set(plan.key, mine)
        return onLead(mine, restore)
      })

    /**
     * Settles a flight and forgets it at once: a caller arriving later reads the
     * store (which applies the TTL and holds only what was stored), never the
     * flight. Waiters get the entry only when it is one the cache stores (a refusal,
     * say, is not: they get `none` and ask again).
     */
    const finish = (plan: Plan, flight: Flight, entry: Entry, reason: LanguageModel.FinishReason) => {
      settle(flight, finishReasons.has(reason) ? Exit.succeed(Option.some(entry)) : noneOutcome)
      if (flights.get(plan.key) === flight) flights.delete(plan.key)
    }

    /**
     * Ends a flight (waiters that got nothing try again) and forgets it. A stream's
     * flight lands with its failure when the stream fails, else with its scope's exit
     * (an interruption or an early stop), typed `unknown` but carrying the stream's own
     * errors: `LlmError`.
     */
    const land = (plan: Plan, flight: Flight, exit: Exit.Exit<unknown, unknown>) => {
      settle(
        flight,
        Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)
          ? Exit.failCause(exit.cause as Cause.Cause<LlmError.LlmError>)
          : noneOutcome
      )
      if (flights.get(plan.key) === flight) flights.delete(plan.key)
    }

    const generateShared = (
      request: LanguageModel.Request,
      plan: Plan,
      clock: Clock.Clock,
      started: number
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      join(
        plan,
        (flight) =>
          Effect.flatMap(awaitFlight(flight), (entry) =>
            Option.isNone(entry)
              ? attemptGenerate(request, { ...plan, refresh: false }, clock, started)
              : serveGenerate(entry.value, clock, started)),
        // The call alone is interruptible: the flight lands in the same step as its
        // outcome (no `onExit` and `tap`, which took more steps), and the write is
        // interruptible again.
        (flight, restore) =>
          Effect.matchCauseEffect(restore(inner.generate(request)), {
            onFailure(cause) {
              land(plan, flight, Exit.failCause(cause))
              return Effect.failCause(cause)
            },
            onSuccess(response) {
              const entry = Construct.make(Entry, {
                storedAt: clock.unsafeCurrentTimeMillis(),
                payload: { _tag: "Response", response }
              })
              finish(plan, flight, entry, response.finishReason)
              return save(request, plan, entry, response, response.finishReason, response, restore)
            }
          })
      )

    const attemptGenerate = (
      request: LanguageModel.Request,
      plan: Plan,
      clock: Clock.Clock,
      started: number
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      plan.refresh
        ? generateShared(request, plan, clock, started)
        : lookup(
          plan.key,
          started,
          (entry) => serveGenerate(entry, clock, started),
          () => generateShared(request, plan, clock, started)
        )

    // Streams are pulls handed down (see `LanguageModel.streamPull`): no stream
    // stage of this layer's own between the caller and the inner service.
    const sharedPull = (
      request: LanguageModel.Request,
      plan: Plan,
      clock: Clock.Clock,
      started: number
    ): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      join(
        plan,
        (flight) =>
          Effect.flatMap(awaitFlight(flight), (entry) =>
            Option.isNone(entry)
              ? attemptPull(request, { ...plan, refresh: false }, clock, started)
              : Effect.succeed(servePull(entry.value, clock, started))),
        // The flight lands when the caller's scope closes: that finalizer is added in
        // the same uninterruptible step that registered the flight; opening the
        // inner stream (behind a fallback, a wait for its first event) is not.
        (flight, restore) =>
          Effect.flatMap(Effect.scope, (scope) =>
            Effect.flatMap(Scope.addFinalizerExit(scope, (exit) => Effect.sync(() => land(plan, flight, exit))), () => {
              const recorded: Array<LanguageModel.StreamEvent> = []
              const complete = Effect.suspend(() => {
                const last = recorded[recorded.length - 1]
                if (last === undefined || last._tag !== "Finish") return Effect.void
                const entry = Construct.make(Entry, {
                  storedAt: clock.unsafeCurrentTimeMillis(),
                  payload: { _tag: "Events", events: recorded }
                })
                finish(plan, flight, entry, last.reason)
                return save(request, plan, entry, last, last.reason, undefined, identity)
              })
              // A failure lands the flight with that failure as soon as the stream sees it:
              // the caller's scope may close long after (once the gateway has written its
              // answer) and with `Exit.void` whatever happened, which waiters would take
              // for "nothing stored, try again" and call upstream one after another.
              const failed = (error: LlmError.LlmError) => Effect.sync(() => land(plan, flight, Exit.fail(error)))
              return Effect.map(Effect.tapError(restore(LanguageModel.pullOf(inner, request)), failed), (pull): LanguageModel.StreamPull =>
                Effect.matchEffect(pull, {
                  // Recorded per chunk (no effect per event).
                  onSuccess: (chunk) => {
                    for (const event of chunk) recorded.push(event)
                    return Effect.succeed(chunk)
                  },
                  onFailure: (end: Option.Option<LlmError.LlmError>): Effect.Effect<never, Option.Option<LlmError.LlmError>> =>
                    Option.isNone(end)
                      ? Effect.zipRight(complete, Effect.fail(end))
                      : Effect.zipRight(failed(end.value), Effect.fail(end))
                }))
            }))
      )

    const attemptPull = (
      request: LanguageModel.Request,
      plan: Plan,
      clock: Clock.Clock,
      started: number
    ): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      plan.refresh
        ? sharedPull(request, plan, clock, started)
        : lookup(
          plan.key,
          started,
          (entry) => Effect.succeed(servePull(entry, clock, started)),
          () => sharedPull(request, plan, clock, started)
        )

    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> => {
      const plan = planOf(request)
      if (plan === undefined) return LanguageModel.pullOf(inner, request)
      return Effect.clockWith((clock) => attemptPull(request, plan, clock, clock.unsafeCurrentTimeMillis()))
    }

    return {
      models: inner.models,
      generate: (request) => {
        const plan = planOf(request)
        if (plan === undefined) return inner.generate(request)
        return Effect.clockWith((clock) => attemptGenerate(request, plan, clock, clock.unsafeCurrentTimeMillis()))
      },
      stream: (request) => isCacheable(request, options) ? LanguageModel.fromPull(streamPull(request)) : inner.stream(request),
      streamPull
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
