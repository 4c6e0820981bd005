/**
 * CPU of this process per call, end to end through the real `openai` SDK against
 * the simulator (in a process of its own): the raw SDK on the stack's transport
 * (`raw`), the full stack (`full`) and Portkey's equivalent config (`equiv`: cache,
 * retry, fallback), each series run `N` times in a row per round, three rounds
 * after a warm-up (use the last two). CPU time is steadier than wall time on a
 * shared machine; run it alternately on two checkouts for an A/B.
 *
 *   npx tsx --conditions=source test/bench/_e2ecpu.ts [N] [raw,full,equiv]
 */
import OpenAI from "openai"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as NodeFetch from "../../src/providers/NodeFetch.js"
import { cpuMicros, startSimulator } from "./lib.js"
import { BENCH_KEY as KEY, equivalentConfig, MODEL, stackConfig, stackRuntime } from "./stacks.js"

const N = Number(process.argv[2] ?? 2000)
const only = (process.argv[3] ?? "raw,full,equiv").split(",")

const sim = await startSimulator([])
const base = `${sim.url}/v1`
const rawClient = new OpenAI({ apiKey: KEY, baseURL: base, maxRetries: 0, fetch: NodeFetch.make() })
let n = 0
const system = "You are a concise assistant."
const prompt = () => `What is the capital of France? (question ${n++})`
const raw = async () => {
  await rawClient.chat.completions.create({
    model: MODEL,
    messages: [{ role: "system", content: system }, { role: "user", content: prompt() }],
    temperature: 0,
    max_tokens: 256
  })
}
const through = (runtime: ReturnType<typeof stackRuntime>) => async () => {
  await runtime.runPromise(LanguageModel.generate({
    messages: [{ role: "system", content: system }, { role: "user", content: prompt() }],
    temperature: 0,
    maxTokens: 256
  }))
}
const full = stackRuntime(stackConfig(base, base))
const equiv = stackRuntime(equivalentConfig(base, base))
const series = ([["raw", raw], ["full", through(full)], ["equiv", through(equiv)]] as const)
  .filter(([name]) => only.includes(name))
try {
  for (const [, call] of series) for (let i = 0; i < 500; i++) await call()
  for (let round = 0; round < 3; round++) {
    const out: Array<string> = []
    for (const [name, call] of series) {
      const cpu = cpuMicros()
      const wall = performance.now()
      for (let i = 0; i < N; i++) await call()
      out.push(`${name} cpu ${((cpuMicros() - cpu) / N).toFixed(0)} µs wall ${((performance.now() - wall) * 1000 / N).toFixed(0)} µs`)
    }
    console.log(out.join(" | "))
  }
} finally {
  await full.dispose()
  await equiv.dispose()
  await sim.child.stop()
}
