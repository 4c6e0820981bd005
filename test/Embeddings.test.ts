import { describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import OpenAI from "openai"
import * as Embeddings from "../src/providers/Embeddings.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const KEY = "sk-test-embeddings"

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))

describe("Embeddings.local", () => {
  it.effect("is deterministic, unit length, and of the configured size", () =>
    Effect.gen(function*() {
      const embedder = Embeddings.local({ dimensions: 256 })
      const [a, b, c] = yield* embedder.embed(["Reset my password", "Reset my password", ""])
      expect(a!.length).toBe(256)
      expect(Array.from(a!)).toEqual(Array.from(b!))
      expect(norm(a!)).toBeCloseTo(1, 5)
      // Nothing to embed gives the zero vector, similar to nothing.
      expect(norm(c!)).toBe(0)
    }))

  it.effect("ranks a paraphrase above an unrelated question and folds inflections", () =>
    Effect.gen(function*() {
      const sim = (x: string, y: string) => Embeddings.similarity(Embeddings.localEmbedding(x), Embeddings.localEmbedding(y))
      const q = "How do I reset my password?"
      expect(sim(q, "How can I reset my password?")).toBeGreaterThan(0.95)
      expect(sim(q, "How do I delete my account?")).toBeLessThan(0.5)
      expect(sim("loading datasets", "load a dataset")).toBeGreaterThan(0.9)
      expect(sim("utilize the cache", "use the cache")).toBeGreaterThan(0.9)
    }))

  it("keeps identifiers whole and weighs them double", () => {
    const tokens = Embeddings.localTokens("Call load_dataset in v2.10, not loadDataset")
    expect(tokens).toContainEqual({ token: "load_dataset", weight: 2 })
    expect(tokens).toContainEqual({ token: "v2.10", weight: 2 })
    expect(tokens).toContainEqual({ token: "loaddataset", weight: 2 })
    expect(tokens.map((t) => t.token)).toContain("not")
  })
})

describe("Embeddings.openAi against the simulator", () => {
  it.scoped("asks for base64 and decodes it to the same vectors the float format gives", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY, embeddingDimensions: 64 })
      const embedder = yield* Embeddings.openAi({
        apiKey: Redacted.make(KEY),
        baseURL: sim.openaiBaseURL,
        model: "text-embedding-3-small",
        modelDimensions: 64
      })
      const texts = ["turn on the lights", "switch the lights on", "what is the weather"]
      const vectors = yield* embedder.embed(texts)
      const journal = yield* sim.journal
      const body = journal.at(-1)!.body as { encoding_format?: string; input?: unknown; model?: string }
      expect(body.encoding_format).toBe("base64")
      expect(body.input).toEqual(texts)
      expect(body.model).toBe("text-embedding-3-small")

      const client = new OpenAI({ apiKey: KEY, baseURL: sim.openaiBaseURL, maxRetries: 0 })
      const floats = yield* Effect.promise(() =>
        client.embeddings.create({ model: "text-embedding-3-small", input: texts, encoding_format: "float" })
      )
      expect(vectors).toHaveLength(3)
      vectors.forEach((vector, i) => {
        expect(vector.length).toBe(64)
        const expected = floats.data[i]!.embedding as Array<number>
        expected.forEach((x, j) => expect(vector[j]).toBeCloseTo(x, 5))
      })
    }))

  it.scoped("splits large inputs into batches and keeps the input order", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY, embeddingDimensions: 32 })
      const embedder = yield* Embeddings.openAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, batchSize: 2 })
      const texts = ["a b", "c d", "e f", "g h", "i j"]
      const batched = yield* embedder.embed(texts)
      const single = yield* Effect.forEach(texts, (t) => Effect.map(embedder.embed([t]), (v) => v[0]!))
      expect((yield* sim.journal).filter((e) => e.route === "embeddings")).toHaveLength(3 + 5)
      batched.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(single[i]!)))
    }))

  it.scoped("maps provider errors to typed LlmErrors", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const wrongKey = yield* Embeddings.openAi({ apiKey: Redacted.make("sk-wrong"), baseURL: sim.openaiBaseURL })
      expect((yield* Effect.flip(wrongKey.embed(["x"])))._tag).toBe("AuthenticationFailed")
      const embedder = yield* Embeddings.openAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL })
      yield* sim.enqueue("embeddings", {
        fault: { kind: "error", status: 429, type: "rate_limit_error", message: "slow down", headers: { "retry-after": "3" } }
      })
      const limited = yield* Effect.flip(embedder.embed(["x"]))
      expect(limited._tag).toBe("RateLimited")
    }))

  it.scoped("the simulator's embedder is a toy: it separates texts by shared words only", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: KEY })
      const embedder = yield* Embeddings.openAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, modelDimensions: 256 })
      const [on, off, paraphrase] = yield* embedder.embed([
        "turn on the lights",
        "turn off the lights",
        "switch the lamps on"
      ])
      // A negation scores higher than a real paraphrase: this is why the semantic
      // cache has guards, and why its benchmark on this embedder means little.
      expect(Embeddings.similarity(on!, off!)).toBeGreaterThan(Embeddings.similarity(on!, paraphrase!))
    }))
})
