import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Layer, Redacted, Schema, Stream } from "effect"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Cascade from "../src/routing/Cascade.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const KEY = "sk-cascade-test"
const CHEAP = "gpt-4.1-nano"
const STRONG = "gpt-4.1"
const JUDGE = "gpt-4.1-mini"
const USAGE = { input: 120, output: 30 }
const priceOf = (model: string, input = USAGE.input, output = USAGE.output) =>
  Pricing.costOf(Pricing.defaults[model]!, new LanguageModel.Usage({ inputTokens: input, outputTokens: output }))

const Answer = Schema.Struct({ label: Schema.Literal("spam", "ham"), confidence: Schema.Number.pipe(Schema.between(0, 1)) })
const GOOD = JSON.stringify({ label: "spam", confidence: 0.9 })
const BAD = "I think it is probably spam?"

const LIMITS: Budget.Options = { limits: [{ scope: "global", period: "day", usd: 10 }], defaultMaxTokens: 200 }

type Shared = Pricing.Pricing | BudgetStore.BudgetStore

/** Builds a test world: one simulator, one budget store and price table shared by every stack. */
const world = Effect.gen(function*() {
  const sim = yield* ProviderSimulator.make({ apiKey: KEY })
  const shared = yield* Layer.build(Layer.merge(BudgetStore.layerMemory, Pricing.layer()))
  /** An OpenAI stack (real SDK) behind its own Budget on the shared store. */
  const stack = (model: string): Layer.Layer<LanguageModel.LanguageModel> =>
    Budget.layer(LIMITS).pipe(
      Layer.provide(OpenAi.layer({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model })),
      Layer.provide(Layer.succeedContext(shared)),
      Layer.orDie
    )
  const run = <A, E>(
    options: Omit<Cascade.LayerOptions<unknown, never, never>, "steps" | "checks"> & {
      readonly checks: ReadonlyArray<Cascade.Check | Effect.Effect<Cascade.Check, never, Shared | import("effect/Scope").Scope>>
    },
    body: Effect.Effect<A, E, LanguageModel.LanguageModel>
  ) =>
    Effect.provide(
      body,
      Cascade.layer({ steps: [{ name: "cheap", layer: stack(CHEAP) }, { name: "strong", layer: stack(STRONG) }], ...options }).pipe(
        Layer.provide(Layer.succeedContext(shared))
      )
    )
  /** Spend settled in the shared store (read through a Budget over a dummy model). */
  const spent = Effect.gen(function*() {
    const report = yield* Effect.provide(
      Budget.report,
      Budget.layer(LIMITS).pipe(
        Layer.provide(ScriptedModel.layer([], { provider: "openai", model: CHEAP })),
        Layer.provide(Layer.succeedContext(shared)),
        Layer.orDie
      )
    ).pipe(Effect.orDie)
    const global = report.find((line) => line.scope === "global")
    expect(global?.reservedUsd ?? 0).toBe(0)
    return global?.spentUsd ?? 0
  })
  const models = Effect.map(sim.journal, (entries) =>
    entries.filter((e) => e.route === "openai").map((e) => (e.body as { model: string }).model))
  return { sim, stack, run, spent, models, shared }
})

const classify = (content: string) =>
  Cascade.observe(LanguageModel.generate({ messages: [{ role: "user", content }], maxTokens: 100 }))

/** The simulator's answers: per model and per prompt (`easy`/`hard` in the text). */
const answers = (byModel: Record<string, (prompt: string) => string>): ProviderSimulator.Handler => (call) => {
  const body = call.body as { model: string; messages: ReadonlyArray<{ content: string }> }
  const prompt = body.messages.map((m) => m.content).join("\n")
  return { text: byModel[body.model]!(prompt), usage: USAGE }
}

