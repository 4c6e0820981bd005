import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Redacted, Schema, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Structured from "../src/structured/Structured.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

/** The seed's example: name, optional email, sentiment literal, confidence 0..1. */
const ExtractedData = Schema.Struct({
  name: Schema.String,
  email: Schema.optional(Schema.String),
  sentiment: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
}).annotations({ identifier: "ExtractedData" })

const ask: LanguageModel.RequestInput = { messages: [{ role: "user", content: "Extract data from: Ada loved it, mail ada@example.com" }] }

const good = JSON.stringify({ name: "Ada", email: "ada@example.com", sentiment: "positive", confidence: 0.92 })
const noEmail = JSON.stringify({ name: "Bob", email: null, sentiment: "neutral", confidence: 0.5 })
/** Valid JSON that breaks the refinement (confidence above 1). */
const outOfRange = JSON.stringify({ name: "Ada", email: null, sentiment: "positive", confidence: 1.5 })

type Body = Record<string, unknown> & { messages: Array<Record<string, unknown>> }

/** Whether `next` extends `previous`: keys kept, strings and arrays only growing. */
const grows = (previous: unknown, next: unknown): boolean => {
  if (typeof previous === "string") return typeof next === "string" && next.startsWith(previous)
  if (Array.isArray(previous)) {
    return Array.isArray(next) && next.length >= previous.length && previous.every((item, i) => grows(item, next[i]))
  }
  if (typeof previous === "object" && previous !== null) {
    return typeof next === "object" && next !== null && !Array.isArray(next) &&
      Object.entries(previous).every(([k, v]) => k in next && grows(v, (next as Record<string, unknown>)[k]))
  }
  return previous === next
}

const partialsOf = <A, I>(parts: ReadonlyArray<Structured.Part<A, I>>) =>
  parts.flatMap((part) => (part._tag === "Partial" ? [part.value] : []))

// -----------------------------------------------------------------------------
// Behaviour, through ScriptedModel
// -----------------------------------------------------------------------------

