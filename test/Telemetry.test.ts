import { NodeSdk } from "@effect/opentelemetry"
import { describe, expect, it } from "@effect/vitest"
import { SpanKind, SpanStatusCode } from "@opentelemetry/api"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Cause, Chunk, Effect, Exit, Fiber, FiberId, FiberRef, Inspectable, Layer, Logger, LogLevel, Metric, MetricBoundaries, Option, Redacted, Stream, TestClock, Tracer } from "effect"
import * as ResponseCache from "../src/cache/ResponseCache.js"
import * as Construct from "../src/internal/construct.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Fallback from "../src/resilience/Fallback.js"
import * as Retry from "../src/resilience/Retry.js"
import * as Metrics from "../src/telemetry/Metrics.js"
import * as Prometheus from "../src/telemetry/Prometheus.js"
import * as Telemetry from "../src/telemetry/Telemetry.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

// -----------------------------------------------------------------------------
// Harness: an in-memory OpenTelemetry exporter behind Effect's tracer, and a
// logger that keeps every entry.
// -----------------------------------------------------------------------------

// A fresh exporter per test: shutting a tracer provider down (when a test's layer
// closes) stops its exporter for good.
let exporter = new InMemorySpanExporter()
const tracing = () => {
  exporter = new InMemorySpanExporter()
  return NodeSdk.layer(() => ({
    resource: { serviceName: "telemetry-test" },
    spanProcessor: new SimpleSpanProcessor(exporter)
  }))
}

interface LogEntry {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

const captureLogs = () => {
  const entries: Array<LogEntry> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const record: Record<string, unknown> = {}
    for (const [k, v] of annotations) record[k] = v
    entries.push({
      level: logLevel.label,
      message: Array.isArray(message) ? message.map(String).join(" ") : String(message),
      annotations: record
    })
  })
  return { entries, layer: Logger.replace(Logger.defaultLogger, logger) }
}

const spans = (): ReadonlyArray<ReadableSpan> => exporter.getFinishedSpans()
const spanNamed = (name: string) => {
  const found = spans().filter((s) => s.name === name)
  expect(found.length, `spans named ${name}: ${spans().map((s) => s.name).join(", ")}`).toBeGreaterThan(0)
  return found
}
const childrenOf = (parent: ReadableSpan) =>
  spans().filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId)

const ask = (content = "hello", extra: Partial<LanguageModel.RequestInput> = {}): LanguageModel.RequestInput => ({
  messages: [{ role: "user", content }],
  ...extra
})

/** A tiny middleware for tests: stamps a cost on every answer (ScriptedModel reports none). */
const withCost = (usd: number) => (inner: LanguageModel.Service): LanguageModel.Service => ({
  ...inner,
  generate: (request) =>
    Effect.map(inner.generate(request), (r) => new LanguageModel.Response({ ...r, cost: new LanguageModel.Cost({ usd, estimated: false }) })),
  stream: (request) =>
    Stream.map(inner.stream(request), (e) =>
      e._tag === "Finish" ? new LanguageModel.Finish({ ...e, cost: new LanguageModel.Cost({ usd, estimated: false }) }) : e)
})

const scripted = (script: ScriptedModel.Script, options?: ScriptedModel.Options) =>
  Effect.map(ScriptedModel.make(script, options), ({ service }) => service)

const value = (metric: Metric.Metric.Counter<number>, labels: Record<string, string>) =>
  Effect.map(
    Metric.value(Object.entries(labels).reduce((m, [k, v]) => Metric.tagged(m, k, v), metric)),
    (state) => Number(state.count)
  )

const histogram = (metric: typeof Metrics.latency, labels: Record<string, string>) =>
  Metric.value(Object.entries(labels).reduce((m, [k, v]) => Metric.tagged(m, k, v), metric))

// -----------------------------------------------------------------------------

