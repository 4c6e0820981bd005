import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer, Redacted, Schedule, Stream } from "effect"
import * as Batch from "../src/batch/Batch.js"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as Eval from "../src/eval/Eval.js"
import * as Report from "../src/eval/Report.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as BatchSimulator from "../src/testing/BatchSimulator.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"
import { makeHandler } from "../evals/example.simulator.js"
import { driveTestClock } from "./drive-test-clock.js"


const KEY = "sk-eval-batch"

/** Both simulators, answering with the example suite's script (or another handler). */
const simulators = (handler: ProviderSimulator.Handler = makeHandler(), batch: BatchSimulator.BatchBehavior = { pollsUntilDone: 3 }) =>
  Effect.gen(function*() {
    const live = yield* ProviderSimulator.make()
    yield* live.setHandler(handler)
    const batches = yield* BatchSimulator.make({ apiKey: KEY, batch })
    yield* batches.setItemHandler(BatchSimulator.fromProviderHandler(handler))
    const providerOverride: Eval.ProviderOverride = {
      openaiBaseURL: live.openaiBaseURL,
      anthropicBaseURL: live.anthropicBaseURL,
      batchOpenaiBaseURL: batches.openaiBaseURL,
      batchAnthropicBaseURL: batches.anthropicBaseURL,
      apiKey: Redacted.make(KEY)
    }
    return { live, batches, providerOverride }
  })

const judgeCalls = (journal: ReadonlyArray<ProviderSimulator.JournalEntry>) =>
  journal.filter((e) => JSON.stringify(e.body).includes("<rubric>")).length

const everyMinute = Schedule.spaced("1 minute")

const example = Effect.map(Eval.loadFile("evals/example.suite.yaml"), (loaded) => loaded.suite)

/** The example script with fixed usage, so costs can be compared online vs batched. */
const fixedUsage: ProviderSimulator.Handler = (call) => {
  const behavior = makeHandler()(call)
  return behavior === undefined ? undefined : { ...behavior, usage: { input: 1000, output: 100 } }
}

