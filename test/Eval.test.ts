import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Fiber, Layer, Redacted, Ref, Schema, TestClock } from "effect"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as Eval from "../src/eval/Eval.js"
import type * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"
import { makeHandler } from "../evals/example.simulator.js"

/** A scripted model that answers arithmetic prompts ("a + b"), optionally wrong. */
const adder = (options: { readonly wrong?: boolean; readonly model?: string; readonly latency?: Duration.DurationInput } = {}) =>
  ScriptedModel.make((request) => {
    const text = request.messages[request.messages.length - 1]!.content
    const [, a, b] = /(\d+) \+ (\d+)/.exec(text) ?? []
    const sum = Number(a) + Number(b)
    return { text: String(options.wrong ? sum + 1 : sum), usage: { inputTokens: 10, outputTokens: 2 }, latency: options.latency }
  }, { model: options.model ?? "scripted-model" })

const suiteInput = {
  name: "sums",
  prompts: [
    "What is {{a}} + {{b}}?",
    { id: "terse", system: "Digits only.", template: "{{a}} + {{b}} =" }
  ],
  models: ["good", "bad"],
  cases: [
    { id: "small", vars: { a: 2, b: 3, sum: "5" }, assertions: [{ type: "equals", value: "{{sum}}" }] },
    { id: "large", vars: { a: 40, b: 2, sum: "42" }, assertions: [{ type: "equals", value: "{{sum}}" }, { type: "regex", pattern: "^\\d+$" }] }
  ]
} satisfies Eval.SuiteInput

const sharedStore = Effect.map(Layer.build(CacheStore.layerMemory()), (context) => Layer.succeedContext(context))

describe("Eval suites", () => {
  it.effect("a valid TypeScript suite decodes, string prompts get ids", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make(suiteInput)
      expect(Eval.promptsOf(suite).map((p) => p.id)).toEqual(["p1", "terse"])
      expect(suite.cases[0]!.assertions).toHaveLength(1)
    }))

  it.effect("a case missing a variable, duplicate ids, an unknown prompt, a rubric without judge are config errors", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Eval.make({
        ...suiteInput,
        models: ["good", "good"],
        cases: [
          { id: "x", vars: { a: 1 }, assertions: [{ type: "llmRubric", rubric: "ok?" }] },
          { id: "x", vars: { a: 1, b: 2 }, prompts: ["nope"] }
        ]
      }))
      expect(error._tag).toBe("EvalConfigError")
      expect(error.message).toContain("model name good is used twice")
      expect(error.message).toContain("case id x is used twice")
      expect(error.message).toContain("case x gives no value for {{b}} used by prompt p1")
      expect(error.message).toContain("names prompt nope")
      expect(error.message).toContain("uses llmRubric but the suite names no judge")
    }))

  it.effect("an assertion using a {{variable}} the case does not define is a config error at load, in the case's and the defaults' assertions", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Eval.make({
        name: "leak",
        prompts: ["Tell me something"],
        models: ["m"],
        defaults: { assertions: [{ type: "notContains", value: "{{secret}}" }] },
        cases: [
          // typo: `secrt` defined, `secret` used
          { id: "typo", vars: { secrt: "hunter2" }, assertions: [{ type: "containsAll", values: ["a", "{{other}}"] }] },
          { id: "ok", vars: { secret: "hunter2", rubric: "r" }, assertions: [{ type: "regex", pattern: "^{{secret}}$" }] }
        ]
      }))
      expect(error._tag).toBe("EvalConfigError")
      expect(error.message).toContain("case typo gives no value for {{secret}} used by its notContains assertion (defaults.assertions[0])")
      expect(error.message).toContain("case typo gives no value for {{other}} used by its containsAll assertion (assertions[0])")
      expect(error.message).not.toContain("case ok")
    }))

  it.effect("a variable named like an Object.prototype member ({{constructor}}) must be given by the case", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Eval.make({
        name: "proto",
        prompts: ["Explain {{constructor}}"],
        models: ["m"],
        cases: [{ id: "c", assertions: [{ type: "contains", value: "{{toString}}" }] }]
      }))
      expect(error.message).toContain("case c gives no value for {{constructor}} used by prompt p1")
      expect(error.message).toContain("case c gives no value for {{toString}} used by its contains assertion")
    }))

  it.effect("a case with prompts: [] is a config error (it would never run)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Eval.make({
        name: "skip",
        prompts: ["hi"],
        models: ["m"],
        cases: [{ id: "important", prompts: [], assertions: [{ type: "equals", value: "right" }] }]
      }))
      expect(error._tag).toBe("EvalConfigError")
      expect(error.message).toContain("case important has prompts: [] and would never run")
    }))

  it.effect("schema errors name the field; unknown keys are rejected", () =>
    Effect.gen(function*() {
      const typo = yield* Effect.flip(Eval.make({ ...suiteInput, cases: [{ id: "c", vars: { a: 1, b: 2 }, asertions: [] }] }))
      expect(typo.message).toContain("asertions")
      const badAssertion = yield* Effect.flip(Eval.make({ ...suiteInput, cases: [{ id: "c", vars: { a: 1, b: 2 }, assertions: [{ type: "contains" }] }] }))
      expect(badAssertion.message).toContain("value")
    }))

  it.effect("the example YAML suite loads; a broken file is a config error", () =>
    Effect.gen(function*() {
      const { suite } = yield* Eval.loadFile("evals/example.suite.yaml")
      expect(suite.cases.map((c) => c.id)).toContain("extract-contact")
      expect(suite.models.map(Eval.modelName)).toEqual(["openai-mini", "claude-haiku"])
      const missing = yield* Effect.flip(Eval.loadFile("evals/nope.yaml"))
      expect(missing.message).toContain("Cannot read")
    }))
})