describe("Telemetry spans", () => {
  it.effect("a successful call is one client span `chat {model}` with GenAI request, response and usage attributes", () =>
    Effect.gen(function*() {
      const inner = withCost(0.0042)(yield* scripted([{ text: "hi there", usage: { inputTokens: 12, outputTokens: 5 }, latency: "250 millis" }], {
        provider: "openai",
        model: "gpt-4.1-mini"
      }))
      const lm = yield* Telemetry.make()(inner)
      const fiber = yield* Effect.fork(
        LanguageModel.generate(ask("hello", { maxTokens: 100, temperature: 0.2, metadata: { tenant: "acme" } })).pipe(
          Effect.provideService(LanguageModel.LanguageModel, lm)
        )
      )
      yield* TestClock.adjust("250 millis")
      const response = yield* Fiber.join(fiber)
      expect(response.text).toBe("hi there")

      const [span] = spanNamed("chat gpt-4.1-mini")
      expect(span!.kind).toBe(SpanKind.CLIENT)
      expect(span!.status.code).toBe(SpanStatusCode.OK)
      expect(span!.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4.1-mini",
        "gen_ai.request.max_tokens": 100,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.response.model": "gpt-4.1-mini",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "effect_llm.cost_usd": 0.0042,
        "effect_llm.tenant": "acme",
        "effect_llm.outcome": "success",
        "effect_llm.latency_ms": 250,
        "effect_llm.attempts": 0
      })
      expect(span!.attributes["effect_llm.cache.hit"]).toBeUndefined()
      // prompt and output content are off by default
      expect(JSON.stringify(span!.attributes)).not.toContain("hello")
      expect(JSON.stringify(span!.attributes)).not.toContain("hi there")
    }).pipe(Effect.provide(tracing())))

  it.effect("calls with no attempt or one: the route, retries, fallback member and log line of each shape", () =>
    Effect.gen(function*() {
      // The layer summarizes no attempt and a single one without the general pass
      // (and shares the empty summary between calls): each shape, twice in a row.
      const { entries, layer: logs } = captureLogs()
      const attempt = (provider: string, model: string, outcome: LanguageModel.Attempt["outcome"], error?: string) =>
        new LanguageModel.Attempt({ provider, model, outcome, error, durationMillis: 5 })
      const shapes: ReadonlyArray<ReadonlyArray<LanguageModel.Attempt>> = [
        [],
        [attempt("one", "m", "success")],
        [attempt("other", "x", "success")],
        [attempt("one", "m", "failure", "RateLimited")],
        []
      ]
      let next = 0
      const base = yield* scripted([{ text: "a" }], { provider: "one", model: "m", whenExhausted: "repeat-last" })
      const lm = yield* Telemetry.make()({
        ...base,
        generate: (request) =>
          Effect.map(base.generate(request), (r) => new LanguageModel.Response({ ...r, attempts: shapes[next++ % shapes.length]! }))
      })
      for (let i = 0; i < shapes.length * 2; i++) {
        yield* LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm), Effect.provide(logs))
      }
      const calls = spanNamed("chat m")
      expect(calls.length).toBe(shapes.length * 2)
      const summary = (span: ReadableSpan) => [
        span.attributes["effect_llm.attempts"],
        span.attributes["effect_llm.route"],
        span.attributes["effect_llm.retries"],
        span.attributes["effect_llm.fallback.member"],
        span.attributes["effect_llm.fallback.used"]
      ]
      const expected = [
        [0, undefined, 0, undefined, undefined],
        [1, ["one/m:success"], 0, 0, false],
        [1, ["other/x:success"], 0, undefined, undefined],
        [1, ["one/m:failure:RateLimited"], 0, 0, false],
        [0, undefined, 0, undefined, undefined]
      ]
      expect(calls.map(summary)).toEqual([...expected, ...expected])
      expect(entries.map((e) => [e.annotations.attempts, e.annotations.route, e.annotations.retries])).toEqual(
        Array.from({ length: shapes.length * 2 }, (_, i) => [shapes[i % shapes.length]!.length, undefined, undefined])
      )
      expect(childrenOf(calls[1]!).map((s) => s.name)).toEqual(["attempt m"])
      expect(childrenOf(calls[0]!)).toEqual([])
    }).pipe(Effect.provide(tracing())))

  it.effect("a retried call has one child span per attempt, failures marked with error.type, the route and retries", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([
        new LlmError.RateLimited({ source: "provider", retryAfterMillis: 1000, message: "slow down" }),
        new LlmError.ProviderUnavailable({ kind: "server", status: 503, message: "try later" }),
        { text: "ok", latency: "100 millis" }
      ], { provider: "openai", model: "gpt-4.1-mini" })
      const lm = yield* Effect.flatMap(Retry.make({ baseDelay: "1 second", jitter: false })(inner), Telemetry.make())
      const fiber = yield* Effect.fork(LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm)))
      yield* TestClock.adjust("1 minute")
      const response = yield* Fiber.join(fiber)
      expect(response.attempts.length).toBe(3)

      const [call] = spanNamed("chat gpt-4.1-mini")
      expect(call!.attributes).toMatchObject({
        "effect_llm.attempts": 3,
        "effect_llm.retries": 2,
        "effect_llm.fallback.used": false,
        "effect_llm.fallback.member": 0,
        "effect_llm.route": [
          "openai/gpt-4.1-mini:failure:RateLimited",
          "openai/gpt-4.1-mini:failure:ProviderUnavailable",
          "openai/gpt-4.1-mini:success"
        ]
      })
      const attempts = childrenOf(call!).sort((a, b) =>
        Number(a.attributes["effect_llm.attempt.index"]) - Number(b.attributes["effect_llm.attempt.index"])
      )
      expect(attempts.map((s) => s.name)).toEqual(["attempt gpt-4.1-mini", "attempt gpt-4.1-mini", "attempt gpt-4.1-mini"])
      expect(attempts.map((s) => s.kind)).toEqual([SpanKind.CLIENT, SpanKind.CLIENT, SpanKind.CLIENT])
      expect(attempts.map((s) => s.attributes["effect_llm.attempt.outcome"])).toEqual(["failure", "failure", "success"])
      expect(attempts.map((s) => s.attributes["error.type"])).toEqual(["RateLimited", "ProviderUnavailable", undefined])
      expect(attempts.map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR, SpanStatusCode.OK])
      expect(attempts[1]!.status.message).toBe("try later")
      // the serving attempt ends with the call, and lasts its recorded 100 ms
      expect(attempts[2]!.endTime).toEqual(call!.endTime)
      expect(attempts[2]!.duration).toEqual([0, 100_000_000])
    }).pipe(Effect.provide(tracing())))

  it.effect("a fallback names the provider that served and the member index; a failed member is an error child span", () =>
    Effect.gen(function*() {
      const primary = yield* scripted([new LlmError.ProviderUnavailable({ kind: "overloaded", status: 529, message: "overloaded" })], {
        provider: "anthropic",
        model: "claude-sonnet-4-5"
      })
      const secondary = yield* scripted([{ text: "from backup" }], { provider: "openai", model: "gpt-4.1-mini" })
      const chain = yield* Fallback.make([primary, secondary], { breaker: false })
      const lm = yield* Telemetry.make()(chain)
      const response = yield* LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      expect(response.provider).toBe("openai")

      const [call] = spanNamed("chat claude-sonnet-4-5")
      expect(call!.attributes).toMatchObject({
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.provider.name": "openai",
        "gen_ai.response.model": "gpt-4.1-mini",
        "effect_llm.fallback.used": true,
        "effect_llm.fallback.member": 1,
        "effect_llm.attempts": 2,
        "effect_llm.retries": 0
      })
      const children = childrenOf(call!)
      expect(children.map((s) => [s.name, s.attributes["gen_ai.provider.name"], s.attributes["effect_llm.attempt.outcome"]]).sort())
        .toEqual([
          ["attempt claude-sonnet-4-5", "anthropic", "failure"],
          ["attempt gpt-4.1-mini", "openai", "success"]
        ])
    }).pipe(Effect.provide(tracing())))

  it.effect("when every member fails, the span is an error with AllProvidersFailed and a child span per failure", () =>
    Effect.gen(function*() {
      const a = yield* scripted([new LlmError.QuotaExhausted({ status: 429, message: "no credit" })], { provider: "a", model: "ma" })
      const b = yield* scripted([new LlmError.AuthenticationFailed({ status: 401, message: "bad key" })], { provider: "b", model: "mb" })
      const lm = yield* Telemetry.make()(yield* Fallback.make([a, b], { breaker: false }))
      const error = yield* Effect.flip(LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm)))
      expect(error._tag).toBe("AllProvidersFailed")
      const [call] = spanNamed("chat ma")
      expect(call!.status.code).toBe(SpanStatusCode.ERROR)
      expect(call!.attributes["error.type"]).toBe("AllProvidersFailed")
      expect(call!.attributes["effect_llm.route"]).toEqual(["a/ma:failure:QuotaExhausted", "b/mb:failure:AuthenticationFailed"])
      expect(childrenOf(call!).map((s) => s.attributes["error.type"]).sort()).toEqual(["AuthenticationFailed", "QuotaExhausted"])
    }).pipe(Effect.provide(tracing())))

  it.effect("a cache hit is marked with effect_llm.cache.hit and has no attempt spans", () =>
    Effect.gen(function*() {
      const { entries, layer: logs } = captureLogs()
      const program = Effect.gen(function*() {
        const first = yield* LanguageModel.generate(ask("cached?", { temperature: 0 }))
        const second = yield* LanguageModel.generate(ask("cached?", { temperature: 0 }))
        return [first, second] as const
      })
      const stack = Telemetry.layer({ cache: true }).pipe(
        Layer.provide(ResponseCache.layerMemory()),
        Layer.provide(ScriptedModel.layer([{ text: "yes", usage: { inputTokens: 3, outputTokens: 1 } }], { model: "cache-model" }))
      )
      const [first, second] = yield* program.pipe(Effect.provide(stack), Effect.provide(logs))
      expect(first.cache).toBeUndefined()
      expect(second.cache?.kind).toBe("exact")

      const calls = spanNamed("chat cache-model")
      expect(calls.length).toBe(2)
      expect(calls[0]!.attributes["effect_llm.cache.hit"]).toBeUndefined()
      expect(calls[1]!.attributes).toMatchObject({ "effect_llm.cache.hit": "exact", "effect_llm.attempts": 0 })
      expect(childrenOf(calls[1]!).filter((s) => s.name.startsWith("attempt"))).toEqual([])
      expect(entries.map((e) => e.annotations.cache)).toEqual([undefined, "exact"])
    }).pipe(Effect.provide(tracing())))

  it.effect("a stream is one span ended when the stream ends, with time to first chunk and the Finish usage", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([{ text: "one two three", latency: "300 millis", chunkDelay: "10 millis", usage: { inputTokens: 7, outputTokens: 3 } }], {
        provider: "openai",
        model: "stream-model"
      })
      const lm = yield* Telemetry.make()(inner)
      const fiber = yield* Effect.fork(Stream.runCollect(LanguageModel.stream(ask()).pipe(Stream.provideService(LanguageModel.LanguageModel, lm))))
      yield* TestClock.adjust("1 second")
      const events = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(events.at(-1)?._tag).toBe("Finish")
      const [span] = spanNamed("chat stream-model")
      expect(span!.kind).toBe(SpanKind.CLIENT)
      expect(span!.attributes).toMatchObject({
        "effect_llm.stream": true,
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.response.time_to_first_chunk": 0.31,
        "effect_llm.outcome": "success"
      })
      expect(span!.duration).toEqual([0, 330_000_000])
    }).pipe(Effect.provide(tracing())))

  it.effect("a stream failing mid-way ends its span with the error", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([{
        text: "a b c",
        failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ kind: "network", message: "reset" }) }
      }], { model: "broken-stream" })
      const lm = yield* Telemetry.make()(inner)
      const error = yield* Effect.flip(Stream.runDrain(lm.stream(yield* LanguageModel.decodeRequest(ask()))))
      expect(error._tag).toBe("ProviderUnavailable")
      const [span] = spanNamed("chat broken-stream")
      expect(span!.status.code).toBe(SpanStatusCode.ERROR)
      expect(span!.attributes["error.type"]).toBe("ProviderUnavailable")
    }).pipe(Effect.provide(tracing())))

  it.effect("prompt and output content are recorded only when asked", () =>
    Effect.gen(function*() {
      const { entries, layer: logs } = captureLogs()
      const inner = yield* scripted([{ text: "the answer" }], { whenExhausted: "repeat-last", model: "content-model" })
      const quiet = yield* Telemetry.make()(inner)
      const loud = yield* Telemetry.make({ recordPrompts: true, recordOutputs: true })(inner)
      const run = (lm: LanguageModel.Service) => LanguageModel.generate(ask("the question")).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      yield* run(quiet).pipe(Effect.provide(logs))
      yield* run(loud).pipe(Effect.provide(logs))
      const [quietSpan, loudSpan] = spanNamed("chat content-model")
      expect(JSON.stringify(quietSpan!.attributes)).not.toContain("the question")
      expect(JSON.stringify(entries[0])).not.toContain("the question")
      expect(JSON.stringify(entries[0])).not.toContain("the answer")
      expect(JSON.parse(String(loudSpan!.attributes["gen_ai.input.messages"]))).toEqual([
        { role: "user", parts: [{ type: "text", content: "the question" }] }
      ])
      expect(String(loudSpan!.attributes["gen_ai.output.messages"])).toContain("the answer")
      expect(entries[1]!.annotations).toMatchObject({ output: "the answer" })
      expect(String(entries[1]!.annotations.prompt)).toContain("the question")
    }).pipe(Effect.provide(tracing())))
})

