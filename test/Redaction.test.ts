import { NodeSdk } from "@effect/opentelemetry"
import { describe, expect, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Cause, Effect, Exit, Fiber, Layer, Logger, Redacted, Schema, Stream, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Anthropic from "../src/providers/Anthropic.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Retry from "../src/resilience/Retry.js"
import * as Redaction from "../src/telemetry/internal/redaction.js"
import * as Telemetry from "../src/telemetry/Telemetry.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"
import { seededStrings } from "./seeded-strings.js"

// Real-looking credentials: an OpenAI project key, an Anthropic key, and a gateway
// key with no recognizable shape (scrubbed only because it is named in `secrets`).
const OPENAI_KEY = "sk-proj-" + "T3BlbkFJq9Xw2Lm7Rz4Kd8Vb".padEnd(40, "5hN1cY6pQ0")
const ANTHROPIC_KEY = "sk-ant-api03-" + "Zq_4-k9Lm2Wx8Pv3Ty6Rn1".repeat(4) + "AA"
const GATEWAY_KEY = "gwk7f3a9c1e5b2d8f4a6c0e9b7d1f3a5c"
const KEYS = [OPENAI_KEY, ANTHROPIC_KEY, GATEWAY_KEY]
/** Distinctive fragments: a partial leak is a leak. */
const FRAGMENTS = KEYS.flatMap((k) => [k.slice(-16), k.slice(8, 24)])

const assertClean = (label: string, text: string) => {
  for (const fragment of FRAGMENTS) {
    expect(text.includes(fragment), `${label} leaks ${fragment}:\n${text.slice(0, 2000)}`).toBe(false)
  }
}

// -----------------------------------------------------------------------------
// Sinks: every log entry (message, annotations, cause), every span (attributes,
// events, status), and whatever leaves the layer.
// -----------------------------------------------------------------------------

const sinks = () => {
  const exporter = new InMemorySpanExporter()
  const logs: Array<string> = []
  const logger = Logger.make(({ annotations, cause, logLevel, message }) => {
    const record: Record<string, unknown> = {}
    for (const [k, v] of annotations) record[k] = v
    logs.push(JSON.stringify({
      level: logLevel.label,
      message: Array.isArray(message) ? message.map((m) => (m instanceof Error ? `${m.message} ${m.stack}` : m)) : message,
      annotations: record,
      cause: Cause.isEmpty(cause) ? undefined : Cause.pretty(cause, { renderErrorCause: true })
    }))
  })
  const layer = Layer.mergeAll(
    NodeSdk.layer(() => ({ resource: { serviceName: "redaction-test" }, spanProcessor: new SimpleSpanProcessor(exporter) })),
    Logger.replace(Logger.defaultLogger, logger)
  )
  const spansText = () =>
    JSON.stringify(exporter.getFinishedSpans().map((s) => ({
      name: s.name,
      attributes: s.attributes,
      events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
      status: s.status
    })))
  const check = (label: string) => {
    expect(logs.length, `${label}: a log line was written`).toBeGreaterThan(0)
    expect(exporter.getFinishedSpans().length, `${label}: spans were exported`).toBeGreaterThan(0)
    assertClean(`${label} logs`, logs.join("\n"))
    assertClean(`${label} spans`, spansText())
  }
  return { layer, logs, spansText, check }
}

const encodeError = Schema.encodeSync(LlmError.LlmError)

/** Everything a caller can read from a failure that left the layer. */
const exitText = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return JSON.stringify(exit.value)
  const parts: Array<string> = [Cause.pretty(exit.cause, { renderErrorCause: true })]
  for (const error of Cause.failures(exit.cause)) {
    parts.push(String(error), JSON.stringify(error))
    if (error instanceof Error) parts.push(error.message, error.stack ?? "")
    if (LlmError.isLlmError(error)) parts.push(JSON.stringify(encodeError(error)))
  }
  for (const defect of Cause.defects(exit.cause)) {
    parts.push(String(defect), JSON.stringify(defect) ?? "")
    if (defect instanceof Error) parts.push(defect.message, defect.stack ?? "", String(defect.cause))
  }
  return parts.join("\n")
}

const ask = (content = "hello") => LanguageModel.decodeRequest({ messages: [{ role: "user", content }] })

