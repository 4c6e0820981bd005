/**
 * A circuit breaker for a `LanguageModel`: after `threshold` failures within
 * `window` the circuit opens and calls fail at once with `ProviderUnavailable`
 * (kind `circuit-open`, with the remaining cooldown as `retryAfterMillis`), so a
 * fallback chain skips a provider that is down instead of waiting on it. After
 * `cooldown` the circuit is half-open: exactly one probe call goes through; its
 * success closes the circuit, its failure opens it for another cooldown.
 *
 * The state is readable at any time (`state`, `snapshot`) for health endpoints and
 * telemetry; `Fallback` exposes the breakers of its members through {@link Registry}.
 *
 * Written here rather than taken from a library: Effect 3 has no circuit breaker,
 * and this one must understand LLM errors (which failures count) and streams (a
 * stream counts as a success only when it reaches `Finish`).
 *
 * @since 0.1.0
 */
import { Cause, type Clock, Context, Duration, Effect, Layer, Option, Scope, Stream } from "effect"
import * as LanguageModel from "../LanguageModel.js"
import * as Metrics from "../telemetry/Metrics.js"
import * as LlmError from "../LlmError.js"
import * as Attempts from "./internal/attempts.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The name shown in snapshots and errors (default: the provider/model served). */
  readonly name?: string | undefined
  /** Failures within `window` that open the circuit (default 5). */
  readonly threshold?: number | undefined
  /** How far back failures count (default 1 minute). */
  readonly window?: Duration.DurationInput | undefined
  /** How long the circuit stays open before a probe is let through (default 30 seconds). */
  readonly cooldown?: Duration.DurationInput | undefined
  /**
   * Which failures count against the provider (default: unavailability, rate
   * limits, exhausted quota and refused credentials; not a bad request, which is
   * the caller's fault).
   */
  readonly isFailure?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * `closed`: calls go through. `open`: calls fail at once. `half-open`: the
 * cooldown is over and the next call is a probe.
 *
 * @since 0.1.0
 * @category models
 */
export type State = "closed" | "open" | "half-open"

/**
 * What a breaker reports for telemetry.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  readonly name: string
  readonly state: State
  /** Failures counted in the current window. */
  readonly failures: number
  /** When the circuit last opened (epoch millis on the Effect clock). */
  readonly openedAt: number | undefined
  /** While open: how long until a probe may go through. */
  readonly retryAfterMillis: number | undefined
  /** Whether a half-open probe is in flight. */
  readonly probing: boolean
}

/**
 * A running breaker.
 *
 * @since 0.1.0
 * @category models
 */
export interface Breaker {
  readonly name: string
  readonly state: Effect.Effect<State>
  readonly snapshot: Effect.Effect<Snapshot>
  /**
   * Runs an effect under the breaker: fails at once with `ProviderUnavailable`
   * (circuit-open) while the circuit is open, records the outcome otherwise.
   * An interrupted call counts as neither success nor failure.
   */
  readonly guard: <A, R>(
    effect: Effect.Effect<A, LlmError.LlmError, R>
  ) => Effect.Effect<A, LlmError.LlmError, R>
  /** The same for a stream: it succeeds when it ends with `Finish`. */
  readonly guardStream: <R>(
    stream: Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError, R>
  ) => Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError, R>
  /** The same for a stream's pull, opened by `open` in the current scope once admitted. */
  readonly guardPull: (
    open: Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>
  ) => Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>
}

/**
 * The breaker of the `layer` in context.
 *
 * @since 0.1.0
 * @category tags
 */
export class CircuitBreaker extends Context.Tag("effect-llm/CircuitBreaker")<CircuitBreaker, Breaker>() {}

/**
 * The breakers of a fallback chain, in member order, for health checks and
 * telemetry.
 *
 * @since 0.1.0
 * @category tags
 */
export class Registry extends Context.Tag("effect-llm/CircuitBreaker/Registry")<Registry, {
  readonly breakers: ReadonlyArray<Breaker>
  readonly snapshots: Effect.Effect<ReadonlyArray<Snapshot>>
}>() {}

/**
 * The default for `isFailure`.
 *
 * @since 0.1.0
 * @category predicates
 */
export const countsAsFailure = (error: LlmError.LlmError): boolean => {
  switch (error._tag) {
    case "ProviderUnavailable":
      return error.kind !== "circuit-open"
    case "RateLimited":
      return error.source === "provider"
    case "QuotaExhausted":
    case "AuthenticationFailed":
      return true
    default:
      return false
  }
}

interface Internal {
  readonly failures: ReadonlyArray<number>
  readonly openedAt: number | undefined
  readonly probing: boolean
}

type Admission = "pass" | "probe" | { readonly retryAfterMillis: number }

