/**
 * In-process overhead of the stack over a zero-latency model: microseconds per
 * call at concurrency 1 (tinybench, per-call latency) and 64 (wall time of a batch
 * run 64 at a time, divided by its calls), and how it grows layer by layer.
 * Every call carries a new prompt, so the caches take their miss path.
 *
 *   node --import tsx test/bench/inprocess.ts [--quick|--smoke] [--only full]
 */
import { Effect, Exit, ManagedRuntime, Layer, Scope } from "effect"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as Floor from "./floor.js"
import { bestCpuMicrosPerRun, importTool, load1, round, summarize } from "./lib.js"
import { buildInProcess, fullStack, inProcessDeps, type LayerName, layerNames, silentLogger, withoutGuards } from "./stacks.js"

export type Mode = "smoke" | "quick" | "full"

interface TinyTask {
  readonly name: string
  readonly result: { readonly state: string; readonly latency?: { readonly p50: number; readonly p99: number; readonly mean: number }; readonly error?: Error }
}
interface TinyBench {
  add(name: string, fn: () => Promise<unknown>): TinyBench
  run(): Promise<unknown>
  readonly tasks: ReadonlyArray<TinyTask>
}
type TinyBenchCtor = new(options: { time?: number; warmupTime?: number; warmupIterations?: number; iterations?: number }) => TinyBench

export interface Row {
  readonly name: string
  readonly layers: ReadonlyArray<LayerName>
  /** Per call at concurrency 1 (tinybench p50 and mean), µs. */
  readonly c1P50Micros: number
  readonly c1MeanMicros: number
  readonly c1P99Micros: number
  /** Wall time per call with 64 in flight, µs (median of the rounds). */
  readonly c64Micros: number
  readonly load: number
}

export interface Result {
  readonly rows: ReadonlyArray<Row>
  readonly bare: Row
  readonly full: Row
  readonly withoutGuards: Row
  /** full - bare. */
  readonly overheadC1Micros: number
  readonly overheadC1MeanMicros: number
  readonly overheadC64Micros: number
  readonly withoutGuardsOverheadC1Micros: number
  readonly withoutGuardsOverheadC64Micros: number
  /**
   * CPU µs a call, sequential calls in one process (best of 5 rounds): the bare
   * model, the full stack, and the floor (the work the full stack cannot skip, as
   * plain calls: see floor.ts).
   */
  readonly cpu: { readonly bareMicros: number; readonly fullMicros: number; readonly floorMicros: number }
}

const settings = {
  smoke: { time: 40, warmup: 20, rounds: 1, batch: 100, cpuCalls: 200 },
  quick: { time: 300, warmup: 100, rounds: 1, batch: 300, cpuCalls: 1_000 },
  full: { time: 1_500, warmup: 300, rounds: 3, batch: 1_000, cpuCalls: 5_000 }
} as const

let counter = 0
const system = Construct.make(LanguageModel.SystemMessage, { role: "system", content: "You are a concise assistant." })
/**
 * A new prompt per call (the caches miss), of a typical short length. Built
 * without the Schema class constructors (`Construct.make`): a validated
 * `new Request(...)` costs ~230 µs and even `new Request(..., true)` ~5 µs here,
 * the harness's cost, not the stack's.
 */
export const nextRequest = () =>
  Construct.make(LanguageModel.Request, {
    messages: [
      system,
      Construct.make(LanguageModel.UserMessage, { role: "user", content: `What is the capital of France? (question ${counter++})` })
    ],
    temperature: 0,
    maxTokens: 256
  })

const makeRuntime = () => ManagedRuntime.make(Layer.mergeAll(silentLogger, inProcessDeps))

