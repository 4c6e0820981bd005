import { describe, expect, it } from "@effect/vitest"
import * as Persistence from "@effect/experimental/Persistence"
import { Chunk, type Duration, Effect, Either, Exit, Fiber, Layer, Logger, Option, Schema, Scope, Stream, TestClock } from "effect"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as Direct from "../src/cache/internal/direct.js"
import { eventsOf } from "../src/cache/internal/hit.js"
import {
  canonicalText,
  canonicalTextReference,
  stableStringify,
  stableStringifyReference
} from "../src/cache/internal/key.js"
import * as ResponseCache from "../src/cache/ResponseCache.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const req = (input: LanguageModel.RequestInput): LanguageModel.Request => Effect.runSync(LanguageModel.decodeRequest(input))

const ask = (text: string, extra: Partial<LanguageModel.RequestInput> = {}) =>
  req({ messages: [{ role: "user", content: text }], ...extra })

const cached = (
  script: ScriptedModel.Script,
  options: ResponseCache.Options = {},
  scriptOptions: ScriptedModel.Options = {}
) =>
  Effect.gen(function*() {
    const { recorder, service } = yield* ScriptedModel.make(script, scriptOptions)
    const lm = yield* ResponseCache.make(options)(service).pipe(Effect.provide(CacheStore.layerMemory()))
    return { lm, recorder }
  })

const serving = { provider: "openai", model: "gpt-4.1-mini" }
const base: LanguageModel.RequestInput = {
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is Effect?" }]
}

type Serving = { readonly provider: string; readonly model: string }
type KeyOptions = Pick<ResponseCache.Options, "namespace" | "varyBy">

/** A seeded generator (mulberry32): the randomized cases are the same on every run. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/** A random valid request (every optional field sometimes), serving model and key options. */
const randomCase = (random: () => number) => {
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const maybe = <A>(make: () => A): A | undefined => (random() < 0.5 ? make() : undefined)
  const keys = ["type", "properties", "required", "a", "b", "Z", "", "10", "2", "01", "-1", "1.5", "4294967295", "é", "a b", "\"q", "\u2028"]
  const texts = ["", "plain", "quote \" backslash \\ newline \n", "unicode \u2028 é 😀", "What is Effect?", "0"]
  const numbers = [0, -0, 1, 1.5, -7, 1e21, 1e-7, 123456789]
  const json = (depth: number): unknown => {
    const r = random()
    if (depth > 2 || r < 0.3) return pick<unknown>([null, true, false, ...numbers, ...texts])
    if (r < 0.5) return Array.from({ length: Math.floor(random() * 3) }, () => json(depth + 1))
    const out: Record<string, unknown> = {}
    for (let i = Math.floor(random() * 4); i > 0; i--) out[pick(keys)] = json(depth + 1)
    return out
  }
  const record = () => {
    const out: Record<string, unknown> = {}
    for (let i = Math.floor(random() * 4); i > 0; i--) out[pick(keys)] = json(1)
    return out
  }
  const name = () => pick(["lookup", "get_weather", "a", "Z-9", "10"])
  const message = (): LanguageModel.RequestInput["messages"][number] => {
    switch (pick(["system", "user", "assistant", "tool"] as const)) {
      case "system":
        return { role: "system", content: pick(texts) }
      case "user":
        return { role: "user", content: pick(texts) }
      case "assistant":
        return {
          role: "assistant",
          ...(random() < 0.5 ? { content: pick(texts) } : {}),
          ...(random() < 0.5
            ? { toolCalls: Array.from({ length: 1 + Math.floor(random() * 2) }, () => ({ id: pick(["c1", "c2"]), name: name(), arguments: pick(texts) })) }
            : {})
        }
      case "tool":
        return { role: "tool", toolCallId: pick(["c1", "c2"]), content: pick(texts), ...(random() < 0.5 ? { isError: random() < 0.5 } : {}) }
    }
  }
  const strip = <A extends object>(o: A): A => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as A
  const input: LanguageModel.RequestInput = strip({
    messages: [message(), ...Array.from({ length: Math.floor(random() * 4) }, message)] as LanguageModel.RequestInput["messages"],
    model: maybe(() => pick(["gpt-4.1", "claude"])),
    maxTokens: maybe(() => pick([1, 256, 4096])),
    temperature: maybe(() => pick([0, 0.5, 2])),
    topP: maybe(() => pick([0, 0.25, 1])),
    stop: maybe(() => Array.from({ length: Math.floor(random() * 3) }, () => pick(["\n", "END", "é"]))),
    seed: maybe(() => pick([0, -3, 7])),
    tools: maybe(() =>
      Array.from({ length: Math.floor(random() * 3) }, () =>
        strip({
          name: name(),
          description: maybe(() => pick(texts)),
          parameters: record(),
          strict: maybe(() => random() < 0.5)
        }))
    ),
    toolChoice: maybe(() => pick<LanguageModel.RequestInput["toolChoice"]>(["auto", "none", "required", { tool: name() }])),
    responseFormat: maybe(() =>
      pick<() => LanguageModel.RequestInput["responseFormat"]>([
        () => ({ type: "text" }),
        () => ({ type: "json" }),
        () => strip({ type: "jsonSchema" as const, name: name(), description: maybe(() => pick(texts)), schema: record(), strict: maybe(() => random() < 0.5) })
      ])()
    ),
    metadata: maybe(() =>
      strip({
        tenant: maybe(() => pick(["acme", "globex"])),
        user: maybe(() => pick(["u1", "u2"])),
        tags: maybe(() => strip({ locale: maybe(() => pick(["fr", "de"])), "10": maybe(() => "x"), feature: maybe(() => "faq") }) as Record<string, string>)
      })
    ),
    cache: maybe(() => ({ refresh: random() < 0.5 }))
  })
  const options: KeyOptions = strip({
    namespace: maybe(() => pick(["", "v2", "é"])),
    varyBy: maybe(() => strip({ user: maybe(() => random() < 0.5), tags: maybe(() => pick<boolean | ReadonlyArray<string>>([true, false, ["locale"], ["10", "feature", "missing"]])) }))
  })
  return { input, options, serving: { provider: pick(["openai", "anthropic"]), model: input.model ?? "gpt-4.1-mini" } as Serving }
}

