/**
 * Quick start: the OpenAI and Anthropic providers through their real SDKs, against
 * the loopback provider simulator (no API keys, no network).
 *
 *   npx tsx examples/quickstart.ts
 */
import { Console, Effect, Layer, Redacted, Stream } from "effect"
import { Anthropic, LanguageModel, LlmError, OpenAi } from "effect-llm"
import { ProviderSimulator } from "effect-llm/testing"

const program = Effect.gen(function*() {
  const response = yield* LanguageModel.generate({
    messages: [
      { role: "system", content: "You are terse." },
      { role: "user", content: "What is the capital of France?" }
    ],
    maxTokens: 100
  })
  yield* Console.log(`${response.provider}/${response.model}: ${response.text}`)
  yield* Console.log(`usage: ${response.usage.inputTokens} in, ${response.usage.outputTokens} out, ${response.latencyMillis} ms`)

  yield* Console.log("streamed:")
  yield* LanguageModel.stream({ messages: [{ role: "user", content: "Count to five" }] }).pipe(
    Stream.runForEach((event) =>
      event._tag === "TextDelta"
        ? Effect.sync(() => process.stdout.write(event.text))
        : event._tag === "Finish"
        ? Console.log(`\n[finish: ${event.reason}, ${event.usage.outputTokens} output tokens]`)
        : Effect.void
    )
  )
})

const main = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  const openai = OpenAi.layer({ apiKey: Redacted.make("sk-demo"), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
  const anthropic = Anthropic.layer({ apiKey: Redacted.make("sk-ant-demo"), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-5-5" })

  yield* Console.log("== OpenAI ==")
  yield* Effect.provide(program, openai)
  yield* Console.log("== Anthropic ==")
  yield* Effect.provide(program, anthropic)

  yield* Console.log("== A typed failure ==")
  yield* sim.enqueue("openai", { fault: { kind: "error", status: 429, type: "requests", code: "rate_limit_exceeded", message: "Slow down", headers: { "retry-after": "7" } } })
  yield* LanguageModel.generate({ messages: [{ role: "user", content: "hi" }] }).pipe(
    Effect.catchTag("RateLimited", (e: LlmError.RateLimited) => Console.log(`RateLimited by ${e.provider}, retry after ${e.retryAfterMillis} ms`)),
    Effect.provide(openai)
  )
})

Effect.runPromise(Effect.scoped(main).pipe(Effect.provide(Layer.empty)))
