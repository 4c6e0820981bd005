import { describe, expect, it } from "@effect/vitest"
import { Cause, Clock, Effect, Exit, Fiber, FiberId, Layer, Stream, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const request: LanguageModel.RequestInput = { messages: [{ role: "user", content: "hi" }] }
const down = () => new LlmError.ProviderUnavailable({ kind: "server", status: 503, message: "down" })

const withBreaker = (script: ScriptedModel.Script, options: CircuitBreaker.Options) =>
  CircuitBreaker.layer(options).pipe(Layer.provideMerge(ScriptedModel.layer(script, { provider: "p", model: "m" })))

const state = Effect.flatMap(CircuitBreaker.CircuitBreaker, (b) => b.state)

describe("CircuitBreaker", () => {
  it.effect("opens after N failures within the window and fails fast without calling", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* Effect.flip(LanguageModel.generate(request))
      expect(yield* state).toBe("open")
      const calls = yield* Effect.flatMap(ScriptedModel.ScriptedModel, (r) => r.calls)
      const refused = yield* Effect.flip(LanguageModel.generate(request))
      expect(refused._tag === "ProviderUnavailable" && refused.kind).toBe("circuit-open")
      expect(refused._tag === "ProviderUnavailable" && refused.retryAfterMillis).toBe(30_000)
      expect(LlmError.isRetryable(refused)).toBe(false)
      expect(yield* Effect.flatMap(ScriptedModel.ScriptedModel, (r) => r.calls)).toBe(calls)
      const snapshot = yield* Effect.flatMap(CircuitBreaker.CircuitBreaker, (b) => b.snapshot)
      expect(snapshot).toMatchObject({ name: "p/m", state: "open", failures: 3 })
    }).pipe(Effect.provide(withBreaker(() => down(), { threshold: 3 }))))

  it.effect("failures older than the window do not count", () =>
    Effect.gen(function*() {
      yield* Effect.flip(LanguageModel.generate(request))
      yield* Effect.flip(LanguageModel.generate(request))
      yield* TestClock.adjust("61 seconds")
      yield* Effect.flip(LanguageModel.generate(request))
      expect(yield* state).toBe("closed")
    }).pipe(Effect.provide(withBreaker(() => down(), { threshold: 3, window: "1 minute" }))))

  it.effect("a bad request does not count against the provider", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 5; i++) yield* Effect.flip(LanguageModel.generate(request))
      expect(yield* state).toBe("closed")
    }).pipe(
      Effect.provide(withBreaker(() => new LlmError.InvalidRequest({ status: 400, message: "bad" }), { threshold: 2 }))
    ))

  it.effect("half-open lets exactly one probe through; its success closes the circuit", () =>
    Effect.gen(function*() {
      yield* Effect.flip(LanguageModel.generate(request))
      expect(yield* state).toBe("open")
      yield* TestClock.adjust("10 seconds")
      expect(yield* state).toBe("half-open")
      const probe = yield* Effect.fork(LanguageModel.generate(request))
      yield* TestClock.adjust("0 millis")
      // While the probe is in flight, others are refused.
      const refused = yield* Effect.flip(LanguageModel.generate(request))
      expect(refused._tag === "ProviderUnavailable" && refused.kind).toBe("circuit-open")
      yield* TestClock.adjust("1 second")
      expect((yield* Fiber.join(probe)).text).toBe("probe ok")
      expect(yield* state).toBe("closed")
    }).pipe(Effect.provide(withBreaker([down(), { text: "probe ok", latency: "1 second" }], { threshold: 1, cooldown: "10 seconds" }))))

  it.effect("an interrupted probe frees the slot for the next probe", () =>
    Effect.gen(function*() {
      yield* Effect.flip(LanguageModel.generate(request))
      yield* TestClock.adjust("10 seconds")
      const probe = yield* Effect.fork(LanguageModel.generate(request))
      yield* TestClock.adjust("0 millis")
      yield* Fiber.interrupt(probe)
      expect((yield* LanguageModel.generate(request)).text).toBe("second")
      expect(yield* state).toBe("closed")
    }).pipe(
      Effect.provide(withBreaker([down(), { text: "first", latency: "1 hour" }, { text: "second" }], {
        threshold: 1,
        cooldown: "10 seconds"
      }))
    ))

  it.effect("a probe that dies opens the circuit for another cooldown instead of leaving it half-open for good", () =>
    Effect.gen(function*() {
      const breaker = yield* CircuitBreaker.makeBreaker({ name: "p/m", threshold: 1, cooldown: "1 second" })
      yield* Effect.flip(breaker.guard(Effect.fail(down())))
      yield* TestClock.adjust("1 second")
      const probe = yield* Effect.exit(breaker.guard(Effect.die(new Error("malformed answer"))))
      expect(Exit.isFailure(probe) && Cause.isDie(probe.cause)).toBe(true)
      expect(yield* breaker.snapshot).toMatchObject({ state: "open", probing: false })
      yield* TestClock.adjust("1 second")
      expect(yield* breaker.guard(Effect.succeed("healthy"))).toBe("healthy")
      expect(yield* breaker.state).toBe("closed")
    }))

  // An interrupt landing right after a probe is admitted (the runtime yields every
  // 2048 steps; a timeout, a hedge's loser or a client disconnect interrupts):
  // modelled by a clock whose read, as it admits the probe, interrupts the caller.
  it.effect("a probe interrupted as it is admitted gives its turn back (generate and stream)", () => {
    let now = 0
    let interruptOnRead: Fiber.RuntimeFiber<unknown, unknown> | undefined
    const clock: Clock.Clock = Object.assign(Object.create(Clock.make()), {
      unsafeCurrentTimeMillis: () => {
        interruptOnRead?.unsafeInterruptAsFork(FiberId.none)
        interruptOnRead = undefined
        return now
      },
      currentTimeMillis: Effect.sync(() => now)
    })
    const calls: ReadonlyArray<(b: CircuitBreaker.Breaker) => Effect.Effect<unknown, LlmError.LlmError>> = [
      (b) => b.guard(Effect.succeed("probe")),
      // a stream that never ends: one that ended without Finish would count as cut
      (b) => Stream.runDrain(b.guardStream(Stream.never))
    ]
    return Effect.gen(function*() {
      for (const call of calls) {
        const breaker = yield* CircuitBreaker.makeBreaker({ name: "p/m", threshold: 1, cooldown: "1 second" })
        yield* Effect.flip(breaker.guard(Effect.fail(down())))
        now += 1_000
        const exit = yield* Fiber.await(yield* Effect.fork(Effect.withFiberRuntime<unknown, LlmError.LlmError>((fiber) => {
          interruptOnRead = fiber
          return call(breaker)
        })))
        expect(Exit.isInterrupted(exit)).toBe(true)
        expect((yield* breaker.snapshot).probing).toBe(false)
        expect(yield* breaker.guard(Effect.succeed("next probe"))).toBe("next probe")
      }
    }).pipe(Effect.withClock(clock))
  })

  it.effect("a stream counts as a success only when it reaches Finish", () =>
    Effect.gen(function*() {
      const dropped = yield* Effect.flip(LanguageModel.collect(LanguageModel.stream(request)))
      expect(dropped._tag).toBe("ProviderUnavailable")
      yield* Effect.flip(Stream.runDrain(LanguageModel.stream(request)))
      expect(yield* state).toBe("open")
    }).pipe(
      Effect.provide(withBreaker([
        { text: "a b", failMidStream: { after: 1, error: down() } },
        { text: "a b", failMidStream: { after: 0, error: down() } }
      ], { threshold: 2 }))
    ))
})

describe("CircuitBreaker: streams cut short (found in review)", () => {
  it.effect("a stream that ends without its Finish counts as a failure (it was counted as abandoned)", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 2; i++) yield* Effect.flip(LanguageModel.collect(LanguageModel.stream(request)))
      expect(yield* state).toBe("open")
    }).pipe(Effect.provide(withBreaker(() => ({ text: "a b", dropAfter: 0 }), { threshold: 2 }))))

  it.effect("a stream the caller stops early is still no failure", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* Stream.runDrain(Stream.take(LanguageModel.stream(request), 1))
      expect(yield* state).toBe("closed")
    }).pipe(Effect.provide(withBreaker(() => ({ text: "a b c" }), { threshold: 2 }))))
})
