/**
 * Benchmark: "always the strong model" vs a cascade, on a scripted mix of easy
 * and hard classification cases, through the real OpenAI SDK against the
 * loopback provider simulator.
 *
 *   npx tsx test/bench/cascade.ts            (CASES=400 HARD=0.3 to change the mix)
 *
 * What is scripted (and therefore what the figures depend on):
 * - each case is a ticket with a true label; a fraction HARD of them are hard;
 * - gpt-4.1-nano (cheap) answers easy cases correctly; on hard cases it answers
 *   with prose instead of JSON half of the time and with a valid but wrong label
 *   the other half;
 * - gpt-4.1 (strong) answers every easy case and 19 of 20 hard cases correctly;
 * - gpt-4.1-mini as judge scores wrong answers 0.1 and right ones 0.9, except it
 *   misses one wrong answer in ten (scores it 0.9).
 * - every call reports 150 input and 20 output tokens; the judge 260 in, 15 out.
 * Costs are those token counts at the built-in list prices (Pricing.defaults), so
 * they are real prices of simulated traffic. Pass = the final label is the true one.
 */
import { Effect, Redacted, Schema } from "effect"
import * as Pricing from "../../src/cost/Pricing.js"
import * as LanguageModel from "../../src/LanguageModel.js"
import * as OpenAi from "../../src/providers/OpenAi.js"
import * as Cascade from "../../src/routing/Cascade.js"
import * as ProviderSimulator from "../../src/testing/ProviderSimulator.js"

const CASES = Number(process.env.CASES ?? 400)
const HARD = Number(process.env.HARD ?? 0.3)
const LABELS = ["billing", "bug", "account", "other"] as const

interface Case {
  readonly id: number
  readonly hard: boolean
  readonly label: (typeof LABELS)[number]
}

const cases: ReadonlyArray<Case> = Array.from({ length: CASES }, (_, id) => ({
  id,
  // spread hard cases evenly: case i is hard when floor((i+1)·HARD) > floor(i·HARD)
  hard: Math.floor((id + 1) * HARD) > Math.floor(id * HARD),
  label: LABELS[id % LABELS.length]!
}))
const hardIndex = new Map(cases.filter((c) => c.hard).map((c, n) => [c.id, n]))

const Answer = Schema.Struct({ label: Schema.Literal(...LABELS) })
const wrong = (label: string) => LABELS[(LABELS.indexOf(label as Case["label"]) + 1) % LABELS.length]!

const caseOf = (text: string): Case => cases[Number(/ticket #(\d+)/.exec(text)![1])]!

/** The scripted models. */
const handler: ProviderSimulator.Handler = (call) => {
  const body = call.body as { model: string; messages: ReadonlyArray<{ content: string }> }
  const text = body.messages.map((m) => m.content).join("\n")
  const c = caseOf(text)
  const n = hardIndex.get(c.id) ?? -1
  if (body.model === "gpt-4.1-mini") {
    const answered = /<answer>\n([\s\S]*?)\n<\/answer>/.exec(text)![1]!
    const right = answered.includes(`"${c.label}"`)
    const missed = !right && c.id % 10 === 0
    return { text: JSON.stringify({ score: right || missed ? 0.9 : 0.1, reason: "scripted" }), usage: { input: 260, output: 15 } }
  }
  const usage = { input: 150, output: 20 }
  if (body.model === "gpt-4.1-nano" && c.hard) {
    return n % 2 === 0
      ? { text: `Probably ${c.label}, but hard to say.`, usage }
      : { text: JSON.stringify({ label: wrong(c.label) }), usage }
  }
  if (body.model === "gpt-4.1" && c.hard && n % 20 === 19) return { text: JSON.stringify({ label: wrong(c.label) }), usage }
  return { text: JSON.stringify({ label: c.label }), usage }
}

const labelOf = (text: string): string | undefined => {
  try {
    return (JSON.parse(text) as { label?: string }).label
  } catch {
    return undefined
  }
}

const program = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: "sk-bench" })
  yield* sim.setHandler(handler)
  const openai = (model: string) =>
    OpenAi.make({ apiKey: Redacted.make("sk-bench"), baseURL: sim.openaiBaseURL, model })
  const cheap = yield* openai("gpt-4.1-nano")
  const strong = yield* openai("gpt-4.1")
  const judgeModel = yield* openai("gpt-4.1-mini")
  const pricing = Pricing.make()

  const strategies: ReadonlyArray<readonly [string, LanguageModel.Service]> = [
    ["always gpt-4.1", yield* Cascade.make([strong], { checks: [], pricing })],
    ["cascade nano → 4.1, schema check", yield* Cascade.make([cheap, strong], { checks: [Cascade.schema(Answer)], pricing })],
    [
      "cascade nano → 4.1, schema + judge (4.1-mini ≥ 0.7)",
      yield* Cascade.make([cheap, strong], {
        checks: [Cascade.schema(Answer), Cascade.judge({ model: judgeModel, threshold: 0.7, pricing })],
        pricing
      })
    ]
  ]

  const rows: Array<{ strategy: string; passRate: number; costUsd: number; strongCalls: number; calls: number; millis: number }> = []
  for (const [name, service] of strategies) {
    yield* sim.reset
    yield* sim.setHandler(handler)
    const started = Date.now()
    const outcomes = yield* Effect.forEach(cases, (c) =>
      Effect.flatMap(
        LanguageModel.decodeRequest({
          messages: [{ role: "system", content: "Label the ticket: billing, bug, account or other. Answer as JSON." }, { role: "user", content: `ticket #${c.id}` }],
          maxTokens: 50
        }),
        (request) => Effect.map(service.generate(request), (response) => ({ c, response }))
      ), { concurrency: 16 })
    const journal = yield* sim.journal
    rows.push({
      strategy: name,
      passRate: outcomes.filter(({ c, response }) => labelOf(response.text) === c.label).length / outcomes.length,
      costUsd: outcomes.reduce((sum, { response }) => sum + response.cost!.usd, 0),
      strongCalls: journal.filter((e) => (e.body as { model?: string }).model === "gpt-4.1").length,
      calls: journal.length,
      millis: Date.now() - started
    })
  }
  const base = rows[0]!.costUsd
  const table = [
    `${CASES} cases, ${cases.filter((c) => c.hard).length} hard (${Math.round(HARD * 100)}%); prices: Pricing.defaults as of ${Pricing.asOf}`,
    "",
    "| strategy | pass rate | cost (USD) | cost vs always-strong | gpt-4.1 calls | HTTP calls |",
    "|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.strategy} | ${(r.passRate * 100).toFixed(1)}% | ${r.costUsd.toFixed(6)} | ${(r.costUsd / base * 100).toFixed(1)}% | ${r.strongCalls} | ${r.calls} |`
    )
  ].join("\n")
  console.log(table)
  console.log(JSON.stringify({ cases: CASES, hard: HARD, rows }, null, 2))
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
