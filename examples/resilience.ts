/**
 * A resilient stack against two simulated OpenAI-compatible providers:
 * per provider RateLimit → Retry → provider, chained by Fallback with circuit
 * breakers and hedging. The primary fails often; every call still succeeds.
 *
 * Run: npx tsx examples/resilience.ts
 */
import { Context, Effect, Layer } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as CircuitBreaker from "../src/resilience/CircuitBreaker.js"
import * as Fallback from "../src/resilience/Fallback.js"
import * as RateLimit from "../src/resilience/RateLimit.js"
import * as Retry from "../src/resilience/Retry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

/** One provider with its own limits and retries. */
const provider = (baseURL: string, name: string, model: string) =>
  RateLimit.layer({ requestsPerMinute: 600, tokensPerMinute: 200_000, maxConcurrency: 8 }).pipe(
    Layer.provide(Retry.layer({ baseDelay: "50 millis", maxAttempts: 3, attemptTimeout: "20 seconds" })),
    Layer.provide(OpenAi.layer({ baseURL, model, provider: name }))
  )

const program = Effect.gen(function*() {
  // Two local stand-ins for real providers: the primary answers 500 half the time.
  const primary = yield* ProviderSimulator.make()
  const secondary = yield* ProviderSimulator.make()
  let n = 0
  yield* primary.setHandler(() => (n++ % 2 === 0 ? { fault: { kind: "error", status: 500 } } : undefined))

  const stack = Fallback.layer([
    provider(primary.openaiBaseURL, "primary", "gpt-4.1-mini"),
    { name: "secondary", layer: provider(secondary.openaiBaseURL, "secondary", "gpt-4.1-nano") }
  ], {
    breaker: { threshold: 5, window: "1 minute", cooldown: "30 seconds" },
    hedge: { delay: "3 seconds" }
  })

  const context = yield* Layer.build(stack)
  const ask = (content: string) =>
    LanguageModel.generate({ messages: [{ role: "user", content }] }).pipe(
      Effect.provideService(LanguageModel.LanguageModel, Context.get(context, LanguageModel.LanguageModel))
    )

  for (const question of ["What is Effect?", "Why retry with jitter?", "What does a circuit breaker do?"]) {
    const response = yield* ask(question)
    console.log(`${response.provider}: ${response.text}`)
    console.log(`  route: ${response.attempts.map((a) => `${a.provider} ${a.outcome}${a.error ? ` (${a.error})` : ""}`).join(" → ")}`)
  }
  const breakers = yield* Context.get(context, CircuitBreaker.Registry).snapshots
  console.log("breakers:", breakers.map((b) => `${b.name}=${b.state} (${b.failures} failures)`).join(", "))
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
