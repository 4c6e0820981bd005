/**
 * Test helper: runs `effect` in a fork and advances the TestClock to each pending
 * sleep while real HTTP calls (to the simulators) complete; returns the exit and
 * the simulated time it took. The clock moves only once the pending sleeps have
 * stayed the same over a few short real waits: a fiber still in an HTTP call has
 * not registered its sleep yet, and moving the clock under it would shift its
 * schedule against the others'. The real waits only let socket I/O complete; no
 * timing depends on them.
 */
import { Chunk, Effect, Fiber, Option, TestClock } from "effect"

/** How many 2 ms checks the pending sleeps must stay unchanged before the clock moves. */
const QUIET_CHECKS = 3

const realPause = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))

export const driveTestClock = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const start = yield* TestClock.currentTimeMillis
    let last = ""
    let quiet = 0
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return { exit: done.value, elapsed: (yield* TestClock.currentTimeMillis) - start }
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      const snapshot = sleeps.join(",")
      quiet = snapshot === last ? quiet + 1 : 0
      last = snapshot
      if (sleeps.length > 0 && quiet >= QUIET_CHECKS) {
        yield* TestClock.adjust(Math.min(...sleeps) - (yield* TestClock.currentTimeMillis))
        last = ""
        quiet = 0
      } else {
        yield* realPause
      }
    }
  })
