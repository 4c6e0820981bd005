/**
 * CPU cost of streaming through each layer over a zero-latency model that emits
 * `events` text deltas, one per chunk (as a provider's SSE does), then `Finish`.
 * Streams are drained sequentially inside one Effect; CPU time of this process,
 * best of `rounds` rounds. Prints µs per stream and per event.
 *
 *   npx tsx --conditions=source test/bench/_streams.ts [streams] [events] [layer names...]
 */
import { Chunk, Effect, Layer, ManagedRuntime, Stream } from "effect"
import * as ResponseCache from "../../src/cache/ResponseCache.js"
import * as Budget from "../../src/cost/Budget.js"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Fallback from "../../src/resilience/Fallback.js"
import * as RateLimit from "../../src/resilience/RateLimit.js"
import * as Retry from "../../src/resilience/Retry.js"
import * as Telemetry from "../../src/telemetry/Telemetry.js"
import { nextRequest } from "./inprocess.js"
import {
  budgetLimits,
  fullStack,
  inProcessDeps,
  type LayerName,
  rateLimitOptions,
  retryOptions,
  silentLogger,
  withoutGuards,
  zeroModel
} from "./stacks.js"

const runtime = ManagedRuntime.make(Layer.mergeAll(silentLogger, inProcessDeps))
const STREAMS = Number(process.argv[2] ?? 500)
const EVENTS = Number(process.argv[3] ?? 20)
const only = process.argv.slice(4)
const rounds = 5
const cpu = () => {
  const u = process.cpuUsage()
  return u.user + u.system
}

/** The zero model, streaming its answer as `EVENTS` deltas in one-event chunks. */
const streamingModel = (provider: string): LanguageModel.Service => {
  const base = zeroModel(provider)
  return {
    ...base,
    stream: (request) =>
      Stream.unwrap(Effect.map(base.generate(request), (response) => {
        const deltas = Array.from({ length: EVENTS }, (_, i) => Construct.make(LanguageModel.TextDelta, { _tag: "TextDelta", text: `t${i} ` }))
        return Stream.fromChunks(...[...deltas, LanguageModel.finishOf(response)].map((event) => Chunk.of(event)))
      }))
  }
}

const build = (layers: ReadonlyArray<LayerName>) =>
  Effect.gen(function*() {
    const has = (name: LayerName) => layers.includes(name)
    const member = (provider: string) =>
      Effect.gen(function*() {
        let service = streamingModel(provider)
        if (has("retry")) service = yield* Retry.make(retryOptions)(service)
        if (has("rateLimit")) service = yield* RateLimit.make(rateLimitOptions)(service)
        return service
      })
    let service = yield* member("openai")
    if (has("fallback")) {
      const backup = yield* member("openai-backup")
      service = yield* Fallback.make([{ name: "primary", service }, { name: "backup", service: backup }])
    }
    if (has("budget")) service = yield* Budget.make({ limits: budgetLimits, defaultMaxTokens: 1024 })(service)
    const Guard = has("guardInput") || has("guardOutput")
      ? yield* Effect.promise(() => import("../../src/guard/Guard.js"))
      : undefined
    if (Guard !== undefined && has("guardOutput")) service = yield* Guard.makeOutput({})(service)
    if (has("responseCache")) service = yield* ResponseCache.make({ ttl: "1 hour" })(service)
    if (Guard !== undefined && has("guardInput")) service = yield* Guard.makeInput({})(service)
    if (has("telemetry")) service = yield* Telemetry.make({ cache: has("responseCache") })(service)
    return service
  })

const measure = (layers: ReadonlyArray<LayerName>) =>
  runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* build(layers)
    const count = yield* Stream.runCount(s.stream(nextRequest()))
    // The output guard may re-cut text deltas (it holds back a tail that could start a secret).
    const guarded = layers.includes("guardOutput")
    if (guarded ? count < 2 : count !== EVENTS + 1) return yield* Effect.die(new Error(`expected ${EVENTS + 1} events, got ${count}`))
    for (let i = 0; i < 200; i++) yield* Stream.runDrain(s.stream(nextRequest()))
    let best = Infinity
    for (let round = 0; round < rounds; round++) {
      const t = cpu()
      for (let i = 0; i < STREAMS; i++) yield* Stream.runDrain(s.stream(nextRequest()))
      best = Math.min(best, (cpu() - t) / STREAMS)
    }
    return best
  })))

const sets: Array<[string, ReadonlyArray<LayerName>]> = [
  ["bare", []],
  ...(["retry", "rateLimit", "fallback", "budget", "responseCache", "telemetry"] as const).map((n) =>
    [n, [n]] as [string, ReadonlyArray<LayerName>]
  ),
  ["noGuards", withoutGuards],
  ["full", fullStack]
]
let bare = 0
for (const [name, layers] of sets) {
  if (only.length > 0 && !only.includes(name) && name !== "bare") continue
  const micros = await measure(layers)
  if (name === "bare") bare = micros
  const extra = micros - bare
  console.log(
    name.padEnd(14),
    micros.toFixed(1).padStart(8),
    "µs CPU/stream",
    name === "bare" ? "" : `(+${extra.toFixed(1)}, +${(extra / (EVENTS + 1)).toFixed(2)} per event)`
  )
}
await runtime.dispose()
