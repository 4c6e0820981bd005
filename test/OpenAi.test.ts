import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Option, Redacted, Stream } from "effect"
import * as Timed from "../src/internal/timed.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as NodeFetch from "../src/providers/NodeFetch.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-test-0123456789abcdef"

const setup = (options: Partial<OpenAi.Options> = {}) =>
  Effect.gen(function*() {
    const sim = yield* ProviderSimulator.make({ apiKey: KEY })
    const lm = yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini", ...options })
    return { sim, lm }
  })

const ask = (content: string, extra: Partial<LanguageModel.RequestInput> = {}) =>
  LanguageModel.decodeRequest({ messages: [{ role: "user", content }], ...extra })

describe("OpenAi", () => {
  it.scoped("generates text and maps usage, including cached and reasoning tokens", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", {
        text: "Paris.",
        usage: { input: 120, output: 30, cachedInput: 100, reasoning: 12 }
      })
      const response = yield* lm.generate(yield* ask("Capital of France?", { maxTokens: 50, temperature: 0, seed: 7, stop: ["\n\n"] }))
      expect(response.text).toBe("Paris.")
      expect(response.finishReason).toBe("stop")
      expect(response.provider).toBe("openai")
      expect(response.model).toBe("gpt-4.1-mini")
      expect(response.usage).toMatchObject({ inputTokens: 120, outputTokens: 30, cachedInputTokens: 100, reasoningTokens: 12 })
      const [entry] = yield* sim.journal
      expect(entry!.body).toMatchObject({
        model: "gpt-4.1-mini",
        max_completion_tokens: 50,
        temperature: 0,
        seed: 7,
        stop: ["\n\n"],
        messages: [{ role: "user", content: "Capital of France?" }]
      })
      expect(entry!.headers.authorization).toBe(`Bearer ${KEY}`)
    }))

  // fromCompletion builds the Response without its constructor (one copy of the fields, `attempts` added last).
  it.effect("a mapped completion is the Response the constructor makes: same fields, JSON alike; keys in the order the adapter has always given", () =>
    Effect.gen(function*() {
      const completion = {
        id: "chatcmpl-1",
        object: "chat.completion" as const,
        created: 1,
        model: "gpt-4.1-mini",
        choices: [{ index: 0, message: { role: "assistant" as const, content: "Paris.", refusal: null }, finish_reason: "stop" as const, logprobs: null }],
        usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 }
      }
      const response = yield* OpenAi.fromCompletion(completion, { provider: "openai", model: "gpt-4.1-mini" }, 42)
      const made = new LanguageModel.Response({
        id: "chatcmpl-1",
        text: "Paris.",
        toolCalls: [],
        finishReason: "stop",
        refusal: undefined,
        usage: new LanguageModel.Usage({ inputTokens: 12, outputTokens: 3 }),
        provider: "openai",
        model: "gpt-4.1-mini",
        latencyMillis: 42
      })
      expect(response).toBeInstanceOf(LanguageModel.Response)
      expect(Object.keys(response)).toEqual(["id", "text", "toolCalls", "finishReason", "refusal", "usage", "provider", "model", "latencyMillis", "attempts"])
      expect(response).toEqual(made)
      expect(JSON.parse(JSON.stringify(response))).toEqual(JSON.parse(JSON.stringify(made)))
      expect(response.attempts).toEqual([])
    }))

  it.scoped("the body's keys go out in the order they always had, stream last (a default max tokens before it)", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup({ defaultMaxTokens: 64 })
      yield* sim.enqueue("openai", { text: "a" }, { text: "b" })
      yield* lm.generate(yield* ask("all", { maxTokens: 5, temperature: 0, topP: 1, stop: ["x"], seed: 2 }))
      yield* lm.generate(yield* ask("default", { temperature: 1 }))
      const [first, second] = (yield* sim.journal).map((e) => Object.keys(e.body as object))
      expect(first).toEqual(["model", "messages", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "stream"])
      expect(second).toEqual(["model", "messages", "temperature", "max_completion_tokens", "stream"])
    }))

  it.scoped("defaultMaxTokens is sent when a request sets no maxTokens, in generate and stream", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup({ defaultMaxTokens: 64 })
      yield* sim.enqueue("openai", { text: "a" }, { text: "b" }, { text: "c" })
      yield* lm.generate(yield* ask("no limit"))
      yield* lm.generate(yield* ask("own limit", { maxTokens: 5 }))
      yield* Stream.runDrain(lm.stream(yield* ask("streamed")))
      const bodies = (yield* sim.journal).map((e) => e.body as Record<string, unknown>)
      expect(bodies.map((b) => b.max_completion_tokens)).toEqual([64, 5, 64])
      // Without the option nothing is sent: the model's own limit applies.
      const plain = yield* setup()
      yield* plain.lm.generate(yield* ask("no limit"))
      const [entry] = yield* plain.sim.journal
      expect(entry!.body).not.toHaveProperty("max_completion_tokens")
      expect(entry!.body).not.toHaveProperty("max_tokens")
    }))

  it.scoped("maps tools, tool choice, tool calls and tool results both ways", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" }] })
      const request = yield* LanguageModel.decodeRequest({
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Weather in Bergen?" },
          { role: "assistant", toolCalls: [{ id: "call_0", name: "get_weather", arguments: "{\"city\":\"Bergen\"}" }] },
          { role: "tool", toolCallId: "call_0", content: "rain" },
          { role: "user", content: "And Oslo?" }
        ],
        tools: [{ name: "get_weather", description: "Weather by city", parameters: { type: "object", properties: { city: { type: "string" } } } }],
        toolChoice: { tool: "get_weather" }
      })
      const response = yield* lm.generate(request)
      expect(response.finishReason).toBe("tool_calls")
      expect(response.toolCalls).toEqual([new LanguageModel.ToolCall({ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" })])
      const [entry] = yield* sim.journal
      const body = entry!.body as Record<string, unknown>
      expect(body.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } })
      expect(body.tools).toEqual([{ type: "function", function: { name: "get_weather", description: "Weather by city", parameters: { type: "object", properties: { city: { type: "string" } } } } }])
      expect(body.messages).toEqual([
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather in Bergen?" },
        { role: "assistant", content: null, tool_calls: [{ id: "call_0", type: "function", function: { name: "get_weather", arguments: "{\"city\":\"Bergen\"}" } }] },
        { role: "tool", tool_call_id: "call_0", content: "rain" },
        { role: "user", content: "And Oslo?" }
      ])
    }))

  it.scoped("sends json_schema response formats strict", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { text: "{\"a\":1}" })
      const schema = { type: "object", properties: { a: { type: "number" } }, required: ["a"], additionalProperties: false }
      yield* lm.generate(yield* ask("json please", { responseFormat: { type: "jsonSchema", name: "A", schema } }))
      const [entry] = yield* sim.journal
      expect((entry!.body as Record<string, unknown>).response_format).toEqual({
        type: "json_schema",
        json_schema: { name: "A", schema, strict: true }
      })
    }))

  it.scoped("streams text and tool calls and ends with Finish carrying the usage", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", {
        text: "It is sunny",
        toolCalls: [{ id: "call_9", name: "lookup", arguments: "{\"query\":\"weather in Oslo today\"}" }],
        usage: { input: 40, output: 20, cachedInput: 8 }
      })
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(yield* ask("weather?"))))
      const finish = events[events.length - 1]
      expect(finish?._tag).toBe("Finish")
      expect(events.filter((e) => e._tag === "TextDelta").length).toBeGreaterThan(1)
      const response = yield* LanguageModel.collect(Stream.fromIterable(events))
      expect(response.text).toBe("It is sunny")
      expect(response.toolCalls).toEqual([new LanguageModel.ToolCall({ id: "call_9", name: "lookup", arguments: "{\"query\":\"weather in Oslo today\"}" })])
      expect(response.finishReason).toBe("tool_calls")
      expect(response.usage).toMatchObject({ inputTokens: 40, outputTokens: 20, cachedInputTokens: 8 })
      const [entry] = yield* sim.journal
      expect(entry!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } })
    }))

  it.scoped("reports refusals as such", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { refusal: "I can't help with that." }, { refusal: "No." })
      const response = yield* lm.generate(yield* ask("something bad"))
      expect(response.finishReason).toBe("refusal")
      expect(response.refusal).toBe("I can't help with that.")
      const streamed = yield* LanguageModel.collect(lm.stream(yield* ask("something bad")))
      expect(streamed.finishReason).toBe("refusal")
      expect(streamed.refusal).toBe("No.")
    }))

  it.scoped("uses max_tokens and no Authorization header for a keyless compatible server", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make()
      const lm = yield* LanguageModel.LanguageModel.pipe(
        Effect.provide(OpenAi.layerCompatible({ baseURL: sim.openaiBaseURL, model: "llama3.2", provider: "ollama" }))
      )
      const response = yield* lm.generate(yield* ask("hi", { maxTokens: 10 }))
      expect(response.provider).toBe("ollama")
      const [entry] = yield* sim.journal
      expect(entry!.body).toMatchObject({ max_tokens: 10, model: "llama3.2" })
      expect(entry!.headers.authorization).toBeUndefined()
    }))
})

