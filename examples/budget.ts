/**
 * A budget in front of a model: per-tenant daily limits, a global monthly limit, the
 * cost on every response, and the spend report.
 *
 * Runs without API keys (a scripted model stands in for the provider):
 *   npx tsx examples/budget.ts
 * With BUDGET_STORE=redis it keeps the counters in Redis (REDIS_URL, default
 * redis://127.0.0.1:6379), shared by every process that uses the same prefix.
 */
import { Effect, Layer } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

// Stand-in for OpenAi.layer({ model: "gpt-4.1", ... }): answers with 50 output tokens.
const Model = ScriptedModel.layer(
  () => ({ text: "Paris.", usage: { inputTokens: 20, outputTokens: 50 }, latency: "20 millis" }),
  { provider: "openai", model: "gpt-4.1", models: ["gpt-4.1-mini"] }
)

const Store = process.env.BUDGET_STORE === "redis"
  ? BudgetStore.layerRedis({ prefix: "{effect-llm:example-budget}" })
  : BudgetStore.layerMemory

const Stack = Budget.layer({
  limits: [
    { scope: "global", period: "month", usd: 100 },
    // each tenant $0.002 a day, tenant "vip" $0.01
    { scope: "tenant", period: "day", usd: 0.002, overrides: { vip: 0.01 } },
    // and no user more than $0.05 in any rolling hour
    { scope: "user", period: { window: "1 hour" }, usd: 0.05 }
  ],
  timeZone: "Europe/Berlin",
  mode: "fail",
  defaultMaxTokens: 1_000
}).pipe(
  Layer.provide(Model),
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
  for (const line of yield* Budget.report) {
    yield* Effect.log(
      `${line.scope.padEnd(22)} ${line.period.padEnd(10)} ${line.periodId.padEnd(10)} spent $${
        line.spentUsd.toFixed(6)
      } of $${line.limitUsd}`
    )
  }
  yield* Effect.log(`prices as of ${Pricing.asOf}: check them before relying on them`)
})

Effect.runPromise(program.pipe(Effect.provide(Stack)))