/**
 * Builds a breaker.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeBreaker = (options: Options & { readonly name: string }): Effect.Effect<Breaker> =>
  Effect.gen(function*() {
    const threshold = Math.max(1, options.threshold ?? 5)
    const windowMillis = Duration.toMillis(options.window ?? "1 minute")
    const cooldownMillis = Duration.toMillis(options.cooldown ?? "30 seconds")
    const isFailure = options.isFailure ?? countsAsFailure
    // The state is a plain cell: every read-modify-write below runs synchronously
    // inside one Effect step, so it is as atomic as `Ref.modify` (JS runs one fiber
    // at a time between steps), without a Ref round trip and a clock lookup each.
    let cell: Internal = { failures: [], openedAt: undefined, probing: false }

    const stateAt = (s: Internal, now: number): State =>
      s.openedAt === undefined ? "closed" : now - s.openedAt >= cooldownMillis ? "half-open" : "open"
    // A closed circuit's state does not depend on the time: the clock is read only
    // once the circuit has opened, not on every call.
    const stateWith = (s: Internal, clock: Clock.Clock): State =>
      s.openedAt === undefined ? "closed" : stateAt(s, clock.unsafeCurrentTimeMillis())

    const snapshot = Effect.clockWith((clock) =>
      Effect.sync((): Snapshot => {
        const now = clock.unsafeCurrentTimeMillis()
        const s = cell
        const state = stateAt(s, now)
        return {
          name: options.name,
          state,
          failures: s.failures.filter((t) => now - t < windowMillis).length,
          openedAt: s.openedAt,
          retryAfterMillis: state === "open" ? s.openedAt! + cooldownMillis - now : undefined,
          probing: s.probing
        }
      })
    )

    const admitWith = (clock: Clock.Clock): Admission => {
      const s = cell
      if (s.openedAt === undefined) return "pass"
      const now = clock.unsafeCurrentTimeMillis()
      switch (stateAt(s, now)) {
        case "closed":
          return "pass"
        case "open":
          return { retryAfterMillis: s.openedAt + cooldownMillis - now }
        case "half-open":
          // One probe at a time; the others wait for its verdict as if open.
          if (s.probing) return { retryAfterMillis: 0 }
          cell = { ...s, probing: true }
          return "probe"
      }
    }
    const admit = Effect.clockWith((clock) => Effect.sync(() => admitWith(clock)))

    const succeededAt = (admission: Admission) => {
      if (admission === "probe") cell = { failures: [], openedAt: undefined, probing: false }
    }
    const onSuccess = (admission: Admission) => Effect.sync(() => succeededAt(admission))

    const failedAt = (admission: Admission, error: LlmError.LlmError, now: number) => {
      const s = cell
      if (!isFailure(error)) {
        if (admission === "probe") cell = { ...s, probing: false }
        return
      }
      if (admission === "probe") {
        cell = { failures: [now], openedAt: now, probing: false }
        return
      }
      if (s.openedAt !== undefined) return
      const failures = [...s.failures.filter((t) => now - t < windowMillis), now]
      cell = failures.length >= threshold ? { failures, openedAt: now, probing: false } : { ...s, failures }
    }
    const onFailure = (admission: Admission, error: LlmError.LlmError) =>
      Effect.clockWith((clock) => Effect.sync(() => failedAt(admission, error, clock.unsafeCurrentTimeMillis())))

    const onAbandon = (admission: Admission) =>
      Effect.sync(() => {
        if (admission === "probe") cell = { ...cell, probing: false }
      })

    /** What a stream that ended without its Finish is counted as. */
    const streamCut = new LlmError.ProviderUnavailable({
      kind: "stream-interrupted",
      message: `A stream through the circuit of ${options.name} ended without finishing`
    })

    const refuse = (retryAfterMillis: number) =>
      new LlmError.ProviderUnavailable({
        kind: "circuit-open",
        message: `The circuit of ${options.name} is open`,
        retryAfterMillis: Math.max(0, retryAfterMillis)
      })

    /**
     * Publishes the state as the `effect_llm_breaker_state` gauge (the state only,
     * not a whole snapshot), when it differs from the last value published: a
     * gauge set to the value it holds changes nothing.
     */
    let published: State | undefined
    const publishWith = (clock: Clock.Clock): Effect.Effect<void> => {
      const state = stateWith(cell, clock)
      if (state === published) return Effect.void
      published = state
      return Metrics.recordBreakerState(options.name, state)
    }
    const publish = Effect.clockWith(publishWith)

    // One clock lookup and one match per call (the time itself is read only once the
    // circuit has opened); the state is updated synchronously.
    // Uninterruptible from the admission to the match (only the call itself is
    // interruptible), so a probe interrupted at any point gives its turn back.
    const guard = <A, R>(effect: Effect.Effect<A, LlmError.LlmError, R>) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) => {
          const admission = admitWith(clock)
          const admitted = publishWith(clock)
          if (typeof admission === "object") return Effect.zipRight(admitted, Effect.fail(refuse(admission.retryAfterMillis)))
          const call = Effect.matchCauseEffect(restore(effect), {
            onFailure: (cause) => {
              const failure = Cause.failureOption(cause)
              if (Option.isSome(failure)) {
                failedAt(admission, failure.value, clock.unsafeCurrentTimeMillis())
              } else if (Cause.isInterruptedOnly(cause)) {
                if (admission === "probe") cell = { ...cell, probing: false }
              } else if (admission === "probe") {
                // A probe that died (a defect: no usable answer) failed: another cooldown.
                const now = clock.unsafeCurrentTimeMillis()
                cell = { failures: [now], openedAt: now, probing: false }
              }
              return Effect.zipRight(publishWith(clock), Effect.failCause(cause))
            },
            onSuccess: (value) => {
              succeededAt(admission)
              const publishing = publishWith(clock)
              return publishing === Effect.void ? Effect.succeed(value) : Effect.as(publishing, value)
            }
          })
          return admitted === Effect.void ? call : Effect.zipRight(admitted, call)
        })
      )

    // Uninterruptible from the admission to the finalizer that gives a probe's turn back.
    const guardPull = (open: Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>) =>
      Effect.uninterruptibleMask((restore) => Effect.gen(function*() {
        const admission = yield* admit
        yield* publish
        if (typeof admission === "object") return yield* Effect.fail(refuse(admission.retryAfterMillis))
        let settled = false
        const settle = (effect: Effect.Effect<void>) =>
          Effect.suspend(() => {
            if (settled) return Effect.void
            settled = true
            return effect
          })
        // Into the scope directly (`Effect.addFinalizer` diffs the fiber refs around it);
        // uninterruptible as that was: a closer may run interruptibly (Retry's attempt scope).
        yield* Scope.addFinalizer(yield* Effect.scope, Effect.uninterruptible(settle(onAbandon(admission))))
        // A stream that fails to open failed; opening (which may wait for a first
        // event, behind a fallback) can be interrupted: the finalizer above settles it.
        const pull = yield* Effect.tapError(restore(open), (error) => Effect.zipRight(settle(onFailure(admission, error)), publish))
        // A stream that ends without its Finish was cut: a failure, not an early stop
        // by the caller (which closes the scope before the end).
        let finished = false
        return Attempts.observePull(
          Effect.tapError(pull, (end) =>
            Option.isNone(end) && !finished
              ? Effect.zipRight(settle(onFailure(admission, streamCut)), publish)
              : Effect.void),
          () => {
            finished = true
            return Effect.zipRight(settle(onSuccess(admission)), publish)
          },
          (error) => Effect.zipRight(settle(onFailure(admission, error)), publish)
        )
      }))
    const guardStream = <R>(stream: Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError, R>) =>
      Stream.unwrapScoped(Effect.flatMap(Effect.context<R>(), (context) =>
        Effect.map(guardPull(Stream.toPull(Stream.provideContext(stream, context))), Stream.repeatEffectChunkOption)))

    return {
      name: options.name,
      state: Effect.map(snapshot, (s) => s.state),
      snapshot,
      guard,
      guardStream,
      guardPull
    }
  })

