import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Option, Schema, Stream, TestClock, Fiber } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import { parseResetDuration, retryAfterMillis } from "../src/providers/internal/http.js"
import { redact } from "../src/internal/redact.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

describe("Request", () => {
  it.effect("decodes the JSON shape and rejects unknown fields with a readable path", () =>
    Effect.gen(function*() {
      const request = yield* LanguageModel.decodeRequest({
        messages: [{ role: "user", content: "hi" }],
        maxTokens: 10,
        metadata: { tenant: "acme", tags: { task: "classify" } }
      })
      expect(request).toBeInstanceOf(LanguageModel.Request)
      expect(request.messages[0]).toBeInstanceOf(LanguageModel.UserMessage)
      const unknown = yield* Effect.flip(LanguageModel.decodeRequest({ messages: [{ role: "user", content: "hi" }], maxToken: 3 } as never))
      expect(unknown).toBeInstanceOf(LlmError.InvalidRequest)
      expect(unknown.message).toContain("maxToken")
      const temp = yield* Effect.flip(LanguageModel.decodeRequest({ messages: [{ role: "user", content: "hi" }], temperature: 3 }))
      expect(temp.message).toContain("temperature")
    }))

  it.effect("encodes and decodes a response losslessly through JSON", () =>
    Effect.gen(function*() {
      const response = new LanguageModel.Response({
        text: "hi",
        toolCalls: [new LanguageModel.ToolCall({ id: "1", name: "f", arguments: "{}" })],
        finishReason: "tool_calls",
        usage: new LanguageModel.Usage({ inputTokens: 3, outputTokens: 2, cachedInputTokens: 1 }),
        provider: "openai",
        model: "m",
        cost: new LanguageModel.Cost({ usd: 0.001, estimated: false }),
        latencyMillis: 12
      })
      const json = JSON.parse(JSON.stringify(yield* Schema.encode(LanguageModel.Response)(response)))
      const back = yield* Schema.decodeUnknown(LanguageModel.Response)(json)
      expect(back).toEqual(response)
    }))
})

describe("collect and toEvents", () => {
  it.effect("a response turned into events and collected back is the same response", () =>
    Effect.gen(function*() {
      const response = new LanguageModel.Response({
        id: "r1",
        text: "hello world",
        toolCalls: [new LanguageModel.ToolCall({ id: "c", name: "f", arguments: "{\"x\":1}" })],
        finishReason: "tool_calls",
        usage: new LanguageModel.Usage({ inputTokens: 5, outputTokens: 7 }),
        provider: "p",
        model: "m",
        latencyMillis: 3
      })
      expect(yield* LanguageModel.collect(Stream.fromIterable(LanguageModel.toEvents(response)))).toEqual(response)
    }))

  it.effect("a stream without Finish is stream-interrupted", () =>
    Effect.gen(function*() {
      const e = yield* Effect.flip(LanguageModel.collect(Stream.make(new LanguageModel.TextDelta({ text: "x" }))))
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "stream-interrupted" })
    }))
})

