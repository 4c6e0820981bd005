import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Deferred, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as Fallback from "../src/resilience/Fallback.js"
import * as Retry from "../src/resilience/Retry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const ask = (content = "hello") => LanguageModel.decodeRequest({ messages: [{ role: "user", content }] })

const serverError: ProviderSimulator.Behavior = { fault: { kind: "error", status: 500, message: "upstream exploded" } }

/** Two OpenAI providers (the real SDK) on two simulators, chained. */
const setup = (options?: Fallback.Options) =>
  Effect.gen(function*() {
    const a = yield* ProviderSimulator.make()
    const b = yield* ProviderSimulator.make()
    const context = yield* Layer.build(Fallback.layer([
      OpenAi.layer({ baseURL: a.openaiBaseURL, model: "model-a", provider: "provider-a" }),
      { name: "backup", layer: OpenAi.layer({ baseURL: b.openaiBaseURL, model: "model-b", provider: "provider-b" }) }
    ], options))
    return {
      a,
      b,
      lm: Context.get(context, LanguageModel.LanguageModel),
      registry: Context.get(context, CircuitBreaker.Registry)
    }
  })

const textOf = (events: Chunk.Chunk<LanguageModel.StreamEvent>) =>
  Chunk.toReadonlyArray(events).flatMap((e) => e._tag === "TextDelta" ? [e.text] : []).join("")

