// Its own file: token encodings are loaded once per module registry, and this test
// needs one (cl100k_base) that nothing has loaded yet.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as Tokens from "../src/cost/Tokens.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

describe("Budget token encodings", () => {
  it.effect("a request for a model the stack lacks loads every candidate's encoding (it looped forever)", () =>
    Effect.gen(function*() {
      const request: LanguageModel.RequestInput = { model: "gpt-4o", messages: [{ role: "user", content: "hi" }], maxTokens: 10 }
      // The stack's model counts with cl100k_base, which is not loaded yet; the request's with o200k_base.
      expect(Tokens.estimateIfLoaded(yield* LanguageModel.decodeRequest(request), "gpt-4-turbo")).toBeUndefined()
      const response = yield* LanguageModel.generate(request)
      expect(response.text).toBe("ok")
      expect(response.cost?.usd).toBeGreaterThan(0)
    }).pipe(
      Effect.provide(
        Budget.layer({ limits: [{ scope: "global", period: "day", usd: 1 }] }).pipe(
          Layer.provide(ScriptedModel.layer(() => ({ text: "ok", usage: { inputTokens: 8, outputTokens: 2 } }), { provider: "openai", model: "gpt-4-turbo" })),
          Layer.provide(Pricing.layer()),
          Layer.provide(BudgetStore.layerMemory)
        )
      )
    ), 10_000) // before the fix the plan never finished: the test timed out
})
