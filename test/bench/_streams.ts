/**
 * CPU cost of streaming through each layer over a zero-latency model that emits
 * `events` text deltas, one per chunk (as a provider's SSE does), then `Finish`.
 * Streams are drained sequentially inside one Effect; CPU time of this process,
 * best of `rounds` rounds. Prints µs per stream and per event.
 *
 *   npx tsx --conditions=source test/bench/_streams.ts [streams] [events] [layer names...]
 */
import { Chunk, Effect, Layer, ManagedRuntime, Stream } from "effect"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import { nextRequest } from "./inprocess.js"
import { bestCpuMicrosPerRun } from "./lib.js"
import { buildInProcess, fullStack, inProcessDeps, type LayerName, silentLogger, withoutGuards, zeroModel } from "./stacks.js"

const runtime = ManagedRuntime.make(Layer.mergeAll(silentLogger, inProcessDeps))
const STREAMS = Number(process.argv[2] ?? 500)
const EVENTS = Number(process.argv[3] ?? 20)
const only = process.argv.slice(4)
const rounds = 5

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

const measure = (layers: ReadonlyArray<LayerName>) =>
  runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* buildInProcess(layers, streamingModel)
    const count = yield* Stream.runCount(s.stream(nextRequest()))
    // The output guard may re-cut text deltas (it holds back a tail that could start a secret).
    const guarded = layers.includes("guardOutput")
    if (guarded ? count < 2 : count !== EVENTS + 1) return yield* Effect.die(new Error(`expected ${EVENTS + 1} events, got ${count}`))
    for (let i = 0; i < 200; i++) yield* Stream.runDrain(s.stream(nextRequest()))
    return yield* bestCpuMicrosPerRun(Effect.suspend(() => Stream.runDrain(s.stream(nextRequest()))), STREAMS, rounds)
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