describe("Cascade", () => {
  it.scoped("stays on the cheap model when its answer decodes: one call, cost and budget = the cheap step", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: () => GOOD, [STRONG]: () => GOOD }))
      const { runs, value } = yield* w.run({ checks: [Cascade.schema(Answer)] }, classify("easy: buy now!!!"))
      expect(value.model).toBe(CHEAP)
      expect(value.cost!.usd).toBeCloseTo(priceOf(CHEAP), 12)
      expect(yield* w.models).toEqual([CHEAP])
      expect(runs[0]!.steps.map((s) => [s.step, s.outcome])).toEqual([["cheap", "accepted"]])
      expect(yield* w.spent).toBeCloseTo(priceOf(CHEAP), 9)
      expect(value.attempts.map((a) => [a.model, a.outcome])).toEqual([[CHEAP, "success"]])
    }))

  it.scoped("escalates when the cheap answer fails the schema; total cost = sum of steps = budget charged", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: () => BAD, [STRONG]: () => GOOD }))
      const { runs, value } = yield* w.run({ checks: [Cascade.schema(Answer)] }, classify("hard: subtle phishing"))
      expect(value.model).toBe(STRONG)
      expect(JSON.parse(value.text)).toEqual({ label: "spam", confidence: 0.9 })
      const steps = runs[0]!.steps
      expect(steps.map((s) => [s.step, s.model, s.outcome, s.check])).toEqual([
        ["cheap", CHEAP, "rejected", "schema"],
        ["strong", STRONG, "accepted", undefined]
      ])
      expect(steps[0]!.reason).toMatch(/not JSON/)
      expect(steps[0]!.costUsd).toBeCloseTo(priceOf(CHEAP), 12)
      expect(steps[1]!.costUsd).toBeCloseTo(priceOf(STRONG), 12)
      const total = priceOf(CHEAP) + priceOf(STRONG)
      expect(value.cost!.usd).toBeCloseTo(total, 12)
      expect(runs[0]!.totalCostUsd).toBeCloseTo(total, 12)
      expect(yield* w.spent).toBeCloseTo(total, 9)
      expect(value.attempts.map((a) => [a.model, a.outcome, a.error])).toEqual([
        [CHEAP, "failure", "OutputRejected"],
        [STRONG, "success", undefined]
      ])
      expect(value.attempts[0]!.message).toMatch(/^cascade check schema:/)
    }))

  it.scoped("a schema refinement failure (confidence 7) escalates too", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: () => JSON.stringify({ label: "spam", confidence: 7 }), [STRONG]: () => GOOD }))
      const { runs } = yield* w.run({ checks: [Cascade.schema(Answer)] }, classify("x"))
      expect(runs[0]!.steps[0]!.reason).toMatch(/between/)
      expect(yield* w.models).toEqual([CHEAP, STRONG])
    }))

  it.scoped("an OutputGuard rejection (a leaked email with pii: reject) escalates", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: () => "Write to bob@example.com", [STRONG]: () => "Write to the support desk" }))
      const { runs, value } = yield* w.run({ checks: [Cascade.outputGuard({ pii: "reject" })] }, classify("who?"))
      expect(value.text).toBe("Write to the support desk")
      expect(runs[0]!.steps[0]).toMatchObject({ outcome: "rejected", check: "outputGuard" })
      expect(runs[0]!.steps[0]!.reason).toMatch(/email/)
    }))

  it.scoped("a user predicate decides; checks run in order and the first failure rejects", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: (p) => (p.includes("hard") ? "dunno" : "42"), [STRONG]: () => "42" }))
      const numeric = Cascade.predicate("numeric", (r) => /^\d+$/.test(r.text.trim()))
      const short = Cascade.predicate("short", (r) => r.text.length < 10)
      const easy = yield* w.run({ checks: [short, numeric] }, classify("easy: 6 x 7"))
      const hard = yield* w.run({ checks: [short, numeric] }, classify("hard: 6 x 7"))
      expect(easy.value.model).toBe(CHEAP)
      expect(hard.value.model).toBe(STRONG)
      expect(hard.runs[0]!.steps[0]).toMatchObject({ check: "numeric", outcome: "rejected" })
    }))

  it.scoped("a judge score under the threshold escalates; judge calls are priced, budgeted and part of the total", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler((call) => {
        const body = call.body as { model: string; messages: ReadonlyArray<{ content: string }> }
        if (body.model === JUDGE) {
          const graded = body.messages.map((m) => m.content).join("\n")
          const score = graded.includes("<answer>\nweak") ? 0.2 : 0.9
          return { text: JSON.stringify({ score, reason: "graded" }), usage: { input: 200, output: 10 } }
        }
        return { text: body.model === CHEAP ? "weak answer" : "strong answer", usage: USAGE }
      })
      const { runs, value } = yield* w.run(
        { checks: [Cascade.judgeLayer({ layer: w.stack(JUDGE), threshold: 0.7 })] },
        classify("explain")
      )
      expect(value.text).toBe("strong answer")
      const judgeCost = priceOf(JUDGE, 200, 10)
      expect(runs[0]!.steps[0]).toMatchObject({ outcome: "rejected", check: "judge", score: 0.2 })
      expect(runs[0]!.steps[0]!.checkCostUsd).toBeCloseTo(judgeCost, 12)
      // the last step is accepted unchecked (onExhausted accept-last): one judge call
      expect(yield* w.models).toEqual([CHEAP, JUDGE, STRONG])
      const total = priceOf(CHEAP) + judgeCost + priceOf(STRONG)
      expect(value.cost!.usd).toBeCloseTo(total, 12)
      expect(yield* w.spent).toBeCloseTo(total, 9)
      // the judge asked for a structured verdict
      const journal = yield* w.sim.journal
      const judgeBody = journal.find((e) => (e.body as { model: string }).model === JUDGE)!.body as {
        response_format: { type: string; json_schema: { name: string } }
      }
      expect(judgeBody.response_format.type).toBe("json_schema")
      expect(judgeBody.response_format.json_schema.name).toBe("verdict")
    }))

  it.scoped("onExhausted fail: a rejected last step fails with OutputRejected (cascade-exhausted), both steps charged", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.setHandler(answers({ [CHEAP]: () => BAD, [STRONG]: () => BAD }))
      const { runs, value } = yield* Cascade.observe(Effect.exit(
        w.run({ checks: [Cascade.schema(Answer)], onExhausted: "fail" }, LanguageModel.generate({ messages: [{ role: "user", content: "x" }], maxTokens: 100 }))
      ))
      expect(Exit.isFailure(value)).toBe(true)
      const error = Exit.isFailure(value) ? value.cause : undefined
      const failure = error?._tag === "Fail" ? error.error : undefined
      expect(failure?._tag).toBe("OutputRejected")
      expect((failure as LlmError.OutputRejected).reason).toBe("cascade-exhausted")
      expect((failure as LlmError.OutputRejected).findings.map((f) => f.rule)).toEqual(["cascade.schema", "cascade.schema"])
      expect(runs[0]!.steps.map((s) => s.outcome)).toEqual(["rejected", "rejected"])
      expect(yield* w.spent).toBeCloseTo(priceOf(CHEAP) + priceOf(STRONG), 9)
    }))

  it.scoped("a step error that a larger model may fix (context length) escalates; others fail the call", () =>
    Effect.gen(function*() {
      const w = yield* world
      yield* w.sim.enqueue("openai", { fault: { kind: "error", status: 400, code: "context_length_exceeded", message: "too long" } })
      yield* w.sim.setHandler(answers({ [STRONG]: () => GOOD, [CHEAP]: () => GOOD }))
      const { runs, value } = yield* w.run({ checks: [Cascade.schema(Answer)] }, classify("long"))
      expect(value.model).toBe(STRONG)
      expect(runs[0]!.steps[0]).toMatchObject({ outcome: "failed", model: CHEAP, costUsd: undefined })
      expect(value.attempts.map((a) => [a.outcome, a.error])).toEqual([["failure", "ContextLengthExceeded"], ["success", undefined]])
      expect(yield* w.spent).toBeCloseTo(priceOf(STRONG), 9)

      yield* w.sim.enqueue("openai", { fault: { kind: "error", status: 401, message: "bad key" } })
      const exit = yield* Effect.exit(w.run({ checks: [Cascade.schema(Answer)] }, classify("auth")))
      expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : "none").toBe("AuthenticationFailed")
    }))

  it.effect("without a Budget the steps are priced with the Pricing in context; unpriced parts leave the total out", () =>
    Effect.gen(function*() {
      const cheap = yield* ScriptedModel.make(() => ({ text: BAD, usage: { inputTokens: 100, outputTokens: 10 } }), { provider: "openai", model: CHEAP })
      const strong = yield* ScriptedModel.make(() => ({ text: GOOD, usage: { inputTokens: 100, outputTokens: 10 } }), { provider: "openai", model: STRONG })
      const priced = yield* Effect.provide(
        Cascade.make([cheap.service, strong.service], { checks: [Cascade.schema(Answer)] }),
        Pricing.layer()
      )
      const response = yield* priced.generate(yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "x" }] }))
      expect(response.cost!.usd).toBeCloseTo(priceOf(CHEAP, 100, 10) + priceOf(STRONG, 100, 10), 12)
      const unpriced = yield* Cascade.make([cheap.service, strong.service], { checks: [Cascade.schema(Answer)] })
      const bare = yield* unpriced.generate(yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "x" }] }))
      expect(bare.cost).toBeUndefined()
      // streams replay the accepted answer
      const streamed = yield* LanguageModel.collect(priced.stream(yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "x" }] })))
      expect(streamed.text).toBe(GOOD)
      expect(streamed.model).toBe(STRONG)
    }))
})