describe("ResponseCache key", () => {
  it("every output-affecting field changes the key", () => {
    const tool = { name: "lookup", parameters: { type: "object", properties: { q: { type: "string" } } } }
    const variants: Record<string, LanguageModel.RequestInput> = {
      userText: { ...base, messages: [base.messages[0]!, { role: "user", content: "What is effect?" }] },
      systemText: { ...base, messages: [{ role: "system", content: "Be verbose." }, base.messages[1]!] },
      extraTurn: { ...base, messages: [...base.messages, { role: "assistant", content: "A library." }, { role: "user", content: "What is Effect?" }] },
      assistantToolCall: {
        ...base,
        messages: [...base.messages, { role: "assistant", toolCalls: [{ id: "c1", name: "lookup", arguments: "{}" }] }, {
          role: "tool",
          toolCallId: "c1",
          content: "ok"
        }]
      },
      toolError: {
        ...base,
        messages: [...base.messages, { role: "assistant", toolCalls: [{ id: "c1", name: "lookup", arguments: "{}" }] }, {
          role: "tool",
          toolCallId: "c1",
          content: "ok",
          isError: true
        }]
      },
      model: { ...base, model: "gpt-4.1" },
      maxTokens: { ...base, maxTokens: 100 },
      temperature: { ...base, temperature: 0 },
      topP: { ...base, topP: 0.5 },
      stop: { ...base, stop: ["\n"] },
      seed: { ...base, seed: 7 },
      tools: { ...base, tools: [tool] },
      toolDescription: { ...base, tools: [{ ...tool, description: "Look it up" }] },
      toolStrict: { ...base, tools: [{ ...tool, strict: true }] },
      toolChoice: { ...base, tools: [tool], toolChoice: "required" },
      toolChoiceNamed: { ...base, tools: [tool], toolChoice: { tool: "lookup" } },
      json: { ...base, responseFormat: { type: "json" } },
      jsonSchema: { ...base, responseFormat: { type: "jsonSchema", name: "A", schema: { type: "object" } } },
      jsonSchemaOther: { ...base, responseFormat: { type: "jsonSchema", name: "A", schema: { type: "array" } } },
      jsonSchemaLoose: { ...base, responseFormat: { type: "jsonSchema", name: "A", schema: { type: "object" }, strict: false } },
      tenant: { ...base, metadata: { tenant: "acme" } }
    }
    const keys = new Map<string, string>([["base", ResponseCache.keyOf(req(base), serving)]])
    for (const [name, input] of Object.entries(variants)) {
      const request = req(input)
      keys.set(name, ResponseCache.keyOf(request, { ...serving, model: request.model ?? serving.model }))
    }
    keys.set("servingModel", ResponseCache.keyOf(req(base), { ...serving, model: "gpt-4.1-nano" }))
    keys.set("servingProvider", ResponseCache.keyOf(req(base), { ...serving, provider: "azure" }))
    keys.set("namespace", ResponseCache.keyOf(req(base), serving, { namespace: "v2" }))
    expect(new Set(keys.values()).size).toBe(keys.size)
    for (const key of keys.values()) expect(key).toMatch(/^[0-9a-f]{64}$/)
  })

  it("key order, spelled-out defaults, user, tags and cache control do not change the key", () => {
    const expected = ResponseCache.keyOf(req(base), serving)
    const same: ReadonlyArray<unknown> = [
      { messages: [{ content: "Be brief.", role: "system" }, { content: "What is Effect?", role: "user" }] },
      { ...base, topP: 1 },
      { ...base, stop: [] },
      { ...base, tools: [] },
      { ...base, tools: [], toolChoice: "auto" },
      { ...base, toolChoice: "none" },
      { ...base, responseFormat: { type: "text" } },
      { ...base, metadata: { user: "u1", tags: { feature: "faq" } } },
      { ...base, cache: { refresh: true } }
    ]
    for (const input of same) expect(ResponseCache.keyOf(req(input as LanguageModel.RequestInput), serving)).toBe(expected)

    const schemaA = { type: "object", properties: { a: { type: "string" }, b: { type: "number" } }, required: ["a"] }
    const schemaB = { required: ["a"], properties: { b: { type: "number" }, a: { type: "string" } }, type: "object" }
    expect(ResponseCache.keyOf(req({ ...base, responseFormat: { type: "jsonSchema", name: "S", schema: schemaA } }), serving))
      .toBe(ResponseCache.keyOf(req({ ...base, responseFormat: { type: "jsonSchema", name: "S", schema: schemaB, strict: true } }), serving))
    const toolA = { name: "t", parameters: schemaA }
    expect(ResponseCache.keyOf(req({ ...base, tools: [toolA] }), serving))
      .toBe(ResponseCache.keyOf(req({ ...base, tools: [{ parameters: schemaB, name: "t", strict: false }], toolChoice: "auto" }), serving))
  })

  it("keys written before stay the same (stored entries in a shared store keep their keys)", () => {
    // Computed by the previous key code (sorted copy of the canonical object). If
    // this fails on purpose, bump the `v` in the canonical text so new keys cannot
    // meet entries written under the old bytes.
    expect(ResponseCache.keyOf(req(base), serving)).toBe("d14b142ab36ffb5d12ecbe7a0d019bfc1dd40039fe32779d98d502aee3785f73")
    const full = req({
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Weather?" },
        { role: "assistant", toolCalls: [{ id: "c1", name: "lookup", arguments: "{\"q\":1}" }] },
        { role: "tool", toolCallId: "c1", content: "sunny" }
      ],
      maxTokens: 100,
      temperature: 0,
      seed: 7,
      stop: ["\n"],
      tools: [{ name: "lookup", description: "Look up", parameters: { type: "object", properties: { q: { type: "number" } } } }],
      toolChoice: { tool: "lookup" },
      responseFormat: { type: "jsonSchema", name: "W", schema: { type: "object" } },
      metadata: { tenant: "acme", user: "u1", tags: { locale: "fr" } }
    })
    expect(ResponseCache.keyOf(full, serving, { namespace: "v2", varyBy: { user: true, tags: ["locale"] } }))
      .toBe("56c8d24f924f866244c5d3d40b175da16f6606fb50c74b1d28a50eb6536e04ad")
  })

  it("the directly written canonical text is the reference text, for fixed and randomized requests", () => {
    const fixed: ReadonlyArray<LanguageModel.RequestInput> = [
      base,
      { messages: [{ role: "user", content: "" }] },
      { ...base, tools: [{ name: "t", description: "", parameters: {} }], toolChoice: "none" },
      { ...base, toolChoice: "required" },
      { ...base, toolChoice: { tool: "x" } },
      { ...base, responseFormat: { type: "jsonSchema", name: "S", description: "", schema: {}, strict: false } },
      { ...base, topP: 1, stop: [], metadata: { tags: {} } }
    ]
    const check = (request: LanguageModel.Request, at: Serving, options: KeyOptions) => {
      for (const kind of ["exact", "semantic"] as const) {
        expect(canonicalText(request, at, options, kind)).toBe(canonicalTextReference(request, at, options, kind))
      }
    }
    for (const input of fixed) check(req(input), serving, {})
    const random = prng(20261128)
    for (let i = 0; i < 400; i++) {
      const { input, options, serving: at } = randomCase(random)
      check(req(input), at, options)
    }
  })

  it("the serving part kept from the last call is used only for the same model, provider and namespace", () => {
    const request = req(base)
    const servings: ReadonlyArray<Serving> = [
      serving,
      { provider: "azure", model: serving.model },
      { provider: "azure", model: "gpt-4o-mini" },
      { provider: serving.provider, model: "gpt-4o-mini" }
    ]
    const namespaces = [undefined, "", "v2", "v2", undefined]
    for (const at of servings) {
      for (const namespace of namespaces) {
        const options = namespace === undefined ? {} : { namespace }
        expect(canonicalText(request, at, options, "exact")).toBe(canonicalTextReference(request, at, options, "exact"))
      }
    }
  })

  it("varyBy puts the user and chosen tags into the key", () => {
    const a = req({ ...base, metadata: { user: "u1", tags: { locale: "fr", feature: "x" } } })
    const b = req({ ...base, metadata: { user: "u2", tags: { locale: "de", feature: "x" } } })
    const c = req({ ...base, metadata: { user: "u2", tags: { locale: "fr", feature: "y" } } })
    expect(ResponseCache.keyOf(a, serving, { varyBy: { user: true } })).not.toBe(ResponseCache.keyOf(b, serving, { varyBy: { user: true } }))
    expect(ResponseCache.keyOf(a, serving, { varyBy: { tags: ["locale"] } })).not.toBe(ResponseCache.keyOf(b, serving, { varyBy: { tags: ["locale"] } }))
    expect(ResponseCache.keyOf(a, serving, { varyBy: { tags: ["locale"] } })).toBe(ResponseCache.keyOf(c, serving, { varyBy: { tags: ["locale"] } }))
  })
})

