import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Redacted, Schema, Stream } from "effect"
import * as OpenAiWire from "../src/gateway/OpenAiWire.js"
import * as Guard from "../src/guard/Guard.js"
import * as OutputGuard from "../src/guard/OutputGuard.js"
import { tooDeep } from "../src/internal/depth.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as JsonSchema from "../src/structured/JsonSchema.js"
import * as Structured from "../src/structured/Structured.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const KEY = "sk-test-0123456789abcdef"

// Structure a client or a model can send that made the stack overflow, freeze or
// skip a check (found in review): each now ends in a typed error or a right answer.

const nested = (depth: number) => "[".repeat(depth) + "]".repeat(depth)
const nestedObject = (depth: number): unknown => {
  let value: unknown = {}
  for (let i = 0; i < depth; i++) value = { a: value }
  return value
}

describe("nesting depth", () => {
  it("tooDeep walks without recursion: a million levels are refused, a shallow value is not", () => {
    expect(tooDeep(JSON.parse(nested(100_000)))).toBe(true)
    expect(tooDeep(nestedObject(129))).toBe(true)
    expect(tooDeep(nestedObject(127))).toBe(false)
    const shared = { a: 1 }
    expect(tooDeep({ x: [shared, shared, { y: shared }] })).toBe(false)
    // a shared object is judged by its deepest place; a cycle is too deep
    const chain = nestedObject(100) as Record<string, unknown>
    expect(tooDeep({ near: chain, far: nestedObject(20) })).toBe(false)
    let far: Record<string, unknown> = { end: chain }
    for (let i = 0; i < 40; i++) far = { a: far }
    expect(tooDeep({ far, near: chain })).toBe(true) // the shallow place is walked first
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(tooDeep(cycle)).toBe(true)
  })

  it.effect("a request with tool parameters, a response schema or stop nested 8,000 deep is InvalidRequest, not a defect", () =>
    Effect.gen(function*() {
      const inputs = [
        { messages: [{ role: "user", content: "x" }], tools: [{ name: "t", parameters: nestedObject(8_000) }] },
        { messages: [{ role: "user", content: "x" }], responseFormat: { type: "json_schema", name: "s", schema: nestedObject(8_000) } },
        { messages: [{ role: "user", content: "x" }], stop: JSON.parse(nested(8_000)) }
      ]
      for (const input of inputs) {
        const error = yield* Effect.flip(LanguageModel.decodeRequest(input as unknown as LanguageModel.RequestInput))
        expect(error._tag).toBe("InvalidRequest")
        expect(error.message).toContain("nested deeper than 128 levels")
      }
    }))

  it("a Request built or decoded directly with deep tool parameters or schema is refused with a message", () => {
    // these skip decodeRequest's check; the cache key writer overflowed on them
    const messages = [new LanguageModel.UserMessage({ role: "user", content: "x" })] as const
    const deep = nestedObject(8_000) as Record<string, unknown>
    const tools = [new LanguageModel.Tool({ name: "t", parameters: deep })]
    expect(() => new LanguageModel.Request({ messages, tools })).toThrow("nested deeper than 128 levels")
    expect(() => new LanguageModel.Request({ messages, responseFormat: { type: "jsonSchema", name: "s", schema: deep } }))
      .toThrow("nested deeper than 128 levels")
    const decoded = Schema.decodeUnknownEither(LanguageModel.Request)({ messages: [{ role: "user", content: "x" }], tools: [{ name: "t", parameters: deep }] })
    expect(Either.isLeft(decoded) && decoded.left.message).toContain("nested deeper than 128 levels")
    const shallow = nestedObject(100) as Record<string, unknown>
    expect(new LanguageModel.Request({ messages, tools: [new LanguageModel.Tool({ name: "t", parameters: shallow })] }).tools).toHaveLength(1)
  })

  it.effect("a gateway body with deep tool parameters is a typed invalid request (it was a 500)", () =>
    Effect.gen(function*() {
      const body = { model: "m", messages: [{ role: "user", content: "x" }], tools: [{ type: "function", function: { name: "t", parameters: nestedObject(8_000) } }] }
      const error = yield* Effect.flip(OpenAiWire.toRequest(body, { tenant: "acme" }))
      expect(error._tag).toBe("InvalidRequest")
      expect(error.message).toContain("nested deeper than 128 levels")
    }))

  it.effect("a model answering 3,000 levels of '[' to a structured request is MalformedOutput, not a defect", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Structured.generate(Schema.Struct({ a: Schema.String }), { messages: [{ role: "user", content: "x" }] }, { maxAttempts: 1 }))
      expect(Exit.isFailure(exit) && !Exit.isInterrupted(exit)).toBe(true)
      const error = yield* Effect.flip(Structured.generate(Schema.Struct({ a: Schema.String }), { messages: [{ role: "user", content: "x" }] }, { maxAttempts: 1 }))
      expect(error._tag).toBe("MalformedOutput")
      expect(error.message).toContain("nests deeper than 128 levels")
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: `{"a":${nested(3_000)}}` }, { text: `{"a":${nested(3_000)}}` }]))))

  it("the output guard refuses deep arguments and a deep schema; fromJsonSchema returns Left", () => {
    const request = new LanguageModel.Request({
      messages: [new LanguageModel.UserMessage({ role: "user", content: "x" })],
      tools: [new LanguageModel.Tool({ name: "t", parameters: { type: "object" } })]
    })
    const deepArgs = OutputGuard.checkToolCalls([new LanguageModel.ToolCall({ id: "1", name: "t", arguments: `{"a":${nested(5_000)}}` })], {}, { request })
    expect(Either.isLeft(deepArgs)).toBe(true)
    let schema: unknown = { type: "string" }
    for (let i = 0; i < 3_000; i++) schema = { type: "array", items: schema }
    expect(OutputGuard.validateJsonSchema(JSON.parse(nested(200)), schema)).toEqual([expect.stringContaining("schema nested deeper than 128 levels")])
    expect(Either.isLeft(JsonSchema.fromJsonSchema(nestedObject(10_000) as JsonSchema.JsonObject))).toBe(true)
  })

  it("a schema check too large to finish is reported as too complex (2,000 anyOf alternatives over 5,000 items took 12.5 s)", () => {
    const schema = { type: "array", items: { anyOf: Array.from({ length: 2_000 }, () => ({ type: "string" })) } }
    const problems = OutputGuard.validateJsonSchema(Array.from({ length: 5_000 }, () => 1), schema)
    expect(problems).toEqual([expect.stringContaining("too complex to check")])
    // an ordinary check is unaffected
    expect(OutputGuard.validateJsonSchema(["a", "b"], schema)).toEqual([])
    expect(OutputGuard.validateJsonSchema(["a", 1], schema)).toEqual(["$[1]: matches no alternative of anyOf"])
  })
})

