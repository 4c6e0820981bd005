/**
 * Retries failed calls on a `Schedule`, honouring the provider's Retry-After.
 *
 * Only errors that `LlmError.isRetryable` accepts are retried (rate limits and
 * unavailability); a bad request, a refused key or an exhausted quota fail at
 * once. The wait before a retry is the schedule's delay (default: exponential
 * from 500 ms, doubled each time, jittered, capped at 20 s), but never less than
 * the error's `retryAfter`. Retrying stops at `maxAttempts` calls (default 4) or
 * when the next attempt would start after the total `budget` (default 2 minutes):
 * a Retry-After longer than what is left fails at once, so a fallback can serve.
 *
 * Each attempt has its own timeout (`attemptTimeout`, default 2 minutes); a
 * timeout is a `ProviderUnavailable` of kind `timeout` and interrupts (aborts) the
 * call. Streams are retried only while no event has reached the caller; the
 * timeout bounds the wait for each event (time to first token, then any stall).
 * Over the built-in providers, under the live clock, the provider arms that timer
 * itself (src/internal/timed.ts); over anything else Retry times the attempt from
 * outside (resilience/internal/timeout.ts). Same failure, same abort.
 *
 * Every attempt is recorded in `Response.attempts` (and in the stream's
 * `Finish.attempts`): the failed ones first, then the one that served.
 *
 * The schedule is stepped by hand (`schedule.step`) rather than through
 * `Effect.retry`, because the delay must be combined with the error's
 * Retry-After and checked against the budget before sleeping.
 *
 * @since 0.1.0
 */
import {
  Chunk,
  Clock,
  Duration,
  Effect,
  Either,
  ExecutionStrategy,
  Exit,
  Layer,
  Option,
  Schedule,
  ScheduleDecision,
  ScheduleIntervals,
  Scope
} from "effect"
import * as Timed from "../internal/timed.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Attempts from "./internal/attempts.js"
import * as Timeout from "./internal/timeout.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The delays between attempts. Default: exponential from `baseDelay` by
   * `factor`, jittered (×0.8–1.2) unless `jitter: false`, capped at `maxDelay`.
   * A custom schedule may stop earlier; `maxAttempts`, `budget` and Retry-After
   * still apply.
   */
  readonly schedule?: Schedule.Schedule<unknown, LlmError.LlmError> | undefined
  /** First delay of the default schedule (default 500 millis). */
  readonly baseDelay?: Duration.DurationInput | undefined
  /** Growth factor of the default schedule (default 2). */
  readonly factor?: number | undefined
  /** Longest delay of the default schedule (default 20 seconds); Retry-After may ask for more. */
  readonly maxDelay?: Duration.DurationInput | undefined
  /** Randomize the default schedule's delays by ×0.8–1.2 (default true). */
  readonly jitter?: boolean | undefined
  /** Calls in all, the first included (default 4). */
  readonly maxAttempts?: number | undefined
  /** No attempt starts later than this after the first one (default 2 minutes). */
  readonly budget?: Duration.DurationInput | undefined
  /** Timeout of one attempt; for streams, of the wait for each event (default 2 minutes). */
  readonly attemptTimeout?: Duration.DurationInput | undefined
  /** Which errors are retried (default `LlmError.isRetryable`). */
  readonly while?: ((error: LlmError.LlmError) => boolean) | undefined
}

/**
 * The defaults, for documentation and for building on.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  baseDelay: Duration.millis(500),
  factor: 2,
  maxDelay: Duration.seconds(20),
  jitter: true,
  maxAttempts: 4,
  budget: Duration.minutes(2),
  attemptTimeout: Duration.minutes(2)
} as const

/**
 * The default backoff: exponential, jittered, capped.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoff = (options: Options = {}): Schedule.Schedule<unknown, unknown> => {
  const max = Duration.decode(options.maxDelay ?? defaults.maxDelay)
  const exponential = Schedule.exponential(options.baseDelay ?? defaults.baseDelay, options.factor ?? defaults.factor)
  const jittered = (options.jitter ?? defaults.jitter) ? Schedule.jittered(exponential) : exponential
  return Schedule.modifyDelay(jittered, (_, delay) => Duration.min(delay, max))
}

/** Steps a schedule by hand: the next delay in millis, or none when it is done. */
const stepper = (schedule: Schedule.Schedule<unknown, LlmError.LlmError>) => {
  let state: unknown = schedule.initial
  return (now: number, error: LlmError.LlmError): Effect.Effect<Option.Option<number>> =>
    Effect.map(schedule.step(now, error, state), ([next, _out, decision]) => {
      state = next
      return ScheduleDecision.isDone(decision)
        ? Option.none()
        : Option.some(Math.max(0, ScheduleIntervals.start(decision.intervals) - now))
    })
}

