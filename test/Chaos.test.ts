import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Fallback from "../src/resilience/Fallback.js"
import * as Retry from "../src/resilience/Retry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

/** mulberry32: a small seeded PRNG, so the chaos is the same on every run. */
const seeded = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Tally {
  calls: number
  serverErrors: number
  rateLimited: number
  dropped: number
}

/**
 * 20% of calls fail with a 5xx, 10% with a 429 and a Retry-After, 5% of streams
 * are cut after the headers, before the first token (a drop after tokens went out
 * cannot be recovered by anyone: the caller already has them).
 */
const chaos = (seed: number, tally: Tally): ProviderSimulator.Handler => {
  const random = seeded(seed)
  return (call) => {
    tally.calls++
    const roll = random()
    if (roll < 0.2) {
      tally.serverErrors++
      return { fault: { kind: "error", status: roll < 0.1 ? 500 : 503, message: "chaos" } }
    }
    if (roll < 0.3) {
      tally.rateLimited++
      return { fault: { kind: "error", status: 429, type: "rate_limit_exceeded", headers: { "retry-after-ms": "20" } } }
    }
    if (call.stream && roll < 0.35) {
      tally.dropped++
      return { fault: { kind: "drop", afterChunks: 0 } }
    }
    return undefined
  }
}

describe("Chaos", () => {
  it.scopedLive("with Retry and Fallback, every one of 500 requests succeeds and none has zero usage", () =>
    Effect.gen(function*() {
      const primary = yield* ProviderSimulator.make()
      const secondary = yield* ProviderSimulator.make()
      const tallies: [Tally, Tally] = [
        { calls: 0, serverErrors: 0, rateLimited: 0, dropped: 0 },
        { calls: 0, serverErrors: 0, rateLimited: 0, dropped: 0 }
      ]
      yield* primary.setHandler(chaos(1, tallies[0]))
      yield* secondary.setHandler(chaos(2, tallies[1]))
      const retry = Retry.layer({ baseDelay: "5 millis", maxDelay: "50 millis", maxAttempts: 6, attemptTimeout: "10 seconds" })
      const context = yield* Layer.build(Fallback.layer([
        retry.pipe(Layer.provide(OpenAi.layer({ baseURL: primary.openaiBaseURL, model: "a", provider: "primary" }))),
        retry.pipe(Layer.provide(OpenAi.layer({ baseURL: secondary.openaiBaseURL, model: "b", provider: "secondary" })))
      ]))
      const lm = Context.get(context, LanguageModel.LanguageModel)

      const started = Date.now()
      const results = yield* Effect.forEach(
        Array.from({ length: 500 }, (_, i) => i),
        (i) =>
          Effect.flatMap(LanguageModel.decodeRequest({ messages: [{ role: "user", content: `question ${i}` }] }), (request) =>
            // One request in four is streamed (streams cost the SDK more per call).
            i % 4 !== 0
              ? lm.generate(request)
              : LanguageModel.collect(lm.stream(request))).pipe(Effect.either),
        { concurrency: 50 }
      )
      const elapsed = Date.now() - started
      expect(elapsed).toBeLessThan(25_000)

      const failures = results.filter((r) => r._tag === "Left")
      expect(failures.map((f) => f._tag === "Left" && f.left._tag)).toEqual([])
      const responses = results.flatMap((r) => r._tag === "Right" ? [r.right] : [])
      expect(responses).toHaveLength(500)
      expect(responses.filter((r) => r.usage.inputTokens === 0 || r.usage.outputTokens === 0)).toHaveLength(0)
      // The chaos did happen, and the route of each response records the retries.
      const [p] = tallies
      expect(p.serverErrors / p.calls).toBeGreaterThan(0.15)
      expect(p.rateLimited / p.calls).toBeGreaterThan(0.05)
      expect(p.dropped).toBeGreaterThan(0)
      const retried = responses.filter((r) => r.attempts.some((a) => a.outcome === "failure"))
      expect(retried.length).toBeGreaterThan(100)
      expect(responses.every((r) => r.attempts.at(-1)?.outcome === "success")).toBe(true)
      console.log(
        `chaos: 500 requests in ${elapsed} ms; primary ${JSON.stringify(tallies[0])}; secondary ${
          JSON.stringify(tallies[1])
        }; ${retried.length} needed a retry; ${responses.filter((r) => r.provider === "secondary").length} served by the secondary`
      )
    }))
})
