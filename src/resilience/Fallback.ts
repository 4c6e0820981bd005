/**
 * An ordered chain of providers: when one fails with an error another provider
 * may serve (`LlmError.isFallbackable`: rate limits, unavailability, exhausted
 * quota, refused credentials, a context window too small), the next member is
 * tried. When every member failed, the call fails with `AllProvidersFailed`,
 * listing each failure in member order; an error no other member could fix (a bad
 * request, a budget refusal) is returned as it is, at once.
 *
 * Each member is a `Layer<LanguageModel>`, usually a whole provider stack with its
 * own `Retry` and `RateLimit`:
 *
 * ```ts
 * Fallback.layer([
 *   OpenAi.layer({ ... }).pipe(Layer.provide ...),            // primary
 *   { name: "backup", layer: Anthropic.layer({ ... }) },         // secondary
 * ], { hedge: { delay: "2 seconds" } })
 * ```
 *
 * Every member gets a circuit breaker (see `CircuitBreaker`; `breaker: false` turns
 * it off): a member whose circuit is open is skipped (an `Attempt` with outcome
 * `skipped`) without a call. The breakers' state is readable through
 * `CircuitBreaker.Registry`, which the layer provides next to `LanguageModel`.
 *
 * Streams fall back only while no event has reached the caller: a stream that
 * fails before its first event moves on to the next member; once an event went
 * out, a failure is the caller's.
 *
 * Hedging (`hedge.delay`): when a member has not answered (generate) or produced
 * its first event (stream) after the delay, the next member starts too; the first
 * success wins and the other call is interrupted, which aborts its HTTP request.
 * The loser is recorded as an `interrupted` attempt.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Chunk,
  Context,
  Duration,
  Effect,
  Exit,
  Fiber,
  identity,
  Layer,
  Option,
  Scope
} from "effect"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as CircuitBreaker from "./CircuitBreaker.js"
import * as Attempts from "./internal/attempts.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The breaker of every member unless the member sets its own; `false`: none (default: on, with the breaker's defaults). */
  readonly breaker?: CircuitBreaker.Options | false | undefined
  /** Start the next member when the current one has not answered after `delay`. */
  readonly hedge?: { readonly delay: Duration.DurationInput } | undefined
  /** Also fall back when a provider's content filter refused (default false). */
  readonly onContentFiltered?: boolean | undefined
  /** Also fall back when an output guard inside a member rejected the answer (default false). */
  readonly onOutputRejected?: boolean | undefined
  /** Replaces the decision entirely (default `LlmError.isFallbackable` plus the two options above). */
  readonly isFallbackable?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * A member given as a Layer with a name and breaker options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Member<E = never, R = never> {
  readonly name?: string | undefined
  readonly layer: Layer.Layer<LanguageModel.LanguageModel, E, R>
  readonly breaker?: CircuitBreaker.Options | false | undefined
}

/**
 * A member: a bare `LanguageModel` layer, or a {@link Member}.
 *
 * @since 0.1.0
 * @category models
 */
export type MemberInput<E = never, R = never> = Layer.Layer<LanguageModel.LanguageModel, E, R> | Member<E, R>

/**
 * A member given as a built service (see {@link make}).
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceMember {
  readonly name?: string | undefined
  readonly service: LanguageModel.Service
  readonly breaker?: CircuitBreaker.Options | false | undefined
}

/**
 * The error of building a {@link MemberInput}.
 *
 * @since 0.1.0
 * @category type-level
 */
export type MemberError<M> = M extends Member<infer E, infer _R> ? E
  : M extends Layer.Layer<LanguageModel.LanguageModel, infer E, infer _R> ? E
  : never

/**
 * What building a {@link MemberInput} requires.
 *
 * @since 0.1.0
 * @category type-level
 */
export type MemberContext<M> = M extends Member<infer _E, infer R> ? R
  : M extends Layer.Layer<LanguageModel.LanguageModel, infer _E, infer R> ? R
  : never

interface Resolved {
  readonly name: string
  readonly service: LanguageModel.Service
  readonly breaker: CircuitBreaker.Breaker | undefined
}