describe("ResponseCache", () => {
  it.effect("a repeated request is served from the cache, marked exact with its age", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{ text: "Effect is a TypeScript library." }])
      const first = yield* lm.generate(ask("What is Effect?"))
      yield* TestClock.adjust("5 seconds")
      const second = yield* lm.generate(ask("What is Effect?"))
      expect(yield* recorder.calls).toBe(1)
      expect(first.cache).toBeUndefined()
      expect(second.text).toBe(first.text)
      expect(second.usage).toEqual(first.usage)
      expect(second.cache?.kind).toBe("exact")
      expect(second.cache?.ageMillis).toBe(5000)
      expect(second.attempts).toEqual([])
    }))

  it.effect("the layer caches the LanguageModel below it", () =>
    Effect.gen(function*() {
      const a = yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] })
      const b = yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] })
      expect(b.cache?.kind).toBe("exact")
      expect(b.text).toBe(a.text)
      expect(yield* Effect.flatMap(ScriptedModel.ScriptedModel, (r) => r.calls)).toBe(1)
    }).pipe(Effect.provide(
      ResponseCache.layer().pipe(
        Layer.provide(CacheStore.layerMemory()),
        Layer.provideMerge(ScriptedModel.layer([{ text: "hello" }], { whenExhausted: "repeat-last" }))
      )
    )))

  it.effect("tenant A never reads tenant B's entry", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((request) => ({ text: `for ${request.metadata?.tenant}` }))
      const a = yield* lm.generate(ask("q", { metadata: { tenant: "a" } }))
      const b = yield* lm.generate(ask("q", { metadata: { tenant: "b" } }))
      const a2 = yield* lm.generate(ask("q", { metadata: { tenant: "a" } }))
      const b2 = yield* lm.generate(ask("q", { metadata: { tenant: "b" } }))
      expect([a.text, b.text, a2.text, b2.text]).toEqual(["for a", "for b", "for a", "for b"])
      expect(yield* recorder.calls).toBe(2)
      expect(a2.cache?.kind).toBe("exact")
      expect(b2.cache?.kind).toBe("exact")
    }))

  it.effect("an entry expires after its TTL (TestClock)", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((_, i) => ({ text: `answer ${i}` }), { ttl: "1 minute" })
      yield* lm.generate(ask("q"))
      yield* TestClock.adjust("59 seconds")
      const hit = yield* lm.generate(ask("q"))
      expect(hit.text).toBe("answer 0")
      expect(hit.cache?.ageMillis).toBe(59_000)
      yield* TestClock.adjust("1 second")
      const miss = yield* lm.generate(ask("q"))
      expect(miss.text).toBe("answer 1")
      expect(miss.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("bypass skips the cache both ways; refresh calls and overwrites", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((_, i) => ({ text: `answer ${i}` }))
      yield* lm.generate(ask("q"))
      const bypassed = yield* lm.generate(ask("q", { cache: { bypass: true } }))
      expect(bypassed.text).toBe("answer 1")
      expect((yield* lm.generate(ask("q"))).text).toBe("answer 0")
      const refreshed = yield* lm.generate(ask("q", { cache: { refresh: true } }))
      expect(refreshed.text).toBe("answer 2")
      expect(refreshed.cache).toBeUndefined()
      const after = yield* lm.generate(ask("q"))
      expect(after.text).toBe("answer 2")
      expect(after.cache?.kind).toBe("exact")
      expect(yield* recorder.calls).toBe(3)
    }))

  it.effect("temperature > 0 is not cached unless cacheSampled", () =>
    Effect.gen(function*() {
      const plain = yield* cached((_, i) => ({ text: `a${i}` }))
      yield* plain.lm.generate(ask("q", { temperature: 0.7 }))
      yield* plain.lm.generate(ask("q", { temperature: 0.7 }))
      expect(yield* plain.recorder.calls).toBe(2)
      yield* plain.lm.generate(ask("q", { temperature: 0 }))
      yield* plain.lm.generate(ask("q", { temperature: 0 }))
      expect(yield* plain.recorder.calls).toBe(3)

      const sampled = yield* cached((_, i) => ({ text: `a${i}` }), { cacheSampled: true })
      yield* sampled.lm.generate(ask("q", { temperature: 0.7 }))
      yield* sampled.lm.generate(ask("q", { temperature: 0.7 }))
      expect(yield* sampled.recorder.calls).toBe(1)

      const strict = yield* cached((_, i) => ({ text: `a${i}` }), { cacheUnsetTemperature: false })
      yield* strict.lm.generate(ask("q"))
      yield* strict.lm.generate(ask("q"))
      expect(yield* strict.recorder.calls).toBe(2)
    }))

  it.effect("100 concurrent identical requests make 1 provider call", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((_, i) => ({ text: `answer ${i}`, latency: "2 seconds" }))
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 100 }, () => lm.generate(ask("q"))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("2 seconds")
      const responses = yield* Fiber.join(fiber)
      expect(yield* recorder.calls).toBe(1)
      expect(new Set(responses.map((r) => r.text))).toEqual(new Set(["answer 0"]))
      expect(responses.filter((r) => r.cache === undefined)).toHaveLength(1)
    }))

  it.effect("concurrent streams and generates of one request share one call", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{ text: "one two three", latency: "1 second" }])
      const fiber = yield* Effect.fork(Effect.all([
        Stream.runCollect(lm.stream(ask("q"))),
        Stream.runCollect(lm.stream(ask("q"))),
        lm.generate(ask("q"))
      ], { concurrency: "unbounded" }))
      yield* TestClock.adjust("1 second")
      const [s1, s2, g] = yield* Fiber.join(fiber)
      expect(yield* recorder.calls).toBe(1)
      const text = (events: Chunk.Chunk<LanguageModel.StreamEvent>) =>
        Chunk.toReadonlyArray(events).flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")
      expect(text(s1)).toBe("one two three")
      expect(text(s2)).toBe("one two three")
      expect(g.text).toBe("one two three")
    }))

  it.effect("a replayed stream is the same sequence of events as the original", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{
        text: "alpha beta gamma",
        chunks: ["al", "pha ", "beta", " gamma"],
        toolCalls: [{ id: "c1", name: "lookup", arguments: { q: "x" } }]
      }])
      const original = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(ask("q"))))
      const replayed = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(ask("q"))))
      expect(yield* recorder.calls).toBe(1)
      expect(replayed.length).toBe(original.length)
      expect(replayed.slice(0, -1)).toEqual(original.slice(0, -1))
      const [f1, f2] = [original.at(-1)!, replayed.at(-1)!]
      if (f1._tag !== "Finish" || f2._tag !== "Finish") throw new Error("no Finish")
      expect({ ...f2, cache: undefined, latencyMillis: f1.latencyMillis }).toEqual({ ...f1 })
      expect(f2.cache?.kind).toBe("exact")
      // A generate call of the same request is served from the recorded stream.
      const response = yield* lm.generate(ask("q"))
      expect(response.text).toBe("alpha beta gamma")
      expect(response.toolCalls.map((c) => c.arguments)).toEqual([JSON.stringify({ q: "x" })])
      expect(yield* recorder.calls).toBe(1)
    }))

  it.effect("a stream cut short by its consumer is not stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((_, i) => ({ text: `a b c ${i}` }))
      yield* Stream.runCollect(Stream.take(lm.stream(ask("q")), 1))
      const full = yield* LanguageModel.collect(lm.stream(ask("q")))
      expect(full.text).toBe("a b c 1")
      expect(full.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("a failed call is not cached", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        new LlmError.ProviderUnavailable({ kind: "server", message: "boom" }),
        { text: "ok" }
      ])
      const failed = yield* Effect.flip(lm.generate(ask("q")))
      expect(failed._tag).toBe("ProviderUnavailable")
      const ok = yield* lm.generate(ask("q"))
      expect(ok.text).toBe("ok")
      expect(ok.cache).toBeUndefined()
      expect((yield* lm.generate(ask("q"))).cache?.kind).toBe("exact")
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("a failed stream is not cached", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        { text: "a b c", failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ kind: "server", message: "cut" }) } },
        { text: "a b c" }
      ])
      const exit = yield* Effect.exit(Stream.runCollect(lm.stream(ask("q"))))
      expect(Exit.isFailure(exit)).toBe(true)
      const ok = yield* LanguageModel.collect(lm.stream(ask("q")))
      expect(ok.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("an output rejected by a guard below is never stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        new LlmError.OutputRejected({ reason: "secret", message: "leaked a key", findings: [] }),
        { text: "clean" }
      ])
      const rejected = yield* Effect.flip(lm.generate(ask("q")))
      expect(rejected._tag).toBe("OutputRejected")
      expect((yield* lm.generate(ask("q"))).text).toBe("clean")
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("a refusal is passed on but not stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{ text: "", refusal: "no", finishReason: "refusal" }, { text: "yes" }])
      expect((yield* lm.generate(ask("q"))).finishReason).toBe("refusal")
      expect((yield* lm.generate(ask("q"))).text).toBe("yes")
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("concurrent waiters share the leader's failure, and nothing is stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        { fail: new LlmError.ProviderUnavailable({ kind: "server", message: "boom" }), latency: "1 second" },
        { text: "later" }
      ])
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 5 }, () => Effect.either(lm.generate(ask("q")))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(fiber)
      expect(results.every((r) => r._tag === "Left")).toBe(true)
      expect(yield* recorder.calls).toBe(1)
      expect((yield* lm.generate(ask("q"))).text).toBe("later")
    }))

  it.effect("concurrent streams share the leading stream's failure, and nothing is stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        { fail: new LlmError.ProviderUnavailable({ kind: "server", message: "boom" }), latency: "1 second" },
        { text: "later" }
      ])
      const fiber = yield* Effect.fork(
        Effect.all(Array.from({ length: 3 }, () => Effect.either(Stream.runCollect(lm.stream(ask("q"))))), { concurrency: "unbounded" })
      )
      yield* TestClock.adjust("1 second")
      const results = yield* Fiber.join(fiber)
      expect(results.map((r) => r._tag)).toEqual(["Left", "Left", "Left"])
      expect(yield* recorder.calls).toBe(1)
      expect((yield* LanguageModel.collect(lm.stream(ask("q")))).text).toBe("later")
    }))

  // The gateway and Retry open pulls in a scope they close with `Exit.void` whatever
  // happened (helper-32's review): the flight must land with the stream's failure, not
  // with that exit, or each waiter calls upstream again, one after another.
  it.effect("pulled in a scope closed with Exit.void, concurrent streams still share the failure", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        { fail: new LlmError.ProviderUnavailable({ kind: "server", message: "boom" }), latency: "1 second" },
        { text: "cut", failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ kind: "server", message: "cut" }) }, latency: "1 second" },
        { text: "later" }
      ])
      const pulledAsTheGatewayDoes = (question: string) =>
        Effect.flatMap(Scope.make(), (scope) =>
          Effect.ensuring(
            Effect.either(Effect.flatMap(Scope.extend(LanguageModel.pullOf(lm, ask(question)), scope), (pull) =>
              Effect.flatMap(pull, () => pull))),
            Scope.close(scope, Exit.void)
          ))
      for (const question of ["opening fails", "fails mid-stream"]) {
        const fiber = yield* Effect.fork(Effect.all([1, 2, 3].map(() => pulledAsTheGatewayDoes(question)), { concurrency: "unbounded" }))
        yield* TestClock.adjust("1 second")
        const results = yield* Fiber.join(fiber)
        expect(results.map((r) => r._tag)).toEqual(["Left", "Left", "Left"])
      }
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("when the leader is interrupted, a waiter takes over", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached((_, i) => ({ text: `answer ${i}`, latency: "1 second" }))
      const leader = yield* Effect.fork(lm.generate(ask("q")))
      yield* TestClock.adjust("10 millis")
      const waiter = yield* Effect.fork(lm.generate(ask("q")))
      yield* TestClock.adjust("10 millis")
      yield* Fiber.interrupt(leader)
      yield* TestClock.adjust("1 second")
      const response = yield* Fiber.join(waiter)
      expect(response.text).toBe("answer 1")
      expect(yield* recorder.calls).toBe(2)
    }))

  // The leader registers its flight and then attaches what lands it; an interrupt
  // arriving between the two (here: signalled while the inner call is being built)
  // must not leave a flight that no one will ever land.
  it.effect("a leader interrupted while it starts leaves no flight behind: the next caller is not stuck", () =>
    Effect.gen(function*() {
      for (const mode of ["generate", "stream"] as const) {
        const { service } = yield* ScriptedModel.make((_, i) => ({ text: `answer ${i}` }))
        let first = true
        const interruptSelf = () => {
          if (!first) return
          first = false
          const self = Fiber.getCurrentFiber()
          if (Option.isSome(self)) self.value.unsafeInterruptAsFork(self.value.id())
        }
        const selfInterrupting: LanguageModel.Service = {
          ...service,
          generate: (request) => {
            interruptSelf()
            return service.generate(request)
          },
          stream: (request) => {
            interruptSelf()
            return service.stream(request)
          }
        }
        const lm = yield* ResponseCache.make()(selfInterrupting).pipe(Effect.provide(CacheStore.layerMemory()))
        const call = mode === "generate"
          ? Effect.map(lm.generate(ask(`q-${mode}`)), (r) => r.text)
          : Effect.map(LanguageModel.collect(lm.stream(ask(`q-${mode}`))), (r) => r.text)
        const leader = yield* Fiber.await(yield* Effect.fork(call))
        expect(Exit.isInterrupted(leader), `${mode}: the leader was interrupted`).toBe(true)
        const next = yield* Effect.fork(call)
        yield* TestClock.adjust("1 minute")
        const polled = yield* Fiber.poll(next)
        expect(Option.isSome(polled) && Exit.isSuccess(polled.value), `${mode}: the next caller got an answer`).toBe(true)
      }
    }))

  it.effect("a fallback's answer is stored under the model that produced it", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached(
        (request, i) => ({ text: `from backup ${i}`, model: request.model ?? "backup" }),
        {},
        { model: "primary", models: ["backup"] }
      )
      const first = yield* lm.generate(ask("q"))
      expect(first.model).toBe("backup")
      // A later request for the primary model is not answered by the backup's entry...
      const again = yield* lm.generate(ask("q"))
      expect(again.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
      // ...but a request for the backup model is.
      const backup = yield* lm.generate(ask("q", { model: "backup" }))
      expect(backup.cache?.kind).toBe("exact")
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("a dated snapshot of the requested model counts as that model", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{ text: "hi", model: "gpt-4o-2024-08-06" }], {}, { model: "gpt-4o" })
      yield* lm.generate(ask("q"))
      expect((yield* lm.generate(ask("q"))).cache?.kind).toBe("exact")
      expect(yield* recorder.calls).toBe(1)
    }))
})