describe("Structured (scripted model)", () => {
  it.effect("ExtractedData: the request carries the strict schema; the answer decodes; null email is absent", () =>
    Effect.gen(function*() {
      const value = yield* Structured.generate(ExtractedData, ask)
      expect(value).toEqual({ name: "Bob", sentiment: "neutral", confidence: 0.5 })
      expect("email" in value).toBe(false)
      const [request] = yield* (yield* ScriptedModel.ScriptedModel).requests
      expect(request!.responseFormat).toMatchObject({
        type: "jsonSchema",
        name: "ExtractedData",
        strict: true,
        schema: { type: "object", required: ["name", "email", "sentiment", "confidence"], additionalProperties: false }
      })
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: noEmail }]))))

  it.effect("an answer breaking a refinement is re-asked with the answer and the decode error; attempt 2 succeeds", () =>
    Effect.gen(function*() {
      const result = yield* Structured.generateResult(ExtractedData, ask)
      expect(result.attempts).toBe(2)
      expect(result.value).toEqual({ name: "Ada", email: "ada@example.com", sentiment: "positive", confidence: 0.92 })
      const requests = yield* (yield* ScriptedModel.ScriptedModel).requests
      expect(requests).toHaveLength(2)
      const messages = requests[1]!.messages
      expect(messages).toHaveLength(3)
      expect(messages[1]).toMatchObject({ role: "assistant", content: outOfRange })
      expect(messages[2]!.role).toBe("user")
      expect(messages[2]!.content).toContain("confidence")
      expect(messages[2]!.content).toContain("between 0 and 1")
      expect(messages[2]!.content).toContain("1.5")
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: outOfRange }, { text: good }]))))

  it.effect("always-invalid output fails with MalformedOutput after maxAttempts, with raw, issues and attempts", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask, { maxAttempts: 4 }))
      expect(error).toBeInstanceOf(LlmError.MalformedOutput)
      const malformed = error as LlmError.MalformedOutput
      expect(malformed.attempts).toBe(4)
      expect(malformed.raw).toBe("{\"name\": \"Ada\", \"sentiment\": \"ecstatic\"")
      expect(malformed.issues).toMatch(/not valid JSON/)
      expect(malformed.finishReason).toBe("stop")
      expect(yield* (yield* ScriptedModel.ScriptedModel).calls).toBe(4)
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: "{\"name\": \"Ada\", \"sentiment\": \"ecstatic\"" }], { whenExhausted: "repeat-last" }))))

  it.effect("the default is 3 attempts; the last issues are a readable Schema error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask))
      expect(error._tag).toBe("MalformedOutput")
      const malformed = error as LlmError.MalformedOutput
      expect(malformed.attempts).toBe(3)
      expect(malformed.issues).toContain("[\"sentiment\"]")
      expect(malformed.issues).toContain("\"ecstatic\"")
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: JSON.stringify({ name: "A", email: null, sentiment: "ecstatic", confidence: 1 }) }], { whenExhausted: "repeat-last" }))))

  it.effect("a truncated answer (finish reason length) fails at once as MalformedOutput with finishReason length", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask))
      expect(error).toMatchObject({ _tag: "MalformedOutput", finishReason: "length", attempts: 1, raw: good.slice(0, 30) })
      expect(error.message).toContain("maxTokens")
      expect(yield* (yield* ScriptedModel.ScriptedModel).calls).toBe(1)
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: good.slice(0, 30), finishReason: "length" }, { text: good }]))))

  it.effect("a refusal fails at once as ContentFiltered carrying the refusal, not as malformed JSON", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask))
      expect(error._tag).toBe("ContentFiltered")
      expect(error.message).toContain("I can't help with that")
      expect(yield* (yield* ScriptedModel.ScriptedModel).calls).toBe(1)
    }).pipe(Effect.provide(ScriptedModel.layer([{ refusal: "I can't help with that", finishReason: "refusal" }, { text: good }]))))

  it.effect("json mode: JSON response format, the schema in the system prompt, a code fence tolerated", () =>
    Effect.gen(function*() {
      const value = yield* Structured.generate(ExtractedData, {
        messages: [{ role: "system", content: "You extract data." }, ...ask.messages]
      }, { mode: "json" })
      expect(value.name).toBe("Ada")
      const [request] = yield* (yield* ScriptedModel.ScriptedModel).requests
      expect(request!.responseFormat).toEqual({ type: "json" })
      expect(request!.messages).toHaveLength(2)
      expect(request!.messages[0]!.content).toMatch(/^You extract data\.\n\n/)
      expect(request!.messages[0]!.content).toContain("\"additionalProperties\":false")
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: "```json\n" + good + "\n```" }]))))

  it.effect("tool mode: a forced tool whose parameters are the schema; arguments decode; a re-ask answers the call", () =>
    Effect.gen(function*() {
      const result = yield* Structured.generateResult(ExtractedData, ask, { mode: "tool", name: "extract" })
      expect(result.attempts).toBe(2)
      expect(result.value.confidence).toBe(0.92)
      const requests = yield* (yield* ScriptedModel.ScriptedModel).requests
      expect(requests[0]!.toolChoice).toEqual({ tool: "extract" })
      expect(requests[0]!.tools).toHaveLength(1)
      expect(requests[0]!.tools![0]).toMatchObject({ name: "extract", strict: true, parameters: { type: "object" } })
      expect(requests[0]!.responseFormat).toBeUndefined()
      const reask = requests[1]!.messages
      expect(reask[1]).toMatchObject({ role: "assistant", toolCalls: [{ id: "call_x", name: "extract", arguments: outOfRange }] })
      expect(reask[2]).toMatchObject({ role: "tool", toolCallId: "call_x", isError: true })
      expect(reask[2]!.content).toContain("between 0 and 1")
    }).pipe(Effect.provide(ScriptedModel.layer([
      { toolCalls: [{ id: "call_x", name: "extract", arguments: outOfRange }] },
      { toolCalls: [{ id: "call_y", name: "extract", arguments: good }] }
    ]))))

  it.effect("a schema with no strict form fails as InvalidRequest (unsupported_schema) before any call", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Structured.generate(Schema.Struct({ pair: Schema.Tuple(Schema.String, Schema.Number) }), ask))
      expect(error).toMatchObject({ _tag: "InvalidRequest", code: "unsupported_schema", param: ".pair" })
      expect(yield* (yield* ScriptedModel.ScriptedModel).calls).toBe(0)
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: good }]))))

  it.effect("records and transformations round-trip: entries on the wire, an object and a Date out", () =>
    Effect.gen(function*() {
      const Report = Schema.Struct({ at: Schema.Date, counts: Schema.Record({ key: Schema.String, value: Schema.Int }) })
      const value = yield* Structured.generate(Report, ask)
      expect(value.at).toBeInstanceOf(Date)
      expect(value.at.toISOString()).toBe("2026-03-04T05:06:07.000Z")
      expect(value.counts).toEqual({ red: 2, blue: 5 })
    }).pipe(Effect.provide(ScriptedModel.layer([{
      text: JSON.stringify({ at: "2026-03-04T05:06:07.000Z", counts: [{ key: "red", value: 2 }, { key: "blue", value: 5 }] })
    }]))))

  it.effect("a Schema.Class decodes to an instance; its identifier names the schema; defaults fill absent fields", () =>
    Effect.gen(function*() {
      class Invoice extends Schema.Class<Invoice>("Invoice")({
        number: Schema.String,
        total: Schema.Number.pipe(Schema.nonNegative()),
        currency: Schema.optionalWith(Schema.Literal("EUR", "USD"), { default: () => "EUR" as const })
      }) {}
      const value = yield* Structured.generate(Invoice, ask)
      expect(value).toBeInstanceOf(Invoice)
      expect(value).toMatchObject({ number: "A-1", total: 12.5, currency: "EUR" })
      const [request] = yield* (yield* ScriptedModel.ScriptedModel).requests
      expect(request!.responseFormat).toMatchObject({ name: "Invoice", schema: { type: "object", required: ["number", "total", "currency"] } })
    }).pipe(Effect.provide(ScriptedModel.layer([{ text: JSON.stringify({ number: "A-1", total: 12.5, currency: null }) }]))))

  it.effect("stream: growing partial objects as the JSON arrives, then the decoded value", () =>
    Effect.gen(function*() {
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(Structured.stream(ExtractedData, ask)))
      const partials = partialsOf(parts)
      expect(partials.length).toBeGreaterThanOrEqual(4)
      partials.slice(1).forEach((next, i) => expect(grows(partials[i], next)).toBe(true))
      expect(partials).toContainEqual({ name: "Ad" })
      expect(partials).toContainEqual({ name: "Ada", sentiment: "posi" })
      const last = parts[parts.length - 1]!
      expect(last._tag).toBe("Complete")
      expect(last.value).toEqual({ name: "Ada", sentiment: "positive", confidence: 0.92 })
      expect(parts.filter((p) => p._tag === "Complete")).toHaveLength(1)
    }).pipe(Effect.provide(ScriptedModel.layer([{
      text: "{\"name\":\"Ada\",\"email\":null,\"sentiment\":\"positive\",\"confidence\":0.92}",
      chunks: ["{\"na", "me\":\"Ad", "a\",\"email\":nu", "ll,\"sentiment\":\"posi", "tive\",\"confidence\":0.9", "2}"]
    }]))))

  it.effect("stream: partial parsing stays linear in the answer: a partial per delta for a short answer, fewer for a long one", () =>
    Effect.gen(function*() {
      const Note = Schema.Struct({ text: Schema.String })
      const answer = (length: number) => JSON.stringify({ text: "a".repeat(length) })
      const chunksOf = (text: string) => text.match(/[\s\S]{1,4}/g)!
      const run = (length: number) =>
        Stream.runCollect(Structured.stream(Note, ask)).pipe(
          Effect.map((parts) => Chunk.toReadonlyArray(parts)),
          Effect.provide(ScriptedModel.layer([{ text: answer(length), chunks: chunksOf(answer(length)) }]))
        )
      const short = yield* run(1_000)
      // every delta after the string opened grew the value, and each gave a partial
      expect(partialsOf(short).length).toBeGreaterThanOrEqual(chunksOf(answer(1_000)).length - 3)
      // 64 KB in 16,000 deltas: a re-parse per delta read 500 million characters
      // (15-60 s); a few hundred partials, each a prefix of the answer, are enough
      const long = yield* run(64_000)
      const partials = partialsOf(long) as ReadonlyArray<{ readonly text?: string }>
      expect(partials.length).toBeGreaterThan(100)
      expect(partials.length).toBeLessThan(2_000)
      partials.slice(1).forEach((next, i) => expect(grows(partials[i], next)).toBe(true))
      expect(long[long.length - 1]).toMatchObject({ _tag: "Complete", value: { text: "a".repeat(64_000) } })
    }))

  it.effect("stream: a final value that does not decode fails with MalformedOutput; a refusal with ContentFiltered", () =>
    Effect.gen(function*() {
      const bad = yield* Effect.flip(Stream.runCollect(Structured.stream(ExtractedData, ask)))
      expect(bad).toMatchObject({ _tag: "MalformedOutput", attempts: 1, raw: outOfRange })
      const cut = yield* Effect.flip(Stream.runCollect(Structured.stream(ExtractedData, ask)))
      expect(cut).toMatchObject({ _tag: "MalformedOutput", finishReason: "length" })
      const refused = yield* Effect.flip(Stream.runCollect(Structured.stream(ExtractedData, ask)))
      expect(refused._tag).toBe("ContentFiltered")
    }).pipe(Effect.provide(ScriptedModel.layer([
      { text: outOfRange },
      { text: good.slice(0, 25), finishReason: "length" },
      { refusal: "no", finishReason: "refusal" }
    ]))))
})

