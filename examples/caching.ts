/**
 * Caching: an exact ResponseCache and a SemanticCache in front of the OpenAI
 * provider, against the loopback provider simulator (no keys, no network).
 *
 *   npx tsx examples/caching.ts
 *
 * (Imports come from src/ until the cache modules are in the package barrel.)
 */
import { Console, Effect, Layer, Redacted, Stream } from "effect"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as ResponseCache from "../src/cache/ResponseCache.js"
import * as SemanticCache from "../src/cache/SemanticCache.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Embeddings from "../src/providers/Embeddings.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const ask = (content: string, tenant = "acme") =>
  LanguageModel.generate({
    messages: [{ role: "system", content: "You are a helpful assistant." }, { role: "user", content }],
    temperature: 0,
    metadata: { tenant }
  })

const show = (label: string) => (response: LanguageModel.Response) =>
  Console.log(
    `${label.padEnd(44)} ${
      response.cache === undefined
        ? "miss (provider called)"
        : `${response.cache.kind} hit, age ${response.cache.ageMillis} ms${
          response.cache.similarity === undefined ? "" : `, similarity ${response.cache.similarity.toFixed(3)}`
        }`
    }`
  )

const program = Effect.gen(function*() {
  yield* ask("How do I reset my password?").pipe(Effect.flatMap(show("How do I reset my password?")))
  yield* ask("How do I reset my password?").pipe(Effect.flatMap(show("the same again (semantic is outermost)")))
  yield* ask("How can I reset my password?").pipe(Effect.flatMap(show("How can I reset my password?")))
  yield* ask("How do I reset my password?", "globex").pipe(Effect.flatMap(show("the same, another tenant")))
  yield* ask("Turn on the lights in the kitchen").pipe(Effect.flatMap(show("Turn on the lights in the kitchen")))
  yield* ask("Turn off the lights in the kitchen").pipe(Effect.flatMap(show("Turn off the lights in the kitchen")))

  // A stream is recorded as it passes and replayed event by event on a hit.
  const request: LanguageModel.RequestInput = { messages: [{ role: "user", content: "Count to five" }], temperature: 0 }
  const first = yield* Stream.runCollect(LanguageModel.stream(request))
  const again = yield* Stream.runCollect(LanguageModel.stream(request))
  yield* Console.log(`stream: ${first.length} events, replayed ${again.length} events from the cache`)
})

const main = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  const provider = OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
  // Outermost first: SemanticCache → ResponseCache → provider.
  const stack = SemanticCache.layer().pipe(
    Layer.provide(Embeddings.layerLocal()),
    Layer.provide(ResponseCache.layer({ ttl: "1 hour" })),
    Layer.provide(CacheStore.layerMemory({ maxEntries: 10_000 })),
    // For a cache that survives restarts: CacheStore.layerSqlite({ filename: "cache.db" })
    // For one shared by replicas:       CacheStore.layerRedisUrl("redis://127.0.0.1:6379")
    Layer.provide(provider)
  )
  yield* Effect.provide(program, stack)
  const calls = (yield* sim.journal).filter((entry) => entry.route === "openai").length
  yield* Console.log(`provider calls: ${calls}`)
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exit(1)
})
