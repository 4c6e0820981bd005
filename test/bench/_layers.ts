/**
 * Cost of each layer alone over the zero-latency model: sequential calls inside
 * one Effect (no runPromise per call), CPU time of this process per call (steadier
 * than wall time on a shared machine), best of `rounds` rounds of N calls.
 *
 *   npx tsx --conditions=source test/bench/_layers.ts [N] [layer names...]
 */
import { Effect, Layer, ManagedRuntime } from "effect"
import { nextRequest } from "./inprocess.js"
import { bestCpuMicrosPerRun } from "./lib.js"
import { buildInProcess, fullStack, inProcessDeps, type LayerName, layerNames, silentLogger, withoutGuards } from "./stacks.js"

const runtime = ManagedRuntime.make(Layer.mergeAll(silentLogger, inProcessDeps))
const N = Number(process.argv[2] ?? 3000)
const only = process.argv.slice(3)
const rounds = 5
const measure = (layers: ReadonlyArray<LayerName>) =>
  runtime.runPromise(Effect.scoped(Effect.gen(function*() {
    const s = yield* buildInProcess(layers)
    for (let i = 0; i < 500; i++) yield* s.generate(nextRequest())
    return yield* bestCpuMicrosPerRun(Effect.suspend(() => s.generate(nextRequest())), N, rounds)
  })))
const sets: Array<[string, ReadonlyArray<LayerName>]> = [
  ["bare", []],
  ...layerNames.map((n) => [n, [n]] as [string, ReadonlyArray<LayerName>]),
  ["full", fullStack],
  ["noGuards", withoutGuards]
]
let bare = 0
for (const [name, layers] of sets) {
  if (only.length > 0 && !only.includes(name) && name !== "bare") continue
  const micros = await measure(layers)
  if (name === "bare") bare = micros
  console.log(name.padEnd(14), micros.toFixed(1).padStart(8), "µs CPU/call", name === "bare" ? "" : `(+${(micros - bare).toFixed(1)})`)
}
await runtime.dispose()
