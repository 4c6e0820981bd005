/**
 * A per-attempt timeout that costs one fiber instead of `Effect.timeoutFail`'s
 * race of two.
 *
 * `Effect.timeoutFail` races the effect against a sleeping fiber
 * (`raceFibersWith`: two forks, interrupting and awaiting the loser, joining
 * fiber refs): ~70-100 µs a call on the benchmark machine, more than the rest of
 * the retry layer. Here the effect runs in one child fiber and the parent waits
 * for whichever comes first, its exit (an observer) or a plain timer; the timer
 * interrupts the child and fails with `onTimeout()`, as `timeoutFail` does. The
 * child's fiber refs are joined back as `Fiber.join` does (not at all when that
 * would change nothing, which is checked for less than the join costs).
 *
 * The plain timer is used only with the live clock (its `sleep` is the default
 * clock's): any other clock — `TestClock` in tests, a user's — gets
 * `Effect.timeoutFail` itself, so virtual time still drives timeouts.
 */
import { Clock, Context, Duration, Effect, Exit, Fiber, FiberId, FiberRef, type FiberRefs, Runtime, RuntimeFlags, type Scope } from "effect"

const liveSleep = Clock.make().sleep
/** Longer timers than this overflow `setTimeout`: treated as no timeout, as Effect's clock does. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * The milliseconds of a plain timer for `duration` under `clock`: `undefined` when
 * the clock is not the live one (virtual time must drive the timeout) or the
 * duration is too long for a timer (no timeout).
 */
export const timerMillis = (clock: Clock.Clock, duration: Duration.Duration): number | undefined => {
  if (clock.sleep !== liveSleep) return undefined
  const millis = Duration.toMillis(duration)
  return millis <= MAX_TIMER_MILLIS ? millis : undefined
}

/** `self`, failing with `onTimeout()` (and interrupted) when it takes longer than `duration`. */
export const timeoutFail = <A, E, E2, R>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.withFiberRuntime<A, E | E2, R>((parent) =>
    timeoutFailWith(Context.get(parent.currentDefaultServices, Clock.Clock), self, duration, onTimeout)
  )