describe("OpenAi errors", () => {
  const failWith = (behavior: ProviderSimulator.Behavior, options: Partial<OpenAi.Options> = {}) =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup(options)
      yield* sim.enqueue("openai", behavior)
      return yield* Effect.flip(lm.generate(yield* ask("hello")))
    })

  const error = (status: number, type: string, code?: string, message?: string, headers?: Record<string, string>) =>
    ({ fault: { kind: "error", status, type, code, message, headers } }) as const

  it.scoped("a 429 rate_limit_exceeded with retry-after seconds is RateLimited with that delay", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(429, "requests", "rate_limit_exceeded", "Rate limit reached", { "retry-after": "7" }))
      expect(e._tag).toBe("RateLimited")
      expect(e).toMatchObject({ source: "provider", provider: "openai", model: "gpt-4.1-mini", retryAfterMillis: 7000 })
      expect(LlmError.isRetryable(e)).toBe(true)
      expect(LlmError.isFallbackable(e)).toBe(true)
      expect(LlmError.retryAfter(e)).toEqual(Option.some(Duration.seconds(7)))
    }))

  it.scoped("retry-after-ms wins over retry-after", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(429, "requests", "rate_limit_exceeded", "slow down", { "retry-after-ms": "1500", "retry-after": "9" }))
      expect(e).toMatchObject({ _tag: "RateLimited", retryAfterMillis: 1500 })
    }))

  it.scoped("retry-after as an HTTP-date is the time until that date", () =>
    Effect.gen(function*() {
      const at = new Date(Date.now() + 7000).toUTCString()
      const e = yield* failWith(error(429, "requests", "rate_limit_exceeded", "slow down", { "retry-after": at }))
      expect(e._tag).toBe("RateLimited")
      const ms = (e as LlmError.RateLimited).retryAfterMillis!
      // HTTP-dates have one-second resolution.
      expect(ms).toBeGreaterThan(5000)
      expect(ms).toBeLessThanOrEqual(7000)
    }))

  it.scoped("a 429 without retry-after uses the reset of the exhausted x-ratelimit limit", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(429, "tokens", "rate_limit_exceeded", "TPM", {
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-remaining-requests": "10",
        "x-ratelimit-reset-requests": "1s"
      }))
      expect(e).toMatchObject({ _tag: "RateLimited", retryAfterMillis: 360_000 })
    }))

  it.scoped("a 429 insufficient_quota is QuotaExhausted: not retried, falls back", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota"))
      expect(e._tag).toBe("QuotaExhausted")
      expect(LlmError.isRetryable(e)).toBe(false)
      expect(LlmError.isFallbackable(e)).toBe(true)
    }))

  it.scoped("401 and 403 are AuthenticationFailed, and the key never appears in the message", () =>
    Effect.gen(function*() {
      const e401 = yield* failWith(error(401, "invalid_request_error", "invalid_api_key", `Incorrect API key provided: ${KEY}`))
      expect(e401).toMatchObject({ _tag: "AuthenticationFailed", status: 401 })
      expect(e401.message).not.toContain(KEY)
      const e403 = yield* failWith(error(403, "invalid_request_error", "unsupported_country_region_territory", "Country not supported"))
      expect(e403).toMatchObject({ _tag: "AuthenticationFailed", status: 403 })
    }))

  it.scoped("a wrong key against a key-checking server is AuthenticationFailed", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const lm = yield* OpenAi.make({ apiKey: Redacted.make("sk-wrong-key-000000000"), baseURL: sim.openaiBaseURL, model: "m" })
      const e = yield* Effect.flip(lm.generate(yield* ask("hi")))
      expect(e._tag).toBe("AuthenticationFailed")
    }))

  it.scoped("context_length_exceeded is ContextLengthExceeded", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(400, "invalid_request_error", "context_length_exceeded", "This model's maximum context length is 128000 tokens."))
      expect(e).toMatchObject({ _tag: "ContextLengthExceeded", status: 400 })
      expect(LlmError.isFallbackable(e)).toBe(true)
    }))

  it.scoped("a content policy 400 is ContentFiltered, as is finish_reason content_filter", () =>
    Effect.gen(function*() {
      const e = yield* failWith(error(400, "invalid_request_error", "content_policy_violation", "Your request was rejected by our safety system"))
      expect(e._tag).toBe("ContentFiltered")
      const cut = yield* failWith({ text: "partial", finishReason: "content_filter" })
      expect(cut._tag).toBe("ContentFiltered")
    }))

  it.scoped("another 400 is InvalidRequest with status, code and param; not retried, no fallback", () =>
    Effect.gen(function*() {
      const e = yield* failWith({ fault: { kind: "error", status: 400, body: { error: { message: "Unknown parameter", type: "invalid_request_error", param: "foo", code: "unknown_parameter" } } } })
      expect(e).toMatchObject({ _tag: "InvalidRequest", status: 400, code: "unknown_parameter", param: "foo" })
      expect(LlmError.isRetryable(e)).toBe(false)
      expect(LlmError.isFallbackable(e)).toBe(false)
    }))

  it.scoped("5xx are ProviderUnavailable: 500/503 server, 504 timeout, 529 overloaded, with Retry-After", () =>
    Effect.gen(function*() {
      expect(yield* failWith(error(500, "server_error"))).toMatchObject({ _tag: "ProviderUnavailable", kind: "server", status: 500 })
      expect(yield* failWith(error(503, "server_error", undefined, "busy", { "retry-after": "2" }))).toMatchObject({
        _tag: "ProviderUnavailable",
        kind: "server",
        status: 503,
        retryAfterMillis: 2000
      })
      expect(yield* failWith(error(504, "server_error"))).toMatchObject({ _tag: "ProviderUnavailable", kind: "timeout" })
      expect(yield* failWith(error(529, "overloaded_error"))).toMatchObject({ _tag: "ProviderUnavailable", kind: "overloaded" })
    }))

  it.scoped("a refused connection is ProviderUnavailable network", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make()
      const url = sim.openaiBaseURL
      // A port nothing listens on: start a simulator, remember its port, stop it.
      const closedPort = yield* Effect.scoped(Effect.map(ProviderSimulator.make(), (s) => s.openaiBaseURL))
      const lm = yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: closedPort, model: "m" })
      const e = yield* Effect.flip(lm.generate(yield* ask("hi")))
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "network" })
      expect(url).not.toBe(closedPort)
    }))

  it.scoped("the SDK timeout is ProviderUnavailable timeout", () =>
    Effect.gen(function*() {
      const e = yield* failWith({ latencyMs: 2_000 }, { timeout: "100 millis" })
      expect(e).toMatchObject({ _tag: "ProviderUnavailable", kind: "timeout" })
    }))
})