/**
 * The decision after a failed attempt: how long to wait, or `none` to give up.
 * Exposed for tests and for building custom loops.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly next: (error: LlmError.LlmError, attempt: number) => Effect.Effect<Option.Option<Duration.Duration>>
}

/**
 * A fresh policy for one call (schedules keep state between attempts).
 *
 * @since 0.1.0
 * @category constructors
 */
export const policy = (options: Options = {}): Effect.Effect<Policy> =>
  Effect.map(Clock.currentTimeMillis, (started) => policyFrom(options, started))

/** A fresh policy for a call that started at `started`. */
const policyFrom = (options: Options, started: number): Policy => {
  const step = stepper(options.schedule ?? backoff(options))
  const maxAttempts = Math.max(1, options.maxAttempts ?? defaults.maxAttempts)
  const budgetMillis = Duration.toMillis(options.budget ?? defaults.budget)
  const retryable = options.while ?? LlmError.isRetryable
  return {
    next: (error, attempt) =>
      Effect.gen(function*() {
        if (!retryable(error) || attempt >= maxAttempts) return Option.none()
        const now = yield* Clock.currentTimeMillis
        const scheduled = yield* step(now, error)
        if (Option.isNone(scheduled)) return Option.none()
        const retryAfter = Option.match(LlmError.retryAfter(error), { onNone: () => 0, onSome: Duration.toMillis })
        const delay = Math.max(scheduled.value, retryAfter)
        if (now + delay - started > budgetMillis) return Option.none()
        return Option.some(Duration.millis(delay))
      })
  }
}

const timeoutError = (target: Attempts.Target, timeout: Duration.Duration) =>
  new LlmError.ProviderUnavailable({
    provider: target.provider,
    model: target.model,
    kind: "timeout",
    message: `No answer within ${Duration.format(timeout)}`
  })

