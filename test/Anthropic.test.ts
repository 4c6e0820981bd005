import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-ant-test-0123456789abcdef"

const setup = (options: Partial<Anthropic.Options> = {}) =>
  Effect.gen(function*() {
    const sim = yield* ProviderSimulator.make({ apiKey: KEY })
    const lm = yield* Anthropic.make({ apiKey: Redacted.make(KEY), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-5-5", ...options })
    return { sim, lm }
  })

const ask = (content: string, extra: Partial<LanguageModel.RequestInput> = {}) =>
  LanguageModel.decodeRequest({ messages: [{ role: "user", content }], ...extra })

const bodyOf = (sim: ProviderSimulator.Simulator) =>
  Effect.map(sim.journal, (entries) => entries[entries.length - 1]!.body as Record<string, unknown>)

describe("Anthropic", () => {
  it.scoped("generates text; system prompt, default max_tokens, dropped sampling params; usage with cache read and write", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { text: "Bonjour.", usage: { input: 1000, output: 25, cachedInput: 800, cacheWrite: 150 } })
      const request = yield* LanguageModel.decodeRequest({
        messages: [{ role: "system", content: "Answer in French." }, { role: "user", content: "Hello" }],
        temperature: 0.2,
        topP: 0.9,
        seed: 3,
        stop: ["END"]
      })
      const response = yield* lm.generate(request)
      expect(response.text).toBe("Bonjour.")
      expect(response.finishReason).toBe("stop")
      expect(response.provider).toBe("anthropic")
      // input_tokens (50) + cache read (800) + cache write (150)
      expect(response.usage).toMatchObject({ inputTokens: 1000, outputTokens: 25, cachedInputTokens: 800, cacheWriteTokens: 150 })
      const body = yield* bodyOf(sim)
      expect(body).toMatchObject({ model: "claude-sonnet-5-5", max_tokens: 4096, system: "Answer in French.", stop_sequences: ["END"] })
      expect(body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "Hello" }] }])
      expect(body).not.toHaveProperty("temperature")
      expect(body).not.toHaveProperty("top_p")
      expect(body).not.toHaveProperty("seed")
      const [entry] = yield* sim.journal
      expect(entry!.headers["anthropic-version"]).toBe("2026-10-21")
    }))

  it.scoped("maps tools, tool choice, tool_use answers and tool results", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { toolCalls: [{ id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" }] })
      const response = yield* lm.generate(yield* LanguageModel.decodeRequest({
        messages: [
          { role: "user", content: "Weather in Bergen?" },
          { role: "assistant", content: "Checking.", toolCalls: [{ id: "toolu_0", name: "get_weather", arguments: "{\"city\":\"Bergen\"}" }] },
          { role: "tool", toolCallId: "toolu_0", content: "rain" },
          { role: "user", content: "And Oslo?" }
        ],
        tools: [{ name: "get_weather", description: "Weather by city", parameters: { type: "object", properties: { city: { type: "string" } } } }],
        toolChoice: "required"
      }))
      expect(response.finishReason).toBe("tool_calls")
      expect(response.toolCalls).toEqual([new LanguageModel.ToolCall({ id: "toolu_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" })])
      const body = yield* bodyOf(sim)
      expect(body.tool_choice).toEqual({ type: "any" })
      expect(body.tools).toEqual([{ name: "get_weather", description: "Weather by city", input_schema: { type: "object", properties: { city: { type: "string" } } } }])
      expect(body.messages).toEqual([
        { role: "user", content: [{ type: "text", text: "Weather in Bergen?" }] },
        { role: "assistant", content: [{ type: "text", text: "Checking." }, { type: "tool_use", id: "toolu_0", name: "get_weather", input: { city: "Bergen" } }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_0", content: "rain" }, { type: "text", text: "And Oslo?" }] }
      ])
    }))

  it.scoped("a JSON-schema format is sent as output_config natively, or as a forced tool whose input is the answer", () =>
    Effect.gen(function*() {
      const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false }
      const native = yield* setup()
      yield* native.sim.enqueue("anthropic", { text: "{\"a\":1}" })
      const r1 = yield* native.lm.generate(yield* ask("json", { responseFormat: { type: "jsonSchema", name: "A", schema } }))
      expect(r1.text).toBe("{\"a\":1}")
      expect((yield* bodyOf(native.sim)).output_config).toEqual({ format: { type: "json_schema", schema } })

      const tool = yield* setup({ jsonSchemaMode: "tool" })
      yield* tool.sim.enqueue("anthropic", { toolCalls: [{ name: "A", arguments: "{\"a\":2}" }] }, { toolCalls: [{ name: "A", arguments: "{\"a\":3}" }] })
      const r2 = yield* tool.lm.generate(yield* ask("json", { responseFormat: { type: "jsonSchema", name: "A", schema } }))
      expect(r2).toMatchObject({ text: "{\"a\":2}", finishReason: "stop", toolCalls: [] })
      const body = yield* bodyOf(tool.sim)
      expect(body.tool_choice).toEqual({ type: "tool", name: "A" })
      expect(body).not.toHaveProperty("output_config")
      const r3 = yield* LanguageModel.collect(tool.lm.stream(yield* ask("json", { responseFormat: { type: "jsonSchema", name: "A", schema } })))
      expect(r3).toMatchObject({ text: "{\"a\":3}", finishReason: "stop", toolCalls: [] })
    }))

  it.scoped("streams text and tool calls; message_delta usage is cumulative (last value wins)", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", {
        text: "Let me look that up",
        toolCalls: [{ id: "toolu_7", name: "search", arguments: "{\"query\":\"Oslo weather tomorrow\"}" }],
        usage: { input: 300, output: 42, cachedInput: 100 }
      })
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(yield* ask("weather?"))))
      expect(events[events.length - 1]!._tag).toBe("Finish")
      const response = yield* LanguageModel.collect(Stream.fromIterable(events))
      expect(response.text).toBe("Let me look that up")
      expect(response.toolCalls).toEqual([new LanguageModel.ToolCall({ id: "toolu_7", name: "search", arguments: "{\"query\":\"Oslo weather tomorrow\"}" })])
      expect(response.finishReason).toBe("tool_calls")
      // message_start reports output_tokens 1; the final cumulative message_delta says 42.
      expect(response.usage).toMatchObject({ inputTokens: 300, outputTokens: 42, cachedInputTokens: 100 })
    }))

  it.scoped("refusals carry the stop details", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { refusal: "I won't help with that." })
      const response = yield* lm.generate(yield* ask("bad"))
      expect(response.finishReason).toBe("refusal")
      expect(response.refusal).toBe("I won't help with that.")
    }))

  it.scoped("a refusal gives the same text, refusal and finish reason streamed as generated", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      const refusal = { refusal: "I won't help with that." }
      yield* sim.enqueue("anthropic", refusal, refusal)
      const generated = yield* lm.generate(yield* ask("bad"))
      const streamed = yield* LanguageModel.collect(lm.stream(yield* ask("bad")))
      // A stream cannot take back the text deltas it has sent, so generate keeps the text too.
      expect(streamed.text).toBe("I won't help with that.")
      for (const response of [generated, streamed]) {
        expect(response).toMatchObject({ text: streamed.text, refusal: "I won't help with that.", finishReason: "refusal" })
      }
    }))

  it.scoped("a tool called with no input has arguments \"{}\" streamed as generated, for a forced structured-output tool too", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      const call = { id: "toolu_1", name: "get_time", arguments: "" }
      yield* sim.enqueue("anthropic", { toolCalls: [call] }, { toolCalls: [call] })
      const expected = [new LanguageModel.ToolCall({ id: "toolu_1", name: "get_time", arguments: "{}" })]
      expect((yield* lm.generate(yield* ask("time?"))).toolCalls).toEqual(expected)
      expect((yield* LanguageModel.collect(lm.stream(yield* ask("time?")))).toolCalls).toEqual(expected)

      const schema = { type: "object", properties: {}, required: [], additionalProperties: false }
      const tool = yield* setup({ jsonSchemaMode: "tool" })
      yield* tool.sim.enqueue("anthropic", { toolCalls: [{ name: "Empty", arguments: "" }] }, { toolCalls: [{ name: "Empty", arguments: "" }] })
      const request = yield* ask("json", { responseFormat: { type: "jsonSchema", name: "Empty", schema } })
      expect((yield* tool.lm.generate(request)).text).toBe("{}")
      expect((yield* LanguageModel.collect(tool.lm.stream(request))).text).toBe("{}")
    }))

  it.scoped("max_tokens maps to finish reason length", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { text: "cut", finishReason: "max_tokens" })
      expect((yield* lm.generate(yield* ask("long", { maxTokens: 5 }))).finishReason).toBe("length")
    }))
})