describe("OpenAi malformed answers", () => {
  // Some OpenAI-compatible servers send nulls or strings where the model wants
  // numbers: a typed, retryable server error, not a defect that skips retry,
  // fallback and the breaker's bookkeeping.
  const rewriting = (rewrite: (body: string) => string): typeof globalThis.fetch => async (input, init) => {
    const response = await globalThis.fetch(input, init)
    return new Response(rewrite(await response.text()), { status: response.status, headers: response.headers })
  }
  const countAsText = (body: string) => body.replace(/"completion_tokens":\d+/, "\"completion_tokens\":\"many\"")

  it.scoped("tool-call deltas that repeat id and name as null (as some compatible servers send) are read as absent", () =>
    Effect.gen(function*() {
      const nulls = (body: string) =>
        body.replaceAll("\"tool_calls\":[{\"index\":0,\"function\":{", "\"tool_calls\":[{\"index\":0,\"id\":null,\"function\":{\"name\":null,")
      const { lm, sim } = yield* setup({ fetch: rewriting(nulls) })
      yield* sim.enqueue("openai", { toolCalls: [{ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" }] })
      const response = yield* LanguageModel.collect(lm.stream(yield* ask("weather?")))
      expect(response.toolCalls).toEqual([new LanguageModel.ToolCall({ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Oslo\"}" })])
    }))

  it.scoped("tool calls sent without an id or with id \"\" (LM Studio, llama.cpp, Gemini) get generated ids a tool message can answer, generate and stream", () =>
    Effect.gen(function*() {
      // The simulator names the first call call_sim_0; the rewrite drops that id. The second is sent with "id":"".
      const noIds = (body: string) => body.replaceAll("\"id\":\"call_sim_0\",", "")
      const { lm, sim } = yield* setup({ fetch: rewriting(noIds) })
      const calls = [{ name: "get_weather", arguments: "{\"city\":\"Oslo\"}" }, { id: "", name: "get_time", arguments: "{\"tz\":\"CET\"}" }]
      yield* sim.enqueue("openai", { toolCalls: calls }, { toolCalls: calls })
      const generated = yield* lm.generate(yield* ask("weather and time?"))
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(yield* ask("weather and time?"))))
      const streamed = yield* LanguageModel.collect(Stream.fromIterable(events))
      for (const response of [generated, streamed]) {
        expect(response.toolCalls.map((c) => [c.name, c.arguments])).toEqual(calls.map((c) => [c.name, c.arguments]))
        const ids = response.toolCalls.map((c) => c.id)
        ids.forEach((id) => expect(id).toMatch(/^call_\d+_[0-9a-f]{12}$/))
        expect(new Set(ids).size).toBe(2)
        // The point of an id: the next turn can answer the calls.
        yield* LanguageModel.decodeRequest({
          messages: [
            { role: "user", content: "weather and time?" },
            { role: "assistant", toolCalls: response.toolCalls },
            ...ids.map((id) => ({ role: "tool" as const, toolCallId: id, content: "ok" }))
          ]
        })
      }
      // Generated once per call: a later delta never renames it.
      const withId = events.filter((e) => e._tag === "ToolCallDelta" && e.id !== undefined)
      expect(withId.map((e) => e._tag === "ToolCallDelta" && e.index)).toEqual([0, 1])
    }))

  it.scoped("parallel streamed tool calls that all reuse index 0 (Ollama) stay separate calls, told apart by their ids", () =>
    Effect.gen(function*() {
      const allIndexZero = (body: string) => body.replaceAll("\"tool_calls\":[{\"index\":1,", "\"tool_calls\":[{\"index\":0,")
      const { lm, sim } = yield* setup({ fetch: rewriting(allIndexZero) })
      yield* sim.enqueue("openai", {
        toolCalls: [
          { id: "call_a", name: "file_write", arguments: "{\"path\":\"hello.py\"}" },
          { id: "call_b", name: "file_write", arguments: "{\"path\":\"world.py\"}" }
        ]
      })
      const response = yield* LanguageModel.collect(lm.stream(yield* ask("write two files")))
      expect(response.toolCalls).toEqual([
        new LanguageModel.ToolCall({ id: "call_a", name: "file_write", arguments: "{\"path\":\"hello.py\"}" }),
        new LanguageModel.ToolCall({ id: "call_b", name: "file_write", arguments: "{\"path\":\"world.py\"}" })
      ])
    }))

  it.scoped("a completion whose usage is not a number fails with ProviderUnavailable(server), generate and stream", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup({ fetch: rewriting(countAsText) })
      yield* sim.enqueue("openai", { text: "hello there" })
      yield* sim.enqueue("openai", { text: "hello there" })
      const errors = [
        yield* Effect.flip(lm.generate(yield* ask("hi"))),
        yield* Effect.flip(Stream.runDrain(lm.stream(yield* ask("hi"))))
      ]
      for (const error of errors) {
        expect(error._tag === "ProviderUnavailable" && error.kind).toBe("server")
        expect(error.message).toMatch(/^Malformed answer from the provider/)
      }
    }))
})