describe("Telemetry logs", () => {
  it.effect("one structured line per call: Info on success, Warning with the error tag on failure", () =>
    Effect.gen(function*() {
      const { entries, layer: logs } = captureLogs()
      const inner = yield* scripted([
        { text: "fine", usage: { inputTokens: 4, outputTokens: 2 } },
        new LlmError.InvalidRequest({ status: 400, message: "bad parameter", provider: "openai", model: "log-model" })
      ], { provider: "openai", model: "log-model" })
      const lm = yield* Telemetry.make()(inner)
      const run = LanguageModel.generate(ask("x", { metadata: { tenant: "t1", user: "u1" } })).pipe(
        Effect.provideService(LanguageModel.LanguageModel, lm),
        Effect.provide(logs)
      )
      yield* run
      yield* Effect.flip(run)
      expect(entries.length).toBe(2)
      expect(entries[0]).toMatchObject({
        level: "INFO",
        message: "chat log-model: stop",
        annotations: { outcome: "success", provider: "openai", model: "log-model", input_tokens: 4, output_tokens: 2, tenant: "t1" }
      })
      expect(entries[0]!.annotations.user).toBeUndefined()
      expect(entries[1]).toMatchObject({
        level: "WARN",
        message: "chat log-model failed: InvalidRequest",
        annotations: { outcome: "InvalidRequest", error: "InvalidRequest", error_message: "bad parameter" }
      })
    }))

  it.effect("lines below the minimum log level are not written; the levels above still are", () =>
    Effect.gen(function*() {
      const { entries, layer: logs } = captureLogs()
      const inner = yield* scripted([
        { text: "fine" },
        new LlmError.InvalidRequest({ status: 400, message: "bad parameter", provider: "openai", model: "log-model" })
      ], { provider: "openai", model: "log-model" })
      const lm = yield* Telemetry.make({ log: { success: "Debug", failure: "Error" } })(inner)
      const run = LanguageModel.generate(ask("x")).pipe(
        Effect.provideService(LanguageModel.LanguageModel, lm),
        Effect.provide(logs),
        Logger.withMinimumLogLevel(LogLevel.Info)
      )
      yield* run
      yield* Effect.flip(run)
      expect(entries.map((e) => [e.level, e.message])).toEqual([["ERROR", "chat log-model failed: InvalidRequest"]])
    }))
  it.effect("the line carries the caller's annotations and log spans, and the logger's fiber and date", () =>
    Effect.gen(function*() {
      const seen: Array<{ annotations: Record<string, unknown>; spans: Array<string>; fiber: string; date: number; text: string }> = []
      const logger = Logger.make(({ annotations, date, fiberId, spans }) => {
        const record: Record<string, unknown> = {}
        for (const [k, v] of annotations) record[k] = v
        seen.push({
          annotations: record,
          spans: [...spans].map((s) => s.label),
          fiber: FiberId.threadName(fiberId),
          date: date.getTime(),
          text: Inspectable.toStringUnknown(record)
        })
      })
      const lm = yield* Telemetry.make()(yield* scripted([{ text: "fine" }], { provider: "openai", model: "log-model" }))
      const fiber = yield* Effect.fiberId
      yield* TestClock.setTime(1_234_000)
      yield* LanguageModel.generate(ask("x")).pipe(
        Effect.provideService(LanguageModel.LanguageModel, lm),
        Effect.annotateLogs({ requestId: "r-1", secret: Redacted.make("hunter2") }),
        Effect.withLogSpan("handler"),
        Effect.provide(Logger.replace(Logger.defaultLogger, logger))
      )
      expect(seen).toHaveLength(1)
      expect(seen[0]!.annotations).toMatchObject({ requestId: "r-1", outcome: "success", model: "log-model" })
      expect(seen[0]!.spans).toEqual(["handler"])
      expect(seen[0]!.fiber).toBe(FiberId.threadName(fiber))
      expect(seen[0]!.date).toBe(1_234_000)
      expect(seen[0]!.text).not.toContain("hunter2")
    }))
})