describe("Eval batch mode", () => {
  it.scoped("the example suite run batched has the same pass/fail and outputs as online; one job per model, polled under TestClock", () =>
    Effect.gen(function*() {
      const { batches, live, providerOverride } = yield* simulators()
      const suite = yield* example
      const online = yield* Eval.run(suite, { providerOverride, cache: false })
      const liveCalls = (yield* live.journal).length
      expect(online.summary).toMatchObject({ cells: 14, passed: 14 })
      expect(online.summary.batches).toBeUndefined()

      const submitted: Array<string> = []
      const { elapsed, exit } = yield* driveTestClock(Eval.run(suite, {
        providerOverride,
        cache: false,
        batch: { schedule: everyMinute },
        onBatchSubmitted: ({ calls, model }) => Effect.sync(() => void submitted.push(`${model}:${calls}`))
      }))
      const batched = yield* exit
      expect(batched.cells.map((c) => [Eval.cellKey(c), c.status])).toEqual(online.cells.map((c) => [Eval.cellKey(c), c.status]))
      expect(batched.cells.map((c) => c.runs[0]!.output)).toEqual(online.cells.map((c) => c.runs[0]!.output))
      expect(batched.summary).toMatchObject({ cells: 14, passed: 14, errors: 0, calls: 14, batchedCalls: 14 })
      expect(batched.cells.every((c) => c.runs[0]!.batch !== undefined)).toBe(true)
      expect(submitted.sort()).toEqual(["claude-haiku:7", "openai-mini:7"])

      // one job per model, 3 polls each a minute apart (the two jobs poll side by side)
      const jobs = yield* batches.batches
      expect(jobs.map((j) => [j.provider, j.requests, j.polls]).sort()).toEqual([["anthropic", 7, 3], ["openai", 7, 3]])
      expect(elapsed).toBe(2 * 60_000)
      expect(batched.summary.batches!.map((t) => [t.model, t.outcome, t.calls, t.failedCalls, t.discount])).toEqual([
        ["openai-mini", "batched", 7, 0, 0.5],
        ["claude-haiku", "batched", 7, 0, 0.5]
      ])
      expect(new Set(batched.cells.filter((c) => c.model === "openai-mini").map((c) => c.runs[0]!.batch!.job)))
        .toEqual(new Set([batched.summary.batches![0]!.job]))
      // the answers came from the jobs: the live simulator only saw the judge (online by design)
      const during = (yield* live.journal).slice(liveCalls)
      expect(during.length).toBe(judgeCalls(during))
      expect(judgeCalls(during)).toBe(2)
      // a batch answer's latency is the job's
      expect(batched.cells[0]!.latencyMillis).toBe(2 * 60_000)
    }), { timeout: 30_000 })

  it.scoped("failed items become that case's error with the provider's message; the run completes and exits 3", () =>
    Effect.gen(function*() {
      const handler: ProviderSimulator.Handler = (call) => {
        const body = JSON.stringify(call.body)
        if (call.route === "openai" && body.includes("17 * 23")) {
          return { fault: { kind: "error", status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: "slow down" } }
        }
        if (call.route === "anthropic" && body.includes("library")) {
          return { fault: { kind: "error", status: 400, message: "prompt is too long: 300000 tokens > 200000 maximum" } }
        }
        return makeHandler()(call)
      }
      const { providerOverride } = yield* simulators(handler)
      const suite = yield* example
      const { exit } = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: false, batch: { schedule: everyMinute } }))
      const report = yield* exit
      const cell = (key: string) => report.cells.find((c) => Eval.cellLabel(c) === key)!
      const multiply = cell("arithmetic-multiply / task / openai-mini")
      expect(multiply.status).toBe("error")
      expect(multiply.runs[0]!.error).toBe("RateLimited: slow down")
      expect(multiply.runs[0]!.batch!.customId).toMatch(/^\d+_arithmetic-multiply$/)
      const library = cell("translate-question / task / claude-haiku")
      expect(library.status).toBe("error")
      expect(library.runs[0]!.error).toContain("ContextLengthExceeded: prompt is too long")
      expect(cell("arithmetic-multiply / task / claude-haiku").status).toBe("pass")
      expect(report.summary).toMatchObject({ cells: 14, passed: 12, errors: 2 })
      expect(report.summary.batches!.map((t) => [t.model, t.outcome, t.failedCalls])).toEqual([
        ["openai-mini", "batched", 1],
        ["claude-haiku", "batched", 1]
      ])
      expect(Eval.verdict(report).code).toBe(Eval.ExitCode.configOrProvider)
      expect(Report.consoleTable(report)).toContain("! arithmetic-multiply / task / openai-mini: error: RateLimited: slow down")
    }), { timeout: 30_000 })

  it.scoped("a job that fails as a whole makes each of its calls an error; the other model's job is unaffected", () =>
    Effect.gen(function*() {
      const { batches, providerOverride } = yield* simulators()
      yield* batches.enqueueBatch("openai", { fail: { code: "invalid_json_line", message: "This line is not parseable", line: 2 } })
      const suite = yield* example
      const { exit } = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: false, batch: { schedule: everyMinute } }))
      const report = yield* exit
      const openai = report.cells.filter((c) => c.model === "openai-mini")
      expect(openai.map((c) => c.status)).toEqual(Array(7).fill("error"))
      expect(openai[0]!.runs[0]!.error).toBe("InvalidRequest: The batch failed: line 2: This line is not parseable")
      expect(report.cells.filter((c) => c.model === "claude-haiku").every((c) => c.status === "pass")).toBe(true)
      const target = report.summary.batches![0]!
      expect(target).toMatchObject({ model: "openai-mini", outcome: "failed", calls: 7, failedCalls: 7 })
      expect(target.job).toMatch(/^batch_sim/)
      expect(Report.batchLine(target)).toContain("its 7 call(s) are errors: InvalidRequest: The batch failed")
    }), { timeout: 30_000 })

  it.scoped("costs are priced at the batch discount: half the online cost for the same usage (and the configured discount)", () =>
    Effect.gen(function*() {
      const { providerOverride } = yield* simulators(fixedUsage, { pollsUntilDone: 1 })
      const suite = yield* example
      const online = yield* Eval.run(suite, { providerOverride, cache: false })
      const half = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: false, batch: true })).pipe(Effect.flatMap((r) => r.exit))
      const forty = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: false, batch: { discount: 0.4 } })).pipe(Effect.flatMap((r) => r.exit))
      // 1000 in / 100 out at gpt-4o-mini's and claude-haiku-4-5's list prices
      const live = (model: string) => Pricing.costOf(Pricing.defaults[model]!, new LanguageModel.Usage({ inputTokens: 1000, outputTokens: 100 }))
      for (const [i, cell] of online.cells.entries()) {
        const price = live(cell.model === "openai-mini" ? "gpt-4o-mini" : "claude-haiku-4-5")
        expect(cell.costUsd).toBeCloseTo(price, 12)
        expect(half.cells[i]!.costUsd).toBeCloseTo(price * 0.5, 12)
        expect(forty.cells[i]!.costUsd).toBeCloseTo(price * 0.4, 12)
      }
      expect(half.summary.costUsd).toBeCloseTo(online.summary.costUsd / 2, 12)
      const jobs = half.summary.batches!
      expect(jobs[0]!.costUsd + jobs[1]!.costUsd).toBeCloseTo(half.summary.costUsd, 12)
      expect(forty.summary.batches!.map((t) => t.discount)).toEqual([0.4, 0.4])
      expect(Report.batchLine(jobs[0]!)).toMatch(/openai-mini: job batch_sim\d+ \(completed\), 7 call\(s\), 0 failed, \$\d\.\d{6} at 50% of the live price/)
    }), { timeout: 30_000 })

  it.scoped("the response cache: batch answers are stored, a rerun submits no job; under minCalls the model is called live", () =>
    Effect.gen(function*() {
      const { batches, live, providerOverride } = yield* simulators(makeHandler(), { pollsUntilDone: 1 })
      const suite = yield* example
      const store = Layer.succeedContext(yield* Layer.build(CacheStore.layerMemory()))
      const first = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: { store }, batch: true })).pipe(Effect.flatMap((r) => r.exit))
      expect(first.summary).toMatchObject({ passed: 14, batchedCalls: 14, cachedCalls: 0 })
      expect((yield* batches.batches).length).toBe(2)

      const second = yield* driveTestClock(Eval.run(suite, { providerOverride, cache: { store }, batch: true })).pipe(Effect.flatMap((r) => r.exit))
      expect((yield* batches.batches).length).toBe(2)
      expect(second.summary).toMatchObject({ passed: 14, batchedCalls: 0, cachedCalls: 14, costUsd: 0 })
      expect(second.summary.batches!.map((t) => t.outcome)).toEqual(["cached", "cached"])
      expect(second.cells.map((c) => c.runs[0]!.output)).toEqual(first.cells.map((c) => c.runs[0]!.output))

      // a fresh cache: 7 calls per model are under a minimum of 8, so they are made live
      const before = (yield* live.journal).filter((e) => !JSON.stringify(e.body).includes("<rubric>")).length
      const small = yield* Eval.run(suite, { providerOverride, batch: { minCalls: 8 } })
      expect((yield* batches.batches).length).toBe(2)
      expect((yield* live.journal).filter((e) => !JSON.stringify(e.body).includes("<rubric>")).length - before).toBe(14)
      expect(small.summary).toMatchObject({ passed: 14, batchedCalls: 0 })
      expect(small.summary.batches!.map((t) => [t.outcome, t.note])).toEqual([
        ["online", "7 call(s) to make, under the batch minimum of 8"],
        ["online", "7 call(s) to make, under the batch minimum of 8"]
      ])
    }), { timeout: 30_000 })

  it.scoped("a model given as a service batches through its client; repeats are separate items; a latency case and a model without client stay live", () =>
    Effect.gen(function*() {
      const sim = yield* BatchSimulator.make({ apiKey: KEY, batch: { pollsUntilDone: 2 } })
      const seen: Array<string> = []
      yield* sim.setItemHandler((item) => {
        seen.push(item.customId)
        return { text: item.index % 2 === 0 ? "5" : "6", usage: { input: 10, output: 1 } }
      })
      const client = yield* Batch.makeOpenAi({ apiKey: Redacted.make(KEY), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" }).pipe(
        Effect.provide(Pricing.layer())
      )
      const scripted = yield* ScriptedModel.make(() => ({ text: "5" }))
      const other = yield* ScriptedModel.make(() => ({ text: "5" }))
      const suite = yield* Eval.make({
        name: "repeat",
        prompts: ["{{a}} + {{b}}"],
        models: ["scripted", "other"],
        cases: [
          { id: "flaky sum", vars: { a: 2, b: 3 }, repeat: 4, passRate: 0.5, assertions: [{ type: "equals", value: "5" }] },
          { id: "fast", vars: { a: 1, b: 4 }, assertions: [{ type: "latency", maxMillis: 1000 }] }
        ]
      })
      const { exit } = yield* driveTestClock(Eval.run(suite, {
        models: { scripted: scripted.service, other: other.service },
        batch: { clients: { scripted: client }, schedule: everyMinute }
      }))
      const report = yield* exit
      const cell = (key: string) => report.cells.find((c) => Eval.cellLabel(c) === key)!
      const flaky = cell("flaky sum / p1 / scripted")
      expect(flaky.runs.map((r) => [r.output, r.batch?.customId])).toEqual([
        ["5", "0_flaky-sum"],
        ["6", "1_flaky-sum"],
        ["5", "2_flaky-sum"],
        ["6", "3_flaky-sum"]
      ])
      expect(flaky).toMatchObject({ status: "pass", passRate: 0.5 })
      expect(seen.sort()).toEqual(["0_flaky-sum", "1_flaky-sum", "2_flaky-sum", "3_flaky-sum"])
      // the latency case went to the model itself, and so did every call of "other"
      expect(cell("fast / p1 / scripted").runs[0]!.batch).toBeUndefined()
      expect(yield* scripted.recorder.calls).toBe(1)
      expect(yield* other.recorder.calls).toBe(5)
      expect(report.summary.batches!.map((t) => [t.model, t.outcome, t.discount])).toEqual([
        ["scripted", "batched", undefined],
        ["other", "online", undefined]
      ])
      expect(report.summary.batches![1]!.note).toContain("without a batch client")
    }), { timeout: 30_000 })

  it.effect("a job whose results leave out an item makes that call an error cell ('no result for custom id …'), not a crash", () =>
    Effect.gen(function*() {
      const scripted = yield* ScriptedModel.make(() => ({ text: "ok" }))
      const status: Batch.Status = { state: "completed", ended: true, total: 2, succeeded: 1, failed: 0 }
      const client: Batch.Service = {
        provider: "custom",
        submit: (submission) =>
          Effect.succeed({
            id: "job_1",
            provider: "custom",
            inputFileId: undefined,
            items: submission.flatMap((item) =>
              "customId" in item && item.request instanceof LanguageModel.Request ? [{ customId: item.customId, request: item.request }] : []
            )
          }),
        status: () => Effect.succeed(status),
        wait: () => Effect.succeed(status),
        // answers the first item only
        results: (job) =>
          Stream.make<[Batch.Result]>({
            _tag: "Succeeded",
            customId: job.items[0]!.customId,
            index: 0,
            request: job.items[0]!.request,
            response: new LanguageModel.Response({
              text: "ok",
              finishReason: "stop",
              usage: new LanguageModel.Usage({ inputTokens: 3, outputTokens: 1 }),
              provider: "custom",
              model: "m",
              latencyMillis: 1
            })
          }),
        cancel: () => Effect.void,
        run: () => Stream.empty
      }
      const suite = yield* Eval.make({
        name: "partial",
        prompts: ["hi {{v}}"],
        models: ["m"],
        cases: [
          { id: "a", vars: { v: 1 }, assertions: [{ type: "equals", value: "ok" }] },
          { id: "b", vars: { v: 2 }, assertions: [{ type: "equals", value: "ok" }] }
        ]
      })
      const report = yield* Eval.run(suite, { models: { m: scripted.service }, cache: false, batch: { clients: { m: client } } })
      expect(report.cells.map((c) => c.status)).toEqual(["pass", "error"])
      const missing = report.cells[1]!.runs[0]!
      expect(missing.error).toContain("no result for custom id 1_b in batch job job_1")
      expect(missing.batch).toEqual({ job: "job_1", customId: "1_b" })
      expect(report.summary.batches!.map((t) => [t.outcome, t.calls, t.failedCalls])).toEqual([["batched", 2, 1]])
      expect(Eval.verdict(report).code).toBe(3)
      expect(yield* scripted.recorder.calls).toBe(0)
    }))

  it.scoped("interrupting a run while its job is pending cancels the job", () =>
    Effect.gen(function*() {
      const { batches, providerOverride } = yield* simulators(makeHandler(), { pollsUntilDone: 100 })
      const suite = yield* Eval.make({
        name: "one",
        prompts: ["{{task}}"],
        models: [{ name: "m", provider: "openai", model: "gpt-4o-mini" }],
        cases: [{ id: "c", vars: { task: "Compute 1 + 1. Answer with the number only." } }]
      })
      const fiber = yield* Effect.fork(Eval.run(suite, { providerOverride, batch: { schedule: everyMinute } }))
      yield* batches.awaitEntry((e) => e.operation === "batches.retrieve")
      yield* Fiber.interrupt(fiber)
      yield* batches.awaitEntry((e) => e.operation === "batches.cancel")
      expect((yield* batches.journal).map((e) => e.operation)).toContain("batches.cancel")
    }), { timeout: 30_000 })

  it.effect("reports say which cells ran batched: console, JUnit properties, HTML, and the JSON round trip", () =>
    Effect.gen(function*() {
      const scripted = yield* ScriptedModel.make(() => ({ text: "5" }))
      const suite = yield* Eval.make({ name: "r", prompts: ["{{a}} + {{b}}"], models: ["m"], cases: [{ id: "c", vars: { a: 2, b: 3 }, assertions: [{ type: "equals", value: "5" }] }] })
      const plain = yield* Eval.run(suite, { models: { m: scripted.service }, cache: false })
      const run = new Eval.RunResult({ ...plain.cells[0]!.runs[0]!, batch: { job: "batch_abc", customId: "0_c" } })
      const report = new Eval.Report({
        ...plain,
        cells: [new Eval.CellResult({ ...plain.cells[0]!, runs: [run] })],
        summary: new Eval.Summary({
          ...plain.summary,
          batchedCalls: 1,
          batches: [new Eval.BatchTarget({ model: "m", outcome: "batched", job: "batch_abc", state: "completed", calls: 1, failedCalls: 0, costUsd: 0.000018, discount: 0.5, durationMillis: 125_000 })]
        })
      })
      const table = Report.consoleTable(report)
      expect(table).toContain("✓ 1.00 0ms [b]")
      expect(table).toContain("Batch mode: 1 of 1 call(s) answered by provider batch jobs")
      expect(table).toContain("m: job batch_abc (completed), 1 call(s), 0 failed, $0.000018 at 50% of the live price, 2m05s")
      const xml = Report.junit(report)
      expect(xml).toContain(`<properties>\n      <property name="batch.outcome" value="batched"/>\n      <property name="batch.job" value="batch_abc"/>`)
      const html = Report.html(report)
      expect(html).toContain(`<span class="batched">batched</span>`)
      expect(html).toContain("batch job batch_abc, item 0_c")
      const decoded = yield* Eval.decodeReport(Eval.encodeReport(report))
      expect(decoded.cells[0]!.runs[0]!.batch).toEqual({ job: "batch_abc", customId: "0_c" })
      expect(decoded.summary.batches![0]!.job).toBe("batch_abc")
      // a report without batch mode (an older baseline) still decodes and renders no batch section
      expect(Report.consoleTable(plain)).not.toContain("Batch mode")
      expect(Exit.isSuccess(yield* Effect.exit(Eval.decodeReport(Eval.encodeReport(plain))))).toBe(true)
    }))
})