// -----------------------------------------------------------------------------
// Through the real OpenAI SDK and the simulator
// -----------------------------------------------------------------------------

const KEY = "sk-test-0123456789abcdef"

const openAi = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: KEY })
  const lm = yield* OpenAi.make({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
  return { sim, lm, provide: Effect.provideService(LanguageModel.LanguageModel, lm) }
})

const bodies = (sim: ProviderSimulator.Simulator) =>
  Effect.map(sim.journal, (entries) => entries.map((entry) => entry.body as Body))

class Address extends Schema.Class<Address>("Address")({ city: Schema.String, zip: Schema.optional(Schema.String) }) {}

/** Optional properties holding a struct, a record and a Class: each is `anyOf [X, null]` on the wire. */
const Profile = Schema.Struct({
  name: Schema.String,
  previous: Schema.optional(Schema.Struct({ city: Schema.String, zip: Schema.optional(Schema.String) })),
  scores: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number })),
  home: Schema.optional(Address)
})
/** What a strict model writes for Profile: nulls for absent optionals, records as entries. */
const profileWire = JSON.stringify({
  name: "Ada",
  previous: { city: "Bergen", zip: null },
  scores: [{ key: "alice", value: 3 }],
  home: { city: "Oslo", zip: null }
})

/** The schema of a tool-mode answer whose first attempt breaks the refinement. */
const Pick = Schema.Struct({ n: Schema.Number.pipe(Schema.between(1, 5)) })

