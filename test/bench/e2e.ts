/**
 * End to end through the real `openai` SDK against the ProviderSimulator (in a
 * process of its own): the raw SDK call vs the same call through the full stack
 * (`Stack.layer`, see stacks.ts), in the same run, interleaved (the order
 * rotates every round), each call with a new prompt so the cache misses. The raw
 * SDK runs on its default transport (the global fetch); a third series gives it
 * the transport the stack's providers use (`NodeFetch`), so the stack's own
 * overhead can be read apart from the transport's gain.
 *
 * Three more series bound what any stack of these layers can reach: the floor
 * (floor.ts: the layers' unskippable work as plain calls around the raw SDK on
 * NodeFetch); at 0 ms only (where the bound decides the ratio goal), the Effect
 * floor (the same work and call inside one `runPromise`, the least any stack run
 * on Effect's runtime costs) and the bare stack (`Stack.layer` with nothing but its
 * provider: the runtime and the provider adapter).
 *
 *   node --import tsx test/bench/e2e.ts [--quick|--smoke] [--latency-ms N]
 */
import { Effect } from "effect"
import OpenAI from "openai"
import * as Construct from "../../src/internal/construct.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as NodeFetch from "../../src/providers/NodeFetch.js"
import * as Floor from "./floor.js"
import { load1, round, startSimulator, summarize, type Summary } from "./lib.js"
import { bareConfig, BENCH_KEY as KEY, MODEL, stackConfig, stackRuntime } from "./stacks.js"

export type Mode = "smoke" | "quick" | "full"

export interface Result {
  readonly simulatorLatencyMs: number
  readonly calls: number
  readonly rawMs: Summary
  readonly stackMs: Summary
  /** The raw SDK given `NodeFetch.fetch`, the stack's transport. */
  readonly rawNodeFetchMs: Summary
  readonly p50Ratio: number
  readonly p99Ratio: number
  /** Stack p50 over the raw SDK's on the same transport. */
  readonly p50RatioSameTransport: number
  /** The raw SDK on `NodeFetch` with the floor's work around each call (floor.ts). */
  readonly floorMs: Summary
  /** Floor p50 over the raw SDK's on the same transport: the least the stack's ratio can be. */
  readonly floorP50Ratio: number
  /** At 0 ms only: the Effect floor and the bare stack (see the module comment). */
  readonly bound?: Bound
  readonly loadStart: number
  readonly loadEnd: number
  readonly simulatorCommand: string
}

export interface Bound {
  /** The floor's work and the raw SDK call on NodeFetch inside one `runPromise`. */
  readonly effectFloorMs: Summary
  /** Effect floor p50 over the raw SDK's on its default transport: the least the stack's ratio can be. */
  readonly effectFloorP50Ratio: number
  /** The stack with only its provider (stacks.ts `bareConfig`). */
  readonly bareStackMs: Summary
  /** Bare stack p50 over the raw SDK's on its default transport. */
  readonly bareStackP50Ratio: number
}

const counts = { smoke: { warmup: 10, calls: 20 }, quick: { warmup: 50, calls: 200 }, full: { warmup: 300, calls: 2_000 } } as const