describe("OpenAi streams", () => {
  const streamWith = (behavior: ProviderSimulator.Behavior) =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", behavior)
      const collected: Array<LanguageModel.StreamEvent> = []
      const error = yield* Effect.flip(Stream.runForEach(lm.stream(yield* ask("tell me a story")), (e) => Effect.sync(() => collected.push(e))))
      return { error, collected }
    })

  it.scoped("an error event after the 200 is classified by its type", () =>
    Effect.gen(function*() {
      const server = yield* streamWith({ text: "one two three four", fault: { kind: "midStreamError", afterChunks: 2, type: "server_error" } })
      expect(server.collected.map((e) => e._tag)).toEqual(["TextDelta", "TextDelta"])
      expect(server.error).toMatchObject({ _tag: "ProviderUnavailable", kind: "server" })
      const limited = yield* streamWith({ text: "one two", fault: { kind: "midStreamError", afterChunks: 1, type: "rate_limit_exceeded" } })
      expect(limited.error).toMatchObject({ _tag: "RateLimited" })
    }))

  it.scoped("a stream cut mid-way fails as stream-interrupted", () =>
    Effect.gen(function*() {
      const { collected, error } = yield* streamWith({ text: "one two three four", fault: { kind: "drop", afterChunks: 2 } })
      expect(collected.length).toBe(2)
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", kind: "stream-interrupted" })
    }))

  it.scoped("a stream that finishes without usage fails rather than costing $0", () =>
    Effect.gen(function*() {
      const { error } = yield* streamWith({ text: "one two", omitUsage: true })
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", kind: "stream-interrupted" })
    }))
})