/**
 * Wraps one service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) => (inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.sync(() => {
    const timeout = Duration.decode(options.attemptTimeout ?? defaults.attemptTimeout)
    // A provider arms the timeout itself when it can (src/internal/timed.ts): no timing fiber.
    const timedGenerate = Timed.timedGenerateOf(inner)
    const timedStreamPull = Timed.timedStreamPullOf(inner)

    // The common path is one clock lookup, one attempt and one match: the
    // retry loop (policy, schedule, sleeps) starts only after a failure.
    const generate = (request: LanguageModel.Request): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.clockWith((clock) => {
        const started = clock.unsafeCurrentTimeMillis()
        return Effect.matchEffect(attemptWith(clock, request), {
          onSuccess: (response) =>
            Effect.succeed(Attempts.withAttempts(response, [], clock.unsafeCurrentTimeMillis() - started)),
          onFailure: (error) => retrying(clock, request, started, error)
        })
      })

    const attemptWith = (clock: Clock.Clock, request: LanguageModel.Request) => {
      const onTimeout = () => timeoutError(Attempts.targetOf(inner, request), timeout)
      const millis = timedGenerate === undefined ? undefined : Timeout.timerMillis(clock, timeout)
      return millis === undefined
        ? Timeout.timeoutFailWith(clock, inner.generate(request), timeout, onTimeout)
        : timedGenerate!(request, { millis, onTimeout })
    }

    /** After the first attempt (started at `first`) failed with `error`. */
    const retrying = (
      clock: Clock.Clock,
      request: LanguageModel.Request,
      first: number,
      error: LlmError.LlmError
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.gen(function*() {
        const target = Attempts.targetOf(inner, request)
        const retry = policyFrom(options, first)
        const failures: Array<LanguageModel.Attempt> = [
          Attempts.failure(error, target, clock.unsafeCurrentTimeMillis() - first)
        ]
        let last = error
        for (let attempt = 1;; attempt++) {
          const delay = yield* retry.next(last, attempt)
          if (Option.isNone(delay)) return yield* Effect.fail(last)
          yield* Effect.sleep(delay.value)
          const started = clock.unsafeCurrentTimeMillis()
          const result = yield* Effect.either(attemptWith(clock, request))
          const duration = clock.unsafeCurrentTimeMillis() - started
          if (Either.isRight(result)) return Attempts.withAttempts(result.right, failures, duration)
          failures.push(Attempts.failure(result.left, target, duration))
          last = result.left
        }
      })

    // One pull loop per stream (no tap/map/catchAll/timeout stages): each stage is
    // a channel executor per stream and an effect per element, and
    // `Stream.timeoutFail` races two forked fibers per pull. Semantics kept: the
    // timeout bounds each pull of an attempt, a stream without `Finish` fails as
    // stream-interrupted, retries happen only before the first event, and the
    // `Finish` carries the failed attempts before it.
    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, never, Scope.Scope> =>
      Effect.map(Effect.scope, (outer) => {
        const target = Attempts.targetOf(inner, request)
        const failures: Array<LanguageModel.Attempt> = []
        const onTimeout = () => Option.some<LlmError.LlmError>(timeoutError(target, timeout))
        let retry: Policy | undefined
        let first: number | undefined
        let attempt = 0
        let started = 0
        let emitted = false
        let finished = false
        let scope: Scope.CloseableScope | undefined
        let pull: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> | undefined

        const open = Effect.gen(function*() {
          attempt++
          const clock = yield* Effect.clock
          started = clock.unsafeCurrentTimeMillis()
          first ??= started
          finished = false
          scope = yield* Scope.fork(outer, ExecutionStrategy.sequential)
          const millis = timedStreamPull === undefined ? undefined : Timeout.timerMillis(clock, timeout)
          pull = yield* Scope.extend(
            millis === undefined
              // Opening is timed too: behind a fallback it waits for a first event.
              ? Effect.flatMap(
                Timeout.timeoutFail(LanguageModel.pullOf(inner, request), timeout, () => timeoutError(target, timeout)),
                (upstream) => Timeout.timeoutPull(upstream, timeout, onTimeout)
              )
              : timedStreamPull!(request, { millis, onTimeout: () => timeoutError(target, timeout) }),
            scope
          )
        })

        const retryOrFail = (error: LlmError.LlmError) =>
          Effect.gen(function*() {
            failures.push(Attempts.failure(error, target, yield* Attempts.since(started)))
            const closing = scope
            pull = undefined
            scope = undefined
            // Uninterruptible: an interrupt mid-close would skip the finalizers after an async
            // one (a budget settle), the request's abort among them.
            if (closing !== undefined) yield* Effect.uninterruptible(Scope.close(closing, Exit.void))
            retry ??= policyFrom(options, first ?? started)
            const delay = yield* retry.next(error, attempt)
            if (Option.isNone(delay)) return yield* Effect.fail(Option.some(error))
            yield* Effect.sleep(delay.value)
            return yield* next
          })

        const withRoute = (chunk: Chunk.Chunk<LanguageModel.StreamEvent>) =>
          Effect.map(Attempts.since(started), (duration) =>
            Chunk.map(chunk, (event) =>
              event._tag === "Finish" ? Attempts.finishWithAttempts(event, failures, duration) : event))

        const onChunk = (
          chunk: Chunk.Chunk<LanguageModel.StreamEvent>
        ): Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> => {
          if (chunk.length === 0) return Effect.succeed(chunk)
          emitted = true
          if (!Chunk.some(chunk, (event) => event._tag === "Finish")) return Effect.succeed(chunk)
          finished = true
          return withRoute(chunk)
        }

        const onFailure = (
          option: Option.Option<LlmError.LlmError>
        ): Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> => {
          if (Option.isNone(option) && finished) return Effect.fail(option)
          const error = Option.isSome(option) ? option.value : new LlmError.ProviderUnavailable({
            provider: target.provider,
            model: target.model,
            kind: "stream-interrupted",
            message: "The stream ended without finishing"
          })
          return emitted ? Effect.fail(Option.some(error)) : retryOrFail(error)
        }

        const next: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> = Effect
          .suspend(() =>
            pull === undefined
              ? Effect.matchEffect(open, { onFailure: (error) => onFailure(Option.some(error)), onSuccess: () => next })
              : Effect.matchEffect(pull, { onFailure, onSuccess: onChunk })
          )

        return next
      })

    return {
      models: inner.models,
      generate,
      stream: (request) => LanguageModel.fromPull(streamPull(request)),
      streamPull
    }
  })

/**
 * Retry as a Layer from `LanguageModel` to `LanguageModel`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))