describe("ResponseCache internals", () => {
  it("the direct canonical JSON is the text of the sorted copy, for any shape", () => {
    class Point {
      constructor(readonly y: number, readonly x: number) {}
    }
    const sparse: Array<number> = [1]
    sparse[3] = 4
    const values: ReadonlyArray<unknown> = [
      null,
      undefined,
      0,
      -0,
      1.5e-9,
      Number.NaN,
      Infinity,
      "plain",
      "quote \" backslash \\ newline \n unicode \u2028 é 😀",
      true,
      [],
      {},
      [undefined, null, { b: 1, a: [3, { d: undefined, c: "x" }] }],
      sparse,
      { z: 1, a: undefined, m: { y: [1, 2, { k: false }], b: null }, "": "empty key", "10": "numeric key", "2": 2, "01": 1, "4294967294": 3, "4294967295": 4, "-1": 5, "1.5": 6 },
      new Point(2, 1),
      new Date(0),
      12n,
      Symbol("s"),
      () => 1
    ]
    for (const value of values) expect(stableStringify(value)).toBe(stableStringifyReference(value))
    expect(stableStringify(values)).toBe(stableStringifyReference(values))
    // What goes on the wire: a Date as its JSON text, an own "__proto__" key kept.
    const wire = [{ d: new Date(0) }, JSON.parse("{\"__proto__\": {\"x\": 1}, \"a\": 2}")]
    for (const value of wire) {
      expect(stableStringify(value)).toBe(stableStringifyReference(value))
      expect(stableStringify(value)).toBe(JSON.stringify(value))
    }
  })

  it("a stored value is read back as the Schema decode reads it, and refused when the decode refuses it", () => {
    const decode = Schema.decodeUnknownEither(ResponseCache.Entry)
    const usage = { inputTokens: 10, outputTokens: 5 }
    const response = { text: "hi", finishReason: "stop", usage, provider: "openai", model: "m", latencyMillis: 3 }
    const full = {
      id: "r1",
      text: "hi",
      toolCalls: [{ id: "c1", name: "f", arguments: "{}" }],
      finishReason: "tool_calls",
      refusal: "no",
      usage: { ...usage, cachedInputTokens: 2, cacheWriteTokens: 1, reasoningTokens: 4 },
      provider: "openai",
      model: "m",
      cost: { usd: 0.5, estimated: true },
      cache: { kind: "semantic", similarity: 0.9, ageMillis: 7 },
      attempts: [{ provider: "p", model: "m", outcome: "failure", error: "RateLimited", message: "x", durationMillis: 2 }],
      route: "cheap",
      latencyMillis: 12
    }
    const finish = { _tag: "Finish", reason: "stop", usage, provider: "openai", model: "m" }
    const valid: ReadonlyArray<unknown> = [
      { storedAt: 1, payload: { _tag: "Response", response } },
      { storedAt: 2, payload: { _tag: "Response", response: full } },
      { storedAt: 3, payload: { _tag: "Response", response: { ...full, extra: 1, usage: { ...usage, more: 2 } } }, extra: true },
      {
        storedAt: 4,
        payload: {
          _tag: "Events",
          events: [
            { _tag: "TextDelta", text: "a" },
            { _tag: "ToolCallDelta", index: 0, id: "c1", name: "f", argumentsDelta: "{" },
            { _tag: "ToolCallDelta", index: 0, argumentsDelta: "}" },
            { _tag: "UsageEvent", usage },
            finish,
            { ...full, _tag: "Finish", reason: "length", finishReason: undefined }
          ]
        }
      },
      { storedAt: 5, payload: { _tag: "Events", events: [] } }
    ]
    for (const value of valid) {
      const expected = decode(value)
      if (Either.isLeft(expected)) throw new Error(`not valid: ${JSON.stringify(value)}`)
      expect(ResponseCache.entryFromStored(value)).toStrictEqual(expected.right)
      expect(JSON.stringify(ResponseCache.entryFromStored(value))).toBe(JSON.stringify(expected.right))
    }
    const broken: ReadonlyArray<unknown> = [
      null,
      "text",
      {},
      { storedAt: "1", payload: { _tag: "Response", response } },
      { storedAt: 1, payload: { _tag: "Other", response } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, text: undefined } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, finishReason: "done" } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, latencyMillis: -1 } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, usage: { ...usage, inputTokens: -1 } } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, usage: { ...usage, cachedInputTokens: 1.5 } } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, cost: { usd: -1, estimated: false } } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, cache: { kind: "fuzzy", ageMillis: 1 } } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, attempts: [{ provider: "p" }] } } },
      { storedAt: 1, payload: { _tag: "Response", response: { ...response, toolCalls: [{ id: 1, name: "f", arguments: "" }] } } },
      { storedAt: 1, payload: { _tag: "Events", events: [{ _tag: "TextDelta" }] } },
      { storedAt: 1, payload: { _tag: "Events", events: [{ _tag: "ToolCallDelta", index: -1, argumentsDelta: "" }] } },
      { storedAt: 1, payload: { _tag: "Events", events: [{ ...finish, latencyMillis: -5 }] } },
      { storedAt: 1, payload: { _tag: "Events", events: [{ _tag: "Nope" }] } }
    ]
    for (const value of broken) {
      expect(Either.isLeft(decode(value))).toBe(true)
      expect(ResponseCache.entryFromStored(value)).toBeUndefined()
    }
  })

  it.effect("the hand-built stream conversions equal LanguageModel.collect and toEvents", () =>
    Effect.gen(function*() {
      const usage = new LanguageModel.Usage({ inputTokens: 10, outputTokens: 5 })
      const responses = [
        new LanguageModel.Response({ text: "hi", finishReason: "stop", usage, provider: "openai", model: "m", latencyMillis: 1 }),
        new LanguageModel.Response({
          id: "r1",
          text: "",
          toolCalls: [new LanguageModel.ToolCall({ id: "c1", name: "f", arguments: "{}" }), new LanguageModel.ToolCall({ id: "c2", name: "g", arguments: "[1]" })],
          finishReason: "tool_calls",
          refusal: "x",
          usage,
          provider: "anthropic",
          model: "m",
          cost: new LanguageModel.Cost({ usd: 1, estimated: false }),
          route: "r",
          latencyMillis: 9
        })
      ]
      for (const response of responses) {
        const events = eventsOf(response)
        expect(events).toStrictEqual(LanguageModel.toEvents(response))
        expect(LanguageModel.fromEvents(events)).toStrictEqual(response)
      }
      const split: ReadonlyArray<LanguageModel.StreamEvent> = [
        new LanguageModel.TextDelta({ text: "a" }),
        new LanguageModel.ToolCallDelta({ index: 1, id: "c2", name: "g", argumentsDelta: "{" }),
        new LanguageModel.TextDelta({ text: "b" }),
        new LanguageModel.ToolCallDelta({ index: 1, argumentsDelta: "}" }),
        new LanguageModel.UsageEvent({ usage }),
        new LanguageModel.Finish({ reason: "stop", usage, provider: "p", model: "m" })
      ]
      expect(LanguageModel.fromEvents(split)).toStrictEqual(
        new LanguageModel.Response({
          text: "ab",
          toolCalls: [new LanguageModel.ToolCall({ id: "c2", name: "g", arguments: "{}" })],
          finishReason: "stop",
          usage,
          provider: "p",
          model: "m",
          latencyMillis: 0
        })
      )
      expect(LanguageModel.fromEvents(split.slice(0, -1))).toBeUndefined()
    }))

  it("a stored entry's JSON is the JSON of its Schema encoding (responses and streams)", () => {
    const usage = new LanguageModel.Usage({ inputTokens: 10, outputTokens: 5, cachedInputTokens: 2 })
    const response = new LanguageModel.Response({
      id: "r1",
      text: "hi",
      toolCalls: [new LanguageModel.ToolCall({ id: "c1", name: "f", arguments: "{\"a\":1}" })],
      finishReason: "tool_calls",
      usage,
      provider: "openai",
      model: "gpt-4.1-mini",
      cost: new LanguageModel.Cost({ usd: 0.001, estimated: false }),
      cache: new LanguageModel.CacheInfo({ kind: "semantic", similarity: 0.97, ageMillis: 5 }),
      attempts: [
        new LanguageModel.Attempt({ provider: "openai", model: "m", outcome: "failure", error: "RateLimited", message: "x", durationMillis: 3 }),
        new LanguageModel.Attempt({ provider: "openai", model: "m", outcome: "success", durationMillis: 4 })
      ],
      route: "cheap",
      latencyMillis: 12
    })
    const entries = [
      new ResponseCache.Entry({ storedAt: 1, payload: { _tag: "Response", response } }),
      new ResponseCache.Entry({
        storedAt: 2,
        payload: {
          _tag: "Events",
          events: [
            new LanguageModel.TextDelta({ text: "a" }),
            new LanguageModel.ToolCallDelta({ index: 0, id: "c1", name: "f", argumentsDelta: "{}" }),
            new LanguageModel.UsageEvent({ usage }),
            LanguageModel.finishOf(response)
          ]
        }
      })
    ]
    for (const entry of entries) {
      expect(JSON.parse(JSON.stringify(entry))).toEqual(JSON.parse(JSON.stringify(Schema.encodeSync(ResponseCache.Entry)(entry))))
    }
  })
})

