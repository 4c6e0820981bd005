import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Fiber, Layer, Ref, Stream, TestClock } from "effect"
import { Redis } from "ioredis"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

/** A prompt of exactly `tokens` estimated tokens (four characters a token). */
const requestOf = (tokens = 1, tenant?: string): LanguageModel.RequestInput => ({
  messages: [{ role: "user", content: "x".repeat(tokens * 4) }],
  ...(tenant === undefined ? {} : { metadata: { tenant } })
})

/** Replies reporting exactly `tokens` used, so estimate and usage agree unless a test wants otherwise. */
const exact = (tokens: number): ScriptedModel.Step => ({ text: "", usage: { inputTokens: tokens, outputTokens: 0 } })

const scripted = (step: ScriptedModel.Step = exact(1)) =>
  ScriptedModel.layer(() => step, { provider: "p", model: "m" })

const run = (n: number, request: LanguageModel.RequestInput = requestOf()) =>
  Effect.forEach(
    Array.from({ length: n }, () => request),
    (r) => Effect.either(LanguageModel.generate(r)),
    { concurrency: "unbounded" }
  )

const admitted = (results: ReadonlyArray<Either.Either<unknown, LlmError.LlmError>>) =>
  results.filter(Either.isRight).length

/** A model that counts calls in flight and holds each for one second. */
const gauge = Effect.gen(function*() {
  const inFlight = yield* Ref.make(0)
  const peak = yield* Ref.make(0)
  const service: LanguageModel.Service = {
    models: [{ provider: "p", model: "m" }],
    generate: () =>
      Effect.acquireUseRelease(
        Ref.updateAndGet(inFlight, (n) => n + 1).pipe(Effect.tap((n) => Ref.update(peak, (p) => Math.max(p, n)))),
        () =>
          Effect.as(
            Effect.sleep("1 second"),
            new LanguageModel.Response({
              text: "",
              finishReason: "stop",
              usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
              provider: "p",
              model: "m",
              latencyMillis: 1000
            })
          ),
        () => Ref.update(inFlight, (n) => n - 1)
      ),
    stream: () => Stream.die("unused")
  }
  return { service, peak }
})