/** `timeoutFail` with the clock already in hand (saves a service lookup per call). */
export const timeoutFailWith = <A, E, E2, R>(
  clock: Clock.Clock,
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> => {
    if (clock.sleep !== liveSleep) return Effect.timeoutFail(self, { duration, onTimeout })
    const millis = Duration.toMillis(duration)
    if (!(millis <= MAX_TIMER_MILLIS)) return self
    return Effect.uninterruptibleMask((restore) =>
      Effect.withFiberRuntime<A, E | E2, R>((parent, status) => {
        const runtime = Runtime.make({
          context: parent.getFiberRef(FiberRef.currentContext) as Context.Context<R>,
          fiberRefs: parent.getFiberRefs(),
          runtimeFlags: status.runtimeFlags
        })
        // The child starts at once, on this stack (`Runtime.runFork` runs a fiber
        // immediately): an effect that completes without suspending (a cache hit,
        // a zero-latency model) is done before any timer or scheduler hop exists.
        const armed = Date.now()
        let initial: FiberRefs.FiberRefs | undefined
        const fiber = Runtime.runFork(runtime, restore(self), { updateRefs: (refs) => (initial = refs) })
        // The fiber refs are joined back as `Fiber.join` does, unless that would change nothing.
        const join = (exit: Exit.Exit<A, E>) => joinChanges(fiber, initial!) ? Effect.zipRight(fiber.inheritAll, exit) : exit
        const done = fiber.unsafePoll()
        if (done !== null) return join(done)
        return restore(Effect.async<A, E | E2>((resume) => {
          let settled = false
          const timer = setTimeout(() => {
            if (settled) return
            settled = true
            fiber.removeObserver(observer)
            resume(Effect.zipRight(Fiber.interrupt(fiber), Effect.fail(onTimeout())))
          }, Math.max(0, millis - (Date.now() - armed)))
          const observer = (exit: Exit.Exit<A, E>) => {
            if (settled) return
            settled = true
            clearTimeout(timer)
            resume(join(exit))
          }
          fiber.addObserver(observer)
          return Effect.sync(() => {
            settled = true
            clearTimeout(timer)
            fiber.removeObserver(observer)
          })
        })).pipe(Effect.onInterrupt(() => Fiber.interrupt(fiber)))
      })
    )
}

const notInherited = RuntimeFlags.make(RuntimeFlags.Interruption, RuntimeFlags.WindDown)

/**
 * Whether joining the refs of `fiber` (finished, forked with `initial`) into its
 * parent can change anything. `inheritAll` copies both fibers' refs, and joins
 * every ref (the context by a diff of all its services): ~3 µs a call, a third of
 * the retry layer. Per `FiberRefs.joinAs`, the join is a no-op when the child left
 * every ref stack it has as it was forked (same array: a ref set and set back
 * still joins, through the ref's `join`; a ref the child deleted is left alone),
 * no fork changed a value (no entry of the child's own but the context
 * `Runtime.runFork` gives it, the parent's own context), and the runtime flags it
 * passes on are back where they started.
 */
const joinChanges = (fiber: Fiber.RuntimeFiber<unknown, unknown>, initial: FiberRefs.FiberRefs): boolean => {
  const child = fiber.id()
  const start = initial.locals
  const end = fiber.getFiberRefs().locals
  for (const [ref, stack] of end) {
    const before = start.get(ref)
    if (before === undefined) return true
    if (ref === FiberRef.currentRuntimeFlags) {
      // `getFiberRefs` has just written the child's flags: a finished fiber is
      // winding down, and `inheritAll` passes on neither that nor interruption.
      if (RuntimeFlags.disableAll(stack[0][1], notInherited) !== RuntimeFlags.disableAll(before[0][1], notInherited)) {
        return true
      }
    } else if (stack !== before || (stack[0][0] === child && ref !== FiberRef.currentContext)) {
      return true
    }
  }
  return false
}

/**
 * A pull with an idle timeout for a whole stream attempt: `pull`, each call
 * failing with `onTimeout()` when it takes longer than `duration`.
 *
 * Per-pull `timeoutFail` forks a fiber and arms a timer for every chunk (~100 µs
 * a chunk here). With the live clock this forks ONE fiber per attempt (in the
 * current scope) that runs `pull` on demand; each call hands it a request and
 * waits for the answer with a plain timer. On timeout the fiber is interrupted
 * (awaited, as `timeoutFail` does) and later calls fail with the same error.
 * Other clocks (`TestClock`) get per-pull `timeoutFail`, so virtual time drives it.
 */
export const timeoutPull = <A, E, E2>(
  pull: Effect.Effect<A, E>,
  duration: Duration.Duration,
  onTimeout: () => E2
): Effect.Effect<Effect.Effect<A, E | E2>, never, Scope.Scope> =>
  Effect.clockWith((clock) => {
    const millis = Duration.toMillis(duration)
    if (clock.sleep !== liveSleep) return Effect.succeed(timeoutFail(pull, duration, onTimeout))
    if (!(millis <= MAX_TIMER_MILLIS)) return Effect.succeed(pull)
    // The worker waits for `demand`, runs one pull, hands its exit to `taker`.
    let demand: ((effect: Effect.Effect<void>) => void) | undefined
    let taker: ((effect: Effect.Effect<A, E | E2>) => void) | undefined
    let requested = false
    const waitDemand = Effect.async<void>((resume) => {
      if (requested) {
        requested = false
        resume(Effect.void)
        return
      }
      demand = resume
      return Effect.sync(() => {
        demand = undefined
      })
    })
    const deliver = (exit: Exit.Exit<A, E>) =>
      Effect.sync(() => {
        const take = taker
        taker = undefined
        take?.(exit)
      })
    // A worker stopped from outside (its scope closed) must not leave a caller waiting.
    const worker: Effect.Effect<never> = Effect.onInterrupt(
      Effect.forever(Effect.zipRight(waitDemand, Effect.flatMap(Effect.exit(pull), deliver))),
      () => deliver(Exit.interrupt(FiberId.none))
    )
    return Effect.map(Effect.forkScoped(Effect.interruptible(worker)), (fiber) => {
      let failed: Effect.Effect<never, E2> | undefined
      return Effect.suspend(() => {
        if (failed !== undefined) return failed
        return Effect.async<A, E | E2>((resume) => {
          const take = (effect: Effect.Effect<A, E | E2>) => {
            clearTimeout(timer)
            resume(effect)
          }
          const timer = setTimeout(() => {
            if (taker !== take) return
            taker = undefined
            const failure = Effect.fail(onTimeout())
            failed = failure
            resume(Effect.zipRight(Fiber.interrupt(fiber), failure))
          }, millis)
          taker = take
          const wake = demand
          if (wake !== undefined) {
            demand = undefined
            wake(Effect.void)
          } else {
            requested = true
          }
          // A caller that stops waiting abandons the pull in flight: its result could
          // only be dropped or handed to the wrong call, so the upstream pull is
          // interrupted and the stream ends here (later calls are interrupted too).
          return Effect.suspend(() => {
            clearTimeout(timer)
            taker = undefined
            failed = Effect.interrupt
            return Fiber.interrupt(fiber)
          })
        })
      })
    })
  })
