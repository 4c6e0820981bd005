import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream, TestClock } from "effect"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as ResponseCache from "../src/cache/ResponseCache.js"
import * as SemanticCache from "../src/cache/SemanticCache.js"
import * as VectorIndex from "../src/cache/VectorIndex.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Embeddings from "../src/providers/Embeddings.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const req = (input: LanguageModel.RequestInput): LanguageModel.Request => Effect.runSync(LanguageModel.decodeRequest(input))

const ask = (text: string, extra: Partial<LanguageModel.RequestInput> = {}) =>
  req({ messages: [{ role: "user", content: text }], ...extra })

/** A scripted model that answers with the question it was asked, behind the semantic cache. */
const cached = (options: SemanticCache.Options = {}, embeddings: Embeddings.Service = Embeddings.local()) =>
  Effect.gen(function*() {
    const { recorder, service } = yield* ScriptedModel.make((request) => ({
      text: `answer to: ${LanguageModel.lastUserText(request).pipe((o) => (o._tag === "Some" ? o.value : ""))}`
    }))
    const lm = yield* SemanticCache.make(options)(service).pipe(Effect.provideService(Embeddings.Embeddings, embeddings))
    return { lm, recorder }
  })

describe("SemanticCache", () => {
  it.effect("paraphrases hit, with kind semantic and the similarity", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      const pairs = [
        ["How do I reset my password?", "How can I reset my password?"],
        ["What is the capital of France?", "What's the capital city of France?"],
        ["What are the opening hours of the store?", "When is the store open? What are its opening hours?"]
      ] as const
      for (const [first, paraphrase] of pairs) {
        const original = yield* lm.generate(ask(first))
        const hit = yield* lm.generate(ask(paraphrase))
        expect(hit.text).toBe(original.text)
        expect(hit.cache?.kind).toBe("semantic")
        expect(hit.cache?.similarity).toBeGreaterThanOrEqual(SemanticCache.defaultThreshold)
        expect(hit.cache?.similarity).toBeLessThanOrEqual(1.0001)
      }
      expect(yield* recorder.calls).toBe(pairs.length)
    }))

  it.effect("negations and opposite words miss", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      const pairs = [
        ["Turn on the lights in the kitchen", "Turn off the lights in the kitchen"],
        ["How do I enable two-factor authentication?", "How do I disable two-factor authentication?"],
        ["Is Python statically typed?", "Is Python not statically typed?"],
        ["Should I add the index to the table?", "Should I remove the index from the table?"]
      ] as const
      for (const [first, opposite] of pairs) {
        yield* lm.generate(ask(first))
        const response = yield* lm.generate(ask(opposite))
        expect(response.cache).toBeUndefined()
        expect(response.text).toBe(`answer to: ${opposite}`)
      }
      expect(yield* recorder.calls).toBe(pairs.length * 2)
    }))

  it.effect("the guards are what stops a close negation (the threshold alone would hit)", () =>
    Effect.gen(function*() {
      const a = "Is Python statically typed?"
      const b = "Is Python not statically typed?"
      const score = Embeddings.similarity(Embeddings.localEmbedding(a), Embeddings.localEmbedding(b))
      expect(score).toBeGreaterThanOrEqual(SemanticCache.defaultThreshold)
      const { lm } = yield* cached({ guards: { polarity: false } })
      yield* lm.generate(ask(a))
      expect((yield* lm.generate(ask(b))).cache?.kind).toBe("semantic")
    }))

  it.effect("past maxEntries the oldest entries go first, also after expired ones were dropped", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached({ maxEntries: 2, ttl: "10 minutes" })
      const q = (tenant: string) => ask("What is the capital of France?", { metadata: { tenant } })
      const kind = (tenant: string) => Effect.map(lm.generate(q(tenant)), (r) => r.cache?.kind ?? "miss")
      expect(yield* kind("a")).toBe("miss")
      yield* TestClock.adjust("9 minutes")
      expect(yield* kind("b")).toBe("miss")
      expect(yield* kind("c")).toBe("miss") // a goes
      expect([yield* kind("b"), yield* kind("c")]).toEqual(["semantic", "semantic"])
      yield* TestClock.adjust("3 minutes")
      expect(yield* kind("d")).toBe("miss") // b goes
      expect(yield* kind("c")).toBe("semantic")
      yield* TestClock.adjust("8 minutes") // c (stored at 9 min) has expired: dropped when looked up, stored again
      expect(yield* kind("c")).toBe("miss")
      expect(yield* kind("e")).toBe("miss") // d goes: the oldest left, past the dropped c
      expect([yield* kind("c"), yield* kind("e")]).toEqual(["semantic", "semantic"])
      expect(yield* kind("d")).toBe("miss")
      expect(yield* recorder.calls).toBe(7)
    }))

  it.effect("different numbers or identifiers miss", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      yield* lm.generate(ask("What does the `from_blocks` method return?"))
      expect((yield* lm.generate(ask("What does the `from_tables` method return?"))).cache).toBeUndefined()
      yield* lm.generate(ask("What changed in version 2.10 of the library?"))
      expect((yield* lm.generate(ask("What changed in version 2.9 of the library?"))).cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(4)
    }))

  it.effect("the two sides of a relation swapped miss: miles to km is not km to miles (found in review)", () =>
    Effect.gen(function*() {
      const { lm } = yield* cached()
      yield* lm.generate(ask("Convert 5 miles to km"))
      expect((yield* lm.generate(ask("Convert 5 km to miles"))).cache).toBeUndefined()
      yield* lm.generate(ask("Is a cat bigger than a dog?"))
      expect((yield* lm.generate(ask("Is a dog bigger than a cat?"))).cache).toBeUndefined()
      yield* lm.generate(ask("How do I convert a string to an integer in Python?"))
      expect((yield* lm.generate(ask("How can I convert a string to an integer in Python?"))).cache?.kind).toBe("semantic")
    }))

  it.effect("an acronym ending in s is not its plural: HTTPS is not HTTP (found in review); GPUs is GPU", () =>
    Effect.gen(function*() {
      const { lm } = yield* cached()
      yield* lm.generate(ask("What port does HTTPS use by default?"))
      expect((yield* lm.generate(ask("What port does HTTP use by default?"))).cache).toBeUndefined()
      yield* lm.generate(ask("How much memory do the GPUs in an A100 server have?"))
      expect((yield* lm.generate(ask("How much memory does the GPU in an A100 server have?"))).cache?.kind).toBe("semantic")
    }))

  it.effect("another tenant, system prompt, history, model or parameter misses", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      const q = "How do I reset my password?"
      const p = "How can I reset my password?"
      yield* lm.generate(ask(q, { metadata: { tenant: "a" } }))
      expect((yield* lm.generate(ask(p, { metadata: { tenant: "b" } }))).cache).toBeUndefined()
      expect((yield* lm.generate(ask(p, { metadata: { tenant: "a" } }))).cache?.kind).toBe("semantic")

      const withSystem = (system: string, text: string) =>
        req({ messages: [{ role: "system", content: system }, { role: "user", content: text }] })
      yield* lm.generate(withSystem("You are a bank.", q))
      expect((yield* lm.generate(withSystem("You are a game.", p))).cache).toBeUndefined()
      expect((yield* lm.generate(withSystem("You are a bank.", p))).cache?.kind).toBe("semantic")

      const afterTurn = (earlier: string, text: string) =>
        req({
          messages: [{ role: "user", content: earlier }, { role: "assistant", content: "ok" }, { role: "user", content: text }]
        })
      yield* lm.generate(afterTurn("I use the mobile app.", q))
      expect((yield* lm.generate(afterTurn("I use the website.", p))).cache).toBeUndefined()

      yield* lm.generate(ask(q, { model: "other-model" }))
      expect((yield* lm.generate(ask(p, { model: "other-model" }))).cache?.kind).toBe("semantic")
      expect((yield* lm.generate(ask(p, { maxTokens: 5 }))).cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(8)
    }))

  it.effect("a turn that answers a tool call is never looked up or stored", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      const toolTurn = req({
        messages: [
          { role: "user", content: "What is the weather in Paris?" },
          { role: "assistant", toolCalls: [{ id: "c1", name: "weather", arguments: "{\"city\":\"Paris\"}" }] },
          { role: "tool", toolCallId: "c1", content: "18°C, sunny" }
        ]
      })
      yield* lm.generate(toolTurn)
      const again = yield* lm.generate(toolTurn)
      expect(again.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("entries expire after the TTL (TestClock); bypass and sampled requests skip the cache", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached({ ttl: "10 minutes" })
      yield* lm.generate(ask("How do I reset my password?"))
      yield* TestClock.adjust("9 minutes")
      const hit = yield* lm.generate(ask("How can I reset my password?"))
      expect(hit.cache?.ageMillis).toBe(9 * 60_000)
      expect((yield* lm.generate(ask("How can I reset my password?", { cache: { bypass: true } }))).cache).toBeUndefined()
      expect((yield* lm.generate(ask("How can I reset my password?", { temperature: 1 }))).cache).toBeUndefined()
      yield* TestClock.adjust("1 minute")
      expect((yield* lm.generate(ask("How can I reset my password?"))).cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(4)
    }))

  it.effect("a streamed answer is stored and a paraphrase is served as a stream", () =>
    Effect.gen(function*() {
      const { lm, recorder } = yield* cached()
      const first = yield* LanguageModel.collect(lm.stream(ask("How do I reset my password?")))
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(lm.stream(ask("How can I reset my password?"))))
      const finish = events.at(-1)
      expect(finish?._tag).toBe("Finish")
      if (finish?._tag === "Finish") expect(finish.cache?.kind).toBe("semantic")
      expect(events.flatMap((e) => (e._tag === "TextDelta" ? [e.text] : [])).join("")).toBe(first.text)
      expect(yield* recorder.calls).toBe(1)
    }))

  it.effect("streams are offered as pulls; only a stream read whole to its Finish is stored", () =>
    Effect.gen(function*() {
      const { recorder, service } = yield* ScriptedModel.make((request) => {
        const text = LanguageModel.lastUserText(request).pipe((o) => (o._tag === "Some" ? o.value : ""))
        return text.includes("fail")
          ? { text: "half an answer", failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ kind: "server", message: "cut" }) } }
          : { text: `answer to: ${text}`, chunks: ["answer ", "to: ", text] }
      })
      const lm = yield* SemanticCache.make()(service).pipe(Effect.provideService(Embeddings.Embeddings, Embeddings.local()))
      expect(lm.streamPull).toBeDefined()
      // stopped after its first event: not stored, the paraphrase goes to the model
      yield* Stream.runDrain(Stream.take(lm.stream(ask("How do I reset my password?")), 1))
      const afterPartial = yield* LanguageModel.collect(lm.stream(ask("How can I reset my password?")))
      expect(afterPartial.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
      // failed midway: not stored either
      const failed = yield* Effect.flip(Stream.runDrain(lm.stream(ask("Please fail while answering about invoices"))))
      expect(failed._tag).toBe("ProviderUnavailable")
      yield* Effect.flip(Stream.runDrain(lm.stream(ask("Please fail while answering about invoices"))))
      expect(yield* recorder.calls).toBe(4)
      // read whole: stored, its events replayed in one chunk through the pull
      const replay = yield* Effect.scoped(Effect.gen(function*() {
        const pull = yield* LanguageModel.pullOf(lm, ask("How can I reset my password?"))
        const chunk = yield* pull
        const after = yield* Effect.either(pull)
        return { chunk: Chunk.toReadonlyArray(chunk), after }
      }))
      expect(replay.chunk.map((e) => e._tag)).toEqual(["TextDelta", "TextDelta", "TextDelta", "Finish"])
      expect(replay.after._tag).toBe("Left")
      expect(yield* recorder.calls).toBe(4)
    }))

  it.effect("an embedding failure sends the call to the model uncached", () =>
    Effect.gen(function*() {
      const failing: Embeddings.Service = {
        model: "down",
        dimensions: 8,
        embed: () => Effect.fail(new LlmError.ProviderUnavailable({ kind: "server", message: "embedder down" }))
      }
      const { lm, recorder } = yield* cached({}, failing)
      const a = yield* lm.generate(ask("How do I reset my password?"))
      const b = yield* lm.generate(ask("How do I reset my password?"))
      expect(a.cache).toBeUndefined()
      expect(b.cache).toBeUndefined()
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("the layer wraps the LanguageModel in context", () =>
    Effect.gen(function*() {
      yield* LanguageModel.generate({ messages: [{ role: "user", content: "How do I reset my password?" }] })
      const hit = yield* LanguageModel.generate({ messages: [{ role: "user", content: "How can I reset my password?" }] })
      expect(hit.cache?.kind).toBe("semantic")
      expect(yield* Effect.flatMap(ScriptedModel.ScriptedModel, (r) => r.calls)).toBe(1)
    }).pipe(Effect.provide(
      SemanticCache.layer().pipe(
        Layer.provide(Embeddings.layerLocal()),
        Layer.provideMerge(ScriptedModel.layer([{ text: "reset it in settings" }], { whenExhausted: "repeat-last" }))
      )
    )))
})

describe("SemanticCache: refresh and answers from the exact cache below (found in review)", () => {
  const numbered = () =>
    Effect.gen(function*() {
      const { recorder, service } = yield* ScriptedModel.make((_, i) => ({ text: `answer ${i}` }))
      return { recorder, service }
    })

  it.effect("after a refresh the question gets the refreshed answer, its paraphrase too (the stale one kept winning)", () =>
    Effect.gen(function*() {
      const { recorder, service } = yield* numbered()
      const lm = yield* SemanticCache.make()(service).pipe(Effect.provideService(Embeddings.Embeddings, Embeddings.local()))
      expect((yield* lm.generate(ask("How do I reset my password?"))).text).toBe("answer 0")
      expect((yield* lm.generate(ask("How do I reset my password?", { cache: { refresh: true } }))).text).toBe("answer 1")
      const after = yield* lm.generate(ask("How do I reset my password?"))
      expect(after.cache?.kind).toBe("semantic")
      expect(after.text).toBe("answer 1")
      expect((yield* lm.generate(ask("How can I reset my password?"))).text).toBe("answer 1")
      expect(yield* recorder.calls).toBe(2)
    }))

  it.effect("an answer the exact cache served keeps its age: it is not stored for a second TTL", () =>
    Effect.gen(function*() {
      const { recorder, service } = yield* numbered()
      // SemanticCache over ResponseCache, as Stack wires them; a second semantic cache
      // (another replica, a restart) shares the exact store
      const exact = yield* ResponseCache.make({ ttl: "1 hour" })(service).pipe(Effect.provide(CacheStore.layerMemory()))
      const semantic = () => SemanticCache.make({ ttl: "1 hour" })(exact).pipe(Effect.provideService(Embeddings.Embeddings, Embeddings.local()))
      const first = yield* semantic()
      const second = yield* semantic()
      const q = "How do I reset my password?"
      expect((yield* first.generate(ask(q))).text).toBe("answer 0")
      yield* TestClock.adjust("59 minutes")
      const viaExact = yield* second.generate(ask(q))
      expect(viaExact.cache).toMatchObject({ kind: "exact", ageMillis: 59 * 60_000 })
      yield* TestClock.adjust("30 seconds")
      expect((yield* second.generate(ask(q))).cache).toMatchObject({ kind: "semantic", ageMillis: 59.5 * 60_000 })
      yield* TestClock.adjust("50 minutes") // older than any TTL in the stack
      const late = yield* second.generate(ask(q))
      expect(late.text).toBe("answer 1")
      expect(yield* recorder.calls).toBe(2)
    }))
})

describe("VectorIndex.makeMemory", () => {
  it.effect("searches only the scope, best first, and forgets removed vectors", () =>
    Effect.gen(function*() {
      const index = yield* VectorIndex.makeMemory()
      const v = (...xs: Array<number>) => {
        const a = Float32Array.from(xs)
        const n = Math.hypot(...xs)
        return a.map((x) => x / n)
      }
      for (let i = 0; i < 40; i++) yield* index.add("s", `n${i}`, v(0, 1, i / 100))
      yield* index.add("s", "best", v(1, 0, 0))
      yield* index.add("s", "second", v(1, 0.2, 0))
      yield* index.add("other", "x", v(1, 0, 0))
      const found = yield* index.search("s", v(1, 0, 0), 2)
      expect(found.map((m) => m.id)).toEqual(["best", "second"])
      expect(found[0]!.score).toBeCloseTo(1, 5)
      yield* index.remove("s", "best")
      expect((yield* index.search("s", v(1, 0, 0), 1))[0]!.id).toBe("second")
      expect(yield* index.search("missing", v(1, 0, 0), 3)).toEqual([])
      expect(yield* index.size).toBe(42)
    }))
})

describe("VectorIndex exact search", () => {
  it.effect("sparse and dense queries give the exact dot products of a brute-force scan", () =>
    Effect.gen(function*() {
      const index = yield* VectorIndex.makeMemory()
      const texts = Array.from({ length: 300 }, (_, i) => `question ${i} about topic ${i % 17} and item ${i % 5}`)
      const vectors = texts.map((t) => Embeddings.localEmbedding(t, 64))
      yield* Effect.forEach(vectors, (v, i) => index.add("s", `${i}`, v))
      const sparse = Embeddings.localEmbedding("topic 3 question", 64)
      const dense = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i + 1))
      for (const query of [sparse, dense]) {
        const found = yield* index.search("s", query, 5)
        const brute = vectors.map((v, i) => ({ id: `${i}`, score: Embeddings.similarity(v, query) }))
          .sort((a, b) => b.score - a.score).slice(0, 5)
        expect(found.map((m) => m.id)).toEqual(brute.map((m) => m.id))
        found.forEach((m, i) => expect(m.score).toBeCloseTo(brute[i]!.score, 5))
      }
    }))
})
