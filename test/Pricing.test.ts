import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Usage } from "../src/LanguageModel.js"
import * as Pricing from "../src/cost/Pricing.js"

const close = (actual: number, expected: number) => expect(actual).toBeCloseTo(expected, 12)

describe("Pricing", () => {
  it.effect("gpt-4.1: cached input at $0.50/M, the rest at $2/M, output (reasoning included) at $8/M", () =>
    Effect.gen(function*() {
      const usage = new Usage({ inputTokens: 10_000, cachedInputTokens: 4_000, outputTokens: 2_000, reasoningTokens: 500 })
      // 6,000 x 2e-6 + 4,000 x 0.5e-6 + 2,000 x 8e-6 = 0.012 + 0.002 + 0.016
      close(yield* Pricing.cost("gpt-4.1", usage), 0.03)
    }).pipe(Effect.provide(Pricing.layer())))

  it.effect("a dated Anthropic snapshot: cache reads 0.1x, 5-minute cache writes 1.25x input", () =>
    Effect.gen(function*() {
      const usage = new Usage({ inputTokens: 3_000, cachedInputTokens: 1_000, cacheWriteTokens: 1_000, outputTokens: 500 })
      // 1,000 x 3e-6 + 1,000 x 0.3e-6 + 1,000 x 3.75e-6 + 500 x 15e-6
      close(yield* Pricing.cost({ provider: "anthropic", model: "claude-sonnet-4-5-20250929" }, usage), 0.01455)
    }).pipe(Effect.provide(Pricing.layer())))

  it.effect("above 200K input tokens Sonnet 4.5 bills the whole request at the long-context rates", () =>
    Effect.gen(function*() {
      const usage = new Usage({ inputTokens: 250_000, outputTokens: 1_000 })
      // 250,000 x 6e-6 + 1,000 x 22.5e-6
      close(yield* Pricing.cost("claude-sonnet-4-5", usage), 1.5225)
      close(yield* Pricing.cost("claude-sonnet-4-5", new Usage({ inputTokens: 200_000, outputTokens: 0 })), 0.6)
    }).pipe(Effect.provide(Pricing.layer())))

  it.effect("snapshots resolve to their base model, except gpt-4o-2024-05-13 which kept its launch price", () =>
    Effect.gen(function*() {
      const usage = new Usage({ inputTokens: 1_000_000, outputTokens: 1_000_000 })
      close(yield* Pricing.cost("gpt-4o-2024-08-06", usage), 12.5)
      close(yield* Pricing.cost("gpt-4o-2024-05-13", usage), 20)
      close(yield* Pricing.cost("o3-mini-2025-01-31", usage), 5.5)
      close(yield* Pricing.cost("claude-haiku-4-5-20251001", usage), 6)
    }).pipe(Effect.provide(Pricing.layer())))

  it.effect("an unknown model is an UnknownModel error, never $0", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Pricing.cost("llama3.1:8b", new Usage({ inputTokens: 10, outputTokens: 10 })))
      expect(error._tag).toBe("UnknownModel")
      expect(error.model).toBe("llama3.1:8b")
    }).pipe(Effect.provide(Pricing.layer())))

  it.effect("a configured fallback price covers unknown models", () =>
    Effect.gen(function*() {
      const cost = yield* Pricing.cost("llama3.1:8b", new Usage({ inputTokens: 1_000, outputTokens: 1_000 }))
      close(cost, 1_000 * 5e-6 + 1_000 * 25e-6)
    }).pipe(Effect.provide(Pricing.layer({ fallback: Pricing.perMillion({ input: 5, output: 25 }) }))))

  it.effect("overrides add models and replace prices; provider/model keys win over bare ids", () =>
    Effect.gen(function*() {
      const usage = new Usage({ inputTokens: 1_000_000, outputTokens: 0 })
      close(yield* Pricing.cost({ provider: "azure", model: "gpt-4o" }, usage), 3)
      close(yield* Pricing.cost({ provider: "openai", model: "gpt-4o" }, usage), 2.5)
      close(yield* Pricing.cost("my-model", usage), 0.1)
    }).pipe(Effect.provide(Pricing.layer({
      overrides: {
        "azure/gpt-4o": Pricing.perMillion({ input: 3, output: 12 }),
        "my-model": Pricing.perMillion({ input: 0.1, output: 0.2 })
      }
    }))))

  it("lookups give the same answer when repeated, per provider, and past the remembered ones", () => {
    const pricing = Pricing.make({ overrides: { "azure/gpt-4o": Pricing.perMillion({ input: 3, output: 12 }) } })
    const input = (model: string | { provider: string; model: string }) =>
      Option.map(pricing.lookup(model), (p) => p.input * 1e6).pipe(Option.getOrUndefined)
    for (let round = 0; round < 2; round++) {
      expect(input({ provider: "azure", model: "gpt-4o" })).toBeCloseTo(3, 9)
      expect(input({ provider: "openai", model: "gpt-4o" })).toBeCloseTo(2.5, 9)
      expect(input("gpt-4o")).toBeCloseTo(2.5, 9)
      // a bare id is not a provider-prefixed key split apart
      expect(input("azure/gpt-4o")).toBeCloseTo(3, 9)
      expect(input({ provider: "azure", model: "llama" })).toBeUndefined()
      // more distinct models than a service remembers
      for (let i = 0; i < 3_000; i++) expect(input({ provider: "p", model: `unknown-${i}` })).toBeUndefined()
    }
  })

  it("withoutDefaults starts from an empty table", () => {
    const pricing = Pricing.make({ withoutDefaults: true })
    expect(Option.isNone(pricing.lookup("gpt-4o"))).toBe(true)
  })

  it("the worst case prices every input token at the dearest input rate (a cache write for Anthropic)", () => {
    const price = Pricing.make().lookup("claude-opus-4-6").pipe(Option.getOrThrow)
    // 1,000 x 6.25e-6 + 100 x 25e-6
    close(Pricing.worstCaseOf(price, 1_000, 100), 0.00875)
  })

  it("every built-in price is positive, and the table is dated", () => {
    for (const [model, price] of Object.entries(Pricing.defaults)) {
      for (const rate of [price.input, price.cachedInput, price.cacheWrite, price.output]) {
        expect(rate, model).toBeGreaterThan(0)
      }
    }
    expect(Pricing.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/)
  })
})