/** Interrupts a generate call the simulator leaves hanging; the upstream request's outcome. */
const interruptHanging = ({ lm, sim }: Effect.Effect.Success<ReturnType<typeof setup>>) =>
  Effect.gen(function*() {
    yield* sim.enqueue("openai", { fault: { kind: "hang" } })
    const fiber = yield* Effect.fork(lm.generate(yield* ask("hang")))
    yield* sim.awaitEntry((e) => e.route === "openai")
    yield* Fiber.interrupt(fiber)
    return (yield* sim.awaitEntry((e) => e.outcome !== "pending")).outcome
  })

describe("OpenAi interruption", () => {
  it.scoped("interrupting generate aborts the upstream request", () =>
    Effect.gen(function*() {
      expect(yield* interruptHanging(yield* setup())).toBe("aborted")
    }))

  // Through NodeFetch, generate is cancelled with a plain handle, not an AbortSignal
  // (providers/internal/cancel.ts); any other fetch still gets a signal.
  it.scoped("through a fetch other than NodeFetch's, interrupting generate aborts its signal and the upstream request", () =>
    Effect.gen(function*() {
      const signals: Array<AbortSignal> = []
      const node = NodeFetch.make()
      const fetch: typeof globalThis.fetch = (input, init) => {
        if (init?.signal) signals.push(init.signal)
        return node(input, init)
      }
      expect(yield* interruptHanging(yield* setup({ fetch }))).toBe("aborted")
      expect(signals).toHaveLength(1)
      expect(signals[0]!.aborted).toBe(true)
    }))

  it.scoped("generate sends the same request through NodeFetch's handle as through a signal: method, path, headers, body", () =>
    Effect.gen(function*() {
      const node = NodeFetch.make()
      const viaSignal = yield* setup({ fetch: (input, init) => node(input, init) })
      const viaHandle = yield* setup()
      const request = yield* ask("Capital of France?", { maxTokens: 50, temperature: 0.5, seed: 3, stop: ["\n"] })
      for (const { lm, sim } of [viaSignal, viaHandle]) {
        yield* sim.enqueue("openai", { text: "Paris." })
        expect((yield* lm.generate(request)).text).toBe("Paris.")
      }
      const [signalled] = yield* viaSignal.sim.journal
      const [handled] = yield* viaHandle.sim.journal
      const { host: _h1, ...signalledHeaders } = signalled!.headers
      const { host: _h2, ...handledHeaders } = handled!.headers
      expect(handledHeaders).toEqual(signalledHeaders)
      expect([handled!.route, handled!.body]).toEqual([signalled!.route, signalled!.body])
    }))

  it.scoped("interrupting generate under Retry's attempt timer (the provider's own) aborts the upstream request", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { fault: { kind: "hang" } })
      const timed = Timed.timedGenerateOf(lm)!
      const fiber = yield* Effect.fork(timed(yield* ask("hang"), {
        millis: 60_000,
        onTimeout: () => new LlmError.ProviderUnavailable({ kind: "timeout", message: "late" })
      }))
      yield* sim.awaitEntry((e) => e.route === "openai")
      yield* Fiber.interrupt(fiber)
      const entry = yield* sim.awaitEntry((e) => e.outcome !== "pending")
      expect(entry.outcome).toBe("aborted")
    }))

  it.scoped("a consumer that stops reading a stream closes the upstream connection", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { text: "a b c d e f g h i j", tokenDelayMs: 50 })
      const firstTwo = yield* Stream.runCollect(Stream.take(lm.stream(yield* ask("slow")), 2))
      expect(firstTwo.length).toBe(2)
      const entry = yield* sim.awaitEntry((e) => e.outcome !== "pending")
      expect(entry.outcome).toBe("aborted")
      expect(entry.chunksSent).toBeLessThan(10)
    }))

  it.scoped("a stream read to its end is not aborted afterwards (its request signal stays clear); one stopped early is", () =>
    Effect.gen(function*() {
      const signals: Array<AbortSignal> = []
      const fetch: typeof globalThis.fetch = (input, init) => {
        if (init?.signal) signals.push(init.signal)
        return globalThis.fetch(input, init)
      }
      const { lm, sim } = yield* setup({ fetch })
      yield* sim.enqueue("openai", { text: "one two three" })
      const events = yield* Stream.runCollect(lm.stream(yield* ask("whole")))
      expect(Chunk.last(events).pipe(Option.map((e) => e._tag))).toEqual(Option.some("Finish"))
      expect(signals).toHaveLength(1)
      expect(signals[0]!.aborted).toBe(false)
      yield* sim.enqueue("openai", { text: "a b c d e f g h", tokenDelayMs: 50 })
      yield* Stream.runCollect(Stream.take(lm.stream(yield* ask("partial")), 1))
      expect(signals).toHaveLength(2)
      expect(signals[1]!.aborted).toBe(true)
    }))

  it.scoped("stopping a stream aborts at once, without waiting for the next chunk", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* setup()
      yield* sim.enqueue("openai", { text: "first second third", tokenDelayMs: 5_000 })
      const first = yield* Stream.runCollect(Stream.take(lm.stream(yield* ask("slow")), 1))
      expect(first.length).toBe(1)
      const entry = yield* sim.awaitEntry((e) => e.outcome !== "pending")
      expect(entry.outcome).toBe("aborted")
      // The second chunk was 5 s away; an abort that waited for it would have let it out.
      expect(entry.chunksSent).toBe(1)
    }))
})

describe("request validation", () => {
  it.scoped("malformed requests fail with InvalidRequest before any network call", () =>
    Effect.gen(function*() {
      const { sim } = yield* setup()
      const provide = Effect.provideService(LanguageModel.LanguageModel, yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "m" }))
      const empty = yield* Effect.flip(provide(LanguageModel.generate({ messages: [] as never })))
      expect(empty).toMatchObject({ _tag: "InvalidRequest", code: "invalid_request" })
      const negative = yield* Effect.flip(provide(LanguageModel.generate({ messages: [{ role: "user", content: "x" }], maxTokens: -5 })))
      expect(negative._tag).toBe("InvalidRequest")
      expect(negative.message).toContain("maxTokens")
      const role = yield* Effect.flip(provide(LanguageModel.generate({ messages: [{ role: "wizard", content: "x" }] } as never)))
      expect(role._tag).toBe("InvalidRequest")
      expect(role.message).toContain("role")
      const streamed = yield* Effect.flip(provide(Stream.runDrain(LanguageModel.stream({ messages: [] as never }))))
      expect(streamed._tag).toBe("InvalidRequest")
      expect(yield* sim.journal).toEqual([])
    }))
})