describe("Cascade cost accounting (found in review)", () => {
  const ask = LanguageModel.generate({ messages: [{ role: "user", content: "q" }], maxTokens: 100 })
  const scripted = (model: string, text: string, inputTokens = 100) =>
    ScriptedModel.layer(() => ({ text, usage: { inputTokens, outputTokens: 10 } }), { provider: "openai", model })

  it.scoped("judgeLayer prices the judge call with the Pricing the cascade layer is given (it read the caller's, at call time)", () =>
    Effect.gen(function*() {
      const layer = Cascade.layer({
        steps: [{ name: "cheap", layer: scripted(CHEAP, "cheap answer") }, { name: "strong", layer: scripted(STRONG, "strong answer") }],
        checks: [Cascade.judgeLayer({ layer: scripted(JUDGE, JSON.stringify({ score: 0.9, reason: "ok" }), 200), threshold: 0.7 })]
      }).pipe(Layer.provide(Pricing.layer()))
      const { value } = yield* Effect.provide(Cascade.observe(ask), layer)
      expect(value.model).toBe(CHEAP)
      expect(value.cost?.usd).toBeCloseTo(priceOf(CHEAP, 100, 10) + priceOf(JUDGE, 200, 10), 12)
    }))

  it.scoped("a step refused after the provider answered (OutputRejected) leaves the total unknown, never understated", () =>
    Effect.gen(function*() {
      const rejected = Layer.succeed(LanguageModel.LanguageModel, {
        models: [{ provider: "openai", model: CHEAP }],
        generate: () => Effect.fail(new LlmError.OutputRejected({ reason: "pii", message: "The answer contains email", findings: [] })),
        stream: () => Stream.fail(new LlmError.OutputRejected({ reason: "pii", message: "The answer contains email", findings: [] }))
      })
      const layer = Cascade.layer({
        steps: [{ name: "cheap", layer: rejected }, { name: "strong", layer: scripted(STRONG, "ask the desk") }],
        checks: [],
        escalateOn: () => true
      }).pipe(Layer.provide(Pricing.layer()))
      const { runs, value } = yield* Effect.provide(Cascade.observe(ask), layer)
      expect(value.text).toBe("ask the desk")
      expect(value.cost).toBeUndefined()
      expect(runs[0]!.totalCostUsd).toBeUndefined()
    }))
})