describe("Telemetry fiber state", () => {
  // The layer sets the redacting loggers and its span on the caller's fiber and
  // restores them itself (no `Effect.locallyWith`): check that every exit restores them.
  it.effect("after a success, a failure, a defect or an interruption the caller's loggers, span and annotations are back", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([
        { text: "fine" },
        new LlmError.InvalidRequest({ status: 400, message: "bad sk-proj-abcdefghijklmnopqrstuvwxyz0123", provider: "openai" }),
        { text: "never", latency: "1 minute" }
      ])
      const dying: LanguageModel.Service = { ...inner, generate: () => Effect.die(new Error("boom")) }
      const lm = yield* Telemetry.make()(inner)
      const dies = yield* Telemetry.make()(dying)
      const state = Effect.all([
        FiberRef.get(FiberRef.currentLoggers),
        FiberRef.get(FiberRef.currentContext),
        FiberRef.get(FiberRef.currentLogAnnotations)
      ])
      yield* Effect.gen(function*() {
        const before = yield* state
        const request = yield* LanguageModel.decodeRequest(ask("x"))
        const outer = yield* Effect.currentSpan
        yield* lm.generate(request)
        expect(yield* state).toEqual(before)
        const error = yield* Effect.flip(lm.generate(request))
        expect(error.message).not.toContain("sk-proj-")
        expect(yield* state).toEqual(before)
        const exit = yield* Effect.exit(dies.generate(request))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        expect(yield* state).toEqual(before)
        const fiber = yield* Effect.fork(lm.generate(request))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(fiber)
        expect(yield* state).toEqual(before)
        // The layer's span was the parent only inside the call.
        expect(yield* Effect.currentSpan).toEqual(outer)
      }).pipe(Effect.annotateLogs("outer", "yes"), Effect.withSpan("outer"))
    }))

  it.effect("streams too: after a drained, a failed and an abandoned stream the caller's loggers, span and annotations are back", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([
        { text: "one two three" },
        { text: "four five", failMidStream: { after: 1, error: new LlmError.ProviderUnavailable({ kind: "server", message: "cut", provider: "openai" }) } },
        { text: "six seven eight" }
      ])
      const lm = yield* Telemetry.make()(inner)
      const state = Effect.all([
        FiberRef.get(FiberRef.currentLoggers),
        FiberRef.get(FiberRef.currentContext),
        FiberRef.get(FiberRef.currentLogAnnotations)
      ])
      yield* Effect.gen(function*() {
        const before = yield* state
        const request = yield* LanguageModel.decodeRequest(ask("x"))
        const events = yield* Stream.runCollect(lm.stream(request))
        expect(Chunk.last(events).pipe(Option.map((e) => e._tag))).toEqual(Option.some("Finish"))
        expect(yield* state).toEqual(before)
        yield* Effect.flip(Stream.runDrain(lm.stream(request)))
        expect(yield* state).toEqual(before)
        yield* Stream.runDrain(Stream.take(lm.stream(request), 1))
        expect(yield* state).toEqual(before)
      }).pipe(Effect.annotateLogs("outer", "yes"), Effect.withSpan("outer"))
    }))
})

