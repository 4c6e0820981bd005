import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Metric, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const unavailable = new LlmError.ProviderUnavailable({ message: "down", kind: "server" })

describe("resilience metrics", () => {
  it.effect("the breaker publishes its state as a gauge per member", () =>
    Effect.gen(function*() {
      const name = `member-${Math.random().toString(36).slice(2)}`
      const breaker = yield* CircuitBreaker.makeBreaker({ name, threshold: 2, cooldown: "10 seconds" })
      const gauge = Metrics.breakerState.pipe(Metric.tagged("member", name))
      yield* Effect.either(breaker.guard(Effect.fail(unavailable)))
      expect((yield* Metric.value(gauge)).value).toBe(0)
      yield* Effect.either(breaker.guard(Effect.fail(unavailable)))
      expect((yield* Metric.value(gauge)).value).toBe(2)
      yield* TestClock.adjust("10 seconds")
      yield* breaker.guard(Effect.void)
      expect((yield* Metric.value(gauge)).value).toBe(0)
    }))

  it.effect("a delayed call records its wait in the rate-limit histogram", () =>
    Effect.gen(function*() {
      const model = `m-${Math.random().toString(36).slice(2)}`
      const scripted = yield* ScriptedModel.make(() => ({ text: "ok" }), { model })
      const limited = yield* RateLimit.make({ requestsPerMinute: 1 })(scripted.service)
      const request = yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "hi" }] })
      yield* limited.generate(request)
      const second = yield* Effect.fork(limited.generate(request))
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(second)
      const histogram = Metrics.rateLimitWaits.pipe(
        Metric.tagged("key", `scripted/${model}:rpm`),
        Metric.tagged("reason", "requests per window")
      )
      const state = yield* Metric.value(histogram)
      expect(state.count).toBe(1)
      expect(state.sum).toBeGreaterThan(0)
      expect(state.sum).toBeLessThanOrEqual(60)
    }))
})
