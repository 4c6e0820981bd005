/**
 * Retry's attempt timeout over the real SDK providers, under the live clock: the
 * provider arms the timer itself (src/internal/timed.ts) instead of Retry timing
 * the call in fibers of its own. What must hold either way: the attempt fails
 * with "No answer within …", its request is aborted upstream, and it is retried
 * only before the first event.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Exit, Fiber, Redacted, Stream } from "effect"
import * as Timed from "../src/internal/timed.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import { call, callWith } from "../src/providers/internal/call.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/resilience/Retry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-test-0123456789abcdef"

const providers = {
  openai: (sim: ProviderSimulator.Simulator) =>
    OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" }),
  anthropic: (sim: ProviderSimulator.Simulator) =>
    Anthropic.make({ apiKey: Redacted.make(KEY), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-4-5" })
} as const

const ask = (content: string) => LanguageModel.decodeRequest({ messages: [{ role: "user", content }], maxTokens: 64 })
const retryOptions = { attemptTimeout: "150 millis", baseDelay: "1 millis", jitter: false } as const

const textOf = (events: Chunk.Chunk<LanguageModel.StreamEvent>) =>
  Chunk.toReadonlyArray(events).flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")

for (const route of ["openai", "anthropic"] as const) {
  describe(`Retry over ${route}: the provider's own attempt timer (live clock)`, () => {
    const setup = Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const provider = yield* providers[route](sim)
      return { sim, provider, retry: yield* Retry.make(retryOptions)(provider) }
    })

    it.scopedLive("the provider offers timed forms of its own generate and streamPull", () =>
      Effect.gen(function*() {
        const { provider } = yield* setup
        expect(Timed.timedGenerateOf(provider)).toBeDefined()
        expect(Timed.timedStreamPullOf(provider)).toBeDefined()
      }))

    // The same for a call and for a stream whose headers come late (the opening's timer).
    for (const how of ["generate", "stream"] as const) {
      it.scopedLive(`${how}: no answer in time is aborted upstream, recorded as a timeout and retried`, () =>
        Effect.gen(function*() {
          const { sim, retry } = yield* setup
          yield* sim.enqueue(route, { text: "too late", latencyMs: 5_000 })
          yield* sim.enqueue(route, { text: "on time" })
          const request = yield* ask("hello")
          const response = how === "generate" ? yield* retry.generate(request) : yield* LanguageModel.collect(retry.stream(request))
          expect(response.text).toBe("on time")
          expect(response.attempts.map((a) => a.outcome)).toEqual(["failure", "success"])
          expect(response.attempts[0]!.error).toBe("ProviderUnavailable")
          expect(response.attempts[0]!.message).toContain("No answer within 150ms")
          const [first] = yield* sim.journal
          expect(first!.outcome).toBe("aborted")
        }))
    }

    it.scopedLive("a stream silent before its first event is aborted and retried", () =>
      Effect.gen(function*() {
        const { sim, retry } = yield* setup
        yield* sim.enqueue(route, { text: "too late", firstTokenDelayMs: 5_000 })
        yield* sim.enqueue(route, { text: "on time" })
        const events = yield* Stream.runCollect(retry.stream(yield* ask("hello")))
        expect(textOf(events)).toBe("on time")
        const entry = yield* sim.awaitEntry((e) => e.id === 1 && e.outcome !== "pending")
        expect(entry.outcome).toBe("aborted")
        expect(entry.chunksSent).toBe(0)
      }))

    it.scopedLive("a stream silent after its first event fails with the timeout, aborted, not retried", () =>
      Effect.gen(function*() {
        const { sim, retry } = yield* setup
        yield* sim.enqueue(route, { text: "first second third", tokenDelayMs: 5_000 })
        const events: Array<string> = []
        const error = yield* Effect.flip(
          Stream.runForEach(retry.stream(yield* ask("hello")), (e) => Effect.sync(() => e._tag === "TextDelta" && events.push(e.text)))
        )
        expect(events.join("")).toBe("first ")
        expect(error._tag).toBe("ProviderUnavailable")
        expect(error.message).toContain("No answer within 150ms")
        const entry = yield* sim.awaitEntry((e) => e.outcome !== "pending")
        expect(entry.outcome).toBe("aborted")
        expect(entry.chunksSent).toBe(1)
        expect((yield* sim.journal).length).toBe(1)
      }))

    it.scopedLive("chunks each within the timeout pass, however long the whole stream takes", () =>
      Effect.gen(function*() {
        const { sim, retry } = yield* setup
        yield* sim.enqueue(route, { text: "a b c d e", tokenDelayMs: 60 })
        const events = yield* Stream.runCollect(retry.stream(yield* ask("hello")))
        expect(textOf(events)).toBe("a b c d e")
        expect((Chunk.unsafeLast(events) as LanguageModel.Finish).attempts.map((a) => a.outcome)).toEqual(["success"])
      }))
  })
}

describe("Retry over a middleware that replaces the provider's streamPull", () => {
  // The timed form belongs to the provider's own function: a layer in between that
  // replaces it must not be skipped (Retry then times it from outside).
  it.scopedLive("Retry pulls through the middleware, and still times the attempt out", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const provider = yield* providers.openai(sim)
      let opened = 0
      const middleware: LanguageModel.Service = {
        ...provider,
        streamPull: (request) => Effect.suspend(() => (opened++, LanguageModel.pullOf(provider, request))),
        stream: (request) => LanguageModel.fromPull(LanguageModel.pullOf(middleware, request))
      }
      expect(Timed.timedStreamPullOf(middleware)).toBeUndefined()
      const retry = yield* Retry.make(retryOptions)(middleware)
      yield* sim.enqueue("openai", { text: "too late", firstTokenDelayMs: 5_000 })
      yield* sim.enqueue("openai", { text: "on time" })
      const events = yield* Stream.runCollect(retry.stream(yield* ask("hello")))
      expect(textOf(events)).toBe("on time")
      expect(opened).toBe(2)
      const entry = yield* sim.awaitEntry((e) => e.id === 1 && e.outcome !== "pending")
      expect(entry.outcome).toBe("aborted")
    }))
})

describe("providers/internal/call", () => {
  // The failure is mapped inside the fiber: a mapper that throws is a defect, not a hang
  // (mapped in the promise's handler, the throw was lost and the fiber never resumed).
  it.live("a mapper that throws makes the call die, at once, with or without a timer", () =>
    Effect.gen(function*() {
      const boom = () => {
        throw new Error("mapper failed")
      }
      for (const timing of [undefined, { millis: 60_000, onTimeout: () => new LlmError.ProviderUnavailable({ kind: "timeout", message: "late" }) }]) {
        const rejected = yield* Effect.exit(call(() => Promise.reject(new Error("upstream")), boom, timing, new AbortController()))
        expect(Exit.isFailure(rejected) && Cause.isDie(rejected.cause)).toBe(true)
        const thrown = yield* Effect.exit(call(() => {
          throw new Error("sync")
        }, boom, timing, new AbortController()))
        expect(Exit.isFailure(thrown) && Cause.isDie(thrown.cause)).toBe(true)
      }
    }).pipe(Effect.timeout("2 seconds")))

  // callWith stands for Effect.async with a canceler: the stop runs exactly when the wait is interrupted.
  it.live("callWith stops the request when the wait is interrupted, once; not after it settled, not under an uninterruptible caller", () =>
    Effect.gen(function*() {
      const onError = (error: unknown) => new LlmError.ProviderUnavailable({ kind: "network", message: String(error) })
      const stops: Array<string> = []
      const pending = (name: string, started: Deferred.Deferred<void>) =>
        callWith(() => ({ abort: () => stops.push(name) }), () => {
          Effect.runFork(Deferred.succeed(started, undefined))
          return new Promise<never>(() => {})
        }, onError, undefined, Effect.succeed)

      const started = yield* Deferred.make<void>()
      const waiting = yield* Effect.fork(pending("interrupted", started))
      yield* Deferred.await(started)
      const exit = yield* Fiber.interrupt(waiting)
      expect(Exit.isInterrupted(exit)).toBe(true)
      expect(stops).toEqual(["interrupted"])

      // Settled: nothing left to stop.
      expect(yield* callWith(() => ({ abort: () => stops.push("settled") }), () => Promise.resolve(7), onError, undefined, Effect.succeed)).toBe(7)
      const failed = yield* Effect.flip(callWith(() => ({ abort: () => stops.push("failed") }), () => Promise.reject(new Error("no")), onError, undefined, Effect.succeed))
      expect(failed).toMatchObject({ _tag: "ProviderUnavailable", message: "Error: no" })

      // Under an uninterruptible caller the wait is not interrupted (as with a canceler).
      const shielded = yield* Deferred.make<void>()
      let resolve!: (n: number) => void
      const uninterruptible = yield* Effect.fork(Effect.uninterruptible(callWith(() => ({ abort: () => stops.push("shielded") }), () => {
        Effect.runFork(Deferred.succeed(shielded, undefined))
        return new Promise<number>((r) => (resolve = r))
      }, onError, undefined, Effect.succeed)))
      yield* Deferred.await(shielded)
      const interrupting = yield* Effect.fork(Fiber.interrupt(uninterruptible))
      yield* Effect.sleep("20 millis")
      resolve(1)
      yield* Fiber.join(interrupting)
      expect(stops).toEqual(["interrupted"])

      // A timer that fires stops the request and fails with its error; interrupting afterwards stops nothing more.
      const timedStarted = yield* Deferred.make<void>()
      const timed = yield* Effect.fork(callWith(() => ({ abort: () => stops.push("timed out") }), () => {
        Effect.runFork(Deferred.succeed(timedStarted, undefined))
        return new Promise<never>(() => {})
      }, onError, { millis: 10, onTimeout: () => new LlmError.ProviderUnavailable({ kind: "timeout", message: "late" }) }, Effect.succeed))
      const timeout = yield* Effect.flip(Fiber.join(timed))
      expect(timeout).toMatchObject({ kind: "timeout", message: "late" })
      expect(stops).toEqual(["interrupted", "timed out"])

      // `done` continues with the value: its success, its failure, its throw (a defect, as in a flatMap).
      const settled = () => ({ abort: () => stops.push("done") })
      expect(yield* callWith(settled, () => Promise.resolve(2), onError, undefined, (n) => Effect.succeed(n * 10))).toBe(20)
      const refused = yield* Effect.flip(callWith(settled, () => Promise.resolve(2), onError, undefined, (n) =>
        Effect.fail(new LlmError.ProviderUnavailable({ kind: "server", message: `bad ${n}` }))))
      expect(refused).toMatchObject({ kind: "server", message: "bad 2" })
      const died = yield* Effect.exit(callWith(settled, () => Promise.resolve(2), onError, undefined, () => {
        throw new Error("done failed")
      }))
      expect(Exit.isFailure(died) && Cause.isDie(died.cause)).toBe(true)
      expect(stops).toEqual(["interrupted", "timed out"])
    }).pipe(Effect.timeout("5 seconds")))
})