interface Record {
  readonly attempts: ReadonlyArray<LanguageModel.Attempt>
  readonly failure?: LlmError.ProviderFailure | undefined
  readonly fallbackable: boolean
  /** Started and not ended (yet). */
  readonly pending?: { readonly target: Attempts.Target; readonly started: number } | undefined
}

/** What a chain returns: the winner's value and duration, the attempts around it. */
interface Won<A> {
  readonly value: A
  /** The winning member's own call. */
  readonly durationMillis: number
  readonly before: ReadonlyArray<LanguageModel.Attempt>
  readonly after: ReadonlyArray<LanguageModel.Attempt>
}

/** Why a member did not win: `halt` stops the chain (not fallbackable), `next` moves on. */
type Miss = "halt" | "next"

/**
 * Builds the chain from services; also returns the members' breakers.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWithRegistry = (
  members: ReadonlyArray<LanguageModel.Service | ServiceMember>,
  options: Options = {}
): Effect.Effect<{ readonly service: LanguageModel.Service; readonly registry: CircuitBreaker.Registry["Type"] }> =>
  Effect.gen(function*() {
    if (members.length === 0) return yield* Effect.dieMessage("Fallback needs at least one member")
    const resolved: Array<Resolved> = []
    for (const member of members) {
      const entry: ServiceMember = "service" in member ? member : { service: member }
      const name = entry.name ?? CircuitBreaker.nameOf(entry.service)
      const breakerOptions = entry.breaker ?? options.breaker
      if (breakerOptions === false) {
        resolved.push({ name, service: entry.service, breaker: undefined })
      } else {
        const breaker = yield* CircuitBreaker.makeBreaker({ ...breakerOptions, name: breakerOptions?.name ?? name })
        resolved.push({ name, service: CircuitBreaker.wrap(breaker)(entry.service), breaker })
      }
    }
    // A member that is itself a chain failed over when each of its members did for
    // a reason this chain falls back on.
    const fallbackable: (error: LlmError.LlmError) => boolean = options.isFallbackable ??
      ((error: LlmError.LlmError) =>
        LlmError.isFallbackable(error) ||
        (options.onContentFiltered === true && error._tag === "ContentFiltered") ||
        (options.onOutputRejected === true && error._tag === "OutputRejected") ||
        (error._tag === "AllProvidersFailed" && error.failures.length > 0 &&
          error.failures.every((failure) => fallbackable(failure.error))))
    const hedgeDelay = options.hedge === undefined ? undefined : Duration.decode(options.hedge.delay)

    /** The end of a chain that failed: the members' failures, in member order. */
    const allFailed = (failures: ReadonlyArray<LlmError.ProviderFailure>) =>
      new LlmError.AllProvidersFailed({
        message: `All ${resolved.length} providers failed: ${
          failures.map((f) => `${f.provider}/${f.model}: ${f.error._tag}`).join("; ")
        }`,
        failures
      })

    /** What a member's failure says: its attempt, its failure, whether the chain moves on. */
    const missOf = (error: LlmError.LlmError, target: Attempts.Target, durationMillis: number) => {
      const skipped = error._tag === "ProviderUnavailable" && error.kind === "circuit-open"
      return {
        attempt: skipped ? Attempts.skipped(error, target) : Attempts.failure(error, target, durationMillis),
        failure: { provider: error.provider ?? target.provider, model: error.model ?? target.model, error },
        fallbackable: skipped || fallbackable(error)
      }
    }

    /**
     * Without hedging: one member at a time, so none is pending at the end and none
     * runs after the winner (`after` is empty). One clock lookup per call, one match
     * per member, no records unless a member fails: this runs on every call.
     */
    const sequentialChain = <A, B>(
      request: LanguageModel.Request,
      attempt: (member: Resolved, index: number, started: number) => Effect.Effect<A, LlmError.LlmError>,
      win: (won: Won<A>) => B
    ): Effect.Effect<B, LlmError.LlmError> =>
      Effect.clockWith((clock) => {
        const before: Array<LanguageModel.Attempt> = []
        const failures: Array<LlmError.ProviderFailure> = []
        const from = (index: number): Effect.Effect<B, LlmError.LlmError> => {
          if (index >= resolved.length) return Effect.fail(allFailed(failures))
          const member = resolved[index]!
          const started = clock.unsafeCurrentTimeMillis()
          return Effect.matchEffect(attempt(member, index, started), {
            onSuccess: (value) =>
              Effect.succeed(win({ value, before, after: [], durationMillis: clock.unsafeCurrentTimeMillis() - started })),
            onFailure: (error) => {
              const miss = missOf(error, Attempts.targetOf(member.service, request), clock.unsafeCurrentTimeMillis() - started)
              if (!miss.fallbackable) return Effect.fail(error)
              before.push(miss.attempt)
              failures.push(miss.failure)
              return from(index + 1)
            }
          })
        }
        return from(0)
      })

    /**
     * With hedging: `attempt(member)` either wins (A) or fails. Records what
     * happened to each member; returns the winner and its index.
     */
    const hedgedChain = <A>(
      request: LanguageModel.Request,
      attempt: (member: Resolved, index: number, started: number) => Effect.Effect<A, LlmError.LlmError>,
      delay: Duration.Duration
    ): Effect.Effect<Won<A>, LlmError.LlmError> =>
      Effect.gen(function*() {
        const records = new Map<number, Record>()

        const tryMember = (index: number): Effect.Effect<readonly [A, number, number], Miss> => {
          const member = resolved[index]!
          const target = Attempts.targetOf(member.service, request)
          return Effect.clockWith((clock) => {
            const started = clock.unsafeCurrentTimeMillis()
            // Until it ends, a member counts as interrupted: a hedged loser is
            // interrupted in the background and may not have ended yet.
            records.set(index, { attempts: [], pending: { target, started }, fallbackable: true })
            // `disconnect`: an interrupted member (a hedged loser) returns at once and
            // finishes its cleanup (closing a provider stream can wait for a pending
            // read) in the background, so it never holds up the winner.
            return Effect.matchEffect(Effect.disconnect(attempt(member, index, started)), {
              onSuccess: (a) => Effect.succeed([a, index, clock.unsafeCurrentTimeMillis() - started] as const),
              onFailure: (error) => {
                const miss = missOf(error, target, clock.unsafeCurrentTimeMillis() - started)
                records.set(index, { attempts: [miss.attempt], failure: miss.failure, fallbackable: miss.fallbackable })
                return Effect.fail<Miss>(miss.fallbackable ? "next" : "halt")
              }
            })
          })
        }

        const halts = (exit: Exit.Exit<unknown, Miss>) =>
          Exit.isFailure(exit) && Option.getOrUndefined(Cause.failureOption(exit.cause)) === "halt"

        const hedged = (index: number): Effect.Effect<readonly [A, number, number], Miss> => {
          if (index >= resolved.length) return Effect.fail("next")
          if (index === resolved.length - 1) return tryMember(index)
          return Effect.raceWith(tryMember(index), Effect.sleep(delay), {
            onSelfDone: (exit, sleeper) =>
              Effect.zipRight(
                Fiber.interrupt(sleeper),
                Exit.matchEffect(exit, {
                  onSuccess: Effect.succeed,
                  onFailure: (cause) =>
                    Option.match(Cause.failureOption(cause), {
                      onNone: (): Effect.Effect<readonly [A, number, number], Miss> => Effect.failCause(cause),
                      onSome: (miss) => miss === "halt" ? Effect.fail<Miss>(miss) : hedged(index + 1)
                    })
                })
              ),
            onOtherDone: (_, self) =>
              // The first success wins; the loser is interrupted.
              Effect.raceWith(Fiber.join(self), hedged(index + 1), {
                // A member that halts the chain (a non-fallbackable failure) stops the
                // members hedged after it too, as it would have kept them from starting.
                onSelfDone: (exit, other) =>
                  Exit.isSuccess(exit)
                    ? Effect.as(Fiber.interrupt(other), exit.value)
                    : halts(exit)
                    ? Effect.zipRight(Fiber.interrupt(other), exit)
                    : Fiber.join(other),
                onOtherDone: (exit, joining) =>
                  Exit.isSuccess(exit)
                    ? Effect.as(Effect.zipRight(Fiber.interrupt(joining), Fiber.interrupt(self)), exit.value)
                    : Fiber.join(joining)
              })
          })
        }

        const result = yield* Effect.either(hedged(0))
        const now = yield* Effect.clockWith((c) => c.currentTimeMillis)
        const ordered = [...records.entries()].sort(([a], [b]) => a - b).map(([i, r]): readonly [number, Record] =>
          r.pending === undefined
            ? [i, r]
            : [i, { ...r, attempts: [Attempts.interrupted(r.pending.target, now - r.pending.started)] }]
        )
        if (result._tag === "Right") {
          const [value, winner, durationMillis] = result.right
          const before = ordered.filter(([i]) => i < winner).flatMap(([, r]) => r.attempts)
          const after = ordered.filter(([i]) => i > winner).flatMap(([, r]) => r.attempts)
          return { value, before, after, durationMillis }
        }
        const halted = ordered.find(([, r]) => !r.fallbackable && r.failure !== undefined)
        if (halted !== undefined) return yield* Effect.fail(halted[1].failure!.error)
        return yield* Effect.fail(allFailed(ordered.flatMap(([, r]) => r.failure === undefined ? [] : [r.failure])))
      })

    /** Runs the chain; `win` turns the winner into the result inside the chain's last step (no extra `map`). */
    const runChain = <A, B>(
      request: LanguageModel.Request,
      attempt: (member: Resolved, index: number, started: number) => Effect.Effect<A, LlmError.LlmError>,
      win: (won: Won<A>) => B
    ): Effect.Effect<B, LlmError.LlmError> =>
      hedgeDelay === undefined
        ? sequentialChain(request, attempt, win)
        : Effect.map(hedgedChain(request, attempt, hedgeDelay), win)

    // The winner's route is attached once, with its own duration: what a member's
    // own `success` attempt has always measured. A `Response` that already carries
    // its route (a `Retry` inside the member) and has nothing to add is returned as
    // it is: a copy would be equal. Anything else is copied into a `Response` (a
    // hand-made member may answer a plain object of the same shape).
    const generate = (request: LanguageModel.Request): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      runChain(
        request,
        (member) => member.service.generate(request),
        ({ after, before, durationMillis, value }) =>
          before.length === 0 && after.length === 0 && value.attempts.length > 0 &&
            value instanceof LanguageModel.Response
            ? value
            : Attempts.withAttempts(value, before, durationMillis, after)
      )

    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      Effect.gen(function*() {
        const started = yield* Effect.clockWith((c) => c.currentTimeMillis)
        // Each member's stream lives in its own scope. When the stream ends, the
        // winner's is closed in line and any other in the background: closing a
        // provider stream can wait for its pending read, which must not hold up
        // the caller.
        const opened = new Map<number, Scope.CloseableScope>()
        let winner = -1
        // Into the scope directly (`Effect.addFinalizer` diffs the fiber refs around it).
        yield* Scope.addFinalizerExit(yield* Effect.scope, (exit) =>
          Effect.uninterruptible(Effect.forEach(opened, ([index, scope]) =>
            index === winner ? Scope.close(scope, exit) : Effect.forkDaemon(Scope.close(scope, exit)), { discard: true })))
        const open = (member: Resolved, index: number) =>
          Effect.gen(function*() {
            const scope = yield* Scope.make()
            opened.set(index, scope)
            const target = Attempts.targetOf(member.service, request)
            return yield* Effect.gen(function*() {
              const pull = Attempts.requireFinishPull(
                yield* Scope.extend(LanguageModel.pullOf(member.service, request), scope),
                target
              )
              const first: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, LlmError.LlmError> = pull.pipe(
                Effect.catchAll(Option.match({
                  onNone: () =>
                    Effect.fail(
                      new LlmError.ProviderUnavailable({
                        ...target,
                        kind: "stream-interrupted",
                        message: "The stream ended without events"
                      })
                    ),
                  onSome: Effect.fail
                })),
                Effect.flatMap((chunk) => Chunk.isEmpty(chunk) ? first : Effect.succeed(chunk))
              )
              return { chunk: yield* first, pull, index }
            }).pipe(Effect.onExit((exit) =>
              Exit.isSuccess(exit)
                ? Effect.void
                : Effect.zipRight(Scope.close(scope, exit), Effect.sync(() => opened.delete(index)))
            ))
          })
        const { after, before, value } = yield* runChain(request, open, identity)
        winner = value.index
        // A hedged loser that had opened its stream by the time the winner was
        // chosen (both answered in one turn) is closed now, in the background, not
        // when the winner's stream ends: its upstream read would stay open till then.
        for (const [index, scope] of opened) {
          if (index === winner) continue
          opened.delete(index)
          yield* Effect.forkDaemon(Scope.close(scope, Exit.void))
        }
        // One stage: the first chunk, then the winner's pull, `Finish` given the route.
        const route = (chunk: Chunk.Chunk<LanguageModel.StreamEvent>) =>
          Chunk.some(chunk, (event) => event._tag === "Finish")
            ? Effect.map(Attempts.since(started), (d) =>
              Attempts.mapFinishChunk(chunk, (finish) => Attempts.finishWithAttempts(finish, before, d, after)))
            : Effect.succeed(chunk)
        let pending: Chunk.Chunk<LanguageModel.StreamEvent> | undefined = value.chunk
        return Effect.suspend(() => {
          const chunk = pending
          if (chunk === undefined) return Effect.flatMap(value.pull, route)
          pending = undefined
          return route(chunk)
        })
      })

    const registry = {
      breakers: resolved.flatMap((m) => m.breaker === undefined ? [] : [m.breaker]),
      snapshots: Effect.forEach(resolved.flatMap((m) => m.breaker === undefined ? [] : [m.breaker]), (b) => b.snapshot)
    }
    return {
      service: {
        models: resolved.flatMap((m) => m.service.models),
        generate,
        stream: (request: LanguageModel.Request) => LanguageModel.fromPull(streamPull(request)),
        streamPull
      },
      registry
    }
  })

