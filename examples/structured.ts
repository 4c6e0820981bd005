/**
 * Structured output: the seed's `ExtractedData` through the real OpenAI and
 * Anthropic SDKs, against the loopback provider simulator (no keys, no network).
 *
 *   npx tsx examples/structured.ts
 *
 * (Imports come from ../src until `Structured` is in the package barrel; then
 * `import { Structured } from "effect-llm"`.)
 */
import { Console, Effect, Redacted, Schema, Stream } from "effect"
import type * as LanguageModel from "../src/LanguageModel.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Structured from "../src/structured/Structured.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const ExtractedData = Schema.Struct({
  name: Schema.String,
  email: Schema.optional(Schema.String),
  sentiment: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
}).annotations({ identifier: "ExtractedData" })

const request: LanguageModel.RequestInput = {
  messages: [
    { role: "user", content: "Extract data from: 'Loved the demo! — Ada (ada@example.com)'" }
  ]
}

const main = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  const openai = OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
  const anthropic = Anthropic.layer({ apiKey: Redacted.make("sk-ant-demo"), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-5-5" })

  yield* Console.log("The strict JSON Schema sent to the provider:")
  yield* Console.log(JSON.stringify(yield* Structured.jsonSchema(ExtractedData), null, 2))

  // 1. The model answers right away.
  yield* sim.enqueue("openai", { text: "{\"name\":\"Ada\",\"email\":\"ada@example.com\",\"sentiment\":\"positive\",\"confidence\":0.94}" })
  const data = yield* Structured.generate(ExtractedData, request).pipe(Effect.provide(openai))
  yield* Console.log("\nOpenAI:", data)

  // 2. The first answer breaks a refinement (confidence 1.4); the re-ask fixes it.
  yield* sim.enqueue(
    "anthropic",
    { text: "{\"name\":\"Ada\",\"email\":null,\"sentiment\":\"positive\",\"confidence\":1.4}" },
    { text: "{\"name\":\"Ada\",\"email\":null,\"sentiment\":\"positive\",\"confidence\":0.9}" }
  )
  const result = yield* Structured.generateResult(ExtractedData, request).pipe(Effect.provide(anthropic))
  yield* Console.log(`Anthropic, after ${result.attempts} attempts:`, result.value)

  // 3. Always malformed: a typed MalformedOutput after maxAttempts.
  yield* sim.enqueue("openai", { text: "sure! here you go" }, { text: "{\"name\":\"Ada\"}" })
  yield* Structured.generate(ExtractedData, request, { maxAttempts: 2 }).pipe(
    Effect.catchTag("MalformedOutput", (e) => Console.log(`\nMalformedOutput after ${e.attempts} attempts:\n${e.issues}`)),
    Effect.provide(openai)
  )

  // 4. Streaming: partial objects while the JSON arrives, then the decoded value.
  yield* sim.enqueue("openai", {
    text: "",
    chunks: ["{\"name\":\"A", "da\",\"email\":null,\"senti", "ment\":\"posi", "tive\",\"confidence\":0.9", "1}"]
  })
  yield* Console.log("\nStreaming:")
  yield* Structured.stream(ExtractedData, request).pipe(
    Stream.runForEach((part) =>
      part._tag === "Partial" ? Console.log("  partial ", part.value) : Console.log("  complete", part.value)
    ),
    Effect.provide(openai)
  )
})

Effect.runPromise(Effect.scoped(main))