describe("Telemetry interruption", () => {
  // The call span is made, then what ends it is attached: an interrupt landing
  // in between (here: signalled by the tracer as it makes the span) must still
  // end the span.
  it.effect("a call interrupted as its span is made still ends that span (generate and stream)", () =>
    Effect.gen(function*() {
      const native = yield* Effect.tracer
      const made: Array<Tracer.Span> = []
      const interrupting = Tracer.make({
        context: native.context,
        span: (...args) => {
          const span = native.span(...args)
          made.push(span)
          const self = Fiber.getCurrentFiber()
          if (Option.isSome(self)) self.value.unsafeInterruptAsFork(self.value.id())
          return span
        }
      })
      const lm = yield* Telemetry.make()(yield* scripted([{ text: "never" }], { whenExhausted: "repeat-last" }))
      const request = yield* LanguageModel.decodeRequest(ask("x"))
      const calls = [lm.generate(request), Stream.runDrain(lm.stream(request))]
      for (const call of calls) {
        const exit = yield* Fiber.await(yield* Effect.fork(Effect.withTracer(call, interrupting)))
        expect(Exit.isInterrupted(exit)).toBe(true)
      }
      expect(made.length).toBe(2)
      expect(made.map((span) => span.status._tag)).toEqual(["Ended", "Ended"])
    }))
})