describe("tool-call indices from a provider", () => {
  const usage = new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 })
  const finish = new LanguageModel.Finish({ reason: "tool_calls", usage, provider: "p", model: "m" })

  it("an index of 1e9 or 2^32 - 1 is assembled at once, in index order (1e9 walked a sparse array for 40 s)", () => {
    const response = LanguageModel.fromEvents([
      new LanguageModel.ToolCallDelta({ index: 4_294_967_295, id: "c", name: "late", argumentsDelta: "{}" }),
      new LanguageModel.ToolCallDelta({ index: 1_000_000_000, id: "b", name: "far", argumentsDelta: "{}" }),
      new LanguageModel.ToolCallDelta({ index: 0, id: "a", name: "first", argumentsDelta: "{}" }),
      finish
    ])!
    expect(response.toolCalls.map((c) => c.name)).toEqual(["first", "far", "late"])
  })

  it.effect("the output guard checks a streamed call at index 2^32 - 1 (it escaped the argument check)", () =>
    Effect.gen(function*() {
      const model: LanguageModel.Service = {
        models: [{ provider: "p", model: "m" }],
        generate: () => Effect.die("unused"),
        stream: () =>
          Stream.fromIterable<LanguageModel.StreamEvent>([
            new LanguageModel.ToolCallDelta({ index: 4_294_967_295, id: "c", name: "t", argumentsDelta: "{}" }),
            finish
          ])
      }
      const guarded = yield* Guard.makeOutput({ canary: false })(model)
      const request = new LanguageModel.Request({
        messages: [new LanguageModel.UserMessage({ role: "user", content: "x" })],
        tools: [new LanguageModel.Tool({ name: "t", parameters: { type: "object", required: ["a"] } })]
      })
      const error = yield* Effect.flip(Stream.runCollect(guarded.stream(request)))
      expect(error._tag).toBe("OutputRejected")
      expect(error.message).toContain("$.a: is required")
      // and a valid call at that index passes, in index order
      const ok = yield* Stream.runCollect(guarded.stream(new LanguageModel.Request({ ...request, tools: [new LanguageModel.Tool({ name: "t", parameters: { type: "object" } })] })))
      expect(Chunk.toReadonlyArray(ok).map((e) => e._tag)).toEqual(["ToolCallDelta", "Finish"])
    }))
})

