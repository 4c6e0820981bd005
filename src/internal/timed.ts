/**
 * A provider's own timer for Retry's attempt timeout.
 *
 * Retry bounds each attempt (a call, the opening of a stream, each pull of it) by
 * `attemptTimeout`. Done from outside, that costs fibers: a child fiber and a join
 * per call, a worker fiber and two hand-offs per pull (resilience/internal/timeout.ts),
 * ≈ 0.7 ms CPU of a streamed call's ≈ 3.3 ms through the equivalent stack. A provider
 * waits on plain callbacks (the SDK's promise, its stream reader), so it can arm the
 * timer itself for the price of a `setTimeout`: on expiry it aborts its request and
 * fails with the error Retry asked for, as the outside timer would have.
 *
 * The timed form is registered against the exact function it times (`generate`,
 * `streamPull`), not as a new member of the service: a middleware that replaces
 * that function drops the timed form with it, so Retry can never time around a layer
 * it would otherwise skip; it then times from outside, as before. Retry uses the timed
 * form only under the live clock (a `TestClock` still drives timeouts in tests).
 */
import type { Effect, Scope } from "effect"
import type * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"

/** How long one wait may last, and the failure when it lasts longer. */
export interface Timing {
  readonly millis: number
  readonly onTimeout: () => LlmError.LlmError
}

type Generate = LanguageModel.Service["generate"]
type StreamPull = NonNullable<LanguageModel.Service["streamPull"]>

/** `generate`, failing with `timing.onTimeout()` (its request aborted) after `timing.millis`. */
export type TimedGenerate = (request: LanguageModel.Request, timing: Timing) => Effect.Effect<LanguageModel.Response, LlmError.LlmError>

/** `streamPull`, its opening and each pull failing with `timing.onTimeout()` after waiting `timing.millis`. */
export type TimedStreamPull = (
  request: LanguageModel.Request,
  timing: Timing
) => Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>

const generates = new WeakMap<Generate, TimedGenerate>()
const streamPulls = new WeakMap<StreamPull, TimedStreamPull>()

/** Registers the timed form of `generate`; returns `generate`. */
export const withTimedGenerate = (generate: Generate, timed: TimedGenerate): Generate => {
  generates.set(generate, timed)
  return generate
}

/** Registers the timed form of `streamPull`; returns `streamPull`. */
export const withTimedStreamPull = (streamPull: StreamPull, timed: TimedStreamPull): StreamPull => {
  streamPulls.set(streamPull, timed)
  return streamPull
}

/** The timed form of the service's own `generate`, if it has one. */
export const timedGenerateOf = (service: LanguageModel.Service): TimedGenerate | undefined => generates.get(service.generate)

/** The timed form of the service's own `streamPull`, if it has one. */
export const timedStreamPullOf = (service: LanguageModel.Service): TimedStreamPull | undefined =>
  service.streamPull === undefined ? undefined : streamPulls.get(service.streamPull)