describe("LlmError", () => {
  const all: ReadonlyArray<LlmError.LlmError> = [
    new LlmError.RateLimited({ message: "m", source: "provider", retryAfterMillis: 7000 }),
    new LlmError.ProviderUnavailable({ message: "m", kind: "server" }),
    new LlmError.ProviderUnavailable({ message: "m", kind: "circuit-open", retryAfterMillis: 100 }),
    new LlmError.QuotaExhausted({ message: "m" }),
    new LlmError.AuthenticationFailed({ message: "m" }),
    new LlmError.ContextLengthExceeded({ message: "m" }),
    new LlmError.ContentFiltered({ message: "m" }),
    new LlmError.InvalidRequest({ message: "m" }),
    new LlmError.BudgetExceeded({ message: "m", scope: "global", period: "day", limit: 1, spent: 1, requested: 0.1 }),
    new LlmError.InjectionDetected({ message: "m", score: 3, findings: [new LlmError.Finding({ rule: "override" })] }),
    new LlmError.OutputRejected({ message: "m", reason: "canary", findings: [] }),
    new LlmError.MalformedOutput({ message: "m", raw: "{", issues: "x", attempts: 3 }),
    new LlmError.AllProvidersFailed({
      message: "m",
      failures: [{ provider: "a", model: "x", error: new LlmError.QuotaExhausted({ message: "q" }) }]
    })
  ]

  it("classifies every failure kind as the design's table says", () => {
    expect(all.map((e) => [e._tag, LlmError.isRetryable(e), LlmError.isFallbackable(e)])).toEqual([
      ["RateLimited", true, true],
      ["ProviderUnavailable", true, true],
      ["ProviderUnavailable", false, true],
      ["QuotaExhausted", false, true],
      ["AuthenticationFailed", false, true],
      ["ContextLengthExceeded", false, true],
      ["ContentFiltered", false, false],
      ["InvalidRequest", false, false],
      ["BudgetExceeded", false, false],
      ["InjectionDetected", false, false],
      ["OutputRejected", false, false],
      ["MalformedOutput", false, false],
      ["AllProvidersFailed", false, false]
    ])
    expect(LlmError.retryAfter(all[0]!)).toEqual(Option.some(Duration.seconds(7)))
    expect(LlmError.retryAfter(all[3]!)).toEqual(Option.none())
    const failed = (...errors: Array<LlmError.LlmError>) =>
      new LlmError.AllProvidersFailed({ message: "m", failures: errors.map((error) => ({ provider: "p", model: "m", error })) })
    const limited = (ms: number) => new LlmError.RateLimited({ source: "provider", message: "m", retryAfterMillis: ms })
    expect(LlmError.retryAfter(failed(limited(9000), all[2]!))).toEqual(Option.some(Duration.millis(100)))
    expect(LlmError.retryAfter(failed(limited(9000), all[1]!))).toEqual(Option.none())
    expect(all.every(LlmError.isLlmError)).toBe(true)
    expect(LlmError.isLlmError(new Error("x"))).toBe(false)
  })

  it.effect("every error round-trips through JSON, nested failures included", () =>
    Effect.gen(function*() {
      for (const error of all) {
        const json = JSON.parse(JSON.stringify(yield* Schema.encode(LlmError.LlmError)(error)))
        const back = yield* Schema.decodeUnknown(LlmError.LlmError)(json)
        expect(back._tag).toBe(error._tag)
        expect(back).toEqual(error)
      }
    }))
})

describe("rate-limit headers", () => {
  const headers = (h: Record<string, string>) => new Headers(h)
  const now = Date.parse("2026-11-28T12:00:00Z")

  it("reads retry-after-ms, retry-after seconds and HTTP-dates, and exhausted resets", () => {
    expect(retryAfterMillis(headers({ "retry-after-ms": "250.5" }), now)).toBe(251)
    expect(retryAfterMillis(headers({ "retry-after": "7" }), now)).toBe(7000)
    expect(retryAfterMillis(headers({ "retry-after": "Sat, 28 Nov 2026 12:00:07 GMT" }), now)).toBe(7000)
    expect(retryAfterMillis(headers({ "retry-after": "Sat, 28 Nov 2026 11:59:00 GMT" }), now)).toBe(0)
    expect(retryAfterMillis(headers({ "retry-after": "soon" }), now)).toBeUndefined()
    expect(retryAfterMillis(headers({}), now)).toBeUndefined()
    expect(retryAfterMillis(headers({ "anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": "2026-11-28T12:00:30Z" }), now)).toBe(30_000)
  })

  it("parses OpenAI reset durations", () => {
    expect(parseResetDuration("1s")).toBe(1000)
    expect(parseResetDuration("6m0s")).toBe(360_000)
    expect(parseResetDuration("250ms")).toBe(250)
    expect(parseResetDuration("1h2m3.5s")).toBe(3_723_500)
    expect(parseResetDuration("soon")).toBeUndefined()
  })

  it("redacts key shapes", () => {
    expect(redact("key sk-proj-abcdefghijklmnop and sk-ant-api03-xyzxyzxyzxyz, Bearer abc.def.ghi123")).toBe(
      "key [REDACTED] and [REDACTED], [REDACTED]"
    )
  })
})