export const run = async (mode: Mode, options: { readonly configs?: ReadonlyArray<{ name: string; layers: ReadonlyArray<LayerName> }> } = {}): Promise<Result> => {
  const { Bench } = await importTool<{ Bench: TinyBenchCtor }>("tinybench")
  const s = settings[mode]
  const runtime = makeRuntime()
  const cumulative = layerNames.map((_, i) => ({ name: `+ ${layerNames[i]}`, layers: layerNames.slice(0, i + 1) }))
  const configs = options.configs ?? [
    { name: "bare model", layers: [] as ReadonlyArray<LayerName> },
    ...(mode === "full" ? cumulative : []),
    { name: "full stack", layers: fullStack },
    { name: "full stack without guards", layers: withoutGuards }
  ]
  const rows: Array<Row> = []
  let cpu: Result["cpu"]
  try {
    for (const config of configs) {
      const scope = await runtime.runPromise(Scope.make())
      try {
        const service = await runtime.runPromise(Scope.extend(buildInProcess(config.layers), scope))
        // Sanity: the stack answers.
        const check = await runtime.runPromise(service.generate(nextRequest()))
        if (check.text.length === 0) throw new Error(`${config.name}: empty answer`)

        const bench = new Bench({ time: s.time, warmupTime: s.warmup })
        bench.add(config.name, () => runtime.runPromise(service.generate(nextRequest())))
        await bench.run()
        const task = bench.tasks[0]!
        if (task.result.state !== "completed" || task.result.latency === undefined) {
          throw new Error(`${config.name}: tinybench ${task.result.state} ${task.result.error?.message ?? ""}`)
        }
        const lat = task.result.latency

        const perCall: Array<number> = []
        for (let r = 0; r < s.rounds + 1; r++) {
          const requests = Array.from({ length: s.batch }, nextRequest)
          const start = performance.now()
          await runtime.runPromise(Effect.forEach(requests, (req) => service.generate(req), { concurrency: 64, discard: true }))
          const micros = (performance.now() - start) * 1000 / s.batch
          if (r > 0 || s.rounds === 1) perCall.push(micros) // the first round warms up
        }
        rows.push({
          name: config.name,
          layers: config.layers,
          c1P50Micros: round(lat.p50 * 1000, 2),
          c1MeanMicros: round(lat.mean * 1000, 2),
          c1P99Micros: round(lat.p99 * 1000, 2),
          c64Micros: round(summarize(perCall).p50, 2),
          load: load1()
        })
      } finally {
        await runtime.runPromise(Scope.close(scope, Exit.void))
      }
    }
    cpu = await cpuPerCall(runtime, s.cpuCalls)
  } finally {
    await runtime.dispose()
  }
  const find = (name: string) => rows.find((r) => r.name === name)!
  const bare = find("bare model")
  const full = find("full stack")
  const noGuards = find("full stack without guards")
  return {
    rows,
    bare,
    full,
    withoutGuards: noGuards,
    overheadC1Micros: round(full.c1P50Micros - bare.c1P50Micros, 2),
    overheadC1MeanMicros: round(full.c1MeanMicros - bare.c1MeanMicros, 2),
    overheadC64Micros: round(full.c64Micros - bare.c64Micros, 2),
    withoutGuardsOverheadC1Micros: round(noGuards.c1P50Micros - bare.c1P50Micros, 2),
    withoutGuardsOverheadC64Micros: round(noGuards.c64Micros - bare.c64Micros, 2),
    cpu
  }
}

/** The bare model, the full stack and the floor, each as CPU µs a call (see `Result.cpu`). */
const cpuPerCall = async (
  runtime: ReturnType<typeof makeRuntime>,
  n: number
): Promise<Result["cpu"]> => {
  const stack = (layers: ReadonlyArray<LayerName>) =>
    runtime.runPromise(Effect.scoped(Effect.gen(function*() {
      const service = yield* buildInProcess(layers)
      for (let i = 0; i < 500; i++) yield* service.generate(nextRequest())
      return yield* bestCpuMicrosPerRun(Effect.suspend(() => service.generate(nextRequest())), n)
    })))
  const bareMicros = await stack([])
  const fullMicros = await stack(fullStack)
  const answer = await runtime.runPromise(Effect.scoped(Effect.flatMap(buildInProcess([]), (s) => s.generate(nextRequest()))))
  const floorMicros = await Floor.inProcessMicros(nextRequest, answer, n)
  return { bareMicros: round(bareMicros, 1), fullMicros: round(fullMicros, 1), floorMicros: round(floorMicros, 1) }
}

export const markdown = (r: Result): string => {
  const lines = [
    "| stack (innermost layer first) | c=1 p50 µs | c=1 mean µs | c=1 p99 µs | c=64 µs/call | overhead c=1 p50 µs | load |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...r.rows.map((row) =>
      `| ${row.name} | ${row.c1P50Micros} | ${row.c1MeanMicros} | ${row.c1P99Micros} | ${row.c64Micros} | ${round(row.c1P50Micros - r.bare.c1P50Micros, 2)} | ${row.load} |`
    ),
    "",
    `CPU µs a call, sequential in one process (best of 5 rounds): bare model ${r.cpu.bareMicros}, full stack ${r.cpu.fullMicros}, ` +
    `the floor (the full stack's unskippable work as plain calls, floor.ts) ${r.cpu.floorMicros}.`
  ]
  return lines.join("\n")
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full"
  const only = process.argv.includes("--only")
  run(mode, only ? { configs: [{ name: "bare model", layers: [] }, { name: "full stack", layers: fullStack }, { name: "full stack without guards", layers: withoutGuards }] } : {})
    .then((r) => {
      console.log(markdown(r))
      console.log(JSON.stringify({ overheadC1Micros: r.overheadC1Micros, overheadC64Micros: r.overheadC64Micros, withoutGuards: [r.withoutGuardsOverheadC1Micros, r.withoutGuardsOverheadC64Micros], cpu: r.cpu }))
    })
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
