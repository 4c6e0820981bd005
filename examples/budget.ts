/**
 * A budget in front of a model: per-tenant daily limits, a global monthly limit, the
 * cost on every response and stream, and the spend report.
 *
 * Runs the real OpenAI SDK against the loopback provider simulator (no keys, no
 * network):
 *   npx tsx examples/budget.ts
 * With BUDGET_STORE=redis it keeps the counters in Redis (REDIS_URL, default
 * redis://127.0.0.1:6379), shared by every process that uses the same prefix.
 */
import { Chunk, Effect, Layer, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const Store = process.env.BUDGET_STORE === "redis"
  ? BudgetStore.layerRedis({ prefix: "{effect-llm:example-budget}" })
  : BudgetStore.layerMemory

const stack = (baseURL: string) => Budget.layer({
  limits: [
    { scope: "global", period: "month", usd: 100 },
    // each tenant $0.001 a day, tenant "vip" $0.01
    { scope: "tenant", period: "day", usd: 0.001, overrides: { vip: 0.01 } },
    // and no user more than $0.05 in any rolling hour
    { scope: "user", period: { window: "1 hour" }, usd: 0.05 }
  ],
  timeZone: "Europe/Berlin",
  mode: "fail",
  defaultMaxTokens: 1_000
}).pipe(
  // The stack may call gpt-4.1 and gpt-4.1-mini; worst cases are priced at the dearer.
  Layer.provide(OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseURL, model: "gpt-4.1", models: ["gpt-4.1-mini"] })),
  Layer.provide(Pricing.layer({
    // a price the built-in table lacks (or one you negotiated)
    overrides: { "openai/gpt-4.1": Pricing.perMillion({ input: 2, cachedInput: 0.5, output: 8 }) }
  })),
  Layer.provide(Store)
)

const ask = (tenant: string) =>
  LanguageModel.generate({
    messages: [{ role: "user", content: "What is the capital of France?" }],
    maxTokens: 100,
    metadata: { tenant, user: `${tenant}-alice` }
  }).pipe(
    Effect.map((response) => `${tenant}: "${response.text}" cost $${response.cost?.usd.toFixed(6)}`),
    Effect.catchTag("BudgetExceeded", (e) =>
      Effect.succeed(`${tenant}: refused, ${e.scope} ${e.period} at $${e.spent.toFixed(6)} of $${e.limit}`))
  )

const program = Effect.gen(function*() {
  for (const tenant of ["acme", "acme", "acme", "acme", "vip", "vip"]) {
    yield* Effect.log(yield* ask(tenant))
  }
  // Streams settle from their final usage; Finish carries the cost.
  const events = yield* Stream.runCollect(LanguageModel.stream({
    messages: [{ role: "user", content: "Count to five" }],
    maxTokens: 50,
    metadata: { tenant: "vip", user: "vip-bob" }
  }))
  const finish = Chunk.findLast(events, (e) => e._tag === "Finish")
  if (finish._tag === "Some" && finish.value._tag === "Finish") {
    yield* Effect.log(`stream: ${events.length} events, cost $${finish.value.cost?.usd.toFixed(6)}`)
  }
  for (const line of yield* Budget.report) {
    yield* Effect.log(
      `${line.scope.padEnd(22)} ${line.period.padEnd(10)} ${line.periodId.padEnd(10)} spent $${
        line.spentUsd.toFixed(6)
      } of $${line.limitUsd}`
    )
  }
  yield* Effect.log(`prices as of ${Pricing.asOf}: check them before relying on them`)
})

const main = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  yield* Effect.provide(program, stack(sim.openaiBaseURL))
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exit(1)
})