describe("ScriptedModel", () => {
  it.effect("answers in order, records requests, and honours latency under TestClock", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(Effect.all([
        LanguageModel.generate({ messages: [{ role: "user", content: "one" }] }),
        LanguageModel.generate({ messages: [{ role: "user", content: "two" }] })
      ]))
      yield* TestClock.adjust("1 second")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const [a, b] = yield* Fiber.join(fiber)
      expect(a.text).toBe("first")
      expect(b.text).toBe("second")
      expect(b.usage.outputTokens).toBe(99)
      const recorder = yield* ScriptedModel.ScriptedModel
      expect((yield* recorder.requests).map((r) => r.messages[0]!.content)).toEqual(["one", "two"])
    }).pipe(
      Effect.provide(ScriptedModel.layer([
        { text: "first", latency: "2 seconds" },
        { text: "second", usage: { outputTokens: 99 } }
      ]))
    ))

  it.effect("scripts failures, mid-stream failures and dropped streams", () =>
    Effect.gen(function*() {
      const quota = new LlmError.QuotaExhausted({ message: "no credit" })
      const layer = ScriptedModel.layer([
        quota,
        { text: "a b c", failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ message: "x", kind: "server" }) } },
        { text: "a b c", dropAfter: 2 }
      ])
      yield* Effect.gen(function*() {
        expect(yield* Effect.flip(LanguageModel.generate({ messages: [{ role: "user", content: "x" }] }))).toBe(quota)
        const mid = yield* Effect.flip(LanguageModel.collect(LanguageModel.stream({ messages: [{ role: "user", content: "x" }] })))
        expect(mid).toMatchObject({ _tag: "ProviderUnavailable", kind: "server" })
        const dropped = yield* Effect.flip(LanguageModel.collect(LanguageModel.stream({ messages: [{ role: "user", content: "x" }] })))
        expect(dropped).toMatchObject({ _tag: "ProviderUnavailable", kind: "stream-interrupted" })
      }).pipe(Effect.provide(layer))
    }))

  it.effect("a stream replays the scripted reply and ends with Finish", () =>
    Effect.gen(function*() {
      const response = yield* LanguageModel.collect(LanguageModel.stream({ messages: [{ role: "user", content: "x" }] }))
      expect(response.text).toBe("streamed words here")
      expect(response.toolCalls.map((c) => c.arguments)).toEqual(["{\"q\":1}"])
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: "streamed words here", toolCalls: [{ name: "f", arguments: { q: 1 } }] }]))))

  it.effect("an exhausted script dies with a clear message", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generate({ messages: [{ role: "user", content: "x" }] })
      const exit = yield* Effect.exit(LanguageModel.generate({ messages: [{ role: "user", content: "x" }] }))
      expect(String(exit)).toContain("call 2 has none")
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: "only" }]))))
})

