/**
 * The guided demo (`npm run demo`): starts the provider simulator and the gateway
 * on loopback with the full stack, then walks through the patterns as a user sees
 * them, through the official `openai` SDK pointed at the gateway, printing what
 * happened and how long each step took. No API keys, no network.
 *
 * @since 0.1.0
 */
import { ConfigProvider, Console, Effect, Layer, Logger, LogLevel, Redacted, Schema } from "effect"
import OpenAI from "openai"
import * as Gateway from "../gateway/Gateway.js"
import * as LanguageModel from "../LanguageModel.js"
import * as Stack from "../Stack.js"
import * as Structured from "../structured/Structured.js"
import * as ProviderSimulator from "../testing/ProviderSimulator.js"

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s)
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s)

/** Runs `body`, then prints the step's title, its lines and its wall time. */
const step = <E, R>(title: string, body: Effect.Effect<ReadonlyArray<string>, E, R>) =>
  Effect.gen(function*() {
    const started = performance.now()
    const lines = yield* body
    const ms = performance.now() - started
    yield* Console.log(`\n${bold(title)} ${dim(`(${ms.toFixed(0)} ms)`)}`)
    for (const line of lines) yield* Console.log(`  ${line}`)
  })

const promise = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => e })

const describeError = (e: unknown) =>
  e instanceof OpenAI.APIError ? `HTTP ${e.status} ${e.code ?? e.type ?? ""}: ${e.message}` : String(e)

/**
 * The seed's extraction example.
 *
 * @since 0.1.0
 * @category models
 */
export const ExtractedData = Schema.Struct({
  name: Schema.String,
  email: Schema.optional(Schema.String),
  sentiment: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
}).annotations({ identifier: "ExtractedData" })

/**
 * The demo program.
 *
 * @since 0.1.0
 * @category programs
 */
