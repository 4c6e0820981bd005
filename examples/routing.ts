/**
 * Cheaper models for simple work: a Router that sends classification to a small
 * model, a Cascade that escalates only answers that fail a schema, and a batch
 * job at half price.
 *
 * Runs the real OpenAI SDK against the loopback simulators (no keys, no network):
 *   npx tsx examples/routing.ts
 */
import { Chunk, Effect, Layer, Redacted, Schedule, Schema, Stream } from "effect"
import * as Batch from "../src/batch/Batch.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Cascade from "../src/routing/Cascade.js"
import * as Router from "../src/routing/Router.js"
import * as BatchSimulator from "../src/testing/BatchSimulator.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const Label = Schema.Struct({ label: Schema.Literal("billing", "bug", "other") })

const program = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  // The small model fumbles JSON when the ticket mentions "refund"; the large one never does.
  yield* sim.setHandler((call) => {
    const body = call.body as { model: string; messages: ReadonlyArray<{ content: string }> }
    const last = body.messages.at(-1)!.content
    if (body.model === "gpt-4.1-nano" && last.includes("refund")) return { text: "Looks like billing to me!" }
    return { text: JSON.stringify({ label: last.includes("crash") ? "bug" : "billing" }) }
  })
  const openai = (model: string) => OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseURL: sim.openaiBaseURL, model })

  // 1. Router: classification to the small model, everything else to the large one.
  const routed = Router.layer({
    routes: { small: openai("gpt-4.1-nano"), large: openai("gpt-4.1") },
    rules: [{ name: "classify", when: Router.tag("task", "classify"), route: "small" }],
    default: "large"
  })
  const ask = (content: string, task?: string) =>
    LanguageModel.generate({
      messages: [{ role: "user", content }],
      maxTokens: 50,
      ...(task ? { metadata: { tags: { task } } } : {})
    })
  const { decisions, value } = yield* Router.observe(ask("The app crashes on login", "classify")).pipe(Effect.provide(routed))
  console.log(`router: ${decisions[0]!.route} (rule ${decisions[0]!.rule}) -> ${value.model}: ${value.text}`)

  // 2. Cascade: the small model first; escalate when the answer does not decode.
  const cascade = Cascade.layer({
    steps: [{ name: "small", layer: openai("gpt-4.1-nano") }, { name: "large", layer: openai("gpt-4.1") }],
    checks: [Cascade.schema(Label)]
  }).pipe(Layer.provide(Pricing.layer()))
  for (const ticket of ["The app crashes on login", "I want a refund for March"]) {
    const { runs, value: answer } = yield* Cascade.observe(ask(ticket)).pipe(Effect.provide(cascade))
    const steps = runs[0]!.steps.map((s) => `${s.model} ${s.outcome}${s.reason ? ` (${s.reason.slice(0, 30)}...)` : ""}`)
    console.log(`cascade: "${ticket}": ${steps.join(" -> ")}; total $${answer.cost!.usd.toFixed(8)}`)
  }

  // 3. Batch: 20 tickets as one job at the batch discount.
  const batchSim = yield* BatchSimulator.make({ batch: { pollsUntilDone: 2 } })
  const batch = yield* Batch.makeOpenAi({ apiKey: Redacted.make("sk-demo"), baseURL: batchSim.openaiBaseURL, model: "gpt-4.1-mini" }).pipe(
    Effect.provide(Pricing.layer())
  )
  const results = yield* Stream.runCollect(
    batch.run(
      Array.from({ length: 20 }, (_, i) => ({ messages: [{ role: "user" as const, content: `ticket ${i}` }], maxTokens: 20 })),
      { schedule: Schedule.spaced("200 millis") } // a real job: the default schedule (30 s, then 2 min)
    )
  )
  const ok = Chunk.toReadonlyArray(results).filter((r): r is Batch.Succeeded => r._tag === "Succeeded")
  const usd = ok.reduce((sum, r) => sum + r.response.cost!.usd, 0)
  console.log(`batch: ${ok.length}/${Chunk.size(results)} answered, $${usd.toFixed(8)} at the 50% batch price`)
})

Effect.runPromise(Effect.scoped(program))
