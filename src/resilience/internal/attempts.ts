/**
 * Shared bookkeeping of the resilience layers: building `Attempt` records and
 * attaching the route a call took to its `Response` or stream `Finish`.
 *
 * Rule used by Retry and Fallback alike: a response whose `attempts` is empty
 * gets one `success` attempt for itself; earlier attempts (failed retries, failed
 * or skipped fallback members) are put in front.
 */
import { Chunk, Clock, Effect, Option, type Schema, Stream } from "effect"
import * as Construct from "../../internal/construct.js"
import * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import { ProviderUnavailable } from "../../LlmError.js"

/** Who is being called, for attempts recorded before any answer names itself. */
export interface Target {
  readonly provider: string
  readonly model: string
}

/** The provider/model a service serves a request with (its first model by default). */
export const targetOf = (service: LanguageModel.Service, request: LanguageModel.Request): Target => {
  const first = service.models[0]
  return {
    provider: first?.provider ?? "unknown",
    model: request.model ?? first?.model ?? "unknown"
  }
}

// The records below are built from already-valid parts with `Construct.make`: a
// Schema class constructor costs 1-15 µs per instance even without validation.
/** A failed attempt; the error's own provider/model win over the target's. */
export const failure = (error: LlmError.LlmError, target: Target, durationMillis: number): LanguageModel.Attempt =>
  Construct.make(LanguageModel.Attempt, {
    provider: error.provider ?? target.provider,
    model: error.model ?? target.model,
    outcome: "failure",
    error: error._tag,
    message: error.message,
    durationMillis: Math.max(0, durationMillis)
  })

/** A member that was not called (open circuit). */
export const skipped = (error: LlmError.LlmError, target: Target): LanguageModel.Attempt =>
  Construct.make(LanguageModel.Attempt, {
    provider: error.provider ?? target.provider,
    model: error.model ?? target.model,
    outcome: "skipped",
    error: error._tag,
    message: error.message,
    durationMillis: 0
  })

/** A call that was cancelled because another one won (hedging). */
export const interrupted = (target: Target, durationMillis: number): LanguageModel.Attempt =>
  Construct.make(LanguageModel.Attempt, {
    provider: target.provider,
    model: target.model,
    outcome: "interrupted",
    durationMillis: Math.max(0, durationMillis)
  })

/** `before`, the answer's own route (a `success` attempt when it has none), then `after`. */
const route = (
  attempts: ReadonlyArray<LanguageModel.Attempt>,
  provider: string,
  model: string,
  durationMillis: number,
  before: ReadonlyArray<LanguageModel.Attempt>,
  after: ReadonlyArray<LanguageModel.Attempt>
): ReadonlyArray<LanguageModel.Attempt> => {
  if (attempts.length > 0) return [...before, ...attempts, ...after]
  const own = Construct.make(LanguageModel.Attempt, { provider, model, outcome: "success", durationMillis: Math.max(0, durationMillis) })
  return before.length === 0 && after.length === 0 ? [own] : [...before, own, ...after]
}

/**
 * `self` with its `attempts` replaced: one copy of its fields, where a spread
 * passed to `Construct.make` made two.
 */
const withRoute = <C extends Construct.SchemaClass<{ readonly attempts: ReadonlyArray<LanguageModel.Attempt> }>>(
  Class: C,
  self: Schema.Struct.Type<C["fields"]>,
  attempts: ReadonlyArray<LanguageModel.Attempt>
): C["prototype"] => {
  const copy: { attempts: ReadonlyArray<LanguageModel.Attempt> } = Construct.make(Class, self)
  copy.attempts = attempts
  return copy
}

/** The response with `before` put in front of its own route. */
export const withAttempts = (
  response: LanguageModel.Response,
  before: ReadonlyArray<LanguageModel.Attempt>,
  durationMillis: number,
  after: ReadonlyArray<LanguageModel.Attempt> = []
): LanguageModel.Response =>
  withRoute(
    LanguageModel.Response,
    response,
    route(response.attempts, response.provider, response.model, durationMillis, before, after)
  )

/** The `Finish` event with `before` put in front of its own route. */
export const finishWithAttempts = (
  finish: LanguageModel.Finish,
  before: ReadonlyArray<LanguageModel.Attempt>,
  durationMillis: number,
  after: ReadonlyArray<LanguageModel.Attempt> = []
): LanguageModel.Finish =>
  withRoute(LanguageModel.Finish, finish, route(finish.attempts, finish.provider, finish.model, durationMillis, before, after))