export const run = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make()
  const stackConfig: Stack.StackConfigInput = {
    providers: {
      primary: {
        type: "openai",
        model: "gpt-4.1-mini",
        baseURL: sim.openaiBaseURL,
        retry: { maxAttempts: 3, baseDelay: "100 millis", maxDelay: "2 seconds" }
      },
      backup: { type: "anthropic", model: "claude-sonnet-5-5", baseURL: sim.anthropicBaseURL, retry: { maxAttempts: 2, baseDelay: "100 millis" } }
    },
    cache: { exact: { ttl: "10 minutes" } }
  }
  const stack = Stack.layer(stackConfig)
  const env = ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-demo-upstream"], ["ANTHROPIC_API_KEY", "sk-ant-demo-upstream"]]))
  const context = yield* Layer.build(
    Gateway.layer({ keys: [{ key: Redacted.make("demo-key"), tenant: "demo" }], port: 0 }).pipe(
      Layer.provideMerge(stack),
      Layer.provide(Layer.setConfigProvider(env))
    )
  )
  const url = yield* Effect.provide(Gateway.url, context)
  const client = new OpenAI({ apiKey: "demo-key", baseURL: `${url}/v1`, maxRetries: 0 })
  const ask = (content: string, extra: Partial<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {}) =>
    promise(() =>
      client.chat.completions.create({ model: "default", messages: [{ role: "user", content }], temperature: 0, ...extra }).withResponse()
    )
  const served = (r: { data: OpenAI.Chat.ChatCompletion; response: Response }) => [
    `answer: ${r.data.choices[0]?.message.content}`,
    `served by ${r.response.headers.get("x-effect-llm-provider")}/${r.data.model}, ` +
    `${r.data.usage?.prompt_tokens} tokens in, ${r.data.usage?.completion_tokens} out` +
    (r.response.headers.get("x-effect-llm-cost-usd") ? `, $${r.response.headers.get("x-effect-llm-cost-usd")}` : "") +
    (r.response.headers.get("x-effect-llm-cache") ? `, cache: ${r.response.headers.get("x-effect-llm-cache")}` : "")
  ]

  yield* Console.log(`${bold("effect-llm demo")}: provider simulator at ${sim.url}, gateway at ${url}`)
  yield* Console.log(dim("Every step below is a real HTTP call through the official openai SDK to the gateway, which runs the stack."))

  yield* step("1. A first call", Effect.map(ask("What is the capital of France?"), served))

  yield* step("2. The same question again: answered from the exact cache", Effect.map(ask("What is the capital of France?"), served))

  yield* step(
    "3. The primary provider has an outage (HTTP 500 on every try): retries, then the fallback serves",
    Effect.gen(function*() {
      yield* sim.enqueue("openai", ...Array.from({ length: 3 }, () => ({ fault: { kind: "error", status: 500, type: "server_error" } } as const)))
      return served(yield* ask("Summarise the outage policy in one line."))
    })
  )

  yield* step(
    "4. A 429 with Retry-After: 1 second is honoured, then the call succeeds",
    Effect.gen(function*() {
      yield* sim.enqueue("openai", {
        fault: { kind: "error", status: 429, type: "requests", code: "rate_limit_exceeded", message: "Rate limit reached", headers: { "retry-after": "1" } }
      })
      const r = yield* ask("Give me a haiku about patience.")
      const waited = (yield* sim.journal).filter((e) => e.route === "openai").slice(-2)
      return [...served(r), `gap between the 429 and the retry: ${waited[1]!.startedAt - waited[0]!.startedAt} ms`]
    })
  )

  yield* step(
    "5. Structured extraction: an Effect Schema in, a validated value out (the first answer is invalid and is re-asked)",
    Effect.gen(function*() {
      yield* sim.enqueue(
        "openai",
        { text: "{\"name\":\"Ada Lovelace\",\"email\":null,\"sentiment\":\"delighted\",\"confidence\":0.9}" },
        { text: "{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"sentiment\":\"positive\",\"confidence\":0.92}" }
      )
      const result = yield* Structured.generateResult(ExtractedData, {
        messages: [{ role: "user", content: "Extract: 'Ada Lovelace (ada@example.com) loved the new engine.'" }]
      }).pipe(Effect.provide(context))
      return [`value: ${JSON.stringify(result.value)}`, `attempts: ${result.attempts} (attempt 1 had sentiment "delighted", refused by the schema)`]
    })
  )

  yield* step(
    "6. A streamed answer (SSE end to end)",
    Effect.gen(function*() {
      yield* sim.enqueue("openai", { text: "Streams arrive token by token, and the usage comes last.", tokenDelayMs: 15, firstTokenDelayMs: 80 })
      const started = performance.now()
      let first = 0
      let text = ""
      let usage = ""
      yield* promise(async () => {
        const stream = await client.chat.completions.create({
          model: "default",
          messages: [{ role: "user", content: "Explain streaming." }],
          stream: true,
          stream_options: { include_usage: true }
        })
        for await (const chunk of stream) {
          const piece = chunk.choices[0]?.delta.content ?? ""
          if (piece && first === 0) first = performance.now() - started
          text += piece
          if (chunk.usage) usage = `${chunk.usage.prompt_tokens} in, ${chunk.usage.completion_tokens} out`
        }
      })
      return [`text: ${text}`, `time to first token: ${first.toFixed(0)} ms; usage: ${usage}`]
    })
  )

  yield* step(
    "7. A bad request gets a typed, OpenAI-shaped error",
    Effect.map(Effect.flip(ask("hi", { max_tokens: -5 })), (e) => [describeError(e)])
  )

  const upstream = (yield* sim.journal).filter((e) => e.route !== "models")
  yield* Console.log(`\n${bold("Upstream calls made by the stack:")} ${upstream.length} ` +
    dim(`(${upstream.filter((e) => e.status !== undefined && e.status >= 400).length} failed and were handled)`))
  yield* Effect.void.pipe(Effect.provide(context), Effect.as(LanguageModel.LanguageModel))
}).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))