describe("Telemetry metrics", () => {
  it.effect("requests by outcome, tokens, cost, latency and attempts after a scripted run", () =>
    Effect.gen(function*() {
      // a provider name no other test uses, so the global registry's series are ours alone
      const provider = "metrics-provider"
      const model = "metrics-model"
      const inner = yield* scripted([
        new LlmError.ProviderUnavailable({ kind: "server", status: 500, message: "x" }),
        { text: "a", usage: { inputTokens: 10, outputTokens: 4, cachedInputTokens: 6 }, latency: "2 seconds" },
        { text: "b", usage: { inputTokens: 20, outputTokens: 8 }, latency: "400 millis" },
        new LlmError.ContextLengthExceeded({ status: 400, message: "too long", provider, model })
      ], { provider, model })
      const lm = yield* Effect.flatMap(Retry.make({ baseDelay: "1 second", jitter: false })(withCost(0.5)(inner)), Telemetry.make())
      const call = LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      const run = Effect.gen(function*() {
        const fiber = yield* Effect.fork(Effect.all([call, call, Effect.either(call)]))
        yield* TestClock.adjust("1 minute")
        return yield* Fiber.join(fiber)
      })
      yield* run

      const labels = { operation: "generate", provider, model }
      expect(yield* value(Metrics.requests, { ...labels, outcome: "success" })).toBe(2)
      expect(yield* value(Metrics.requests, { ...labels, outcome: "ContextLengthExceeded" })).toBe(1)
      expect(yield* value(Metrics.tokens, { provider, model, type: "input" })).toBe(30)
      expect(yield* value(Metrics.tokens, { provider, model, type: "output" })).toBe(12)
      expect(yield* value(Metrics.tokens, { provider, model, type: "cached_input" })).toBe(6)
      expect(yield* value(Metrics.costUsd, { provider, model, estimated: "false" })).toBeCloseTo(1.0, 10)
      expect(yield* value(Metrics.attempts, { provider, model, outcome: "failure", error: "ProviderUnavailable" })).toBe(1)
      expect(yield* value(Metrics.retries, { provider, model })).toBe(1)

      const latency = yield* histogram(Metrics.latency, { ...labels, outcome: "success" })
      expect(latency.count).toBe(2)
      // first call: failure at 0, backoff 1 s, then 2 s of latency = 3 s; second call 0.4 s
      expect(latency.sum).toBeCloseTo(3.4, 6)
      const bucket = (le: number) => latency.buckets.find(([b]) => b === le)![1]
      expect(bucket(0.5)).toBe(1)
      expect(bucket(2.5)).toBe(1)
      expect(bucket(5)).toBe(2)
    }))

  it.effect("cache hits and misses, time to first token, fallbacks", () =>
    Effect.gen(function*() {
      const provider = "metrics-cache-provider"
      const stack = Telemetry.layer({ cache: true }).pipe(
        Layer.provide(ResponseCache.layerMemory()),
        Layer.provide(ScriptedModel.layer([{ text: "same", latency: "1500 millis" }], { provider, model: "m", whenExhausted: "repeat-last" }))
      )
      const program = Effect.gen(function*() {
        yield* LanguageModel.generate(ask("q", { temperature: 0 }))
        yield* LanguageModel.generate(ask("q", { temperature: 0 }))
        yield* LanguageModel.generate(ask("q", { temperature: 0, cache: { bypass: true } }))
        yield* Stream.runDrain(LanguageModel.stream(ask("streamed", { temperature: 0 })))
      }).pipe(Effect.provide(stack))
      const hitsBefore = yield* value(Metrics.cacheLookups, { result: "hit", kind: "exact" })
      const missesBefore = yield* value(Metrics.cacheLookups, { result: "miss", kind: "none" })
      const fiber = yield* Effect.fork(program)
      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)
      expect((yield* value(Metrics.cacheLookups, { result: "hit", kind: "exact" })) - hitsBefore).toBe(1)
      // first call and the stream; the bypassing call is not a lookup
      expect((yield* value(Metrics.cacheLookups, { result: "miss", kind: "none" })) - missesBefore).toBe(2)
      const ttft = yield* histogram(Metrics.timeToFirstToken, { provider, model: "m" })
      expect(ttft.count).toBe(1)
      expect(ttft.sum).toBeCloseTo(1.5, 6)

      const a = yield* scripted([new LlmError.RateLimited({ source: "provider", message: "429" })], { provider: "fb-a", model: "ma" })
      const b = yield* scripted([{ text: "ok" }], { provider: "fb-b", model: "mb" })
      const lm = yield* Telemetry.make()(yield* Fallback.make([a, b], { breaker: false }))
      yield* LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      expect(yield* value(Metrics.fallbacks, { provider: "fb-b", model: "mb" })).toBe(1)
    }))

  it.effect("each label set counts apart, however its fields run together: calls, tenants, tokens, cost, attempts", () =>
    Effect.gen(function*() {
      // The layer keeps the tagged metrics of a label set together under one key:
      // ("lsk-ab", "c") and ("lsk-a", "bc") must not share them, nor tenants, token
      // types, estimated and exact costs, or attempts whose fields run together.
      // Built without validation: an outcome outside the schema's literals ("failureE")
      // is how fields could run into each other.
      const attempt = (provider: string, model: string, outcome: string, error?: string) =>
        Construct.make(LanguageModel.Attempt, {
          provider,
          model,
          outcome: outcome as LanguageModel.Attempt["outcome"],
          error,
          durationMillis: 1
        })
      const answer = (
        provider: string,
        model: string,
        cost: LanguageModel.Cost,
        attempts: ReadonlyArray<LanguageModel.Attempt>
      ) =>
        new LanguageModel.Response({
          text: "x",
          toolCalls: [],
          finishReason: "stop",
          usage: new LanguageModel.Usage({ inputTokens: 3, outputTokens: 2, cachedInputTokens: 1, reasoningTokens: 5 }),
          provider,
          model,
          cost,
          attempts,
          latencyMillis: 1
        })
      const exact = new LanguageModel.Cost({ usd: 0.25, estimated: false })
      const estimated = new LanguageModel.Cost({ usd: 0.5, estimated: true })
      const calls: ReadonlyArray<readonly [LanguageModel.Response, string | undefined]> = [
        [answer("lsk-ab", "c", exact, [attempt("lsk-ab", "c", "failure", "E"), attempt("lsk-ab", "c", "success")]), "t1"],
        [answer("lsk-a", "bc", estimated, [attempt("lsk-a", "bc", "failure", "E"), attempt("lsk-a", "bc", "success")]), "t1"],
        [answer("lsk-a", "bc", exact, []), "t1"],
        [answer("lsk-a", "bc", exact, [attempt("lsk-a", "bcf", "ailure", "E"), attempt("lsk-a", "bc", "failur", "eE")]), "t"],
        [answer("lsk-a", "bc", exact, []), undefined],
        [answer("lsk-a", "bct", exact, []), "1"]
      ]
      // One layer for every call: it is the layer that keeps the label sets.
      let next = 0
      const lm = yield* Telemetry.make({ tenantLabel: true })({
        models: [{ provider: "lsk-a", model: "bc" }],
        generate: () => Effect.sync(() => calls[next++]![0]),
        stream: () => Stream.empty
      })
      for (const [, tenant] of calls) {
        yield* LanguageModel.generate(ask("q", tenant === undefined ? {} : { metadata: { tenant } })).pipe(
          Effect.provideService(LanguageModel.LanguageModel, lm)
        )
      }
      const request = (provider: string, model: string, tenant: string) =>
        value(Metrics.requests, { operation: "generate", provider, model, outcome: "success", tenant })
      expect(yield* request("lsk-ab", "c", "t1")).toBe(1)
      expect(yield* request("lsk-a", "bc", "t1")).toBe(2)
      expect(yield* request("lsk-a", "bc", "t")).toBe(1)
      expect(yield* request("lsk-a", "bc", "none")).toBe(1)
      expect(yield* request("lsk-a", "bct", "1")).toBe(1)
      const tokens = (model: string, type: string, tenant: string) => value(Metrics.tokens, { provider: "lsk-a", model, type, tenant })
      expect(yield* tokens("bc", "input", "t1")).toBe(6)
      expect(yield* tokens("bc", "output", "t")).toBe(2)
      expect(yield* tokens("bc", "cached_input", "none")).toBe(1)
      expect(yield* tokens("bc", "reasoning", "t1")).toBe(10)
      expect(yield* value(Metrics.tokens, { provider: "lsk-ab", model: "c", type: "input", tenant: "t1" })).toBe(3)
      const cost = (estimated: string, tenant: string) =>
        Effect.map(Metric.value(Metrics.costUsd.pipe(
          Metric.tagged("provider", "lsk-a"),
          Metric.tagged("model", "bc"),
          Metric.tagged("estimated", estimated),
          Metric.tagged("tenant", tenant)
        )), (state) => state.count)
      expect(yield* cost("true", "t1")).toBeCloseTo(0.5, 10)
      expect(yield* cost("false", "t1")).toBeCloseTo(0.25, 10)
      expect(yield* cost("false", "t")).toBeCloseTo(0.25, 10)
      const attempts = (provider: string, model: string, outcome: string, error: string) =>
        value(Metrics.attempts, { provider, model, outcome, error })
      expect(yield* attempts("lsk-ab", "c", "failure", "E")).toBe(1)
      expect(yield* attempts("lsk-a", "bc", "failure", "E")).toBe(1)
      expect(yield* attempts("lsk-a", "bc", "success", "none")).toBe(1)
      expect(yield* attempts("lsk-a", "bcf", "ailure", "E")).toBe(1)
      expect(yield* attempts("lsk-a", "bc", "failur", "eE")).toBe(1)
    }))

  it.effect("the metrics other layers record: rate-limit waits, breaker state, budget remaining", () =>
    Effect.gen(function*() {
      yield* Metrics.recordRateLimitWait("openai/wait-test", "250 millis", "tpm")
      yield* Metrics.recordRateLimitWait("openai/wait-test", "2 seconds", "tpm")
      const waits = yield* Metric.value(Metrics.rateLimitWaits.pipe(Metric.tagged("key", "openai/wait-test"), Metric.tagged("reason", "tpm")))
      expect(waits.count).toBe(2)
      expect(waits.sum).toBeCloseTo(2.25, 6)
      yield* Metrics.recordBreakerState("member-x", "open")
      expect((yield* Metric.value(Metrics.breakerState.pipe(Metric.tagged("member", "member-x")))).value).toBe(2)
      yield* Metrics.recordBreakerState("member-x", "half-open")
      expect((yield* Metric.value(Metrics.breakerState.pipe(Metric.tagged("member", "member-x")))).value).toBe(1)
      yield* Metrics.recordBudgetRemaining("tenant:acme", "day", 12.5)
      expect((yield* Metric.value(Metrics.budgetRemainingUsd.pipe(Metric.tagged("scope", "tenant:acme"), Metric.tagged("period", "day")))).value)
        .toBe(12.5)
    }))
})

