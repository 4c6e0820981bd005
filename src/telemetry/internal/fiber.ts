/**
 * Synchronous access to the running fiber's refs and logger, for the telemetry
 * layer's per-call bookkeeping.
 *
 * `Effect.locallyWith` / `Effect.withSpan` / `Effect.annotateLogs` each cost an
 * `acquireUseRelease` of Effect steps and two copies of the fiber's ref map; the
 * telemetry layer set three of them per call (~13 µs each on the benchmark
 * machine). Effect's own operators do the same work with the methods below, which
 * every fiber handed out by `Effect.withFiberRuntime` has (Effect's `FiberRuntime`:
 * `getFiberRef`, `setFiberRef`, `log`) but which its public `RuntimeFiber`
 * interface does not list. They are typed here once; every Telemetry test runs
 * through them, so a change in Effect fails there.
 */
import { type Cause, Clock, Context, type Fiber, FiberRef, type HashMap, HashSet, Inspectable, LogLevel, type Option } from "effect"

/** The `FiberRuntime` methods used (the same ones `Effect.locally` and `Effect.log` use). */
export interface FiberAccess {
  getFiberRef<A>(fiberRef: FiberRef.FiberRef<A>): A
  setFiberRef<A>(fiberRef: FiberRef.FiberRef<A>, value: A): void
  log(message: unknown, cause: Cause.Cause<unknown>, overrideLogLevel: Option.Option<LogLevel.LogLevel>): void
}

/** The fiber's ref and log methods. */
export const access = <A, E>(fiber: Fiber.RuntimeFiber<A, E>): FiberAccess => fiber as unknown as FiberAccess

/**
 * What the fiber's `log` does, with `annotations` in place of the fiber's own
 * (the same loggers, context, spans, date and redactable context). Setting the
 * annotations ref around `log` instead cost two copies of the fiber's ref map,
 * and the restore compared the two maps by hash, hashing every entry (~3 µs of
 * a call's log line on the benchmark machine).
 */
export const logWith = (
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  message: unknown,
  cause: Cause.Cause<unknown>,
  level: LogLevel.LogLevel,
  annotations: HashMap.HashMap<string, unknown>
): void => {
  const refs = access(fiber)
  if (LogLevel.greaterThan(refs.getFiberRef(FiberRef.currentMinimumLogLevel), level)) return
  const loggers = refs.getFiberRef(FiberRef.currentLoggers)
  if (HashSet.size(loggers) === 0) return
  const context = fiber.getFiberRefs()
  const spans = refs.getFiberRef(FiberRef.currentLogSpan)
  const date = new Date(Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis())
  const fiberId = fiber.id()
  Inspectable.withRedactableContext(context, () => {
    for (const logger of loggers) {
      logger.log({ fiberId, logLevel: level, message, cause, context, spans, annotations, date })
    }
  })
}