describe("ResponseCache: what a caller after the call gets (found in review)", () => {
  it.effect("a streamed refusal (not stored) is not replayed to a later caller while the scope is open", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([
        { text: "", refusal: "no", finishReason: "refusal" },
        { text: "yes" },
        { text: "again" }
      ], { ttl: "1 minute" })
      // one scope around a piece of work that streams (the flight used to live until it closed)
      const scope = yield* Scope.make()
      const first = yield* LanguageModel.collectPull(yield* Scope.extend(LanguageModel.pullOf(lm, ask("q")), scope))
      expect(first.finishReason).toBe("refusal")
      const later = yield* lm.generate(ask("q"))
      expect(later.text).toBe("yes")
      expect(later.cache).toBeUndefined()
      yield* Scope.close(scope, Exit.void)
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("a stored stream's flight is forgotten when the stream ends: a refresh in the same scope calls the model", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached([{ text: "one" }, { text: "two" }])
      const scope = yield* Scope.make()
      yield* LanguageModel.collectPull(yield* Scope.extend(LanguageModel.pullOf(lm, ask("q")), scope))
      const refreshed = yield* lm.generate(ask("q", { cache: { refresh: true } }))
      expect(refreshed.text).toBe("two")
      expect(yield* recorder.calls).toBe(2)
      expect((yield* lm.generate(ask("q"))).text).toBe("two")
      yield* Scope.close(scope, Exit.void)
    }))

  it.effect("an entry older than this cache's ttl is a miss, though the shared store still holds it (written with a longer ttl)", () =>
    Effect.gen(function*() {
      const { recorder, service } = yield* ScriptedModel.make((_, i) => ({ text: `answer ${i}` }))
      const store = yield* Layer.build(CacheStore.layerMemory())
      const earlier = yield* ResponseCache.make({ ttl: "1 day" })(service).pipe(Effect.provide(store))
      const current = yield* ResponseCache.make({ ttl: "1 minute" })(service).pipe(Effect.provide(store))
      yield* earlier.generate(ask("q"))
      yield* TestClock.adjust("59 seconds")
      expect((yield* current.generate(ask("q"))).cache?.ageMillis).toBe(59_000)
      yield* TestClock.adjust("1 second")
      const served = yield* current.generate(ask("q"))
      expect(served.cache).toBeUndefined()
      expect(served.text).toBe("answer 1")
      expect(yield* recorder.calls).toBe(2)
    }).pipe(Effect.scoped))
})

