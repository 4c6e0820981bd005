/**
 * A per-attempt timeout that costs one fiber instead of `Effect.timeoutFail`'s
 * race of two.
 *
 * `Effect.timeoutFail` races the effect against a sleeping fiber
 * (`raceFibersWith`: two forks, interrupting and awaiting the loser, joining
 * fiber refs): ~70-100 µs a call on the benchmark machine, more than the rest of
 * the retry layer. Here the effect runs in one child fiber and the parent waits
 * for whichever comes first, its exit (an observer) or a plain timer; the timer
 * interrupts the child and fails with `onTimeout()`, as `timeoutFail` does.
 *
 * The plain timer is used only with the live clock (its `sleep` is the default
 * clock's): any other clock — `TestClock` in tests, a user's — gets
 * `Effect.timeoutFail` itself, so virtual time still drives timeouts.
 */
import { Clock, Duration, Effect, Fiber } from "effect"

const liveSleep = Clock.make().sleep
/** Longer timers than this overflow `setTimeout`: treated as no timeout, as Effect's clock does. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** `self`, failing with `onTimeout()` (and interrupted) when it takes longer than `duration`. */
export const timeoutFail = <A, E, E2, R>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.clockWith((clock) => {
    if (clock.sleep !== liveSleep) return Effect.timeoutFail(self, { duration, onTimeout })
    const millis = Duration.toMillis(duration)
    if (!(millis <= MAX_TIMER_MILLIS)) return self
    return Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(Effect.fork(restore(self)), (fiber) =>
        restore(Effect.async<A, E | E2>((resume) => {
          let settled = false
          const timer = setTimeout(() => {
            if (settled) return
            settled = true
            fiber.removeObserver(observer)
            resume(Effect.zipRight(Fiber.interrupt(fiber), Effect.fail(onTimeout())))
          }, millis)
          const observer = (exit: Parameters<Parameters<typeof fiber.addObserver>[0]>[0]) => {
            if (settled) return
            settled = true
            clearTimeout(timer)
            resume(Effect.zipRight(fiber.inheritAll, exit))
          }
          fiber.addObserver(observer)
          return Effect.sync(() => {
            settled = true
            clearTimeout(timer)
            fiber.removeObserver(observer)
          })
        })).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
      )
    )
  })