describe("Structured (OpenAI SDK and simulator)", () => {
  it.scoped("the request carries response_format json_schema strict with the strict schema", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { text: good })
      const value = yield* Structured.generate(ExtractedData, ask).pipe(provide)
      expect(value.email).toBe("ada@example.com")
      const [body] = yield* bodies(sim)
      expect(body!.response_format).toEqual({
        type: "json_schema",
        json_schema: {
          name: "ExtractedData",
          strict: true,
          schema: {
            type: "object",
            properties: {
              name: { type: "string" },
              email: { anyOf: [{ type: "string" }, { type: "null" }] },
              sentiment: { type: "string", enum: ["positive", "negative", "neutral"] },
              confidence: { type: "number", description: "a number between 0 and 1; constraints: minimum: 0, maximum: 1" }
            },
            required: ["name", "email", "sentiment", "confidence"],
            additionalProperties: false
          }
        }
      })
    }))

  it.scoped("invalid then valid succeeds on attempt 2; the re-ask is in the recorded request", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { text: outOfRange }, { text: good })
      const result = yield* Structured.generateResult(ExtractedData, ask).pipe(provide)
      expect(result.attempts).toBe(2)
      expect(result.value.name).toBe("Ada")
      const sent = yield* bodies(sim)
      expect(sent).toHaveLength(2)
      expect(sent[1]!.messages).toHaveLength(3)
      expect(sent[1]!.messages[1]).toEqual({ role: "assistant", content: outOfRange })
      expect(sent[1]!.messages[2]).toMatchObject({ role: "user" })
      expect(sent[1]!.messages[2]!.content).toContain("between 0 and 1")
      expect(sent[1]!.response_format).toEqual(sent[0]!.response_format)
    }))

  it.scoped("always-invalid output fails with MalformedOutput after N calls", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { text: "not json" }, { text: "{\"name\": 1}" }, { text: outOfRange })
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask, { maxAttempts: 3 }).pipe(provide))
      expect(error).toMatchObject({ _tag: "MalformedOutput", attempts: 3, raw: outOfRange, provider: "openai", finishReason: "stop" })
      expect((error as LlmError.MalformedOutput).issues).toContain("between 0 and 1")
      const sent = yield* bodies(sim)
      expect(sent).toHaveLength(3)
      expect(sent[2]!.messages).toHaveLength(5) // user, then (answer, feedback) twice
    }))

  it.scoped("a truncated answer (finish_reason length) fails with its own reason after one call", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { text: good.slice(0, 40), finishReason: "length" })
      const error = yield* Effect.flip(Structured.generate(ExtractedData, { ...ask, maxTokens: 12 }).pipe(provide))
      expect(error).toMatchObject({ _tag: "MalformedOutput", finishReason: "length", attempts: 1 })
      expect(yield* sim.journal).toHaveLength(1)
    }))

  it.scoped("a refusal (message.refusal) fails as ContentFiltered after one call", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { refusal: "I'm sorry, I can't help with that." })
      const error = yield* Effect.flip(Structured.generate(ExtractedData, ask).pipe(provide))
      expect(error._tag).toBe("ContentFiltered")
      expect(error.message).toContain("I'm sorry, I can't help with that.")
      expect(yield* sim.journal).toHaveLength(1)
    }))

  it.scoped("optional struct, record and Class properties decode: their inner nulls removed, entries back to an object", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { text: profileWire }, {
        text: JSON.stringify({ name: "Bob", previous: null, scores: null, home: null })
      })
      const result = yield* Structured.generateResult(Profile, ask).pipe(provide)
      // Decoded on the first attempt: a re-ask cannot fix what the mapping back gets wrong.
      expect(result.attempts).toBe(1)
      expect(result.value).toEqual({
        name: "Ada",
        previous: { city: "Bergen" },
        scores: { alice: 3 },
        home: new Address({ city: "Oslo" })
      })
      expect(result.value.home).toBeInstanceOf(Address)
      expect(yield* Structured.generate(Profile, ask).pipe(provide)).toEqual({ name: "Bob" })
      const [body] = yield* bodies(sim)
      const properties = (body!.response_format as { json_schema: { schema: { properties: Record<string, Body> } } })
        .json_schema.schema.properties
      expect(properties.scores).toMatchObject({ anyOf: [{ type: "array" }, { type: "null" }] })
      expect(properties.previous).toMatchObject({ anyOf: [{ type: "object", required: ["city", "zip"] }, { type: "null" }] })
    }))

  it.scoped("streamed partials of optional struct, record and Class properties are in the encoded shape: no inner nulls, no entries", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* openAi
      const third = Math.ceil(profileWire.length / 3)
      yield* sim.enqueue("openai", {
        text: profileWire,
        chunks: [profileWire.slice(0, third), profileWire.slice(third, 2 * third), profileWire.slice(2 * third)]
      })
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(
        Structured.stream(Profile, ask).pipe(Stream.provideService(LanguageModel.LanguageModel, lm))
      ))
      const partials = partialsOf(parts)
      const encoded = { name: "Ada", previous: { city: "Bergen" }, scores: { alice: 3 }, home: { city: "Oslo" } }
      expect(partials[partials.length - 1]).toEqual(encoded)
      for (const partial of partials) {
        expect(JSON.stringify(partial)).not.toContain("null")
        expect(Array.isArray((partial as { scores?: unknown }).scores)).toBe(false)
      }
      expect(parts[parts.length - 1]).toMatchObject({ _tag: "Complete", value: { ...encoded, home: new Address({ city: "Oslo" }) } })
    }))

  it.scoped("tool mode: a re-ask after a tool call sent with id \"\" (LM Studio, Gemini) answers it under a generated id", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue(
        "openai",
        { toolCalls: [{ id: "", name: "output", arguments: "{\"n\":9}" }] },
        { toolCalls: [{ id: "", name: "output", arguments: "{\"n\":3}" }] }
      )
      const result = yield* Structured.generateResult(Pick, ask, { mode: "tool", name: "output" }).pipe(provide)
      expect(result).toMatchObject({ value: { n: 3 }, attempts: 2 })
      const messages = (yield* bodies(sim))[1]!.messages as ReadonlyArray<{ tool_calls?: ReadonlyArray<{ id: string }>; tool_call_id?: string }>
      const id = messages[1]!.tool_calls![0]!.id
      expect(id).not.toBe("")
      expect(messages[2]!.tool_call_id).toBe(id)
    }))

  it.scoped("streaming yields growing partial objects from the SSE deltas, then the decoded value", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* openAi
      yield* sim.enqueue("openai", {
        text: good,
        chunks: ["{\"name\":\"A", "da\",\"email\":\"ada@", "example.com\",\"sent", "iment\":\"pos", "itive\",\"confidence\":0.", "92}"]
      })
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(
        Structured.stream(ExtractedData, ask).pipe(Stream.provideService(LanguageModel.LanguageModel, lm))
      ))
      const partials = partialsOf(parts)
      expect(partials).toEqual([
        { name: "A" },
        { name: "Ada", email: "ada@" },
        { name: "Ada", email: "ada@example.com" },
        { name: "Ada", email: "ada@example.com", sentiment: "pos" },
        { name: "Ada", email: "ada@example.com", sentiment: "positive" },
        { name: "Ada", email: "ada@example.com", sentiment: "positive", confidence: 0.92 }
      ])
      partials.slice(1).forEach((next, i) => expect(grows(partials[i], next)).toBe(true))
      const last = parts[parts.length - 1]!
      expect(last).toMatchObject({ _tag: "Complete", value: { name: "Ada", confidence: 0.92 } })
      expect(last._tag === "Complete" && last.response.provider).toBe("openai")
      const [body] = yield* bodies(sim)
      expect(body!.stream).toBe(true)
      expect(body!.response_format).toMatchObject({ type: "json_schema", json_schema: { strict: true } })
    }))

  it.scoped("tool mode sends a strict function tool and tool_choice; the arguments decode", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* openAi
      yield* sim.enqueue("openai", { toolCalls: [{ id: "call_1", name: "extract", arguments: noEmail }] })
      const value = yield* Structured.generate(ExtractedData, ask, { mode: "tool", name: "extract" }).pipe(provide)
      expect(value).toEqual({ name: "Bob", sentiment: "neutral", confidence: 0.5 })
      const [body] = yield* bodies(sim)
      expect(body!.tool_choice).toEqual({ type: "function", function: { name: "extract" } })
      expect(body!.tools).toMatchObject([{ type: "function", function: { name: "extract", strict: true, parameters: { additionalProperties: false } } }])
      expect(body!.response_format).toBeUndefined()
    }))

  it.scoped("tool mode streams partial objects from the tool-call argument deltas", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* openAi
      yield* sim.enqueue("openai", { toolCalls: [{ id: "call_1", name: "extract", arguments: good }] })
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(
        Structured.stream(ExtractedData, ask, { mode: "tool", name: "extract" }).pipe(
          Stream.provideService(LanguageModel.LanguageModel, lm)
        )
      ))
      const partials = partialsOf(parts)
      expect(partials.length).toBeGreaterThanOrEqual(2)
      partials.slice(1).forEach((next, i) => expect(grows(partials[i], next)).toBe(true))
      expect(parts[parts.length - 1]).toMatchObject({ _tag: "Complete", value: { name: "Ada", email: "ada@example.com", confidence: 0.92 } })
      const [body] = yield* bodies(sim)
      expect(body!.tool_choice).toEqual({ type: "function", function: { name: "extract" } })
    }))

  it.scoped("json mode (OpenAI-compatible servers) sends json_object and the schema in the system prompt", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make()
      const lm = yield* OpenAi.make({ baseURL: sim.openaiBaseURL, model: "llama3.1", provider: "ollama", maxTokensField: "max_tokens" })
      yield* sim.enqueue("openai", { text: good })
      const value = yield* Structured.generate(ExtractedData, ask, { mode: "json" }).pipe(
        Effect.provideService(LanguageModel.LanguageModel, lm)
      )
      expect(value.sentiment).toBe("positive")
      const [body] = yield* bodies(sim)
      expect(body!.response_format).toEqual({ type: "json_object" })
      expect(body!.messages[0]).toMatchObject({ role: "system" })
      expect(body!.messages[0]!.content).toContain("\"required\":[\"name\",\"email\",\"sentiment\",\"confidence\"]")
    }))
})