describe("values JSON cannot carry", () => {
  const messages = [{ role: "user", content: "x" }] as const
  const toolWith = (leaf: unknown) => ({ name: "lookup", parameters: { type: "object", properties: { n: { type: "integer", maximum: leaf } } } })

  it.effect("a bigint, function, symbol or non-finite number in tool parameters or a response schema is InvalidRequest naming where", () =>
    Effect.gen(function*() {
      const cases: Array<readonly [unknown, string]> = [
        [10n, "tools[0] (lookup) parameters hold a bigint at properties.n.maximum"],
        [() => 1, "a function at properties.n.maximum"],
        [Symbol("s"), "a symbol at properties.n.maximum"],
        [Number.NaN, "NaN at properties.n.maximum"],
        [Number.POSITIVE_INFINITY, "Infinity at properties.n.maximum"]
      ]
      for (const [leaf, expected] of cases) {
        const error = yield* Effect.flip(LanguageModel.decodeRequest({ messages, tools: [toolWith(leaf)] } as unknown as LanguageModel.RequestInput))
        expect(error._tag).toBe("InvalidRequest")
        expect(error.message).toContain(expected)
        expect(error.message).toContain("which JSON cannot carry")
      }
      const schemaError = yield* Effect.flip(LanguageModel.decodeRequest({
        messages,
        responseFormat: { type: "jsonSchema", name: "s", schema: { type: "object", enum: [1, 2n] } }
      } as unknown as LanguageModel.RequestInput))
      expect(schemaError.message).toContain("responseFormat schema hold a bigint at enum[1]")
    }))

  it.effect("JSON values, undefined properties and shared subtrees are accepted", () =>
    Effect.gen(function*() {
      // a diamond 60 levels deep: 2^60 paths, 120 objects; each is looked at once
      let shared: Record<string, unknown> = { type: "string" }
      for (let i = 0; i < 60; i++) shared = { anyOf: [shared, shared] }
      const request = yield* LanguageModel.decodeRequest({
        messages,
        tools: [{ name: "lookup", parameters: { type: "object", description: undefined, properties: { a: shared, n: { type: "number", maximum: 1e308, minimum: -0 } } } }]
      } as unknown as LanguageModel.RequestInput)
      expect(request.tools).toHaveLength(1)
    }))

  it.scoped("the provider is never called with such a request (the SDK's stringify failure read as a network error)", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const lm = yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
      const error = yield* Effect.flip(
        Effect.flatMap(LanguageModel.decodeRequest({ messages, tools: [toolWith(10n)] } as unknown as LanguageModel.RequestInput), lm.generate)
      )
      expect(error._tag).toBe("InvalidRequest")
      expect(yield* sim.journal).toHaveLength(0)
    }))
})