describe("ResponseCache: stores read and written by direct calls", () => {
  const failing = (method: string) => Effect.fail(Persistence.PersistenceBackingError.make(method, new Error("disk full")))
  const failingStore: CacheStore.Service = {
    get: () => failing("get"),
    getMany: () => failing("getMany"),
    set: () => failing("set"),
    setMany: () => failing("setMany"),
    remove: () => Effect.void,
    clear: Effect.void
  }
  const throwing = (): never => {
    throw new Error("disk full")
  }
  // The Effect methods of the direct store die: the cache must not use them.
  const unused = () => Effect.dieMessage("the cache used an Effect method of a store it reads directly")
  const directStore = Direct.attach(
    { get: unused, getMany: unused, set: unused, setMany: unused, remove: unused, clear: Effect.void },
    { get: throwing, set: throwing }
  )

  for (
    const [name, store] of [
      ["the Effect methods", failingStore],
      ["direct calls", directStore]
    ] as const
  ) {
    it.effect(`a store failing through ${name}: every call is answered by the model, each failure logged with its method`, () =>
      Effect.gen(function*() {
        const logged: Array<{ readonly message: unknown; readonly level: string }> = []
        const logger = Logger.make(({ logLevel, message }) => void logged.push({ message, level: logLevel.label }))
        const { recorder, service } = yield* ScriptedModel.make((_, i) => ({ text: `answer ${i}` }))
        const lm = yield* ResponseCache.make()(service).pipe(Effect.provideService(CacheStore.CacheStore, store))
        const answers = yield* Effect.all([lm.generate(ask("q")), lm.generate(ask("q"))]).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, logger))
        )
        expect(answers.map((answer) => answer.text)).toEqual(["answer 0", "answer 1"])
        expect(yield* recorder.calls).toBe(2)
        const warnings = logged.map(({ level, message }) => {
          const [text, error] = message as ReadonlyArray<unknown>
          return [level, text, (error as Persistence.PersistenceBackingError).method]
        })
        const read = ["WARN", "ResponseCache: store read failed, treated as a miss", "get"]
        const write = ["WARN", "ResponseCache: store write failed", "set"]
        expect(warnings).toEqual([read, write, read, write])
      }))
  }

  // Wrappers that count the reads and writes: a spread copy, a Proxy (forwards every
  // property), an `Object.create` override (inherits every property).
  type Wrap = (store: CacheStore.Service, calls: Array<string>) => CacheStore.Service
  const counting = (store: CacheStore.Service, calls: Array<string>) => ({
    get: (key: string) => Effect.zipRight(Effect.sync(() => calls.push("get")), store.get(key)),
    set: (key: string, value: unknown, ttl: Option.Option<Duration.Duration>) =>
      Effect.zipRight(Effect.sync(() => calls.push("set")), store.set(key, value, ttl))
  })
  const wrappers: ReadonlyArray<readonly [string, Wrap]> = [
    ["spreading", (store, calls) => ({ ...store, ...counting(store, calls) })],
    ["a Proxy around", (store, calls) => {
      const own = counting(store, calls)
      return new Proxy(store, {
        get: (target, key, receiver) => key === "get" || key === "set" ? own[key] : Reflect.get(target, key, receiver)
      })
    }],
    ["Object.create over", (store, calls) => Object.assign(Object.create(store) as CacheStore.Service, counting(store, calls))]
  ]
  for (const [how, wrap] of wrappers) {
    it.effect(`a store made by ${how} the memory store is used through its own methods`, () =>
      Effect.gen(function*() {
        const memory = yield* CacheStore.CacheStore.pipe(Effect.provide(CacheStore.layerMemory()))
        const calls: Array<string> = []
        const { recorder, service } = yield* ScriptedModel.make((_, i) => ({ text: `answer ${i}` }))
        const lm = yield* ResponseCache.make()(service).pipe(Effect.provideService(CacheStore.CacheStore, wrap(memory, calls)))
        yield* lm.generate(ask("q"))
        expect((yield* lm.generate(ask("q"))).cache?.kind).toBe("exact")
        expect(calls).toEqual(["get", "set", "get"])
        expect(yield* recorder.calls).toBe(1)
      }))
  }
})
