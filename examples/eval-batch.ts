/**
 * A large evaluation suite run as provider batch jobs: 200 arithmetic cases on an
 * OpenAI and an Anthropic model, first live, then with `batch` on — same
 * verdicts, half the cost, one job per model.
 *
 * Runs the real SDKs against the loopback simulators (no keys, no network; the
 * simulated jobs end after three polls, polled every 200 ms here instead of the
 * default 30 s):
 *   npx tsx examples/eval-batch.ts
 */
import { Console, Effect, Redacted, Schedule } from "effect"
import * as Eval from "../src/eval/Eval.js"
import * as Report from "../src/eval/Report.js"
import * as BatchSimulator from "../src/testing/BatchSimulator.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

// The "model": adds the two numbers of the prompt, and gets every 17th sum wrong.
const handler: ProviderSimulator.Handler = (call) => {
  const body = JSON.stringify(call.body)
  const [, a, b] = /What is (\d+) \+ (\d+)\?/.exec(body) ?? []
  if (a === undefined || b === undefined) return undefined
  const sum = Number(a) + Number(b)
  return { text: String(Number(a) % 17 === 0 ? sum + 1 : sum), usage: { input: 40, output: 2 } }
}

const program = Effect.gen(function*() {
  const live = yield* ProviderSimulator.make()
  yield* live.setHandler(handler)
  const batches = yield* BatchSimulator.make({ batch: { pollsUntilDone: 3 } })
  yield* batches.setItemHandler(BatchSimulator.fromProviderHandler(handler))

  const suite = yield* Eval.make({
    name: "sums",
    prompts: [{ id: "ask", system: "Answer with the number only.", template: "What is {{a}} + {{b}}?" }],
    models: [
      { name: "gpt-4o-mini", provider: "openai", model: "gpt-4o-mini" },
      { name: "claude-haiku", provider: "anthropic", model: "claude-haiku-4-5" }
    ],
    request: { maxTokens: 10 },
    cases: Array.from({ length: 200 }, (_, i) => ({
      id: `sum-${i}`,
      vars: { a: i, b: 2 * i + 1, expected: String(3 * i + 1) },
      assertions: [{ type: "equals" as const, value: "{{expected}}" }]
    }))
  })
  const providerOverride: Eval.ProviderOverride = {
    openaiBaseURL: live.openaiBaseURL,
    anthropicBaseURL: live.anthropicBaseURL,
    batchOpenaiBaseURL: batches.openaiBaseURL,
    batchAnthropicBaseURL: batches.anthropicBaseURL,
    apiKey: Redacted.make("sk-demo")
  }

  const online = yield* Eval.run(suite, { providerOverride, cache: false, concurrency: 8 })
  const batched = yield* Eval.run(suite, {
    providerOverride,
    cache: false,
    batch: { schedule: Schedule.spaced("200 millis"), minCalls: 50 },
    onBatchSubmitted: ({ calls, job, model }) => Console.log(`submitted ${calls} calls of ${model} as job ${job}`)
  })

  const summary = (r: Eval.Report) =>
    `passed ${r.summary.passed}/${r.summary.cells}, cost $${r.summary.costUsd.toFixed(6)}, batched calls ${r.summary.batchedCalls ?? 0}`
  yield* Console.log(`online:  ${summary(online)}`)
  yield* Console.log(`batched: ${summary(batched)}`)
  for (const target of batched.summary.batches ?? []) yield* Console.log(`  ${Report.batchLine(target)}`)
  const same = online.cells.every((c, i) => c.status === batched.cells[i]!.status)
  yield* Console.log(`same verdicts: ${same}; exit code ${Eval.verdict(batched).code} (the model gets ${online.summary.failed / 2} sums wrong)`)
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