describe("Fallback", () => {
  it.scoped("a primary 5xx is served by the secondary", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup()
      yield* a.enqueue("openai", serverError)
      yield* b.enqueue("openai", { text: "from b" })
      const response = yield* lm.generate(yield* ask())
      expect(response.text).toBe("from b")
      expect(response.provider).toBe("provider-b")
      expect(response.attempts.map((x) => [x.provider, x.outcome, x.error])).toEqual([
        ["provider-a", "failure", "ProviderUnavailable"],
        ["provider-b", "success", undefined]
      ])
      expect((yield* a.journal).map((e) => e.status)).toEqual([500])
    }))

  it.scoped("a 400 does not fall back", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup()
      yield* a.enqueue("openai", {
        fault: { kind: "error", status: 400, type: "invalid_request_error", code: "bad_param", message: "no" }
      })
      const error = yield* Effect.flip(lm.generate(yield* ask()))
      expect(error._tag).toBe("InvalidRequest")
      expect(yield* b.journal).toHaveLength(0)
    }))

  it.scoped("when all fail, AllProvidersFailed lists each failure in order", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup()
      yield* a.enqueue("openai", serverError)
      yield* b.enqueue("openai", {
        fault: { kind: "error", status: 429, type: "rate_limit_exceeded", headers: { "retry-after": "3" } }
      })
      const error = yield* Effect.flip(lm.generate(yield* ask()))
      expect(error._tag).toBe("AllProvidersFailed")
      if (error._tag === "AllProvidersFailed") {
        expect(error.failures.map((f) => [f.provider, f.model, f.error._tag])).toEqual([
          ["provider-a", "model-a", "ProviderUnavailable"],
          ["provider-b", "model-b", "RateLimited"]
        ])
        const limited = error.failures[1]!.error
        expect(limited._tag === "RateLimited" && limited.retryAfterMillis).toBe(3000)
      }
    }))

  it.scoped("the breaker opens, skips the member, and closes after a successful probe", () =>
    Effect.gen(function*() {
      const { a, b, lm, registry } = yield* setup({ breaker: { threshold: 2, window: "1 minute", cooldown: "30 seconds" } })
      yield* a.setHandler(() => serverError)
      yield* b.setHandler(() => ({ text: "from b" }))
      const states = () => Effect.map(registry.snapshots, (all) => all.map((s) => [s.name, s.state]))

      expect((yield* lm.generate(yield* ask())).provider).toBe("provider-b")
      expect(yield* states()).toEqual([["provider-a/model-a", "closed"], ["backup", "closed"]])
      expect((yield* lm.generate(yield* ask())).provider).toBe("provider-b")
      expect(yield* states()).toEqual([["provider-a/model-a", "open"], ["backup", "closed"]])

      // Open: the primary is skipped without a request.
      const skipped = yield* lm.generate(yield* ask())
      expect(skipped.attempts.map((x) => [x.provider, x.outcome])).toEqual([
        ["provider-a", "skipped"],
        ["provider-b", "success"]
      ])
      expect(yield* a.journal).toHaveLength(2)

      // After the cooldown one probe goes through; it succeeds and closes the circuit.
      yield* a.setHandler(() => ({ text: "a is back" }))
      yield* TestClock.adjust("30 seconds")
      expect(yield* states()).toEqual([["provider-a/model-a", "half-open"], ["backup", "closed"]])
      expect((yield* lm.generate(yield* ask())).text).toBe("a is back")
      expect(yield* states()).toEqual([["provider-a/model-a", "closed"], ["backup", "closed"]])
      expect(yield* a.journal).toHaveLength(3)
    }))

  it.scoped("a failed probe opens the circuit again", () =>
    Effect.gen(function*() {
      const { a, b, lm, registry } = yield* setup({ breaker: { threshold: 1, cooldown: "10 seconds" } })
      yield* a.setHandler(() => serverError)
      yield* b.setHandler(() => ({ text: "from b" }))
      yield* lm.generate(yield* ask())
      yield* TestClock.adjust("10 seconds")
      yield* lm.generate(yield* ask())
      expect(yield* a.journal).toHaveLength(2)
      const [primary] = yield* registry.snapshots
      expect(primary!.state).toBe("open")
      expect(primary!.retryAfterMillis).toBe(10_000)
    }))

  it.scoped("a stream that fails before its first token falls back", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup()
      yield* a.enqueue("openai", { text: "never seen", fault: { kind: "drop", afterChunks: 0 } })
      yield* b.enqueue("openai", { text: "streamed by b" })
      const events = yield* Stream.runCollect(lm.stream(yield* ask()))
      expect(textOf(events)).toBe("streamed by b")
      const finish = Chunk.toReadonlyArray(events).at(-1)
      expect(finish?._tag).toBe("Finish")
      if (finish?._tag === "Finish") {
        expect(finish.attempts.map((x) => [x.provider, x.outcome])).toEqual([
          ["provider-a", "failure"],
          ["provider-b", "success"]
        ])
        expect(finish.usage.outputTokens).toBeGreaterThan(0)
      }
    }))

  it.scoped("a stream that fails after its first token does not fall back and surfaces the error", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup()
      yield* a.enqueue("openai", { text: "one two three four", fault: { kind: "drop", afterChunks: 2 } })
      const seen: Array<string> = []
      const error = yield* lm.stream(yield* ask()).pipe(
        Stream.tap((e) => Effect.sync(() => e._tag === "TextDelta" && seen.push(e.text))),
        Stream.runDrain,
        Effect.flip
      )
      expect(error._tag).toBe("ProviderUnavailable")
      expect(error._tag === "ProviderUnavailable" && error.kind).toBe("stream-interrupted")
      expect(seen.join("")).toBe("one two ")
      expect(yield* b.journal).toHaveLength(0)
    }))

  it.scopedLive("hedging returns the fast member and the slow one's request is aborted", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup({ hedge: { delay: "100 millis" } })
      yield* a.enqueue("openai", { text: "slow", latencyMs: 5000 })
      yield* b.enqueue("openai", { text: "fast" })
      const started = Date.now()
      const response = yield* lm.generate(yield* ask())
      expect(Date.now() - started).toBeLessThan(2000)
      expect(response.text).toBe("fast")
      expect(response.attempts.map((x) => [x.provider, x.outcome])).toEqual([
        ["provider-a", "interrupted"],
        ["provider-b", "success"]
      ])
      const aborted = yield* a.awaitEntry((e) => e.outcome !== "pending").pipe(Effect.timeout("2 seconds"))
      expect(aborted.outcome).toBe("aborted")
      expect((yield* b.journal).map((e) => e.outcome)).toEqual(["completed"])
    }))

  it.scopedLive("hedging a stream: the first member to produce an event wins, the other is aborted", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup({ hedge: { delay: "100 millis" } })
      yield* a.enqueue("openai", { text: "slow", latencyMs: 5000 })
      yield* b.enqueue("openai", { text: "fast stream" })
      const started = Date.now()
      const events = yield* Stream.runCollect(lm.stream(yield* ask()))
      expect(Date.now() - started).toBeLessThan(2000)
      expect(textOf(events)).toBe("fast stream")
      const finish = Chunk.toReadonlyArray(events).at(-1)
      expect(finish?._tag === "Finish" && finish.attempts.map((x) => x.outcome)).toEqual(["interrupted", "success"])
      const aborted = yield* a.awaitEntry((e) => e.outcome !== "pending").pipe(Effect.timeout("2 seconds"))
      expect(aborted.outcome).toBe("aborted")
    }))

  it.scopedLive("a hedged loser still streaming does not hold up the winner", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup({ hedge: { delay: "100 millis" } })
      yield* a.enqueue("openai", { text: "slow", firstTokenDelayMs: 3000 })
      yield* b.enqueue("openai", { text: "fast stream" })
      const started = Date.now()
      const events = yield* Stream.runCollect(lm.stream(yield* ask()))
      expect(Date.now() - started).toBeLessThan(2000)
      expect(textOf(events)).toBe("fast stream")
    }))

  it.scoped("a hedged loser that had opened its stream when the winner was chosen is closed at once, not when the winner's stream ends", () =>
    Effect.gen(function*() {
      const closed: Array<string> = []
      const gate = yield* Deferred.make<void>()
      // Opens when the gate opens, with a first event at once, then one event a second.
      const member = (name: string): LanguageModel.Service => {
        const streamPull = () =>
          Effect.gen(function*() {
            yield* Effect.addFinalizer(() => Effect.sync(() => closed.push(name)))
            yield* Deferred.await(gate)
            const response = new LanguageModel.Response({
              text: name,
              finishReason: "stop",
              usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
              provider: name,
              model: name,
              latencyMillis: 0
            })
            const events = [new LanguageModel.TextDelta({ text: "a" }), new LanguageModel.TextDelta({ text: "b" }), LanguageModel.finishOf(response)]
            let next = 0
            return Effect.suspend(() => {
              const event = events[next++]
              if (event === undefined) return Effect.fail(Option.none())
              return next === 1 ? Effect.succeed(Chunk.of(event)) : Effect.as(Effect.sleep("1 second"), Chunk.of(event))
            })
          })
        return { models: [{ provider: name, model: name }], generate: () => Effect.die("not called"), stream: () => LanguageModel.fromPull(streamPull()), streamPull }
      }
      // The hedge starts the second member at 1 s; both open in the same turn, as two
      // answers read from the network in one tick can: the loser has opened its
      // stream by the time the winner is chosen.
      const lm = yield* Fallback.make([member("first"), member("second")], { hedge: { delay: "1 second" }, breaker: false })
      const fiber = yield* Effect.fork(Stream.runCollect(lm.stream(yield* ask())))
      yield* TestClock.adjust("1 second")
      yield* Deferred.succeed(gate, undefined)
      yield* TestClock.adjust("10 millis")
      expect(fiber.unsafePoll()).toBeNull()
      expect(closed).toHaveLength(1)
      yield* TestClock.adjust("5 seconds")
      const events = yield* Fiber.join(fiber)
      expect(textOf(events)).toBe("ab")
      expect([...closed].sort()).toEqual(["first", "second"])
    }))

  it.scoped("a member that answers before the hedge delay is not hedged", () =>
    Effect.gen(function*() {
      const { a, b, lm } = yield* setup({ hedge: { delay: "10 seconds" } })
      yield* a.enqueue("openai", { text: "quick" })
      expect((yield* lm.generate(yield* ask())).text).toBe("quick")
      expect(yield* b.journal).toHaveLength(0)
    }))

  it.scoped("content filtering falls back only when asked", () =>
    Effect.gen(function*() {
      const filtered: ProviderSimulator.Behavior = { text: "", finishReason: "content_filter" }
      const plain = yield* setup()
      yield* plain.a.enqueue("openai", filtered)
      expect((yield* Effect.flip(plain.lm.generate(yield* ask())))._tag).toBe("ContentFiltered")
      const opted = yield* setup({ onContentFiltered: true })
      yield* opted.a.enqueue("openai", filtered)
      yield* opted.b.enqueue("openai", { text: "clean" })
      expect((yield* opted.lm.generate(yield* ask())).text).toBe("clean")
    }))
})