describe("decodeRequest's hand-checked path", () => {
  const viaSchema = Schema.decodeUnknownEither(LanguageModel.Request, { errors: "all", onExcessProperty: "error" })
  const inputs: ReadonlyArray<unknown> = [
    { messages: [{ role: "user", content: "hi" }] },
    { messages: [{ role: "system", content: "s" }, { role: "user", content: "" }, { role: "assistant", content: "a" }], temperature: 0, maxTokens: 256 },
    { messages: [{ role: "user", content: "hi" }], model: "gpt-4.1", topP: 1, seed: -3, stop: ["x", "y"], temperature: 2 },
    { messages: [{ role: "user", content: "hi" }], model: undefined, maxTokens: undefined },
    // Each of these is invalid or outside the hand-checked shape: the Schema decides.
    { messages: [] },
    { messages: [{ role: "user", content: "hi", extra: 1 }] },
    { messages: [{ role: "user" }] },
    { messages: [{ role: "tool", toolCallId: "t", content: "r" }] },
    { messages: [{ role: "assistant", content: "", toolCalls: [{ id: "1", name: "f", arguments: "{}" }] }] },
    { messages: [{ role: "user", content: "hi" }], maxTokens: 0 },
    { messages: [{ role: "user", content: "hi" }], maxTokens: 1.5 },
    { messages: [{ role: "user", content: "hi" }], temperature: 2.1 },
    { messages: [{ role: "user", content: "hi" }], temperature: Number.NaN },
    { messages: [{ role: "user", content: "hi" }], topP: -0.1 },
    { messages: [{ role: "user", content: "hi" }], model: "" },
    { messages: [{ role: "user", content: "hi" }], stop: [""] },
    { messages: [{ role: "user", content: "hi" }], toString: "x" },
    { messages: [{ role: "user", content: "hi" }], metadata: { tenant: "t" } },
    { messages: [{ role: "user", content: "hi" }], unknown: true },
    { messages: "hi" }
  ]

  it.effect("gives what the Schema decode gives, for valid and invalid inputs alike", () =>
    Effect.gen(function*() {
      for (const input of inputs) {
        const fast = yield* Effect.either(LanguageModel.decodeRequest(input as LanguageModel.RequestInput))
        const reference = viaSchema(input)
        expect(fast._tag, JSON.stringify(input)).toBe(reference._tag)
        if (fast._tag === "Right" && reference._tag === "Right") {
          expect(fast.right, JSON.stringify(input)).toBeInstanceOf(LanguageModel.Request)
          expect(fast.right, JSON.stringify(input)).toEqual(reference.right)
          expect(Object.keys(fast.right).sort()).toEqual(Object.keys(reference.right).sort())
          fast.right.messages.forEach((m, i) => {
            expect(m.constructor).toBe(reference.right.messages[i]!.constructor)
            expect(Object.keys(m).sort()).toEqual(Object.keys(reference.right.messages[i]!).sort())
          })
        }
      }
    }))

  // generate takes the known shapes without a decode step: the same request, error and service.
  it.effect("generate hands the service what decodeRequest gives, and fails as it fails, for each input and a Request itself", () =>
    Effect.gen(function*() {
      const seen: Array<LanguageModel.Request> = []
      const answer = new LanguageModel.Response({
        text: "ok",
        finishReason: "stop",
        usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
        provider: "p",
        model: "m",
        latencyMillis: 0
      })
      const service: LanguageModel.Service = {
        models: [{ provider: "p", model: "m" }],
        generate: (request) => Effect.sync(() => (seen.push(request), answer)),
        stream: () => Stream.empty
      }
      const decoded = yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "as is" }] })
      for (const input of [...inputs, decoded]) {
        const expected = yield* Effect.either(LanguageModel.decodeRequest(input as LanguageModel.RequestInput))
        seen.length = 0
        const got = yield* Effect.either(LanguageModel.generate(input as LanguageModel.RequestInput).pipe(
          Effect.provideService(LanguageModel.LanguageModel, service)
        ))
        if (expected._tag === "Left") {
          expect(got, JSON.stringify(input)).toEqual(Either.left(expected.left))
          expect(seen).toHaveLength(0)
        } else {
          expect(got, JSON.stringify(input)).toEqual(Either.right(answer))
          expect(seen).toHaveLength(1)
          expect(seen[0]).toEqual(expected.right)
          expect(seen[0]).toBeInstanceOf(LanguageModel.Request)
          if (input === decoded) expect(seen[0]).toBe(decoded)
        }
      }
    }))
})