describe("Eval.run", () => {
  it.effect("runs prompts × models × cases, with progress, tokens and per-cell status", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make(suiteInput)
      const good = yield* adder()
      const bad = yield* adder({ wrong: true })
      const progress = yield* Ref.make<ReadonlyArray<string>>([])
      const report = yield* Eval.run(suite, {
        models: { good: good.service, bad: bad.service },
        onProgress: (p) => Ref.update(progress, (xs) => [...xs, `${p.done}/${p.total}`])
      })
      expect(report.cells).toHaveLength(8)
      expect(report.summary).toMatchObject({ cells: 8, passed: 4, failed: 4, errors: 0, passRate: 0.5, calls: 8 })
      expect(report.cells.filter((c) => c.model === "good").every((c) => c.status === "pass")).toBe(true)
      expect(report.cells.filter((c) => c.model === "bad").every((c) => c.status === "fail")).toBe(true)
      expect(report.summary.tokens).toEqual({ input: 80, output: 16 })
      expect((yield* Ref.get(progress)).slice(-1)).toEqual(["8/8"])
      const terse = yield* good.recorder.requests
      expect(terse.some((r) => r.messages[0]!.role === "system" && r.messages[1]!.content === "40 + 2 =")).toBe(true)
    }))

  it.effect("concurrency is bounded", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make({ ...suiteInput, models: ["slow"], cases: Array.from({ length: 6 }, (_, i) => ({ id: `c${i}`, vars: { a: i, b: 1 } })) })
      const inFlight = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const slow = yield* ScriptedModel.make(() =>
        Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(inFlight, (n) => n + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Effect.sleep("1 second")
          yield* Ref.update(inFlight, (n) => n - 1)
          return { text: "1" }
        })
      )
      const fiber = yield* Effect.fork(Eval.run(suite, { models: { slow: slow.service }, concurrency: 3, cache: false }))
      yield* TestClock.adjust("10 seconds")
      const report = yield* Fiber.join(fiber)
      expect(report.cells).toHaveLength(12)
      expect(yield* Ref.get(peak)).toBe(3)
    }))

  it.scoped("a rerun with the same cache store is served from the cache", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make(suiteInput)
      const good = yield* adder()
      const bad = yield* adder({ wrong: true })
      const store = yield* sharedStore
      const options = { models: { good: good.service, bad: bad.service }, cache: { store } }
      const first = yield* Eval.run(suite, options)
      const second = yield* Eval.run(suite, options)
      expect(first.summary.cachedCalls).toBe(0)
      expect(second.summary.cachedCalls).toBe(8)
      expect(yield* good.recorder.calls).toBe(4)
      expect(second.cells.map((c) => c.status)).toEqual(first.cells.map((c) => c.status))
      const uncached = yield* Eval.run(suite, { ...options, cache: false })
      expect(uncached.summary.cachedCalls).toBe(0)
      expect(yield* good.recorder.calls).toBe(8)
    }))

  it.scoped("repeat: N with a required pass rate; repetitions are separate cache entries", () =>
    Effect.gen(function*() {
      const flaky = yield* ScriptedModel.make((_request, index) => ({ text: index % 2 === 0 ? "5" : "6" }))
      const input = (passRate: number) => ({
        name: "flaky",
        prompts: ["{{a}} + {{b}}"],
        models: ["flaky"],
        cases: [{ id: "c", vars: { a: 2, b: 3 }, repeat: 4, passRate, assertions: [{ type: "equals" as const, value: "5" }] }]
      })
      const store = yield* sharedStore
      const half = yield* Eval.run(yield* Eval.make(input(0.5)), { models: { flaky: flaky.service }, cache: { store } })
      expect(yield* flaky.recorder.calls).toBe(4)
      expect(half.cells[0]).toMatchObject({ status: "pass", passRate: 0.5, requiredPassRate: 0.5 })
      expect(half.cells[0]!.runs.map((r) => r.output)).toEqual(["5", "6", "5", "6"])
      const strict = yield* Eval.run(yield* Eval.make(input(0.75)), { models: { flaky: flaky.service }, cache: { store } })
      expect(yield* flaky.recorder.calls).toBe(4)
      expect(strict.cells[0]!.runs.map((r) => r.output)).toEqual(["5", "6", "5", "6"])
      expect(strict.cells[0]).toMatchObject({ status: "fail", passRate: 0.5 })
    }))

  it.scoped("latency is measured per call and a latency ceiling never reads the cache", () =>
    Effect.gen(function*() {
      const slow = yield* adder({ latency: "3 seconds" })
      const suite = yield* Eval.make({
        name: "latency",
        prompts: ["{{a}} + {{b}}"],
        models: ["slow"],
        cases: [{ id: "c", vars: { a: 1, b: 1 }, assertions: [{ type: "latency", maxMillis: 2000 }] }]
      })
      const store = yield* sharedStore
      for (let i = 0; i < 2; i++) {
        const fiber = yield* Effect.fork(Eval.run(suite, { models: { slow: slow.service }, cache: { store } }))
        yield* TestClock.adjust("3 seconds")
        const report = yield* Fiber.join(fiber)
        expect(report.cells[0]!.latencyMillis).toBe(3000)
        expect(report.cells[0]!.status).toBe("fail")
        expect(report.cells[0]!.runs[0]!.cached).toBe(false)
      }
      expect(yield* slow.recorder.calls).toBe(2)
    }))

  it.scoped("cost: priced from usage when the response has none; a cache hit spends $0", () =>
    Effect.gen(function*() {
      const model = yield* adder()
      const suite = yield* Eval.make({
        name: "cost",
        prompts: ["{{a}} + {{b}}"],
        models: ["m"],
        cases: [{ id: "c", vars: { a: 1, b: 1 }, assertions: [{ type: "cost", maxUsd: 0.0001 }] }]
      })
      // 10 input tokens at $2/M + 2 output at $8/M = $0.000036
      const pricing = Pricing.make({ overrides: { "scripted-model": Pricing.perMillion({ input: 2, output: 8 }) } })
      const store = yield* sharedStore
      const first = yield* Eval.run(suite, { models: { m: model.service }, pricing, cache: { store } })
      expect(first.cells[0]!.costUsd).toBeCloseTo(0.000036, 9)
      expect(first.cells[0]!.status).toBe("pass")
      const second = yield* Eval.run(suite, { models: { m: model.service }, pricing, cache: { store } })
      expect(second.cells[0]!.costUsd).toBe(0)
      expect(second.cells[0]!.runs[0]!.assertions[0]!.value).toBeCloseTo(0.000036, 9)
      const unpriced = yield* Eval.run(suite, { models: { m: model.service }, pricing: Pricing.make({ withoutDefaults: true }), cache: false })
      expect(unpriced.cells[0]!.status).toBe("fail")
      expect(unpriced.summary.costIncomplete).toBe(true)
    }))

  it.effect("a provider error makes the cell an error and the verdict exit code 3", () =>
    Effect.gen(function*() {
      const down = yield* ScriptedModel.make([new LlmError.AuthenticationFailed({ message: "bad key", provider: "p" })])
      const suite = yield* Eval.make({ name: "down", prompts: ["hi"], models: ["down"], cases: [{ id: "c", assertions: [{ type: "contains", value: "x" }] }] })
      const report = yield* Eval.run(suite, { models: { down: down.service } })
      expect(report.cells[0]!.status).toBe("error")
      expect(report.cells[0]!.runs[0]!.error).toContain("AuthenticationFailed")
      expect(Eval.verdict(report).code).toBe(3)
    }))

  it.effect("an unknown model name or a missing key is a config error before any call", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make({ name: "m", prompts: ["hi"], models: ["ghost"], cases: [{ id: "c" }] })
      const unknown = yield* Effect.flip(Eval.run(suite))
      expect(unknown.message).toContain("ghost")
      const keyed = yield* Eval.make({
        name: "k",
        prompts: ["hi"],
        models: [{ name: "real", provider: "anthropic", model: "claude-haiku-4-5", apiKeyEnv: "EVAL_TEST_NO_SUCH_KEY" }],
        cases: [{ id: "c" }]
      })
      const missingKey = yield* Effect.flip(Eval.run(keyed))
      expect(missingKey.message).toContain("EVAL_TEST_NO_SUCH_KEY")
    }))

  it.effect("a model layer that fails to build is a config error", () =>
    Effect.gen(function*() {
      const suite = yield* Eval.make({ name: "m", prompts: ["hi"], models: ["broken"], cases: [{ id: "c" }] })
      const broken: Layer.Layer<LanguageModel.LanguageModel, string> = Layer.fail("no credentials")
      const error = yield* Effect.flip(Eval.run(suite, { models: { broken } }))
      expect(error.message).toContain("broken could not be built")
    }))
})