describe("Fallback: what stops a chain (found in review)", () => {
  const ask = LanguageModel.decodeRequest({ messages: [{ role: "user", content: "hi" }] })
  const down = () => new LlmError.ProviderUnavailable({ kind: "server", status: 503, message: "down" })

  it.effect("hedged: a member failing with a non-fallbackable error stops the chain and the members hedged after it", () =>
    Effect.gen(function*() {
      const a = yield* ScriptedModel.make(() => ({ fail: new LlmError.InvalidRequest({ status: 400, message: "bad" }), latency: "1500 millis" }), { provider: "a", model: "ma" })
      const b = yield* ScriptedModel.make(() => ({ text: "from b", latency: "5 seconds" }), { provider: "b", model: "mb" })
      const c = yield* ScriptedModel.make(() => ({ text: "from c", latency: "1 second" }), { provider: "c", model: "mc" })
      const service = yield* Fallback.make([a.service, b.service, c.service], { hedge: { delay: "1 second" }, breaker: false })
      const fiber = yield* Effect.fork(Effect.flip(service.generate(yield* ask)))
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("500 millis")
      expect((yield* Fiber.join(fiber))._tag).toBe("InvalidRequest")
      // b was hedged at 1 s and stopped at 1.5 s; c, due at 2 s, never started
      expect(yield* c.recorder.calls).toBe(0)
    }))

  it.effect("a nested chain whose members all failed over lets the outer chain fall back (it stopped it)", () =>
    Effect.gen(function*() {
      const a = yield* ScriptedModel.make(() => down(), { provider: "a", model: "ma" })
      const b = yield* ScriptedModel.make(() => down(), { provider: "b", model: "mb" })
      const c = yield* ScriptedModel.make(() => ({ text: "from c" }), { provider: "c", model: "mc" })
      const inner = yield* Fallback.make([a.service, b.service], { breaker: false })
      const outer = yield* Fallback.make([inner, c.service], { breaker: false })
      expect((yield* outer.generate(yield* ask)).text).toBe("from c")
      const halting = yield* Fallback.make([
        yield* Fallback.make([a.service, (yield* ScriptedModel.make(() => new LlmError.InvalidRequest({ message: "bad" }))).service], { breaker: false }),
        c.service
      ], { breaker: false })
      expect((yield* Effect.flip(halting.generate(yield* ask)))._tag).toBe("InvalidRequest")
    }))

  it.effect("the route gives each member its own duration: a failed one's, the winner's own call, a hedged loser's", () =>
    Effect.gen(function*() {
      const a = yield* ScriptedModel.make(() => ({ fail: down(), latency: "2 seconds" }), { provider: "a", model: "ma" })
      const b = yield* ScriptedModel.make(() => ({ text: "from b", latency: "3 seconds" }), { provider: "b", model: "mb" })
      const route = (response: LanguageModel.Response) =>
        response.attempts.map((x) => [x.provider, x.outcome, x.durationMillis])
      const sequential = yield* Fallback.make([a.service, b.service])
      const fiber = yield* Effect.fork(sequential.generate(yield* ask))
      yield* TestClock.adjust("5 seconds")
      expect(route(yield* Fiber.join(fiber))).toEqual([["a", "failure", 2000], ["b", "success", 3000]])
      const slow = yield* ScriptedModel.make(() => ({ text: "from slow", latency: "10 seconds" }), { provider: "s", model: "ms" })
      const hedged = yield* Fallback.make([slow.service, b.service], { hedge: { delay: "1 second" } })
      const racing = yield* Effect.fork(hedged.generate(yield* ask))
      for (let i = 0; i < 8; i++) yield* TestClock.adjust("500 millis")
      expect(route(yield* Fiber.join(racing))).toEqual([["s", "interrupted", 4000], ["b", "success", 3000]])
    }))

  it.effect("a member's own route (a Retry inside it) is kept, after the members that failed before it", () =>
    Effect.gen(function*() {
      const a = yield* ScriptedModel.make(() => down(), { provider: "a", model: "ma" })
      const flaky = yield* ScriptedModel.make((_, i) => i % 2 === 0 ? down() : { text: "from b" }, { provider: "b", model: "mb" })
      const b = yield* Retry.make({ baseDelay: "1 millis", jitter: false })(flaky.service)
      const route = (response: LanguageModel.Response) => response.attempts.map((x) => [x.provider, x.outcome])
      const alone = yield* Fallback.make([b], { breaker: false })
      const first = yield* Effect.fork(alone.generate(yield* ask))
      yield* TestClock.adjust("1 second")
      expect(route(yield* Fiber.join(first))).toEqual([["b", "failure"], ["b", "success"]])
      const chained = yield* Fallback.make([a.service, b], { breaker: false })
      const second = yield* Effect.fork(chained.generate(yield* ask))
      yield* TestClock.adjust("1 second")
      expect(route(yield* Fiber.join(second))).toEqual([["a", "failure"], ["b", "failure"], ["b", "success"]])
    }))

  it.effect("a hand-made member's plain answer that carries its own route comes back as a Response", () =>
    Effect.gen(function*() {
      const attempt = new LanguageModel.Attempt({ provider: "hand", model: "made", outcome: "success", durationMillis: 1 })
      const plain = {
        text: "hi",
        toolCalls: [],
        finishReason: "stop",
        usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
        provider: "hand",
        model: "made",
        attempts: [attempt],
        latencyMillis: 1
      } as const
      // The type accepts an object of the Response's shape: `Response` has no private members.
      const member: LanguageModel.Service = {
        models: [{ provider: "hand", model: "made" }],
        generate: () => Effect.succeed<LanguageModel.Response>(plain as unknown as LanguageModel.Response),
        stream: () => Stream.die("unused")
      }
      const chain = yield* Fallback.make([member], { breaker: false })
      const response = yield* chain.generate(yield* ask)
      expect(response).toBeInstanceOf(LanguageModel.Response)
      expect(response.attempts).toEqual([attempt])
    }))

  it.effect("a member whose streams are cut before any event trips its breaker, and the chain stops trying it", () =>
    Effect.gen(function*() {
      const a = yield* ScriptedModel.make(() => ({ text: "a b", dropAfter: 0 }), { provider: "a", model: "ma" })
      const b = yield* ScriptedModel.make(() => ({ text: "from b" }), { provider: "b", model: "mb" })
      const { service } = yield* Fallback.makeWithRegistry(
        [{ name: "a", service: a.service }, { name: "b", service: b.service }],
        { breaker: { threshold: 2 } }
      )
      for (let i = 0; i < 4; i++) expect((yield* LanguageModel.collect(service.stream(yield* ask))).text).toBe("from b")
      expect(yield* a.recorder.calls).toBe(2)
    }))
})