// -----------------------------------------------------------------------------
// Prometheus text
// -----------------------------------------------------------------------------

interface Sample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

/** A strict parser of the text format's sample lines (what a scraper does). */
const parseExposition = (text: string) => {
  const types = new Map<string, string>()
  const helps = new Map<string, string>()
  const samples: Array<Sample> = []
  const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/y
  for (const line of text.split("\n")) {
    if (line === "") continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta !== null) {
      if (meta[1] === "TYPE") {
        expect(types.has(meta[2]!), `duplicate TYPE for ${meta[2]}`).toBe(false)
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(meta[3])
        types.set(meta[2]!, meta[3]!)
      } else helps.set(meta[2]!, meta[3]!)
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line)
    expect(m, `malformed line: ${line}`).not.toBeNull()
    const labels: Record<string, string> = {}
    const body = m![3] ?? ""
    let pos = 0
    while (pos < body.length) {
      labelRe.lastIndex = pos
      const l = labelRe.exec(body)
      expect(l, `malformed labels: ${body}`).not.toBeNull()
      labels[l![1]!] = l![2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c))
      pos = labelRe.lastIndex
      if (body[pos] === ",") pos++
    }
    const raw = m![4]!
    samples.push({ name: m![1]!, labels, value: raw === "+Inf" ? Infinity : raw === "-Inf" ? -Infinity : Number(raw) })
  }
  return { types, helps, samples }
}

describe("Prometheus", () => {
  it.effect("renders counters, gauges and histograms in the text format, with escaped labels and HELP", () =>
    Effect.gen(function*() {
      const counter = Metric.counter("prom_test_requests_total", { description: "Requests\nby \\ outcome", incremental: true })
      const gauge = Metric.gauge("prom_test_state")
      const hist = Metric.histogram("prom_test_seconds", MetricBoundaries.fromIterable([0.1, 1, 10]), "Durations")
      yield* Metric.incrementBy(Metric.tagged(counter, "model", "gpt \"4\"\nmini\\x"), 3)
      yield* Metric.increment(Metric.tagged(counter, "model", "plain"))
      yield* Metric.set(gauge.pipe(Metric.tagged("member", "a")), 2)
      for (const v of [0.05, 0.5, 0.7, 5, 50]) yield* Metric.update(hist.pipe(Metric.tagged("op", "x")), v)
      const text = yield* Prometheus.render({ filter: (name) => name.startsWith("prom_test_") })

      expect(text.endsWith("\n")).toBe(true)
      expect(text).toContain("# HELP prom_test_requests_total Requests\\nby \\\\ outcome\n")
      expect(text).toContain("# TYPE prom_test_requests_total counter\n")
      expect(text).toContain("prom_test_requests_total{model=\"gpt \\\"4\\\"\\nmini\\\\x\"} 3\n")
      expect(text).toContain("# TYPE prom_test_state gauge\nprom_test_state{member=\"a\"} 2\n")

      const { helps, samples, types } = parseExposition(text)
      expect(types.get("prom_test_seconds")).toBe("histogram")
      expect(helps.get("prom_test_seconds")).toBe("Durations")
      expect(samples.find((s) => s.name === "prom_test_requests_total" && s.labels.model === "gpt \"4\"\nmini\\x")?.value).toBe(3)
      const buckets = samples.filter((s) => s.name === "prom_test_seconds_bucket")
      expect(buckets.map((b) => [b.labels.le, b.value])).toEqual([["0.1", 1], ["1", 3], ["10", 4], ["+Inf", 5]])
      expect(buckets.every((b) => b.labels.op === "x")).toBe(true)
      expect(samples.find((s) => s.name === "prom_test_seconds_count")?.value).toBe(5)
      expect(samples.find((s) => s.name === "prom_test_seconds_sum")?.value).toBeCloseTo(56.25, 10)
      // TYPE comes before the family's samples
      expect(text.indexOf("# TYPE prom_test_seconds histogram")).toBeLessThan(text.indexOf("prom_test_seconds_bucket"))
    }))

  it.effect("the exposition of a scripted run carries effect-llm's metrics and parses cleanly", () =>
    Effect.gen(function*() {
      const inner = yield* scripted([{ text: "p", usage: { inputTokens: 9, outputTokens: 1 } }], { provider: "prom-provider", model: "prom-model" })
      const lm = yield* Telemetry.make()(inner)
      yield* LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      const text = yield* Prometheus.renderOwn
      const { samples, types } = parseExposition(text)
      expect(types.get("effect_llm_requests_total")).toBe("counter")
      expect(types.get("effect_llm_request_duration_seconds")).toBe("histogram")
      expect(samples.find((s) =>
        s.name === "effect_llm_requests_total" && s.labels.provider === "prom-provider" && s.labels.outcome === "success"
      )?.value).toBe(1)
      expect(samples.find((s) =>
        s.name === "effect_llm_tokens_total" && s.labels.provider === "prom-provider" && s.labels.type === "input"
      )?.value).toBe(9)
      const inf = samples.find((s) =>
        s.name === "effect_llm_request_duration_seconds_bucket" && s.labels.provider === "prom-provider" && s.labels.le === "+Inf"
      )
      expect(inf?.value).toBe(1)
      expect([...types.keys()].every((name) => name.startsWith("effect_llm_"))).toBe(true)
    }))

  it("sanitizes names and formats special values", () => {
    expect(Prometheus.sanitizeName("gen_ai.client.token-usage")).toBe("gen_ai_client_token_usage")
    expect(Prometheus.sanitizeName("9lives")).toBe("_9lives")
    expect(Prometheus.sanitizeName("a:b", "label")).toBe("a_b")
    expect(Prometheus.formatValue(Number.NaN)).toBe("NaN")
    expect(Prometheus.formatValue(Number.POSITIVE_INFINITY)).toBe("+Inf")
    expect(Prometheus.formatValue(Number.NEGATIVE_INFINITY)).toBe("-Inf")
    expect(Prometheus.formatValue(12n)).toBe("12")
  })
})

