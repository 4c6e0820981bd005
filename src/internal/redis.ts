/**
 * What every Redis client the library makes does when Redis goes away: without an
 * `error` listener ioredis prints "Unhandled error event" on every reconnect
 * attempt; with this one, one warning is logged per outage (again after Redis was
 * back), through the Effect logger of the layer that made the client.
 */
import { Effect, Runtime } from "effect"
import type { Redis } from "ioredis"

/** Logs one warning per outage of `client`, as `${what} unavailable: …`. */
export const logOutages = (client: Redis, what: string, runtime: Runtime.Runtime<never>): void => {
  const log = Runtime.runFork(runtime)
  let down = false
  client.on("error", (error: unknown) => {
    if (down) return
    down = true
    log(Effect.logWarning(`${what} unavailable: ${error instanceof Error ? error.message : String(error)}`))
  })
  client.on("ready", () => {
    down = false
  })
}
