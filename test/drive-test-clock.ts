/**
 * Test helper: runs `effect` in a fork and advances the TestClock to each pending
 * sleep while real HTTP calls (to the simulators) complete; returns the exit and
 * the simulated time it took. The short real wait only lets socket I/O complete;
 * no timing depends on it.
 */
import { Chunk, Effect, Fiber, Option, TestClock } from "effect"

export const driveTestClock = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    const start = yield* TestClock.currentTimeMillis
    while (true) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return { exit: done.value, elapsed: (yield* TestClock.currentTimeMillis) - start }
      const sleeps = Chunk.toReadonlyArray(yield* TestClock.sleeps())
      if (sleeps.length > 0) {
        yield* TestClock.adjust(Math.min(...sleeps) - (yield* TestClock.currentTimeMillis))
      } else {
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 2)))
      }
    }
  })
