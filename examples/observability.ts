/**
 * Observability: the OpenAI provider (real SDK, against the loopback simulator)
 * behind Retry and Telemetry. Prints the structured log lines, the spans, and the
 * Prometheus text of the run. A 401 whose message contains the API key shows the
 * key redacted everywhere.
 *
 *   npx tsx examples/observability.ts
 *
 * With a collector running (see docs/observability.md), spans, metrics and logs
 * also go to it over OTLP/HTTP:
 *
 *   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npx tsx examples/observability.ts
 *
 * (Imports come from src/ until the telemetry modules are in the package barrel.)
 */
import { NodeSdk } from "@effect/opentelemetry"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Console, Effect, Layer, Logger, Redacted, Stream } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/resilience/Retry.js"
import * as Prometheus from "../src/telemetry/Prometheus.js"
import * as Telemetry from "../src/telemetry/Telemetry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

const API_KEY = "sk-proj-" + "example0KeyThatMustNeverBeLogged0000000".slice(0, 40)

const ask = (content: string) =>
  LanguageModel.generate({ messages: [{ role: "user", content }], maxTokens: 200, temperature: 0.3, metadata: { tenant: "acme" } })

const program = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.ProviderSimulator
  // 1. a 429 with retry-after, then an answer: one call, two attempts
  yield* sim.enqueue(
    "openai",
    { fault: { kind: "error", status: 429, type: "rate_limit_error", message: "Rate limit reached", headers: { "retry-after-ms": "200" } } },
    { text: "Paris.", usage: { input: 14, output: 2 } }
  )
  yield* ask("Capital of France?")
  // 2. a stream: time to first token
  yield* sim.enqueue("openai", { text: "One two three four.", firstTokenDelayMs: 120, tokenDelayMs: 20 })
  yield* Stream.runDrain(LanguageModel.stream({ messages: [{ role: "user", content: "Count to four" }] }))
  // 3. a 401 whose message quotes the key: the error, the log line and the span show it redacted
  yield* sim.enqueue("openai", {
    fault: { kind: "error", status: 401, type: "invalid_request_error", code: "invalid_api_key", message: `Incorrect API key provided: ${API_KEY}` }
  })
  const error = yield* Effect.flip(ask("Hello?"))
  yield* Console.log(`\nthe caller sees: ${error._tag}: ${error.message}`)
})

const main = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: API_KEY })
  const spans = new InMemorySpanExporter()
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT

  const stack = Telemetry.layer({ secrets: [Redacted.make(API_KEY)] }).pipe(
    Layer.provide(Retry.layer({ baseDelay: "100 millis" })),
    Layer.provide(OpenAi.layer({ apiKey: Redacted.make(API_KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" }))
  )
  const tracing = endpoint !== undefined
    ? Telemetry.layerOtlp({ url: endpoint, serviceName: "effect-llm-example", exportInterval: "1 second" })
    : NodeSdk.layer(() => ({ resource: { serviceName: "effect-llm-example" }, spanProcessor: new SimpleSpanProcessor(spans) }))

  const printSpans = Effect.gen(function*() {
    if (endpoint !== undefined) return yield* Console.log(`\nspans, metrics and logs exported to ${endpoint}`)
    yield* Console.log("\n— spans —")
    for (const span of spans.getFinishedSpans()) {
      const a = span.attributes
      const attempt = span.name.startsWith("attempt")
      const details = attempt
        ? `${a["effect_llm.attempt.outcome"]}${a["error.type"] !== undefined ? ` ${a["error.type"]}` : ""}, ${a["effect_llm.attempt.duration_ms"]} ms`
        : a["effect_llm.outcome"] !== "success"
        ? `error.type=${a["error.type"]} status="${span.status.message}"`
        : `provider=${a["gen_ai.provider.name"]} in=${a["gen_ai.usage.input_tokens"]} out=${a["gen_ai.usage.output_tokens"]} ` +
          `finish=${JSON.stringify(a["gen_ai.response.finish_reasons"])} attempts=${a["effect_llm.attempts"]} ` +
          `cost=${a["effect_llm.cost_usd"] ?? "n/a"}${a["gen_ai.response.time_to_first_chunk"] !== undefined ? ` ttft=${a["gen_ai.response.time_to_first_chunk"]}s` : ""}`
      yield* Console.log(`${attempt ? "    " : ""}${span.name}: ${details}`)
    }
  })

  yield* Console.log("— log lines (logfmt) —")
  yield* program.pipe(
    Effect.provide(stack),
    Effect.provideService(ProviderSimulator.ProviderSimulator, sim),
    // read the spans before the tracer provider shuts down (shutting it down clears the in-memory exporter)
    Effect.zipRight(printSpans),
    Effect.provide(Layer.merge(tracing, Logger.logFmt))
  )

  yield* Console.log("\n— Prometheus (/metrics) —")
  yield* Console.log(yield* Prometheus.render({ filter: (name) => /requests_total|tokens_total|attempts_total|time_to_first/.test(name) }))
})

Effect.runPromise(Effect.scoped(main)).catch((error) => {
  console.error(error)
  process.exit(1)
})
