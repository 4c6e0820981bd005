/**
 * One SDK request as an Effect, optionally under a timer of its own (see
 * src/internal/timed.ts: Retry's attempt timeout armed by the provider instead of
 * a timing fiber).
 */
import { Cause, Effect } from "effect"
import type * as LlmError from "../../LlmError.js"
import type { Timing } from "../../internal/timed.js"

/** What stops a request: an `AbortController`, or NodeFetch's `Cancel` (internal/cancel.ts). */
export interface Stop {
  readonly abort: () => void
}

/**
 * Runs `run(signal)`; interruption aborts the request. With `timing`, a request
 * that has not settled after `timing.millis` is aborted and fails with
 * `timing.onTimeout()`. `controller` is the request's (a stream keeps it to abort
 * the body later); without one, a controller is made here.
 */
export const call = <A>(
  run: (signal: AbortSignal) => Promise<A>,
  onError: (error: unknown) => LlmError.LlmError,
  timing: Timing | undefined,
  controller?: AbortController
): Effect.Effect<A, LlmError.LlmError> =>
  callWith(() => controller ?? new AbortController(), (abort) => run(abort.signal), onError, timing, Effect.succeed)

/**
 * Runs `run(stop)` with a fresh `stop = make()` per run and continues with
 * `done(value)`; interruption calls `stop.abort()`. With `timing`, a request that
 * has not settled after `timing.millis` is stopped and fails with
 * `timing.onTimeout()`.
 *
 * `done` runs as the promise settles and the fiber resumes with its effect: one
 * step where a `flatMap` after the call was two. A `done` that throws is a defect,
 * as in a `flatMap`.
 *
 * What `Effect.async` with a canceler does (the canceler runs when the wait is
 * interrupted), written as one uninterruptible match around an `Effect.async`
 * without one: the canceler's `onInterrupt` (`onExit`: a mask, a match, then a
 * `zipRight` of the cleanup's result) cost ≈ 7 µs CPU a call in process, this ≈ 2.
 */
export const callWith = <A, B, S extends Stop>(
  make: () => S,
  run: (stop: S) => Promise<A>,
  onError: (error: unknown) => LlmError.LlmError,
  timing: Timing | undefined,
  done: (value: A) => Effect.Effect<B, LlmError.LlmError>
): Effect.Effect<B, LlmError.LlmError> =>
  Effect.uninterruptibleMask((restore) => {
    let stop: S | undefined
    let settled = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const wait = Effect.async<B, LlmError.LlmError>((resume) => {
      const stopping = stop = make()
      if (timing !== undefined) {
        timer = setTimeout(() => {
          if (settled) return
          settled = true
          stopping.abort()
          resume(Effect.fail(timing.onTimeout()))
        }, timing.millis)
      }
      const settle = (effect: Effect.Effect<B, LlmError.LlmError>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      let promise: Promise<A>
      // The failure is mapped in the fiber (`failSync`): a mapper that throws is a defect, not a hang.
      try {
        promise = run(stopping)
      } catch (error) {
        settle(Effect.failSync(() => onError(error)))
        return
      }
      promise.then((value) => {
        if (settled) return
        let next: Effect.Effect<B, LlmError.LlmError>
        try {
          next = done(value)
        } catch (defect) {
          next = Effect.die(defect)
        }
        settle(next)
      }, (error) => settle(Effect.failSync(() => onError(error))))
    })
    return Effect.matchCauseEffect(restore(wait), {
      onFailure: (cause) => {
        // Interrupted while waiting: what a canceler would do.
        if (!settled && stop !== undefined && Cause.isInterruptedOnly(cause)) {
          settled = true
          clearTimeout(timer)
          stop.abort()
        }
        return Effect.failCause(cause)
      },
      onSuccess: Effect.succeed
    })
  })