describe("RateLimit (memory store)", () => {
  it.effect("an RPM window admits exactly the configured amount, then the next window again", () =>
    Effect.gen(function*() {
      const first = yield* run(8)
      expect(admitted(first)).toBe(5)
      const refused = first.find(Either.isLeft)!.left
      expect(refused._tag).toBe("RateLimited")
      if (refused._tag === "RateLimited") {
        expect(refused.source).toBe("local")
        expect(refused.retryAfterMillis).toBe(60_000)
      }
      yield* TestClock.adjust("59 seconds")
      expect(admitted(yield* run(1))).toBe(0)
      yield* TestClock.adjust("1 second")
      expect(admitted(yield* run(8))).toBe(5)
    }).pipe(Effect.provide(RateLimit.layer({ requestsPerMinute: 5, mode: "fail" }).pipe(Layer.provide(scripted())))))

  it.effect("a TPM window admits exactly the configured tokens", () =>
    Effect.gen(function*() {
      // 25 estimated (and used) tokens each: four fit in 100.
      expect(admitted(yield* run(6, requestOf(25)))).toBe(4)
      yield* TestClock.adjust("1 minute")
      expect(admitted(yield* run(6, requestOf(25)))).toBe(4)
    }).pipe(
      Effect.provide(RateLimit.layer({ tokensPerMinute: 100, mode: "fail" }).pipe(Layer.provide(scripted(exact(25)))))
    ))

  it.effect("TPM is corrected from the reported usage", () =>
    Effect.gen(function*() {
      // Estimated 10 each, but every call reports 50 used: after two, the window is full.
      const results = []
      for (let i = 0; i < 4; i++) results.push(yield* Effect.either(LanguageModel.generate(requestOf(10))))
      expect(admitted(results)).toBe(2)
    }).pipe(
      Effect.provide(RateLimit.layer({ tokensPerMinute: 100, mode: "fail" }).pipe(Layer.provide(scripted(exact(50)))))
    ))

  it.effect("TPM refunds an over-estimate", () =>
    Effect.gen(function*() {
      // Estimated 50 each (maxTokens), but each reports 10 used. Without the refund
      // only two would fit in 100; with it, a call is admitted while 10·k + 50 <= 100.
      const request: LanguageModel.RequestInput = { ...requestOf(10), maxTokens: 40 }
      const results = []
      for (let i = 0; i < 12; i++) results.push(yield* Effect.either(LanguageModel.generate(request)))
      expect(admitted(results)).toBe(6)
    }).pipe(
      Effect.provide(RateLimit.layer({ tokensPerMinute: 100, mode: "fail" }).pipe(Layer.provide(scripted(exact(10)))))
    ))

  it.effect("delay mode waits for the next window instead of failing", () =>
    Effect.gen(function*() {
      const times: Array<number> = []
      const layer = RateLimit.layer({ requestsPerMinute: 2 }).pipe(
        Layer.provide(ScriptedModel.layer(() => Effect.as(Effect.map(Clock.currentTimeMillis, (t) => times.push(t)), exact(1))))
      )
      const fiber = yield* Effect.fork(run(3).pipe(Effect.provide(layer)))
      yield* TestClock.adjust("59 seconds")
      expect(times).toEqual([0, 0])
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(fiber)
      expect(admitted(results)).toBe(3)
      expect(times).toEqual([0, 0, 60_000])
    }))

  it.effect("concurrency never exceeds its cap (delay mode)", () =>
    Effect.gen(function*() {
      const { peak, service } = yield* gauge
      const limitedModel = yield* RateLimit.make({ maxConcurrency: 3 })(service)
      const fiber = yield* Effect.fork(run(10).pipe(Effect.provideService(LanguageModel.LanguageModel, limitedModel)))
      yield* TestClock.adjust("3 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      expect(admitted(yield* Fiber.join(fiber))).toBe(10)
      expect(yield* Ref.get(peak)).toBe(3)
    }))

  it.effect("a caller waiting for a concurrency slot (delay mode) can be interrupted at once, and leaves no slot taken", () =>
    Effect.gen(function*() {
      const { peak, service } = yield* gauge
      const limitedModel = yield* RateLimit.make({ maxConcurrency: 1 })(service)
      const call = limitedModel.generate(yield* LanguageModel.decodeRequest(requestOf()))
      const holder = yield* Effect.fork(call)
      yield* TestClock.adjust("10 millis")
      const waiter = yield* Effect.fork(call)
      yield* TestClock.adjust("10 millis")
      // The slot is still held for 980 ms more: the interrupt must not wait for it.
      yield* Fiber.interrupt(waiter)
      expect(yield* TestClock.currentTimeMillis).toBe(20)
      expect(holder.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(holder)
      // The interrupted waiter took nothing: the next call runs at once.
      const next = yield* Effect.fork(call)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(next)
      expect(yield* Ref.get(peak)).toBe(1)
    }))

  it.effect("concurrency over the cap fails in fail mode", () =>
    Effect.gen(function*() {
      const { peak, service } = yield* gauge
      const limitedModel = yield* RateLimit.make({ maxConcurrency: 3, mode: "fail" })(service)
      const fiber = yield* Effect.fork(run(10).pipe(Effect.provideService(LanguageModel.LanguageModel, limitedModel)))
      yield* TestClock.adjust("1 second")
      expect(admitted(yield* Fiber.join(fiber))).toBe(3)
      expect(yield* Ref.get(peak)).toBe(3)
    }))

  it.effect("limits are kept per tenant when asked", () =>
    Effect.gen(function*() {
      expect(admitted(yield* run(3, requestOf(1, "acme")))).toBe(1)
      expect(admitted(yield* run(3, requestOf(1, "globex")))).toBe(1)
    }).pipe(
      Effect.provide(
        RateLimit.layer({ requestsPerMinute: 1, perTenant: true, mode: "fail" }).pipe(Layer.provide(scripted()))
      )
    ))

  it.effect("a provider 429 with retry-after pauses the key for every caller", () =>
    Effect.gen(function*() {
      const layer = RateLimit.layer({ mode: "fail" }).pipe(Layer.provide(ScriptedModel.layer([
        new LlmError.RateLimited({ source: "provider", retryAfterMillis: 5000, message: "429" }),
        exact(1)
      ], { provider: "p", model: "m" })))
      yield* Effect.gen(function*() {
        const first = yield* Effect.flip(LanguageModel.generate(requestOf()))
        expect(first._tag === "RateLimited" && first.source).toBe("provider")
        const second = yield* Effect.flip(LanguageModel.generate(requestOf()))
        expect(second._tag === "RateLimited" && second.source).toBe("local")
        expect(second._tag === "RateLimited" && second.retryAfterMillis).toBe(5000)
        yield* TestClock.adjust("5 seconds")
        yield* LanguageModel.generate(requestOf())
      }).pipe(Effect.provide(layer))
    }))

  it.effect("streams hold their concurrency slot until they end", () =>
    Effect.gen(function*() {
      const layer = RateLimit.layer({ maxConcurrency: 1, mode: "fail" }).pipe(
        Layer.provide(scripted({ text: "a b c", chunkDelay: "1 second" }))
      )
      yield* Effect.gen(function*() {
        const fiber = yield* Effect.fork(LanguageModel.stream(requestOf()).pipe(Stream.runDrain))
        yield* TestClock.adjust("1 second")
        const busy = yield* Effect.flip(LanguageModel.generate(requestOf()))
        expect(busy._tag).toBe("RateLimited")
        yield* TestClock.adjust("5 seconds")
        yield* Fiber.join(fiber)
        yield* LanguageModel.generate(requestOf())
      }).pipe(Effect.provide(layer))
    }))
})

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

describe("RateLimit (Redis store)", () => {
  it.live("two layer instances sharing one Redis limit never admit more than it", () =>
    Effect.gen(function*() {
      const prefix = `test:ratelimit:${crypto.randomUUID()}:`
      const instance = () =>
        RateLimit.layer({ requestsPerMinute: 10, mode: "fail" }).pipe(
          Layer.provide(scripted()),
          Layer.provide(RateLimit.layerStoreRedis({ url: redisUrl, prefix }))
        )
      const [a, b] = yield* Effect.all([
        run(15).pipe(Effect.provide(instance())),
        run(15).pipe(Effect.provide(instance()))
      ], { concurrency: "unbounded" })
      expect(admitted(a) + admitted(b)).toBe(10)

      // A 429 seen by one instance pauses the key for the other.
      const paused = RateLimit.layer({ mode: "fail" }).pipe(
        Layer.provide(ScriptedModel.layer([
          new LlmError.RateLimited({ source: "provider", retryAfterMillis: 30_000, message: "429" })
        ], { provider: "q", model: "m" })),
        Layer.provide(RateLimit.layerStoreRedis({ url: redisUrl, prefix }))
      )
      const other = RateLimit.layer({ mode: "fail" }).pipe(
        Layer.provide(ScriptedModel.layer([exact(1)], { provider: "q", model: "m" })),
        Layer.provide(RateLimit.layerStoreRedis({ url: redisUrl, prefix }))
      )
      yield* Effect.flip(LanguageModel.generate(requestOf()).pipe(Effect.provide(paused)))
      const refused = yield* Effect.flip(LanguageModel.generate(requestOf()).pipe(Effect.provide(other)))
      expect(refused._tag === "RateLimited" && refused.source).toBe("local")
      expect(refused._tag === "RateLimited" && refused.retryAfterMillis).toBeGreaterThan(25_000)

      yield* Effect.promise(async () => {
        const redis = new Redis(redisUrl)
        const keys = await redis.keys(`${prefix}*`)
        if (keys.length > 0) await redis.del(...keys)
        await redis.quit()
      })
    }))
})