describe("Eval baselines and verdicts", () => {
  const runWith = (wrongLarge: boolean) =>
    Effect.gen(function*() {
      const suite = yield* Eval.make({ ...suiteInput, models: ["good"] })
      const model = yield* ScriptedModel.make((request) => {
        const text = request.messages[request.messages.length - 1]!.content
        const [, a, b] = /(\d+) \+ (\d+)/.exec(text)!
        const sum = Number(a) + Number(b)
        return { text: String(wrongLarge && sum === 42 ? 41 : sum) }
      })
      return yield* Eval.run(suite, { models: { good: model.service }, cache: false })
    })

  it.effect("a cell that passed in the baseline and fails now is a regression (exit 2)", () =>
    Effect.gen(function*() {
      const baseline = yield* runWith(false)
      const now = yield* runWith(true)
      const comparison = Eval.compare(now, baseline)
      expect(comparison.regressions.map((r) => r.label).sort()).toEqual(["large / p1 / good", "large / terse / good"])
      expect(comparison.improvements).toEqual([])
      expect(Eval.verdict(now, { comparison }).code).toBe(2)
      expect(Eval.verdict(now).code).toBe(1)
      const back = Eval.compare(baseline, now)
      expect(back.improvements).toHaveLength(2)
      expect(Eval.verdict(baseline, { comparison: back }).code).toBe(0)
    }))

  it.effect("a baseline round-trips through JSON; new and gone cells are listed", () =>
    Effect.gen(function*() {
      const baseline = yield* runWith(false)
      const decoded = yield* Eval.decodeReport(Eval.encodeReport(baseline))
      expect(decoded.cells.map(Eval.cellKey)).toEqual(baseline.cells.map(Eval.cellKey))
      expect(Eval.compare(baseline, decoded).regressions).toEqual([])
      const fewer = new Eval.Report({ ...decoded, cells: decoded.cells.slice(1) })
      const comparison = Eval.compare(fewer, decoded)
      expect(comparison.removed).toEqual([Eval.cellKey(decoded.cells[0]!)])
      expect(Eval.compare(decoded, fewer).added).toEqual([Eval.cellKey(decoded.cells[0]!)])
      const notReport = yield* Effect.flip(Eval.decodeReport("{\"suite\": 1}"))
      expect(notReport._tag).toBe("EvalConfigError")
    }))

  it.effect("a report with no cells does not exit 0", () =>
    Effect.gen(function*() {
      const report = yield* runWith(false)
      const empty = new Eval.Report({
        ...report,
        cells: [],
        summary: new Eval.Summary({ ...report.summary, cells: 0, passed: 0, passRate: 1, calls: 0 })
      })
      const outcome = Eval.verdict(empty, { minPassRate: 0 })
      expect(outcome.code).toBe(Eval.ExitCode.configOrProvider)
      expect(outcome.reasons).toContain("the run has no cells: nothing was evaluated")
    }))

  it.effect("a baseline of another suite is a typed config error, and fails the verdict (exit 3) even when nothing regressed", () =>
    Effect.gen(function*() {
      const baseline = yield* runWith(false)
      const now = yield* runWith(true)
      const other = new Eval.Report({ ...baseline, suite: "other-suite" })
      const error = yield* Effect.flip(Eval.compareBaseline(now, other))
      expect(error._tag).toBe("EvalConfigError")
      expect(error.message).toContain("suite \"other-suite\", not of \"sums\"")
      expect(yield* Effect.flip(Eval.checkBaseline("sums", other))).toBeInstanceOf(Eval.EvalConfigError)
      expect((yield* Eval.compareBaseline(now, baseline)).regressions).toHaveLength(2)
      // the plain compare records both names; the verdict refuses the comparison
      const comparison = Eval.compare(baseline, other)
      expect(comparison.regressions).toEqual([])
      expect(Eval.verdict(baseline, { comparison }).code).toBe(3)
    }))

  it.effect("a baseline that shares no cell with the run fails the verdict (exit 2): nothing was compared", () =>
    Effect.gen(function*() {
      const baseline = yield* runWith(false)
      const now = yield* runWith(true)
      const renamed = new Eval.Report({ ...baseline, cells: baseline.cells.map((c) => new Eval.CellResult({ ...c, caseId: `old-${c.caseId}` })) })
      const comparison = Eval.compare(now, renamed)
      expect(comparison.matched).toBe(0)
      const outcome = Eval.verdict(now, { minPassRate: 0.5, comparison })
      expect(outcome.code).toBe(2)
      expect(outcome.reasons.join("; ")).toContain("no cell of this run is in the baseline")
    }))

  it.effect("ids containing ' / ' do not make two cells share a key: the regression of one is found", () =>
    Effect.gen(function*() {
      const answers = (failA: boolean) =>
        ScriptedModel.make((request) => {
          const text = request.messages[request.messages.length - 1]!.content
          return { text: failA && text === "A" ? "bad" : "ok" }
        })
      // both cells are labelled "x / q / p / m"
      const suite = yield* Eval.make({
        name: "collide",
        prompts: [{ id: "p", template: "{{t}}" }, { id: "q / p", template: "{{t}}" }],
        models: ["m"],
        cases: [
          { id: "x / q", vars: { t: "A" }, prompts: ["p"], assertions: [{ type: "equals", value: "ok" }] },
          { id: "x", vars: { t: "B" }, prompts: ["q / p"], assertions: [{ type: "equals", value: "ok" }] }
        ]
      })
      const before = yield* Eval.run(suite, { models: { m: (yield* answers(false)).service }, cache: false })
      const after = yield* Eval.run(suite, { models: { m: (yield* answers(true)).service }, cache: false })
      expect(after.cells.map((c) => c.status)).toEqual(["fail", "pass"])
      expect(new Set(after.cells.map(Eval.cellKey)).size).toBe(2)
      // a baseline read back from JSON compares the same way (the key is not stored)
      const baseline = yield* Eval.decodeReport(Eval.encodeReport(before))
      const comparison = Eval.compare(after, baseline)
      expect(comparison.regressions.map((r) => [r.key, r.label])).toEqual([[Eval.cellKey(after.cells[0]!), "x / q / p / m"]])
      expect(comparison.matched).toBe(2)
      expect(Eval.verdict(after, { comparison, minPassRate: 0.5 }).code).toBe(2)
    }))

  it.effect("--min-pass-rate: failures above it pass, under it exit 2; errors outrank everything", () =>
    Effect.gen(function*() {
      const report = yield* runWith(true) // 2 of 4 pass
      expect(Eval.verdict(report, { minPassRate: 0.5 }).code).toBe(0)
      expect(Eval.verdict(report, { minPassRate: 0.75 }).code).toBe(2)
      const withError = new Eval.Report({ ...report, summary: new Eval.Summary({ ...report.summary, errors: 1 }) })
      expect(Eval.verdict(withError, { minPassRate: 0.75 }).code).toBe(3)
    }))
})