/**
 * Builds the chain from services.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  members: ReadonlyArray<LanguageModel.Service | ServiceMember>,
  options?: Options
): Effect.Effect<LanguageModel.Service> => Effect.map(makeWithRegistry(members, options), (chain) => chain.service)

/**
 * The chain as a Layer: builds each member's layer (in the layer's scope), wraps
 * each in its breaker, and provides `LanguageModel` and the breakers'
 * `CircuitBreaker.Registry`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <const Members extends ReadonlyArray<MemberInput<unknown, unknown>>>(
  members: Members,
  options?: Options
): Layer.Layer<
  LanguageModel.LanguageModel | CircuitBreaker.Registry,
  MemberError<Members[number]>,
  MemberContext<Members[number]>
> =>
  Layer.scopedContext(Effect.gen(function*() {
    const services: Array<ServiceMember> = []
    for (const member of members) {
      const entry: Member<unknown, unknown> = Layer.isLayer(member)
        ? { layer: member as Layer.Layer<LanguageModel.LanguageModel, unknown, unknown> }
        : member as Member<unknown, unknown>
      const context = yield* Layer.build(entry.layer)
      services.push({ name: entry.name, breaker: entry.breaker, service: Context.get(context, LanguageModel.LanguageModel) })
    }
    const { registry, service } = yield* makeWithRegistry(services, options)
    return Context.make(LanguageModel.LanguageModel, service).pipe(Context.add(CircuitBreaker.Registry, registry))
  })) as Layer.Layer<
    LanguageModel.LanguageModel | CircuitBreaker.Registry,
    MemberError<Members[number]>,
    MemberContext<Members[number]>
  >