/** Runs one call through Telemetry over `inner`, both generate and stream, and checks every sink. */
const throughTelemetry = (
  label: string,
  inner: LanguageModel.Service,
  mode: "generate" | "stream",
  options: Telemetry.Options = { secrets: [Redacted.make(GATEWAY_KEY)] }
) =>
  Effect.gen(function*() {
    const sink = sinks()
    // checked inside the layer: closing the tracer provider clears the in-memory exporter
    return yield* Effect.gen(function*() {
      const lm = yield* Telemetry.make(options)(inner)
      const request = yield* ask()
      const exit: Exit.Exit<unknown, LlmError.LlmError> = mode === "generate"
        ? yield* Effect.exit(lm.generate(request))
        : yield* Effect.exit(Stream.runCollect(lm.stream(request)))
      sink.check(`${label} (${mode})`)
      assertClean(`${label} (${mode}) exit`, exitText(exit))
      return exit
    }).pipe(Effect.provide(sink.layer))
  })

// -----------------------------------------------------------------------------

describe("redactText", () => {
  it("removes key shapes, authorization headers, key parameters, URL credentials and named secrets", () => {
    const cases: ReadonlyArray<readonly [string, string]> = [
      [`Incorrect API key provided: ${OPENAI_KEY}.`, "Incorrect API key provided: [REDACTED]."],
      [`invalid x-api-key ${ANTHROPIC_KEY}`, "invalid x-api-key [REDACTED]"],
      [`Authorization: Bearer ${GATEWAY_KEY}`, "Authorization: [REDACTED]"],
      ["authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: [REDACTED]"],
      [`{"Authorization":"Token ${GATEWAY_KEY}"}`, "{\"Authorization\":\"[REDACTED]\"}"],
      [`x-api-key: ${GATEWAY_KEY}`, "x-api-key: [REDACTED]"],
      [`{"api_key":"${GATEWAY_KEY}","model":"m"}`, "{\"api_key\":\"[REDACTED]\",\"model\":\"m\"}"],
      ["GET https://generativelanguage.googleapis.com/v1/models?key=abc123secret&alt=sse", "GET https://generativelanguage.googleapis.com/v1/models?key=[REDACTED]&alt=sse"],
      ["redis://default:hunter2hunter2@cache:6379", "redis://[REDACTED]@cache:6379"]
    ]
    for (const [input, expected] of cases) expect(Telemetry.redactText(input)).toBe(expected)
    expect(Telemetry.redactText(`key ${GATEWAY_KEY} in prose`)).toContain(GATEWAY_KEY)
    expect(Telemetry.redactText(`key ${GATEWAY_KEY} in prose`, [Redacted.make(GATEWAY_KEY)])).toBe("key [REDACTED] in prose")
    expect(Telemetry.redactText("nothing to hide, model gpt-4.1-mini")).toBe("nothing to hide, model gpt-4.1-mini")
  })

  it("every pattern still applies behind the quick pre-check, in any letter case (with the shapes found missing in review)", () => {
    const secret = "Zq4k9Lm2Wx8Pv3Ty6Rn1AbCdEfGh"
    const samples = [
      `sk-ant-${secret}`,
      `sk-${secret}`,
      `pk-${secret}`,
      `rk-proj-${secret}`,
      `Bearer ${secret}`,
      `bearer ${secret}`,
      `AIza${secret}`,
      `Proxy-Authorization: ${secret}`,
      `AUTHORIZATION=${secret}`,
      ...["X-API-KEY", "api-key", "X-Goog-Api-Key", "ApiKey", "API_KEY", "access_token", "Refresh_Token", "client_secret",
        "x-gateway-key", "gateway_key", "SECRET_KEY", "Password"].map((name) => `${name}: ${secret}`),
      ...["key", "TOKEN", "sig", "signature"].map((name) => `https://h/p?a=1&${name}=${secret}`),
      `HTTPS://user:${secret}@host/`,
      `https://ghp_${secret}@github.com/acme/repo.git`,
      `postgres://app:p@ss${secret}@db.internal:5432/x`,
      `sk_live_${secret}`,
      `ghp_${secret}`,
      `github_pat_${secret}`,
      `xoxb-${secret}`,
      `AKIA${secret.slice(0, 16).toUpperCase()}`,
      ...["X-Auth-Token", "auth_token", "session-token", "Passwd"].map((name) => `${name}: ${secret}`),
      `{"password": "correct ${secret} horse"}`
    ]
    for (const sample of samples) {
      expect(Telemetry.redactText(sample), sample).not.toContain(secret.slice(4))
    }
  })

  it("URL credentials are redacted exactly where the regex they replace redacts them, in time linear in the text", () => {
    const regex = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/gi
    const alphabet = ["://", "a", "B", "1", "_", "+", ".", "-", ":", "@", "/", " ", "u:p@", "http", "x://y:z@h", "é", "ab"]
    let redacted = 0
    for (const text of seededStrings(alphabet, 20_000, 4, 11)) {
      const expected = text.replace(regex, "$1[REDACTED]@")
      if (expected !== text) redacted++
      expect(Redaction.redactUrlCredentials(text), JSON.stringify(text)).toBe(expected)
    }
    expect(redacted).toBeGreaterThan(1_000)
    // The regex retried every word start of a scheme-like run: 32 KB of "a.a.…"
    // with a "://" took a second, a megabyte would have taken a quarter of an hour.
    const run = "a.".repeat(500_000)
    expect(Telemetry.redactText(`${run}://user:pw@host`)).toBe(`${run}://[REDACTED]@host`)
    expect(Telemetry.redactText(`sk- ${run}://`)).toBe(`sk- ${run}://`)
  })

  it("an LlmError keeps its class and fields when redacted; nested failures are redacted too", () => {
    const nested = new LlmError.AllProvidersFailed({
      message: `all failed (${OPENAI_KEY})`,
      failures: [
        { provider: "openai", model: "m", error: new LlmError.AuthenticationFailed({ status: 401, message: `bad ${OPENAI_KEY}` }) },
        { provider: "x", model: "n", error: new LlmError.InjectionDetected({ message: "blocked", score: 3, findings: [new LlmError.Finding({ rule: "secret", match: ANTHROPIC_KEY })] }) }
      ]
    })
    const [error] = Cause.failures(Telemetry.redactCause(Cause.fail(nested)))
    expect(error).toBeInstanceOf(LlmError.AllProvidersFailed)
    const failed = error as LlmError.AllProvidersFailed
    expect(failed.failures[0]!.error).toBeInstanceOf(LlmError.AuthenticationFailed)
    expect(failed.failures[0]!.error).toMatchObject({ status: 401, message: "bad [REDACTED]" })
    expect((failed.failures[1]!.error as LlmError.InjectionDetected).findings[0]).toBeInstanceOf(LlmError.Finding)
    assertClean("nested", JSON.stringify(encodeError(failed)) + failed.stack)
  })
})