describe("Eval against the provider simulator", () => {
  it.scopedLive("the example suite passes through the real SDKs with its scripted simulator answers", () =>
    Effect.gen(function*() {
      const simulator = yield* ProviderSimulator.make()
      yield* simulator.setHandler(makeHandler())
      const { suite } = yield* Eval.loadFile("evals/example.suite.yaml")
      const override = { openaiBaseURL: simulator.openaiBaseURL, anthropicBaseURL: simulator.anthropicBaseURL, apiKey: Redacted.make("k") }
      const report = yield* Eval.run(suite, { providerOverride: override })
      expect(report.summary).toMatchObject({ cells: 14, passed: 14, errors: 0 })
      expect(report.summary.costUsd).toBeGreaterThan(0)
      const journal = yield* simulator.journal
      expect(journal.filter((e) => e.route === "anthropic")).toHaveLength(7)
      // both models answer the rubric case alike, so the judge's cache answers the second verdict
      expect(journal.filter((e) => JSON.stringify(e.body).includes("<rubric>"))).toHaveLength(1)
      const verdicts = report.cells.filter((c) => c.caseId === "translate-greeting")
        .map((c) => c.runs[0]!.assertions.find((a) => a.type === "llmRubric")!)
      expect(verdicts.map((v) => [v.pass, v.score])).toEqual([[true, 0.9], [true, 0.9]])
      // the broken handler makes 17 * 23 wrong on both models
      yield* simulator.setHandler(makeHandler({ broken: true }))
      const broken = yield* Eval.run(suite, { providerOverride: override })
      const comparison = Eval.compare(broken, report)
      expect(comparison.regressions.map((r) => r.label).sort()).toEqual([
        "arithmetic-multiply / task / claude-haiku",
        "arithmetic-multiply / task / openai-mini"
      ])
    }), { timeout: 20_000 })

  it.scopedLive("a TypeScript suite with an Effect Schema assertion", () =>
    Effect.gen(function*() {
      const simulator = yield* ProviderSimulator.make()
      yield* simulator.setHandler(makeHandler())
      const { suite } = yield* Eval.loadFile("evals/extraction.suite.ts")
      const report = yield* Eval.run(suite, {
        providerOverride: { openaiBaseURL: simulator.openaiBaseURL, apiKey: Redacted.make("k") }
      })
      expect(report.cells.map((c) => [c.caseId, c.status])).toEqual([["ada", "pass"], ["nobody", "pass"]])
      const nobody = report.cells[1]!.runs[0]!.assertions.find((a) => a.type === "matchesSchema")!
      expect(nobody).toMatchObject({ pass: true, negated: true })
      expect(nobody.reason).toContain("email")
      const first = suite.cases[0]!.assertions[0]!
      expect(first.type === "matchesSchema" && Schema.isSchema(first.schema)).toBe(true)
    }), { timeout: 20_000 })
})