// -----------------------------------------------------------------------------
// OTLP export to a collector (a loopback HTTP server standing in for one)
// -----------------------------------------------------------------------------

interface Received {
  readonly path: string
  readonly body: unknown
}

const fakeCollector = Effect.acquireRelease(
  Effect.async<{ readonly url: string; readonly received: Array<Received>; readonly server: Http.Server }>((resume) => {
    const received: Array<Received> = []
    const server = Http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        received.push({ path: req.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") })
        res.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, received, server }))
    })
  }),
  ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
)

interface OtlpAttribute {
  readonly key: string
  readonly value: {
    readonly stringValue?: string
    readonly intValue?: number | string
    readonly doubleValue?: number
    readonly boolValue?: boolean
    readonly arrayValue?: { readonly values: ReadonlyArray<{ readonly stringValue?: string }> }
  }
}
interface OtlpSpan {
  readonly name: string
  readonly kind: number
  readonly parentSpanId?: string
  readonly spanId: string
  readonly attributes: ReadonlyArray<OtlpAttribute>
}

describe("Telemetry.layerOtlp", () => {
  it.live("exports the call span with GenAI attributes, the metrics and the log line to an OTLP/HTTP collector", () =>
    Effect.gen(function*() {
      const collector = yield* fakeCollector
      const inner = yield* scripted([
        new LlmError.RateLimited({ source: "provider", message: `429 for sk-proj-${"q".repeat(40)}` }),
        { text: "exported", usage: { inputTokens: 11, outputTokens: 2 } }
      ], { provider: "openai", model: "otlp-model" })
      yield* Effect.gen(function*() {
        const lm = yield* Effect.flatMap(Retry.make({ baseDelay: "1 millis", jitter: false })(inner), Telemetry.make())
        yield* LanguageModel.generate(ask()).pipe(Effect.provideService(LanguageModel.LanguageModel, lm))
      }).pipe(Effect.provide(Telemetry.layerOtlp({ url: collector.url, serviceName: "otlp-test", exportInterval: "50 millis" })))
      // the layer's scope is closed: every exporter flushed

      const paths = new Set(collector.received.map((r) => r.path))
      expect(paths).toEqual(new Set(["/v1/traces", "/v1/metrics", "/v1/logs"]))
      const traceBodies = collector.received.filter((r) => r.path === "/v1/traces").map((r) => JSON.stringify(r.body))
      const otlpSpans: Array<OtlpSpan> = collector.received
        .filter((r) => r.path === "/v1/traces")
        .flatMap((r) => (r.body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }).resourceSpans)
        .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans))
      const call = otlpSpans.find((s) => s.name === "chat otlp-model")
      expect(call, traceBodies.join("\n")).toBeDefined()
      expect(call!.kind).toBe(3) // SPAN_KIND_CLIENT
      const attr = (span: OtlpSpan, key: string) => span.attributes.find((a) => a.key === key)?.value
      expect(attr(call!, "gen_ai.provider.name")).toEqual({ stringValue: "openai" })
      expect(Number(attr(call!, "gen_ai.usage.input_tokens")?.intValue)).toBe(11)
      expect(attr(call!, "gen_ai.response.finish_reasons")?.arrayValue?.values.map((v) => v.stringValue)).toEqual(["stop"])
      const children = otlpSpans.filter((s) => s.parentSpanId === call!.spanId && s.name === "attempt otlp-model")
      expect(children.length).toBe(2)
      expect(JSON.stringify(collector.received)).toContain("service.name")
      expect(JSON.stringify(collector.received.filter((r) => r.path === "/v1/metrics"))).toContain("effect_llm_requests_total")
      const logs = JSON.stringify(collector.received.filter((r) => r.path === "/v1/logs"))
      expect(logs).toContain("chat otlp-model: stop")
      expect(JSON.stringify(collector.received)).not.toContain("q".repeat(40))
    }).pipe(Effect.scoped))
})