describe("no key leaves Telemetry", () => {
  it.scoped("provider errors from the real OpenAI SDK against the simulator", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: OPENAI_KEY })
      const lm = yield* OpenAi.make({ apiKey: Redacted.make(OPENAI_KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
      const faults: ReadonlyArray<readonly [string, ProviderSimulator.Behavior]> = [
        ["401", { fault: { kind: "error", status: 401, type: "invalid_request_error", code: "invalid_api_key", message: `Incorrect API key provided: ${OPENAI_KEY}` } }],
        ["429", { fault: { kind: "error", status: 429, type: "rate_limit_error", message: `Rate limit for key ${OPENAI_KEY}`, headers: { "retry-after": "1" } } }],
        ["500", { fault: { kind: "error", status: 500, message: `upstream saw Authorization: Bearer ${OPENAI_KEY}` } }],
        ["400", { fault: { kind: "error", status: 400, body: { error: { message: `bad request for ${OPENAI_KEY}`, type: "invalid_request_error", param: OPENAI_KEY, code: "x" } } } }]
      ]
      for (const [label, behavior] of faults) {
        for (const mode of ["generate", "stream"] as const) {
          yield* sim.enqueue("openai", behavior)
          const exit = yield* throughTelemetry(`openai ${label}`, lm, mode)
          expect(Exit.isFailure(exit)).toBe(true)
        }
      }
      yield* sim.enqueue("openai", { text: "a b c", fault: { kind: "midStreamError", afterChunks: 1, message: `stream died, key ${OPENAI_KEY}` } })
      const exit = yield* throughTelemetry("openai mid-stream", lm, "stream")
      expect(Exit.isFailure(exit)).toBe(true)
    }))

  it.scoped("provider errors from the real Anthropic SDK against the simulator", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make({ apiKey: ANTHROPIC_KEY })
      const lm = yield* Anthropic.make({ apiKey: Redacted.make(ANTHROPIC_KEY), baseURL: sim.anthropicBaseURL, model: "claude-sonnet-4-5" })
      for (const mode of ["generate", "stream"] as const) {
        yield* sim.enqueue("anthropic", { fault: { kind: "error", status: 401, type: "authentication_error", message: `invalid x-api-key ${ANTHROPIC_KEY}` } })
        const exit = yield* throughTelemetry("anthropic 401", lm, mode)
        expect(Exit.isFailure(exit)).toBe(true)
      }
      yield* sim.enqueue("anthropic", { fault: { kind: "error", status: 529, type: "overloaded_error", message: `overloaded (${ANTHROPIC_KEY})` } })
      yield* throughTelemetry("anthropic 529", lm, "generate")
    }))

  it.effect("every LlmError class whose fields carry a key (ScriptedModel failures), generate and stream", () =>
    Effect.gen(function*() {
      const errors: ReadonlyArray<LlmError.LlmError> = [
        new LlmError.RateLimited({ source: "provider", message: `429 for ${OPENAI_KEY}` }),
        new LlmError.ProviderUnavailable({ kind: "server", message: `500: Authorization: Bearer ${GATEWAY_KEY}` }),
        new LlmError.QuotaExhausted({ message: `quota of ${ANTHROPIC_KEY}` }),
        new LlmError.AuthenticationFailed({ status: 401, message: `Incorrect API key provided: ${OPENAI_KEY}` }),
        new LlmError.ContextLengthExceeded({ message: `too long ${GATEWAY_KEY}` }),
        new LlmError.ContentFiltered({ message: `filtered ${ANTHROPIC_KEY}` }),
        new LlmError.InvalidRequest({ status: 400, message: `bad ${OPENAI_KEY}`, code: GATEWAY_KEY, param: OPENAI_KEY }),
        new LlmError.BudgetExceeded({ message: `over budget ${GATEWAY_KEY}`, scope: `tenant:${GATEWAY_KEY}`, period: "day", limit: 1, spent: 1, requested: 1 }),
        new LlmError.InjectionDetected({ message: "injection", score: 9, findings: [new LlmError.Finding({ rule: "r", match: OPENAI_KEY })] }),
        new LlmError.OutputRejected({ message: "leak", reason: `secret ${ANTHROPIC_KEY}`, findings: [] }),
        new LlmError.MalformedOutput({ message: "bad json", raw: `{"key":"${OPENAI_KEY}"}`, issues: GATEWAY_KEY, attempts: 2 }),
        new LlmError.AllProvidersFailed({
          message: "all failed",
          failures: [{ provider: "p", model: "m", error: new LlmError.AuthenticationFailed({ message: `bad ${ANTHROPIC_KEY}` }) }]
        })
      ]
      for (const error of errors) {
        for (const mode of ["generate", "stream"] as const) {
          const inner = (yield* ScriptedModel.make([error])).service
          const exit = yield* throughTelemetry(error._tag, inner, mode)
          // the error keeps its class, so callers still branch with catchTag
          const failure = Exit.isFailure(exit) ? Cause.failures(exit.cause) : []
          expect([...failure].map((e) => e._tag)).toEqual([error._tag])
          expect([...failure][0]).toBeInstanceOf(error.constructor)
        }
      }
      const midStream = (yield* ScriptedModel.make([{
        text: "a b c",
        failMidStream: { after: 2, error: new LlmError.ProviderUnavailable({ kind: "network", message: `reset, key=${OPENAI_KEY}` }) }
      }])).service
      yield* throughTelemetry("mid-stream", midStream, "stream")
    }))

  it.effect("failed attempts recorded by Retry carry no key in the response, the attempt spans or the logs", () =>
    Effect.gen(function*() {
      const scripted = (yield* ScriptedModel.make([
        new LlmError.RateLimited({ source: "provider", message: `slow down ${OPENAI_KEY}` }),
        { text: "ok" }
      ])).service
      const inner = yield* Retry.make({ baseDelay: "1 millis", jitter: false })(scripted)
      const fiber = yield* Effect.fork(throughTelemetry("retry", inner, "generate"))
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(fiber)
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) {
        const response = exit.value as unknown as LanguageModel.Response
        expect(response.attempts.map((a) => a.outcome)).toEqual(["failure", "success"])
        expect(response.attempts[0]!.message).toBe("slow down [REDACTED]")
      }
    }))

  it.effect("defects: errors, causes, strings and objects with keys", () =>
    Effect.gen(function*() {
      const dying = (defect: unknown): LanguageModel.Service => ({
        models: [{ provider: "p", model: "m" }],
        generate: () => Effect.die(defect),
        stream: () => Stream.die(defect)
      })
      const defects: ReadonlyArray<readonly [string, unknown]> = [
        ["Error", new Error(`socket hang up, Authorization: Bearer ${OPENAI_KEY}`, { cause: new Error(`inner ${ANTHROPIC_KEY}`) })],
        ["string", `plain ${OPENAI_KEY}`],
        ["object", { apiKey: OPENAI_KEY, nested: { header: `x-api-key: ${GATEWAY_KEY}` } }],
        ["TypeError", new TypeError(`cannot read ${ANTHROPIC_KEY}`)]
      ]
      for (const [label, defect] of defects) {
        for (const mode of ["generate", "stream"] as const) {
          const exit = yield* throughTelemetry(`defect ${label}`, dying(defect), mode)
          expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
        }
      }
    }))

  it.effect("log lines written by layers below Telemetry during a call are redacted", () =>
    Effect.gen(function*() {
      const scripted = (yield* ScriptedModel.make([{ text: "ok" }], { whenExhausted: "repeat-last" })).service
      const chatty: LanguageModel.Service = {
        ...scripted,
        generate: (request) =>
          Effect.logWarning(`calling upstream with key ${OPENAI_KEY}`).pipe(
            Effect.zipRight(Effect.logError("upstream failed", Cause.fail(new Error(`401 ${ANTHROPIC_KEY}`)))),
            Effect.annotateLogs({ authorization: `Bearer ${GATEWAY_KEY}`, key: GATEWAY_KEY }),
            Effect.zipRight(scripted.generate(request))
          ),
        stream: (request) =>
          Stream.concat(Stream.execute(Effect.logWarning(`stream with ${OPENAI_KEY}`)), scripted.stream(request))
      }
      for (const mode of ["generate", "stream"] as const) {
        const exit = yield* throughTelemetry("inner logs", chatty, mode)
        expect(Exit.isSuccess(exit)).toBe(true)
      }
    }))

  // Budget settles in a scope finalizer that runs when a stream's consumer stops:
  // outside any pull, so the loggers must come from where the finalizer was added.
  it.effect("a stream stopped early: the log lines of inner finalizers (run as its scope closes) are redacted too", () =>
    Effect.gen(function*() {
      const scripted = (yield* ScriptedModel.make([{ text: "one two three four" }], { whenExhausted: "repeat-last" })).service
      // neither ends by itself: the finalizers can only run when the consumer stops
      const endless = (request: LanguageModel.Request) => Stream.concat(scripted.stream(request), Stream.never)
      const settling: ReadonlyArray<LanguageModel.Service> = [
        {
          ...scripted,
          stream: (request) => Stream.ensuring(endless(request), Effect.logWarning(`ensuring: settling failed for ${OPENAI_KEY}`))
        },
        {
          ...scripted,
          stream: (request) =>
            Stream.unwrapScoped(Effect.as(
              Effect.addFinalizer(() => Effect.logWarning(`addFinalizer: settling failed for ${OPENAI_KEY}`)),
              endless(request)
            ))
        }
      ]
      for (const inner of settling) {
        const sink = sinks()
        yield* Effect.gen(function*() {
          const lm = yield* Telemetry.make({ secrets: [Redacted.make(GATEWAY_KEY)] })(inner)
          yield* Stream.runDrain(Stream.take(lm.stream(yield* ask()), 1))
          const text = sink.logs.join("\n")
          expect(text).toMatch(/settling failed for \[REDACTED\]/)
          assertClean("early-stopped stream", text)
        }).pipe(Effect.provide(sink.layer))
      }
    }))

  it.effect("the checks can fail: without the gateway key in `secrets`, its shapeless value is not recognised", () =>
    Effect.gen(function*() {
      const inner = (yield* ScriptedModel.make([new LlmError.InvalidRequest({ message: `unknown tenant key ${GATEWAY_KEY}` })])).service
      const sink = sinks()
        yield* Effect.gen(function*() {
        const lm = yield* Telemetry.make()(inner)
        const exit = yield* Effect.exit(lm.generate(yield* ask()))
        expect(exitText(exit)).toContain(GATEWAY_KEY)
        expect(sink.logs.join("\n")).toContain(GATEWAY_KEY)
        expect(sink.spansText()).toContain(GATEWAY_KEY)
      }).pipe(Effect.provide(sink.layer))
    }))
})

describe("layerRedactLogs", () => {
  it.effect("redacts every log line of the program, outside LLM calls too", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void lines.push(JSON.stringify(message))))
      yield* Effect.logInfo(`booting with ${OPENAI_KEY}`).pipe(
        Effect.provide(Telemetry.layerRedactLogs([GATEWAY_KEY]).pipe(Layer.provide(capture)))
      )
      yield* Effect.logInfo(`gateway key ${GATEWAY_KEY}`).pipe(
        Effect.provide(Telemetry.layerRedactLogs([GATEWAY_KEY]).pipe(Layer.provide(capture)))
      )
      expect(lines.length).toBe(2)
      assertClean("layerRedactLogs", lines.join("\n"))
      expect(lines[0]).toContain("[REDACTED]")
    }))
})