/**
 * The default name of a breaker: the first provider/model the service serves.
 *
 * @since 0.1.0
 * @category getters
 */
export const nameOf = (inner: LanguageModel.Service) => {
  const first = inner.models[0]
  return first === undefined ? "language-model" : `${first.provider}/${first.model}`
}

/**
 * Wraps a service with an existing breaker.
 *
 * @since 0.1.0
 * @category combinators
 */
export const wrap = (breaker: Breaker) => (inner: LanguageModel.Service): LanguageModel.Service => ({
  models: inner.models,
  generate: (request) => breaker.guard(inner.generate(request)),
  stream: (request) => LanguageModel.fromPull(breaker.guardPull(LanguageModel.pullOf(inner, request))),
  streamPull: (request) => breaker.guardPull(LanguageModel.pullOf(inner, request))
})

/**
 * The middleware: a new breaker around one service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) => (inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.map(makeBreaker({ ...options, name: options.name ?? nameOf(inner) }), (breaker) => wrap(breaker)(inner))

/**
 * The breaker as a Layer from `LanguageModel` to `LanguageModel`; its state is
 * readable through the {@link CircuitBreaker} tag.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<LanguageModel.LanguageModel | CircuitBreaker, never, LanguageModel.LanguageModel> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const inner = yield* LanguageModel.LanguageModel
      const breaker = yield* makeBreaker({ ...options, name: options?.name ?? nameOf(inner) })
      return Context.make(LanguageModel.LanguageModel, wrap(breaker)(inner)).pipe(Context.add(CircuitBreaker, breaker))
    })
  )
