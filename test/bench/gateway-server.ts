/**
 * The effect-llm gateway as a process of its own, for the throughput and memory
 * benchmarks: `Gateway.layer` over `Stack.layer` against a simulator.
 *
 *   node --import tsx test/bench/gateway-server.ts --upstream URL/v1 [--stack equivalent|full|bare|zero] [--port N]
 *     [--stats] [--profile FILE | --alloc-profile FILE]
 *
 * `equivalent`: retry + fallback (two upstreams) + exact cache, what the Portkey
 * config holds; `full`: the full stack of stacks.ts; for profiling, `bare` (the
 * provider alone: no retry, breaker, fallback or cache) and `zero` (a
 * zero-latency model in process, `--upstream` ignored: the gateway's own cost). Prints `GATEWAY http://...`.
 * The gateway key is `gw-bench-key` (tenant `bench`).
 */
import { Effect, Layer, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.js"
import * as Stack from "../../src/Stack.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import { bareConfig, benchKeyConfig, equivalentConfig, silentLogger, stackConfig, zeroModel } from "./stacks.js"

const args = process.argv.slice(2)
const arg = (name: string) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
const upstream = arg("--upstream")
if (upstream === undefined && arg("--stack") !== "zero") throw new Error("--upstream URL is required")

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
  Layer.provide(benchKeyConfig),
  Layer.provide(silentLogger)
)

// `--profile FILE`: SIGUSR2 starts the CPU profiler (after start-up and warm-up),
// SIGINT/SIGTERM write FILE (a .cpuprofile) and exit. Exiting through
// process.exit also lets `node --cpu-prof` write its own profile.
// `--alloc-profile FILE`: the same for allocations (a .heapprofile of every sampled
// allocation, collected or not: what each request allocates, not what it retains).
const profileFile = arg("--profile")
const allocFile = arg("--alloc-profile")
let stopProfile: () => Promise<void> = () => Promise.resolve()
if (profileFile !== undefined || allocFile !== undefined) {
  const { Session } = await import("node:inspector/promises")
  const { writeFileSync } = await import("node:fs")
  const session = new Session()
  session.connect()
  process.on("SIGUSR2", () => {
    const started = profileFile !== undefined
      ? session.post("Profiler.enable").then(() => session.post("Profiler.start"))
      : session.post("HeapProfiler.enable").then(() =>
        session.post("HeapProfiler.startSampling", {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true
        })
      )
    void started.then(() => console.log("PROFILING"))
  })
  stopProfile = () =>
    profileFile !== undefined
      ? session.post("Profiler.stop").then(
        ({ profile }) => writeFileSync(profileFile, JSON.stringify(profile)),
        () => undefined
      )
      : session.post("HeapProfiler.stopSampling").then(
        ({ profile }) => writeFileSync(allocFile!, JSON.stringify(profile)),
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
// `--stats`: SIGWINCH prints `STATS {json}` and starts a new window: the event
// loop's delay (perf_hooks.monitorEventLoopDelay, ms) and the GC pauses seen
// (count, total and longest ms, by kind) since the last SIGWINCH (SIGUSR1 would
// start the inspector). Steadier than wall-clock p99 on a shared machine: a pause
// or a long synchronous stretch shows here whatever the load. Off by default (the
// delay monitor's timer and the GC observer are work the measured runs should not do).
if (args.includes("--stats")) {
  const { monitorEventLoopDelay, PerformanceObserver, constants: perfConstants } = await import("node:perf_hooks")
  const loopDelay = monitorEventLoopDelay({ resolution: 5 })
  loopDelay.enable()
  const gcKinds: Record<number, string> = {
    [perfConstants.NODE_PERFORMANCE_GC_MINOR]: "minor",
    [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: "major",
    [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
    [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: "weakcb"
  }
  let gcPauses: Record<string, { count: number; totalMs: number; maxMs: number }> = {}
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = gcKinds[(entry as { detail?: { kind?: number } }).detail?.kind ?? -1] ?? "other"
      const g = gcPauses[kind] ??= { count: 0, totalMs: 0, maxMs: 0 }
      g.count++
      g.totalMs += entry.duration
      g.maxMs = Math.max(g.maxMs, entry.duration)
    }
  }).observe({ entryTypes: ["gc"] })
  process.on("SIGWINCH", () => {
    const ms = (ns: number) => Math.round(ns / 1e4) / 100
    const tenth = (n: number) => Math.round(n * 10) / 10
    console.log(`STATS ${
      JSON.stringify({
        loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max), mean: ms(loopDelay.mean) },
        gc: Object.fromEntries(Object.entries(gcPauses).map(([k, g]) => [k, { count: g.count, totalMs: tenth(g.totalMs), maxMs: tenth(g.maxMs) }])),
        rssMb: Math.round(process.memoryUsage().rss / 1048576),
        heapUsedMb: Math.round(process.memoryUsage().heapUsed / 1048576)
      })
    }`)
    loopDelay.reset()
    gcPauses = {}
  })
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void stopProfile().finally(() => process.exit(0)))
}

Effect.runFork(
  Effect.gen(function*() {
    console.log(`GATEWAY ${yield* Gateway.url}`)
    yield* Effect.never
  }).pipe(Effect.provide(server), Effect.provide(silentLogger), Effect.scoped, Effect.tapErrorCause(Effect.logError))
)
