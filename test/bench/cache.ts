/**
 * Exact-cache hits: the response cache over a zero-latency model, with the memory
 * store and the Redis store (REDIS_URL, default redis://127.0.0.1:6379, under a
 * random key prefix that is deleted afterwards). Per call, the same request
 * every time after one priming call; the time of `runPromise(generate)`, and for
 * the memory store also of a stream replayed from the cache
 * (`runPromise(Stream.runDrain(stream))`). The figures are the steady state: the
 * warm-up runs in batches until two batches in a row have medians within 5% of
 * each other (the JIT has settled: a fixed 2,000-call warm-up left some runs
 * measuring the hit before V8 had optimized it, 19-31 µs against 8-10 after), at
 * most `maxWarmup` calls; the row says how many it took. `npm run bench` runs this
 * in a process of its own ({@link runInChild}): after the in-process and
 * end-to-end sections have built dozens of stacks in the same process, the hit
 * measured 9.6, 18.0 and 30.6 µs in three full runs of one afternoon, against
 * 8.0–9.6 µs in fresh processes (code V8 had not, or no longer, optimized: with
 * `--no-opt` the hit costs 39 µs).
 *
 *   node --import tsx test/bench/cache.ts [--quick|--smoke]
 */
import { randomBytes } from "node:crypto"
import { Effect, Exit, Layer, ManagedRuntime, Scope, Stream } from "effect"
import { Redis } from "ioredis"
import * as CacheStore from "../../src/cache/CacheStore.js"
import * as ResponseCache from "../../src/cache/ResponseCache.js"
import type * as LanguageModel from "../../src/LanguageModel.js"
import { nextRequest } from "./inprocess.js"
import { load1, round, startChild, summarize, tsxArgs } from "./lib.js"
import { silentLogger, zeroModel } from "./stacks.js"

export type Mode = "smoke" | "quick" | "full"

export interface Row {
  readonly store: "memory" | "redis" | "memory, stream replay"
  readonly calls: number
  readonly p50Micros: number
  readonly p99Micros: number
  readonly meanMicros: number
  readonly load: number
  /** Calls run before the measured ones (the adaptive warm-up). */
  readonly warmupCalls: number
}

const counts = {
  smoke: { warmup: 50, maxWarmup: 50, calls: 200 },
  quick: { warmup: 300, maxWarmup: 6_000, calls: 2_000 },
  full: { warmup: 2_000, maxWarmup: 60_000, calls: 20_000 }
} as const

/** The µs of each of `n` runs of `once`, one after the other. */
const timed = async (once: () => Promise<unknown>, n: number): Promise<Array<number>> => {
  const samples: Array<number> = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await once()
    samples.push((performance.now() - t) * 1000)
  }
  return samples
}

const batchMedian = async (once: () => Promise<unknown>, n: number): Promise<number> => summarize(await timed(once, n)).p50

/** Warms up in batches of `batch` calls until two medians in a row agree within 5% (or `max` calls); returns the calls run. */
const warmUp = async (once: () => Promise<unknown>, batch: number, max: number): Promise<number> => {
  let calls = batch
  let previous = await batchMedian(once, batch)
  while (calls < max) {
    const next = await batchMedian(once, batch)
    calls += batch
    if (Math.abs(next - previous) <= 0.05 * Math.min(next, previous)) break
    previous = next
  }
  return calls
}

const measure = async (
  store: Row["store"],
  layer: Layer.Layer<CacheStore.CacheStore, CacheStore.InvalidRedisUrl>,
  mode: Mode,
  stream = false
): Promise<Row> => {
  const runtime = ManagedRuntime.make(Layer.mergeAll(layer, silentLogger))
  const scope = await runtime.runPromise(Scope.make())
  try {
    const cached: LanguageModel.Service = await runtime.runPromise(Scope.extend(ResponseCache.make({ ttl: "1 hour" })(zeroModel()), scope))
    const request = nextRequest()
    await runtime.runPromise(cached.generate(request))
    const check = await runtime.runPromise(cached.generate(request))
    if (check.cache?.kind !== "exact") throw new Error(`${store}: the repeat was not a cache hit`)
    const once = stream ? Effect.suspend(() => Stream.runDrain(cached.stream(request))) : Effect.suspend(() => cached.generate(request))
    const { calls, maxWarmup, warmup } = counts[mode]
    const hit = () => runtime.runPromise(once)
    const warmupCalls = await warmUp(hit, warmup, maxWarmup)
    const s = summarize(await timed(hit, calls))
    return { store, calls, p50Micros: round(s.p50, 2), p99Micros: round(s.p99, 2), meanMicros: round(s.mean, 2), load: load1(), warmupCalls }
  } finally {
    await runtime.runPromise(Scope.close(scope, Exit.void))
    await runtime.dispose()
  }
}

export const run = async (
  mode: Mode
): Promise<{ readonly memory: Row; readonly redis: Row; readonly memoryStream: Row; readonly harnessFloorMicros: number }> => {
  // The floor: runPromise of an effect that does nothing, as the harness measures it.
  const floor = ManagedRuntime.make(silentLogger)
  const floorSamples = await timed(() => floor.runPromise(Effect.void), 2_000)
  await floor.dispose()
  const memory = await measure("memory", CacheStore.layerMemory({ maxEntries: 10_000 }), mode)
  const memoryStream = await measure("memory, stream replay", CacheStore.layerMemory({ maxEntries: 10_000 }), mode, true)
  const url = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379"
  const prefix = `bench-${randomBytes(6).toString("hex")}`
  let redis: Row
  try {
    redis = await measure("redis", CacheStore.layerRedisUrl(url, { prefix }), mode)
  } finally {
    const client = new Redis(url)
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(...keys)
    client.disconnect()
  }
  return { memory, redis, memoryStream, harnessFloorMicros: round(summarize(floorSamples.slice(500)).p50, 2) }
}

export const markdown = (r: Awaited<ReturnType<typeof run>>): string =>
  [
    "| store | hits | p50 µs | p99 µs | mean µs | warm-up calls | load |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...[r.memory, r.redis, ...(r.memoryStream === undefined ? [] : [r.memoryStream])].map((row) => `| ${row.store} | ${row.calls} | ${row.p50Micros} | ${row.p99Micros} | ${row.meanMicros} | ${row.warmupCalls} | ${row.load} |`),
    "",
    `Harness floor (runPromise of Effect.void): p50 ${r.harnessFloorMicros} µs.`
  ].join("\n")

/** {@link run} in a process of its own (a fresh JIT: see the module comment). */
export const runInChild = async (mode: Mode): Promise<Awaited<ReturnType<typeof run>>> => {
  const { child, match } = await startChild(process.execPath, tsxArgs("cache.ts", [`--${mode}`, "--json"]), /CACHE_RESULT (\{.*\})\n/, { timeoutMs: 600_000 })
  await child.stop()
  return JSON.parse(match[1]!) as Awaited<ReturnType<typeof run>>
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full"
  run(mode)
    .then((r) => console.log(process.argv.includes("--json") ? `CACHE_RESULT ${JSON.stringify(r)}` : markdown(r)))
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