/** Rewrites the `Finish` event of a stream with the attempts `before` it. */
export const mapFinish = <E, R>(
  events: Stream.Stream<LanguageModel.StreamEvent, E, R>,
  f: (finish: LanguageModel.Finish) => Effect.Effect<LanguageModel.Finish>
): Stream.Stream<LanguageModel.StreamEvent, E, R> =>
  Stream.mapEffect(events, (event): Effect.Effect<LanguageModel.StreamEvent> => event._tag === "Finish" ? f(event) : Effect.succeed(event))

/**
 * Fails a stream that ends without `Finish` with `ProviderUnavailable`
 * (stream-interrupted), so a silently dropped stream is retried or falls back
 * instead of passing for a success.
 */
export const requireFinish = <E, R>(
  events: Stream.Stream<LanguageModel.StreamEvent, E, R>,
  target: Target
): Stream.Stream<LanguageModel.StreamEvent, E | LlmError.ProviderUnavailable, R> =>
  Stream.suspend(() => {
    let finished = false
    return events.pipe(
      Stream.tap((event) => Effect.sync(() => void (event._tag === "Finish" && (finished = true)))),
      Stream.concat(Stream.suspend(() =>
        finished ? Stream.empty : Stream.fail(
          new ProviderUnavailable({
            provider: target.provider,
            model: target.model,
            kind: "stream-interrupted",
            message: "The stream ended without finishing"
          })
        )
      ))
    )
  })

/** The error of a stream that ended without `Finish`. */
export const streamInterrupted = (target: Target): LlmError.ProviderUnavailable =>
  new ProviderUnavailable({
    provider: target.provider,
    model: target.model,
    kind: "stream-interrupted",
    message: "The stream ended without finishing"
  })

const isFinish = (event: LanguageModel.StreamEvent): event is LanguageModel.Finish => event._tag === "Finish"

/**
 * `requireFinish` on a pull (`Stream.toPull`): the end of a stream that sent no
 * `Finish` fails with `streamInterrupted`. No stream stage, no effect per event.
 */
export const requireFinishPull = <E>(
  pull: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<E>>,
  target: Target
): Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<E | LlmError.ProviderUnavailable>> => {
  let finished = false
  return Effect.matchEffect(pull, {
    onFailure: (option) =>
      Option.isNone(option) && !finished
        ? Effect.fail(Option.some<E | LlmError.ProviderUnavailable>(streamInterrupted(target)))
        : Effect.fail(option),
    onSuccess: (chunk) => {
      if (!finished && Chunk.some(chunk, isFinish)) finished = true
      return Effect.succeed(chunk)
    }
  })
}

/** The chunk with its `Finish` events rewritten by `f` (the chunk itself when it has none). */
export const mapFinishChunk = (
  chunk: Chunk.Chunk<LanguageModel.StreamEvent>,
  f: (finish: LanguageModel.Finish) => LanguageModel.Finish
): Chunk.Chunk<LanguageModel.StreamEvent> =>
  Chunk.some(chunk, isFinish) ? Chunk.map(chunk, (event) => isFinish(event) ? f(event) : event) : chunk

/**
 * What `Stream.tap` on `Finish` plus `Stream.tapError` do, on a pull: one stage
 * (`Stream.repeatEffectChunkOption` over it) instead of two, no effect per event.
 */
export const observePull = <E, R>(
  pull: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<E>, R>,
  onFinish: (finish: LanguageModel.Finish) => Effect.Effect<void, never, R>,
  onError: (error: E) => Effect.Effect<void, never, R>
): Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<E>, R> =>
  Effect.matchEffect(pull, {
    onFailure: (option): Effect.Effect<never, Option.Option<E>, R> =>
      Option.isSome(option) ? Effect.zipRight(onError(option.value), Effect.fail(option)) : Effect.fail(option),
    onSuccess: (chunk): Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, never, R> =>
      Chunk.some(chunk, isFinish)
        ? Effect.as(Effect.forEach(Chunk.filter(chunk, isFinish), onFinish, { discard: true }), chunk)
        : Effect.succeed(chunk)
  })

/** Milliseconds since `started` on the Effect clock (TestClock in tests). */
export const since = (started: number): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => now - started)