export const run = async (mode: Mode, latencyMs = 0): Promise<Result> => {
  const sim = await startSimulator(latencyMs > 0 ? ["--latency-ms", String(latencyMs)] : [])
  const base = `${sim.url}/v1`
  const raw = new OpenAI({ apiKey: KEY, baseURL: base, maxRetries: 0 })
  const rawNode = new OpenAI({ apiKey: KEY, baseURL: base, maxRetries: 0, fetch: NodeFetch.make() })
  const runtime = stackRuntime(stackConfig(base, base))
  const bareRuntime = stackRuntime(bareConfig(base))
  let n = 0
  const prompt = () => `What is the capital of France? (question ${n++})`
  const system = "You are a concise assistant."
  const rawCall = (client: OpenAI) => async () => {
    const started = performance.now()
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "system", content: system }, { role: "user", content: prompt() }],
      temperature: 0,
      max_tokens: 256
    })
    if (completion.choices[0]?.message.content?.length === 0) throw new Error("raw: empty answer")
    return performance.now() - started
  }
  const stackCall = (runtime: typeof bareRuntime) => async () => {
    const started = performance.now()
    const response = await runtime.runPromise(LanguageModel.generate({
      messages: [{ role: "system", content: system }, { role: "user", content: prompt() }],
      temperature: 0,
      maxTokens: 256
    }))
    if (response.text.length === 0 || response.cache !== undefined) throw new Error("stack: empty answer or a cache hit")
    return performance.now() - started
  }
  const floor = await Floor.make()
  const floorWork = async () => {
    const request = Construct.make(LanguageModel.Request, {
      messages: [
        Construct.make(LanguageModel.SystemMessage, { role: "system", content: system }),
        Construct.make(LanguageModel.UserMessage, { role: "user", content: prompt() })
      ],
      temperature: 0,
      maxTokens: 256
    })
    const { canary, send } = floor.before(request)
    const completion = await rawNode.chat.completions.create({
      model: MODEL,
      messages: send.messages.map((m) => ({ role: m.role as "system" | "user", content: m.content })),
      temperature: 0,
      max_tokens: 256
    })
    const text = completion.choices[0]?.message.content ?? ""
    if (text.length === 0) throw new Error("floor: empty answer")
    floor.after(send, canary, text, Construct.make(LanguageModel.Usage, {
      inputTokens: completion.usage?.prompt_tokens ?? 0,
      outputTokens: completion.usage?.completion_tokens ?? 0,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      reasoningTokens: 0
    }))
  }
  const floorCall = async () => {
    const started = performance.now()
    await floorWork()
    return performance.now() - started
  }
  const effectFloorCall = async () => {
    const started = performance.now()
    await bareRuntime.runPromise(Effect.promise(floorWork))
    return performance.now() - started
  }
  try {
    const { calls, warmup } = counts[mode]
    const series = [rawCall(raw), stackCall(runtime), rawCall(rawNode), floorCall]
    if (latencyMs === 0) series.push(effectFloorCall, stackCall(bareRuntime))
    for (let i = 0; i < warmup; i++) for (const call of series) await call()
    const loadStart = load1()
    const samples: Array<Array<number>> = series.map(() => [])
    for (let i = 0; i < calls; i++) {
      for (let k = 0; k < series.length; k++) {
        const which = (i + k) % series.length
        samples[which]!.push(await series[which]!())
      }
    }
    const [r, s, rn, f, ef, b] = samples.map(summarize) as [Summary, Summary, Summary, Summary, Summary?, Summary?]
    const rounded = (x: Summary) => ({ n: x.n, p50: round(x.p50, 3), p99: round(x.p99, 3), mean: round(x.mean, 3) })
    return {
      simulatorLatencyMs: latencyMs,
      calls,
      rawMs: rounded(r),
      stackMs: rounded(s),
      rawNodeFetchMs: rounded(rn),
      p50Ratio: round(s.p50 / r.p50, 3),
      p99Ratio: round(s.p99 / r.p99, 3),
      p50RatioSameTransport: round(s.p50 / rn.p50, 3),
      floorMs: rounded(f),
      floorP50Ratio: round(f.p50 / rn.p50, 3),
      ...(ef === undefined || b === undefined ? {} : {
        bound: {
          effectFloorMs: rounded(ef),
          effectFloorP50Ratio: round(ef.p50 / r.p50, 3),
          bareStackMs: rounded(b),
          bareStackP50Ratio: round(b.p50 / r.p50, 3)
        }
      }),
      loadStart,
      loadEnd: load1(),
      simulatorCommand: sim.child.command.replace(process.execPath, "node")
    }
  } finally {
    await runtime.dispose()
    await bareRuntime.dispose()
    await sim.child.stop()
  }
}

export const markdown = (rows: ReadonlyArray<Result>): string =>
  [
    "| simulator latency | calls each | raw SDK p50 / p99 ms | full stack p50 / p99 ms | ratio p50 | ratio p99 | raw SDK on NodeFetch p50 / p99 ms | ratio p50, same transport | floor p50 / p99 ms | floor ratio p50, same transport | load start / end |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.simulatorLatencyMs} ms | ${r.calls} | ${r.rawMs.p50} / ${r.rawMs.p99} | ${r.stackMs.p50} / ${r.stackMs.p99} | ${r.p50Ratio} | ${r.p99Ratio} | ${r.rawNodeFetchMs.p50} / ${r.rawNodeFetchMs.p99} | ${r.p50RatioSameTransport} | ${r.floorMs.p50} / ${r.floorMs.p99} | ${r.floorP50Ratio} | ${r.loadStart} / ${r.loadEnd} |`
    ),
    ...boundTable(rows)
  ].join("\n")

/** The bound series (0 ms only), ratios over the raw SDK on its default transport. */
const boundTable = (rows: ReadonlyArray<Result>): ReadonlyArray<string> => {
  const lines = rows.flatMap(({ bound: b, simulatorLatencyMs }) =>
    b === undefined ? [] : [
      `| ${simulatorLatencyMs} ms | ${b.effectFloorMs.p50} / ${b.effectFloorMs.p99} | ${b.effectFloorP50Ratio} | ${b.bareStackMs.p50} / ${b.bareStackMs.p99} | ${b.bareStackP50Ratio} |`
    ]
  )
  return lines.length === 0 ? [] : [
    "",
    "| simulator latency | Effect floor p50 / p99 ms | Effect floor ratio p50 | bare stack p50 / p99 ms | bare stack ratio p50 |",
    "|---:|---:|---:|---:|---:|",
    ...lines
  ]
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode: Mode = process.argv.includes("--smoke") ? "smoke" : process.argv.includes("--quick") ? "quick" : "full"
  const i = process.argv.indexOf("--latency-ms")
  run(mode, i >= 0 ? Number(process.argv[i + 1]) : 0)
    .then((r) => console.log(markdown([r])))
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
