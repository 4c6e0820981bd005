/**
 * One SDK request as an Effect, optionally under a timer of its own (see
 * src/internal/timed.ts: Retry's attempt timeout armed by the provider instead of
 * a timing fiber).
 */
import { Effect } from "effect"
import type * as LlmError from "../../LlmError.js"
import type { Timing } from "../../internal/timed.js"

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
  timing === undefined && controller === undefined
    ? Effect.tryPromise({ try: run, catch: onError })
    : Effect.async<A, LlmError.LlmError>((resume) => {
      const abort = controller ?? new AbortController()
      let settled = false
      const timer = timing === undefined ? undefined : setTimeout(() => {
        if (settled) return
        settled = true
        abort.abort()
        resume(Effect.fail(timing.onTimeout()))
      }, timing.millis)
      const settle = (effect: Effect.Effect<A, LlmError.LlmError>) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resume(effect)
      }
      let promise: Promise<A>
      // The failure is mapped in the fiber (`failSync`): a mapper that throws is a defect, not a hang.
      try {
        promise = run(abort.signal)
      } catch (error) {
        settle(Effect.failSync(() => onError(error)))
        return
      }
      promise.then((value) => settle(Effect.succeed(value)), (error) => settle(Effect.failSync(() => onError(error))))
      return Effect.sync(() => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        abort.abort()
      })
    })