// -----------------------------------------------------------------------------
// Through the real Anthropic SDK and the simulator
// -----------------------------------------------------------------------------

const ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"

const anthropic = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: ANTHROPIC_KEY })
  const lm = yield* Anthropic.make({ apiKey: Redacted.make(ANTHROPIC_KEY), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-5-5" })
  return { sim, lm, provide: Effect.provideService(LanguageModel.LanguageModel, lm) }
})

describe("Structured (Anthropic SDK and simulator)", () => {
  it.scoped("native mode sends output_config.format json_schema with the strict schema", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* anthropic
      yield* sim.enqueue("anthropic", { text: good })
      const value = yield* Structured.generate(ExtractedData, ask).pipe(provide)
      expect(value.email).toBe("ada@example.com")
      const [body] = yield* bodies(sim)
      expect(body!.output_config).toEqual({
        format: { type: "json_schema", schema: yield* Structured.jsonSchema(ExtractedData) }
      })
      expect((body!.output_config as { format: { schema: Record<string, unknown> } }).format.schema.additionalProperties).toBe(false)
    }))

  it.scoped("invalid then valid succeeds on attempt 2; the re-ask is in the recorded request", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* anthropic
      yield* sim.enqueue("anthropic", { text: outOfRange }, { text: good })
      const result = yield* Structured.generateResult(ExtractedData, ask).pipe(provide)
      expect(result.attempts).toBe(2)
      const sent = yield* bodies(sim)
      expect(sent).toHaveLength(2)
      const messages = sent[1]!.messages
      expect(messages).toHaveLength(3)
      expect(messages[1]!.role).toBe("assistant")
      expect(JSON.stringify(messages[1]!.content)).toContain("1.5")
      expect(JSON.stringify(messages[2]!.content)).toContain("between 0 and 1")
    }))

  it.scoped("tool mode sends a forced tool (tool_choice type tool) and decodes its input", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* anthropic
      yield* sim.enqueue("anthropic", { toolCalls: [{ id: "toolu_1", name: "extract", arguments: good }] })
      const value = yield* Structured.generate(ExtractedData, ask, { mode: "tool", name: "extract" }).pipe(provide)
      expect(value.confidence).toBe(0.92)
      const [body] = yield* bodies(sim)
      expect(body!.tool_choice).toEqual({ type: "tool", name: "extract" })
      expect(body!.tools).toMatchObject([{ name: "extract", input_schema: { type: "object", additionalProperties: false } }])
      expect(body!.output_config).toBeUndefined()
    }))

  it.scoped("tool mode: a re-ask after a tool_use with an empty id answers it under a generated id instead of dying", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* anthropic
      yield* sim.enqueue(
        "anthropic",
        { toolCalls: [{ id: "", name: "output", arguments: "{\"n\":9}" }] },
        { toolCalls: [{ id: "", name: "output", arguments: "{\"n\":3}" }] }
      )
      const result = yield* Structured.generateResult(Pick, ask, { mode: "tool", name: "output" }).pipe(provide)
      expect(result).toMatchObject({ value: { n: 3 }, attempts: 2 })
      const messages = (yield* bodies(sim))[1]!.messages as unknown as ReadonlyArray<{ content: ReadonlyArray<Record<string, unknown>> }>
      const use = messages[1]!.content.find((block) => block.type === "tool_use")!
      const answer = messages[2]!.content.find((block) => block.type === "tool_result")!
      expect(use.id).not.toBe("")
      expect(answer.tool_use_id).toBe(use.id)
    }))

  it.scoped("max_tokens fails as MalformedOutput length; stop_reason refusal as ContentFiltered", () =>
    Effect.gen(function*() {
      const { provide, sim } = yield* anthropic
      yield* sim.enqueue("anthropic", { text: good.slice(0, 33), finishReason: "max_tokens" }, { refusal: "I can't do that." })
      const cut = yield* Effect.flip(Structured.generate(ExtractedData, ask).pipe(provide))
      expect(cut).toMatchObject({ _tag: "MalformedOutput", finishReason: "length", attempts: 1 })
      const refused = yield* Effect.flip(Structured.generate(ExtractedData, ask).pipe(provide))
      expect(refused._tag).toBe("ContentFiltered")
      expect(yield* sim.journal).toHaveLength(2)
    }))

  it.scoped("streaming yields growing partial objects from text_delta events", () =>
    Effect.gen(function*() {
      const { lm, sim } = yield* anthropic
      yield* sim.enqueue("anthropic", {
        text: good,
        chunks: ["{\"name\":\"A", "da\",\"email\":null,", "\"sentiment\":\"neg", "ative\",\"confidence\":0.1", "}"]
      })
      const parts = Chunk.toReadonlyArray(yield* Stream.runCollect(
        Structured.stream(ExtractedData, ask).pipe(Stream.provideService(LanguageModel.LanguageModel, lm))
      ))
      const partials = partialsOf(parts)
      expect(partials).toEqual([
        { name: "A" },
        { name: "Ada" },
        { name: "Ada", sentiment: "neg" },
        { name: "Ada", sentiment: "negative" },
        { name: "Ada", sentiment: "negative", confidence: 0.1 }
      ])
      expect(parts[parts.length - 1]).toMatchObject({ _tag: "Complete", value: { name: "Ada", sentiment: "negative", confidence: 0.1 } })
      const [body] = yield* bodies(sim)
      expect(body!.output_config).toMatchObject({ format: { type: "json_schema" } })
    }))
})
