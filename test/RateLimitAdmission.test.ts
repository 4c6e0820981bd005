/**
 * What a call takes from the rate-limit windows and what it gives back (found in
 * review): a call refused or kept waiting for a concurrency slot takes nothing, a
 * caller that gives up while waiting gives back what it took, a call the provider
 * spent no tokens on gives its estimate back, and a request no window can hold is
 * refused at once.
 */
import { describe, expect, it } from "@effect/vitest"
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { Clock, Effect, Fiber, Layer, Logger, Stream, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

/** A prompt the default estimate counts as `tokens` tokens. */
const requestOf = (tokens = 1, extra: Partial<LanguageModel.RequestInput> = {}): LanguageModel.RequestInput => ({
  messages: [{ role: "user", content: "x".repeat(tokens * 4) }],
  ...extra
})
const used = (tokens: number): ScriptedModel.Step => ({ text: "", usage: { inputTokens: tokens, outputTokens: 0 } })
/** A scripted model that records when each call reached it. */
const recording = (starts: Array<number>, step: (i: number) => ScriptedModel.Step) =>
  ScriptedModel.layer(
    (_r, i) => Effect.as(Effect.map(Clock.currentTimeMillis, (t) => starts.push(t)), step(i)),
    { provider: "p", model: "m" }
  )

describe("RateLimit admission", () => {
  it.effect("fail mode: calls refused for concurrency take nothing from the request window", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const layer = RateLimit.layer({ requestsPerMinute: 3, maxConcurrency: 1, mode: "fail" }).pipe(
        Layer.provide(recording(starts, (i) => ({ ...used(1), latency: i === 0 ? "1 second" : undefined })))
      )
      yield* Effect.gen(function*() {
        const first = yield* Effect.fork(LanguageModel.generate(requestOf()))
        yield* TestClock.adjust("10 millis")
        for (let i = 0; i < 2; i++) {
          const busy = yield* Effect.flip(LanguageModel.generate(requestOf()))
          expect(busy.message).toContain("concurrent calls")
        }
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(first)
        // one request reached the provider in this window of 3: two more fit
        yield* LanguageModel.generate(requestOf())
        yield* LanguageModel.generate(requestOf())
        expect(starts).toHaveLength(3)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("delay mode: a call waits for its slot before it is counted, so no minute starts more than the limit", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const layer = RateLimit.layer({ requestsPerMinute: 2, maxConcurrency: 2 }).pipe(
        Layer.provide(recording(starts, (i) => ({ ...used(1), latency: i < 2 ? "110 seconds" : "1 second" })))
      )
      const all = yield* Effect.fork(Effect.forEach(
        [1, 2, 3, 4, 5, 6],
        () => LanguageModel.generate(requestOf()),
        { concurrency: "unbounded" }
      ).pipe(Effect.provide(layer)))
      for (let i = 0; i < 60; i++) yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(all)
      expect(starts).toHaveLength(6)
      // the old order counted calls 3 and 4 in the first window and started them at 110 s,
      // with calls 5 and 6 of the second window: four starts within 10 s
      for (const t of starts) expect(starts.filter((s) => s >= t && s < t + 60_000).length).toBeLessThanOrEqual(2)
    }))

  it.effect("delay mode: a caller that gives up while waiting for the window gives its request back", () =>
    Effect.gen(function*() {
      const starts: Array<number> = []
      const layer = RateLimit.layer({ requestsPerMinute: 1 }).pipe(Layer.provide(recording(starts, () => used(1))))
      yield* Effect.gen(function*() {
        yield* LanguageModel.generate(requestOf())
        const waiting = yield* Effect.fork(LanguageModel.generate(requestOf()))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(waiting)
        yield* TestClock.adjust("59 seconds") // a new window: the abandoned call held its place
        const third = yield* Effect.fork(LanguageModel.generate(requestOf()))
        yield* TestClock.adjust("1 second")
        expect(starts).toEqual([0, 60_000])
        yield* Fiber.join(third)
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a call the provider refused (400) gives its token estimate back; one it answered keeps its usage", () =>
    Effect.gen(function*() {
      const bad = new LlmError.InvalidRequest({ status: 400, message: "bad param" })
      const layer = RateLimit.layer({ tokensPerMinute: 100, mode: "fail" }).pipe(
        Layer.provide(ScriptedModel.layer([bad, bad, used(50), used(50)], { provider: "p", model: "m" }))
      )
      yield* Effect.gen(function*() {
        const request = requestOf(10, { maxTokens: 40 }) // estimated at 50
        yield* Effect.flip(LanguageModel.generate(request))
        yield* Effect.flip(LanguageModel.generate(request))
        yield* LanguageModel.generate(request)
        yield* LanguageModel.generate(request)
        const full = yield* Effect.flip(LanguageModel.generate(request))
        expect(full.message).toContain("tokens per window")
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a request larger than tokensPerMinute is refused at once, in both modes (it was let through)", () =>
    Effect.gen(function*() {
      for (const mode of ["fail", "delay"] as const) {
        const { recorder, service } = yield* ScriptedModel.make(() => used(1000), { provider: "p", model: "m" })
        const limited = yield* RateLimit.make({ tokensPerMinute: 100, mode })(service)
        const error = yield* Effect.flip(limited.generate(yield* LanguageModel.decodeRequest(requestOf(10, { maxTokens: 990 }))))
        expect(error._tag).toBe("RateLimited")
        expect(error.message).toContain("a request of about 1000 tokens, more than the 100 tokens per window")
        expect(LlmError.retryAfter(error)._tag).toBe("None")
        expect(yield* recorder.calls).toBe(0)
      }
    }))

  it.effect("fail mode: a call refused for tokens gives its request back", () =>
    Effect.gen(function*() {
      const layer = RateLimit.layer({ requestsPerMinute: 2, tokensPerMinute: 100, mode: "fail" }).pipe(
        Layer.provide(ScriptedModel.layer([used(60), used(10)], { provider: "p", model: "m" }))
      )
      yield* Effect.gen(function*() {
        yield* LanguageModel.generate(requestOf(20, { maxTokens: 40 })) // 60 tokens
        const refused = yield* Effect.flip(LanguageModel.generate(requestOf(20, { maxTokens: 40 })))
        expect(refused.message).toContain("tokens per window")
        // The second request of the window, had the refused one kept its place.
        yield* LanguageModel.generate(requestOf(10))
      }).pipe(Effect.provide(layer))
    }))

  it.effect("delay mode: a caller that gives up while waiting for the window never calls the model", () =>
    Effect.gen(function*() {
      let calls = 0
      const service: LanguageModel.Service = {
        models: [{ provider: "p", model: "m" }],
        generate: (request) => {
          calls++
          return Effect.succeed(
            new LanguageModel.Response({
              text: "",
              finishReason: "stop",
              usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 0 }),
              provider: "p",
              model: request.model ?? "m",
              latencyMillis: 0
            })
          )
        },
        stream: () => Stream.die("unused")
      }
      const limited = yield* RateLimit.make({ requestsPerMinute: 1 })(service)
      const request = yield* LanguageModel.decodeRequest(requestOf())
      yield* limited.generate(request)
      const waiting = yield* Effect.fork(limited.generate(request))
      yield* TestClock.adjust("1 second")
      yield* Fiber.interrupt(waiting)
      expect(calls).toBe(1)
    }))

  it.effect("a failing store lets calls through, with a warning", () =>
    Effect.gen(function*() {
      const limiter = yield* Effect.provide(RateLimiter.make, RateLimiter.layerStoreMemory)
      const failing: RateLimit.Store = {
        limiter: {
          ...limiter,
          consume: () => Effect.fail(new RateLimiter.RateLimitStoreError({ message: "down" }))
        },
        pause: () => Effect.fail(new RateLimit.StoreError({ message: "down", cause: null })),
        pausedFor: () => Effect.fail(new RateLimit.StoreError({ message: "down", cause: null }))
      }
      const { recorder, service } = yield* ScriptedModel.make(() => used(1), { provider: "p", model: "m" })
      const limited = RateLimit.makeWith(failing, { requestsPerMinute: 1, tokensPerMinute: 10, mode: "fail" })(service)
      const warnings: Array<unknown> = []
      const logger = Logger.make(({ logLevel, message }) => {
        if (logLevel._tag === "Warning") warnings.push(message)
      })
      const request = yield* LanguageModel.decodeRequest(requestOf())
      yield* limited.generate(request).pipe(Effect.zipRight(limited.generate(request)), Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
      expect(yield* recorder.calls).toBe(2)
      // Per call: the pause check and both windows.
      expect(warnings).toHaveLength(6)
    }))
})
