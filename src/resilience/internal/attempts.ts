/**
 * Shared bookkeeping of the resilience layers: building `Attempt` records and
 * attaching the route a call took to its `Response` or stream `Finish`.
 *
 * Rule used by Retry and Fallback alike: a response whose `attempts` is empty
 * gets one `success` attempt for itself; earlier attempts (failed retries, failed
 * or skipped fallback members) are put in front.
 */
import { Clock, Effect, Stream } from "effect"
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

const ownAttempts = (
  attempts: ReadonlyArray<LanguageModel.Attempt>,
  provider: string,
  model: string,
  durationMillis: number
): ReadonlyArray<LanguageModel.Attempt> =>
  attempts.length > 0
    ? attempts
    : [Construct.make(LanguageModel.Attempt, { provider, model, outcome: "success", durationMillis: Math.max(0, durationMillis) })]

/** The response with `before` put in front of its own route. */
export const withAttempts = (
  response: LanguageModel.Response,
  before: ReadonlyArray<LanguageModel.Attempt>,
  durationMillis: number,
  after: ReadonlyArray<LanguageModel.Attempt> = []
): LanguageModel.Response =>
  Construct.make(LanguageModel.Response, {
    ...response,
    attempts: [...before, ...ownAttempts(response.attempts, response.provider, response.model, durationMillis), ...after]
  })

/** The `Finish` event with `before` put in front of its own route. */
export const finishWithAttempts = (
  finish: LanguageModel.Finish,
  before: ReadonlyArray<LanguageModel.Attempt>,
  durationMillis: number,
  after: ReadonlyArray<LanguageModel.Attempt> = []
): LanguageModel.Finish =>
  Construct.make(LanguageModel.Finish, {
    ...finish,
    attempts: [...before, ...ownAttempts(finish.attempts, finish.provider, finish.model, durationMillis), ...after]
  })

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

/** Milliseconds since `started` on the Effect clock (TestClock in tests). */
export const since = (started: number): Effect.Effect<number> =>
  Effect.map(Clock.currentTimeMillis, (now) => now - started)
