/**
 * The effect-llm gateway as a process of its own, for the throughput and memory
 * benchmarks: `Gateway.layer` over `Stack.layer` against a simulator.
 *
 *   node --import tsx test/bench/gateway-server.ts --upstream URL/v1 [--stack equivalent|full] [--port N]
 *
 * `equivalent`: retry + fallback (two upstreams) + exact cache, what the Portkey
 * config holds; `full`: the full stack of stacks.ts; for profiling, `bare` (the
 * provider alone: no retry, breaker, fallback or cache) and `zero` (a
 * zero-latency model in process, `--upstream` ignored: the gateway's own cost). Prints `GATEWAY http://...`.
 * The gateway key is `gw-bench-key` (tenant `bench`).
 */
import { ConfigProvider, Effect, Layer, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Stack from "../../src/Stack.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import { equivalentConfig, MODEL, silentLogger, stackConfig, zeroModel } from "./stacks.js"

const args = process.argv.slice(2)
const arg = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const upstream = arg("--upstream")
if (upstream === undefined && arg("--stack") !== "zero") throw new Error("--upstream URL is required")
/** The provider alone: no retry, rate limit, breaker, fallback, cache or telemetry. */
const bareConfig = (baseURL: string): Stack.StackConfigInput => ({
  providers: { primary: { type: "openai", model: MODEL, baseURL, apiKeyEnv: "BENCH_OPENAI_KEY", retry: false, rateLimit: false } },
  breaker: false,
  telemetry: false
})

const stack = arg("--stack") ?? "equivalent"
const config = stack === "full"
  ? stackConfig(upstream!, upstream!)
  : stack === "bare"
  ? bareConfig(upstream!)
  : equivalentConfig(upstream!, upstream!)
// `zero`: a zero-latency model in process (no upstream call): the gateway's own cost.
const model = stack === "zero" ? Layer.succeed(LanguageModel.LanguageModel, zeroModel()) : Stack.layer(config)

const server = Gateway.layer({ keys: [{ key: Redacted.make("gw-bench-key"), tenant: "bench" }], port: Number(arg("--port") ?? "0") }).pipe(
  Layer.provide(model),
  Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["BENCH_OPENAI_KEY", "sk-bench-0000"]])))),
  Layer.provide(silentLogger)
)

// `--profile FILE`: SIGUSR2 starts the CPU profiler (after start-up and warm-up),
// SIGINT/SIGTERM write FILE (a .cpuprofile) and exit. Exiting through
// process.exit also lets `node --cpu-prof` write its own profile.
const profileFile = arg("--profile")
let stopProfile: () => Promise<void> = () => Promise.resolve()
if (profileFile !== undefined) {
  const { Session } = await import("node:inspector/promises")
  const { writeFileSync } = await import("node:fs")
  const session = new Session()
  session.connect()
  process.on("SIGUSR2", () => {
    void session.post("Profiler.enable").then(() => session.post("Profiler.start")).then(() => console.log("PROFILING"))
  })
  stopProfile = () =>
    session.post("Profiler.stop").then(
      ({ profile }) => writeFileSync(profileFile, JSON.stringify(profile)),
      () => undefined
    )
}
// With `node --expose-gc`: SIGHUP collects garbage and prints `HEAP <bytes used>`
// (the live heap, which RSS hides behind garbage not yet collected).
process.on("SIGHUP", () => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  console.log(`HEAP ${gc === undefined ? Number.NaN : process.memoryUsage().heapUsed}`)
})
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void stopProfile().finally(() => process.exit(0)))
}

Effect.runFork(
  Effect.gen(function*() {
    console.log(`GATEWAY ${yield* Gateway.url}`)
    yield* Effect.never
  }).pipe(Effect.provide(server), Effect.provide(silentLogger), Effect.scoped, Effect.tapErrorCause(Effect.logError))
)