describe("Anthropic errors", () => {
  // Some servers answer with nulls or strings where the model wants numbers: a
  // typed, retryable server error, not a defect that skips retry and fallback.
  it.scoped("a malformed answer (a count that is not a number) is a ProviderUnavailable, not a defect", () =>
    Effect.gen(function*() {
      const malformed: typeof globalThis.fetch = async (input, init) => {
        const response = await globalThis.fetch(input, init)
        const body = await response.json() as { usage: Record<string, unknown> }
        body.usage.output_tokens = "many"
        return new Response(JSON.stringify(body), { status: response.status, headers: response.headers })
      }
      const { lm, sim } = yield* setup({ fetch: malformed })
      yield* sim.enqueue("anthropic", { text: "hello" })
      const error = yield* Effect.flip(lm.generate(yield* ask("hello")))
      expect(error).toBeInstanceOf(LlmError.ProviderUnavailable)
      expect(error._tag === "ProviderUnavailable" && error.kind).toBe("server")
      expect(error.message).toMatch(/^Malformed answer from the provider/)
    }))

  const failWith = (behavior: ProviderSimulator.Behavior) =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", behavior)
      return yield* Effect.flip(lm.generate(yield* ask("hello")))
    })
  const error = (status: number, type: string, message?: string, headers?: Record<string, string>) =>
    ({ fault: { kind: "error", status, type, message, headers } }) as const

  it.scoped("429 rate_limit_error with retry-after is RateLimited", () =>
    Effect.gen(function*() {
      expect(yield* failWith(error(429, "rate_limit_error", "Too many", { "retry-after": "7" }))).toMatchObject({
        _tag: "RateLimited",
        provider: "anthropic",
        model: "claude-sonnet-5-5",
        retryAfterMillis: 7000
      })
    }))

  it.scoped("429 without retry-after uses the exhausted anthropic-ratelimit reset time", () =>
    Effect.gen(function*() {
      const reset = new Date(Date.now() + 30_000).toISOString()
      const e = yield* failWith(error(429, "rate_limit_error", "Too many", {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": reset
      }))
      expect(e._tag).toBe("RateLimited")
      expect((e as LlmError.RateLimited).retryAfterMillis).toBeGreaterThan(25_000)
      expect((e as LlmError.RateLimited).retryAfterMillis).toBeLessThanOrEqual(30_000)
    }))

  it.scoped("529 overloaded_error is ProviderUnavailable overloaded, retryable", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(529, "overloaded_error", "Overloaded"))
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "overloaded", status: 529 })
      expect(LlmError.isRetryable(e)).toBe(true)
    }))

  it.scoped("500 api_error is ProviderUnavailable server", () =>
    Effect.gen(function*() {
      expect(yield* failWith(error(500, "api_error"))).toMatchObject({ _tag: "ProviderUnavailable", kind: "server" })
    }))

  it.scoped("'prompt is too long' is ContextLengthExceeded", () =>
    Effect.gen(function*() {
      expect(yield* failWith(error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"))).toMatchObject({
        _tag: "ContextLengthExceeded",
        status: 400
      })
    }))

  it.scoped("billing is QuotaExhausted; 401/403 AuthenticationFailed; other 400 InvalidRequest", () =>
    Effect.gen(function*() {
      expect((yield* failWith(error(402, "billing_error", "Your credit balance is too low")))._tag).toBe("QuotaExhausted")
      expect((yield* failWith(error(400, "invalid_request_error", "Your credit balance is too low to access the API")))._tag).toBe(
        "QuotaExhausted"
      )
      expect(yield* failWith(error(401, "authentication_error", "invalid x-api-key"))).toMatchObject({ _tag: "AuthenticationFailed", status: 401 })
      expect(yield* failWith(error(403, "permission_error", "no access"))).toMatchObject({ _tag: "AuthenticationFailed", status: 403 })
      expect(yield* failWith(error(400, "invalid_request_error", "messages: field required"))).toMatchObject({
        _tag: "InvalidRequest",
        status: 400,
        code: "invalid_request_error"
      })
    }))

  it.scoped("an error event after the 200 is classified by error.type", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { text: "a b c d", fault: { kind: "midStreamError", afterChunks: 2, type: "overloaded_error", message: "Overloaded" } })
      const seen: Array<string> = []
      const e = yield* Effect.flip(Stream.runForEach(lm.stream(yield* ask("x")), (ev) => Effect.sync(() => seen.push(ev._tag))))
      expect(seen).toEqual(["TextDelta", "TextDelta"])
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "overloaded" })
    }))

  it.scoped("a stream cut mid-way fails as stream-interrupted", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { text: "a b c d", fault: { kind: "drop", afterChunks: 2 } })
      const e = yield* Effect.flip(Stream.runDrain(lm.stream(yield* ask("x"))))
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "stream-interrupted" })
    }))

  it.scoped("interrupting a call aborts the upstream request", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("anthropic", { fault: { kind: "hang" } })
      const fiber = yield* Effect.fork(lm.generate(yield* ask("hang")))
      yield* sim.awaitEntry((e) => e.route === "anthropic")
      yield* Fiber.interrupt(fiber)
      expect((yield* sim.awaitEntry((e) => e.outcome !== "pending")).outcome).toBe("aborted")
    }))

  it.scoped("an assistant tool call with invalid JSON arguments is InvalidRequest before the network", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      const e = yield* Effect.flip(lm.generate(yield* LanguageModel.decodeRequest({
        messages: [
          { role: "user", content: "x" },
          { role: "assistant", toolCalls: [{ id: "t", name: "f", arguments: "{not json" }] }
        ]
      })))
      expect(e._tag).toBe("InvalidRequest")
      expect(yield* sim.journal).toEqual([])
    }))
})
