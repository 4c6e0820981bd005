import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Option, Stream, TestClock } from "effect"
import * as LanguageModel from "../src/LanguageModel.js"
import * as LlmError from "../src/LlmError.js"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as Tokens from "../src/cost/Tokens.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

// The request "hi" to gpt-4.1 is estimated at 3 + 1 + 1 + 3 = 8 input tokens.
// Worst case with maxTokens 100: 8 x $2/M + 100 x $8/M = $0.000816.
// Actual (8 in, 50 out):          8 x $2/M +  50 x $8/M = $0.000416.
const WORST = 0.000816
const ACTUAL = 0.000416
const reply: ScriptedModel.Reply = { text: "ok", usage: { inputTokens: 8, outputTokens: 50 }, latency: "100 millis" }

const request = (extra: Partial<LanguageModel.RequestInput> = {}): LanguageModel.RequestInput => ({
  messages: [{ role: "user", content: "hi" }],
  maxTokens: 100,
  ...extra
})

const stack = (
  options: Budget.Options,
  script: ScriptedModel.Script = () => reply,
  model: ScriptedModel.Options = { provider: "openai", model: "gpt-4.1" }
) =>
  Budget.layer(options).pipe(
    Layer.provide(ScriptedModel.layer(script, model)),
    Layer.provide(Pricing.layer()),
    Layer.provide(BudgetStore.layerMemory)
  )

const line = (scope: string) =>
  Effect.map(Budget.report, (lines) => lines.find((l) => l.scope === scope))

const tagOf = <A>(exit: Exit.Exit<A, LlmError.LlmError>) =>
  Exit.isSuccess(exit)
    ? "ok"
    : Option.getOrElse(Option.map(Cause.failureOption(exit.cause), (e) => e._tag), () => "defect")

describe("Budget", () => {
  const LIMIT = 300 * ACTUAL // fits about 300 calls at their actual cost

  // 2,000 concurrent calls run on the live clock with 50 ms of scripted latency:
  // TestClock checks every live fiber for suspension after each sleep it completes,
  // which makes 2,000 concurrent sleepers take minutes. The assertions do not depend
  // on timing. maxTokens 60 makes the worst case $0.000496 (8 x $2/M + 60 x $8/M).
  describe("2,000 concurrent requests against a budget that fits ~300 at actual cost (memory store)", () => {
    const WORST_60 = 0.000496
    const concurrent = (options: Partial<Budget.Options>) =>
      Effect.gen(function*() {
        const exits = yield* Effect.forEach(
          Array.from({ length: 2_000 }, () => LanguageModel.generate(request({ maxTokens: 60 }))),
          Effect.exit,
          { concurrency: "unbounded" }
        )
        const ok = exits.filter(Exit.isSuccess).length
        expect(exits.filter((e) => tagOf(e) === "BudgetExceeded").length).toBe(2_000 - ok)
        const global = (yield* line("global"))!
        expect(global.reservedUsd).toBe(0)
        expect(global.spentUsd).toBeCloseTo(ok * ACTUAL, 12)
        expect(global.spentUsd).toBeLessThanOrEqual(LIMIT)
        return { ok, remaining: LIMIT - global.spentUsd }
      }).pipe(Effect.provide(stack(
        { limits: [{ scope: "global", period: "day", usd: LIMIT }], ...options },
        () => ({ ...reply, latency: "50 millis" })
      )))

    it.live("fail mode: settled spend never exceeds the limit", () =>
      Effect.gen(function*() {
        const { ok } = yield* concurrent({ mode: "fail" })
        // at least floor(0.1248 / 0.000496) = 251 fit side by side
        expect(ok).toBeGreaterThanOrEqual(251)
      }))

    it.live("wait mode: settled spend never exceeds the limit; less than one worst case is left unspent", () =>
      Effect.gen(function*() {
        const { ok, remaining } = yield* concurrent({ mode: "wait", waitTimeout: "1 minute", pollInterval: "25 millis" })
        expect(remaining).toBeLessThan(WORST_60)
        // the largest n with (n - 1) x actual + worst <= limit
        expect(ok).toBe(299)
      }))
  })

  it.effect("Response.cost is the actual cost of the model that served", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LanguageModel.generate(request()))
      yield* TestClock.adjust("1 second")
      const response = yield* Fiber.join(fiber)
      expect(response.cost?.estimated).toBe(false)
      expect(response.cost?.usd).toBeCloseTo(ACTUAL, 12)
    }).pipe(Effect.provide(stack({ limits: [{ scope: "global", period: "day", usd: 1 }] }))))

  it.effect("the day rolls over at midnight in the configured zone, not at UTC midnight", () =>
    Effect.gen(function*() {
      // 2026-03-05 18:59 in New York = 23:59 UTC
      yield* TestClock.setTime(Date.UTC(2026, 2, 5, 23, 59))
      const call = () => Effect.exit(LanguageModel.generate(request()))
      expect(tagOf(yield* call())).toBe("ok")
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.adjust("2 minutes") // 00:01 UTC, still 19:01 in New York
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.setTime(Date.UTC(2026, 2, 6, 4, 59)) // 23:59 New York
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.adjust("1 minute") // midnight New York
      expect(tagOf(yield* call())).toBe("ok")
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.periodId, l.spentUsd])).toEqual([["2026-03-05", ACTUAL], ["2026-03-06", ACTUAL]])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.001 }], timeZone: "America/New_York" },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("a day that starts at 01:00 (daylight saving from midnight) ends at the next midnight, not at 01:00", () =>
    Effect.gen(function*() {
      // America/Santiago springs forward at 00:00 on 2026-09-06: that day starts at 01:00 (-03:00)
      const call = () => Effect.exit(LanguageModel.generate(request()))
      yield* TestClock.setTime(Date.UTC(2026, 8, 6, 23, 0)) // 20:00 on the 6th
      expect(tagOf(yield* call())).toBe("ok")
      yield* TestClock.setTime(Date.UTC(2026, 8, 7, 3, 30)) // 00:30 on the 7th
      expect(tagOf(yield* call())).toBe("ok")
      const lines = yield* Budget.report
      expect(lines.map((l) => l.periodId)).toEqual(["2026-09-06", "2026-09-07"])
      // and the day before it (ending at the midnight that does not exist) ends at 01:00
      yield* TestClock.setTime(Date.UTC(2026, 8, 6, 2, 30)) // 23:30 on the 5th (-04:00)
      expect(tagOf(yield* call())).toBe("ok")
      yield* TestClock.setTime(Date.UTC(2026, 8, 6, 4, 0)) // 01:00 on the 6th (-03:00)
      expect(tagOf(yield* call())).toBe("BudgetExceeded") // the 6th is spent
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.001 }], timeZone: "America/Santiago" },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("tenants have separate budgets; an override gives one tenant more", () =>
    Effect.gen(function*() {
      const call = (tenant: string) => Effect.exit(LanguageModel.generate(request({ metadata: { tenant } })))
      expect(tagOf(yield* call("acme"))).toBe("ok")
      const refused = yield* Effect.flip(LanguageModel.generate(request({ metadata: { tenant: "acme" } })))
      expect(refused._tag).toBe("BudgetExceeded")
      if (refused._tag === "BudgetExceeded") {
        expect(refused.scope).toBe("tenant:acme")
        expect(refused.period).toBe("month")
        expect(refused.limit).toBeCloseTo(0.001, 12)
        expect(refused.requested).toBeCloseTo(WORST, 12)
      }
      expect(tagOf(yield* call("globex"))).toBe("ok")
      expect(tagOf(yield* call("big"))).toBe("ok")
      expect(tagOf(yield* call("big"))).toBe("ok")
      expect(tagOf(yield* call("big"))).toBe("BudgetExceeded")
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.scope, l.limitUsd, l.spentUsd])).toEqual([
        ["tenant:acme", 0.001, ACTUAL],
        ["tenant:big", 0.0015, 2 * ACTUAL],
        ["tenant:globex", 0.001, ACTUAL]
      ])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "tenant", period: "month", usd: 0.001, overrides: { big: 0.0015 } }] },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("a call reserves in every limit's bucket; of two limits on one bucket the lower binds", () =>
    Effect.gen(function*() {
      const call = (tenant: string) => Effect.flip(LanguageModel.generate(request({ metadata: { tenant } })))
      const refusal = (error: LlmError.LlmError) => error._tag === "BudgetExceeded" ? [error.scope, error.limit] : [error._tag]
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request({ metadata: { tenant: "acme" } }))))).toBe("ok")
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request({ metadata: { tenant: "globex" } }))))).toBe("ok")
      // acme: 0.000416 spent + 0.000816 > 0.001
      expect(refusal(yield* call("acme"))).toEqual(["tenant:acme", 0.001])
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request({ metadata: { tenant: "initech" } }))))).toBe("ok")
      // global: 3 x 0.000416 spent + 0.000816 > 0.002 (the lower of the two global limits)
      expect(refusal(yield* call("umbrella"))).toEqual(["global", 0.002])
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.scope, l.limitUsd, l.spentUsd, l.reservedUsd])).toEqual([
        ["global", 0.002, 3 * ACTUAL, 0],
        ["tenant:acme", 0.001, ACTUAL, 0],
        ["tenant:globex", 0.001, ACTUAL, 0],
        ["tenant:initech", 0.001, ACTUAL, 0]
      ])
    }).pipe(Effect.provide(stack(
      {
        limits: [
          { scope: "global", period: "day", usd: 1 },
          { scope: "tenant", period: "day", usd: 0.001 },
          { scope: "global", period: "day", usd: 0.002 }
        ]
      },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("an interrupted call releases its reservation", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(LanguageModel.generate(request()))
      yield* TestClock.adjust("1 second")
      expect((yield* line("global"))!.reservedUsd).toBeCloseTo(WORST, 12)
      yield* Fiber.interrupt(fiber)
      const global = (yield* line("global"))!
      expect(global.reservedUsd).toBe(0)
      expect(global.spentUsd).toBe(0)
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 1 }] },
      () => ({ ...reply, latency: "10 seconds" })
    ))))

  // Reservation ids are a per-layer random prefix and a counter: two layers on one
  // store (two replicas on Redis, two stacks in a process) never settle each other's.
  it.effect("two budget layers on one store keep their reservations apart", () =>
    Effect.gen(function*() {
      const store = yield* BudgetStore.makeMemory
      const layerOver = (latency: Duration.DurationInput) =>
        Effect.flatMap(
          ScriptedModel.make(() => ({ ...reply, latency }), { provider: "openai", model: "gpt-4.1" }),
          ({ service }) => Budget.make({ limits: [{ scope: "global", period: "day", usd: 1 }] })(service)
        ).pipe(Effect.provideService(BudgetStore.BudgetStore, store), Effect.provide(Pricing.layer()))
      const slow = yield* layerOver("10 seconds")
      const fast = yield* layerOver("1 second")
      const decoded = yield* LanguageModel.decodeRequest(request())
      yield* Tokens.estimate(decoded, "gpt-4.1") // loads the encoding (a real import) before time is driven
      const inFlight = yield* Effect.fork(slow.generate(decoded))
      yield* TestClock.adjust("100 millis")
      const quick = yield* Effect.fork(fast.generate(decoded))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(quick)
      const [state] = yield* store.read([{ key: "global|day|1970-01-01" }], 2_000)
      // The quick call settled its own reservation; the slow one's is still open.
      expect(state!.reserved).toBe(Math.ceil(WORST * 1e9))
      expect(state!.spent).toBe(Math.ceil(ACTUAL * 1e9))
      yield* Fiber.interrupt(inFlight)
    }))

  it.effect("a failed call releases its reservation", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate(request()))
      expect(error._tag).toBe("ProviderUnavailable")
      const global = (yield* line("global"))!
      expect([global.reservedUsd, global.spentUsd]).toEqual([0, 0])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 1 }] },
      () => new LlmError.ProviderUnavailable({ kind: "server", message: "boom" })
    ))))

  it.effect("wait mode: a call waits for a running one to settle, then runs", () =>
    Effect.gen(function*() {
      // 0.0015 fits one worst case; after the first settles at 0.000416 the second fits.
      const first = yield* Effect.fork(LanguageModel.generate(request()))
      const second = yield* Effect.fork(LanguageModel.generate(request()))
      yield* TestClock.adjust("999 millis")
      expect(Option.isNone(yield* Fiber.poll(second))).toBe(true)
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(first)
      yield* TestClock.adjust("1100 millis")
      const response = yield* Fiber.join(second)
      expect(response.cost?.usd).toBeCloseTo(ACTUAL, 12)
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.0015 }], mode: "wait", pollInterval: "100 millis" },
      () => ({ ...reply, latency: "1 second" })
    ))))

  it.effect("wait mode gives up after the timeout with BudgetExceeded", () =>
    Effect.gen(function*() {
      yield* Effect.fork(LanguageModel.generate(request()))
      const second = yield* Effect.fork(Effect.flip(LanguageModel.generate(request())))
      yield* TestClock.adjust("400 millis")
      expect(Option.isNone(yield* Fiber.poll(second))).toBe(true)
      yield* TestClock.adjust("100 millis")
      expect((yield* Fiber.join(second))._tag).toBe("BudgetExceeded")
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.0015 }], mode: "wait", waitTimeout: "500 millis" },
      () => ({ ...reply, latency: "1 minute" })
    ))))

  it.effect("wait mode fails at once when no open reservation could free enough room", () =>
    Effect.gen(function*() {
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request())))).toBe("ok")
      // spent 0.000416 + worst 0.000816 > 0.001: nothing open, waiting cannot help
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request())))).toBe("BudgetExceeded")
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.001 }], mode: "wait", waitTimeout: "1 hour" },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("wait mode: a call that waits into a new day reserves in the new day's bucket (it kept retrying yesterday's)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 2, 5, 23, 59, 50))
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request())))).toBe("ok")
      // spent 0.000416 + worst 0.000816 > 0.001: only the rollover in 10 s can help
      const waiting = yield* Effect.fork(Effect.exit(LanguageModel.generate(request())))
      yield* TestClock.adjust("9 seconds")
      expect(Option.isNone(yield* Fiber.poll(waiting))).toBe(true)
      yield* TestClock.adjust("30 seconds") // past the wait timeout
      expect(tagOf(yield* Fiber.join(waiting))).toBe("ok")
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.periodId, l.spentUsd])).toEqual([["2026-03-05", ACTUAL], ["2026-03-06", ACTUAL]])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.001 }], mode: "wait", waitTimeout: "30 seconds", pollInterval: "1 second" },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("a rolling window frees spend as it slides", () =>
    Effect.gen(function*() {
      const call = () => Effect.exit(LanguageModel.generate(request()))
      expect(tagOf(yield* call())).toBe("ok")
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.adjust("59 minutes")
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.adjust("61 seconds")
      expect(tagOf(yield* call())).toBe("ok")
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "user", period: { window: "1 hour" }, usd: 0.001 }] },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("the worst case is priced at the dearest model; the served model's bucket is charged", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate(request({ maxTokens: 200 })))
      // 8 x $2/M + 200 x $8/M at gpt-4.1 (the dearer one) = 0.001616 > 0.0015
      expect(error._tag).toBe("BudgetExceeded")
      if (error._tag === "BudgetExceeded") expect(error.requested).toBeCloseTo(0.001616, 12)
      const response = yield* LanguageModel.generate(request({ model: "gpt-4.1-mini", maxTokens: 200 }))
      // served by gpt-4.1-mini: 8 x $0.4/M + 50 x $1.6/M
      expect(response.cost?.usd).toBeCloseTo(0.0000832, 12)
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.scope, l.spentUsd])).toEqual([["model:openai%2Fgpt-4.1-mini", 0.0000832]])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "model", period: "day", usd: 0.0015 }] },
      () => ({ ...reply, latency: undefined }),
      { provider: "openai", model: "gpt-4.1", models: ["gpt-4.1-mini"] }
    ))))

  it.effect("a request without maxTokens needs defaultMaxTokens", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate(request({ maxTokens: undefined })))
      expect(error._tag).toBe("InvalidRequest")
      if (error._tag === "InvalidRequest") expect(error.code).toBe("max_tokens_required")
    }).pipe(Effect.provide(stack({ limits: [{ scope: "global", period: "day", usd: 1 }] }))))

  it.effect("defaultMaxTokens bounds requests without maxTokens", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(LanguageModel.generate(request({ maxTokens: undefined })))
      // 8 x $2/M + 1,000 x $8/M = 0.008016 > 0.005
      expect(error._tag).toBe("BudgetExceeded")
    }).pipe(Effect.provide(stack({ limits: [{ scope: "global", period: "day", usd: 0.005 }], defaultMaxTokens: 1_000 }))))

  it.effect("the provider is sent defaultMaxTokens, the bound the reservation assumed (it was sent no bound)", () => {
    const sent: Array<number | undefined> = []
    return Effect.gen(function*() {
      yield* LanguageModel.generate(request({ maxTokens: undefined }))
      yield* Stream.runDrain(LanguageModel.stream(request({ maxTokens: undefined })))
      yield* LanguageModel.generate(request({ maxTokens: 30 }))
      expect(sent).toEqual([100, 100, 30])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 1 }], defaultMaxTokens: 100 },
      (r) => {
        sent.push(r.maxTokens)
        return { text: "ok", usage: { inputTokens: 8, outputTokens: 50 } }
      }
    )))
  })

  it.effect("a dated snapshot of a stack model is reserved for at its own, higher price (it was reserved at the base model's)", () =>
    Effect.gen(function*() {
      // gpt-4o-2024-05-13 is $5/$15 per M, gpt-4o $2.5/$10: "hi" (8 tokens) and 100 out at the
      // snapshot's price is 0.00154 > 0.0012, at the base price 0.00102 < 0.0012
      const exit = yield* Effect.exit(LanguageModel.generate(request({ maxTokens: 100, model: "gpt-4o-2024-05-13" })))
      expect(tagOf(exit)).toBe("BudgetExceeded")
      expect(tagOf(yield* Effect.exit(LanguageModel.generate(request({ maxTokens: 100, model: "gpt-4o" }))))).toBe("ok")
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "global", period: "day", usd: 0.0012 }] },
      () => ({ text: "ok", usage: { inputTokens: 8, outputTokens: 100 } }),
      { provider: "openai", model: "gpt-4o" }
    ))))

  it.effect("a user's budget is within its tenant: another tenant's user of the same name has its own (found in review)", () =>
    Effect.gen(function*() {
      const call = (tenant: string | undefined) =>
        Effect.exit(LanguageModel.generate(request({ metadata: tenant === undefined ? { user: "bob" } : { tenant, user: "bob" } })))
      expect(tagOf(yield* call("acme"))).toBe("ok")
      expect(tagOf(yield* call("acme"))).toBe("BudgetExceeded")
      expect(tagOf(yield* call("globex"))).toBe("ok")
      expect(tagOf(yield* call(undefined))).toBe("ok")
      const scopes = (yield* Budget.report).map((l) => l.scope).sort()
      expect(scopes).toEqual(["user:bob", "user:bob@acme", "user:bob@globex"])
    }).pipe(Effect.provide(stack(
      { limits: [{ scope: "user", period: "day", usd: 0.001 }] },
      () => ({ ...reply, latency: undefined })
    ))))

  it.effect("an inner model without a price fails the layer at construction", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        stack({ limits: [{ scope: "global", period: "day", usd: 1 }] }, () => reply, {
          provider: "local",
          model: "mystery-model"
        })
      )))
      expect(error._tag).toBe("UnknownModel")
    }))

  it.effect("an unknown time zone fails the layer at construction", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        stack({ limits: [{ scope: "global", period: "day", usd: 1 }], timeZone: "Mars/Olympus_Mons" })
      )))
      expect(error._tag).toBe("InvalidBudgetConfig")
    }))

  describe("streams", () => {
    const collectStream = Effect.gen(function*() {
      const events = yield* Stream.runCollect(LanguageModel.stream(request()))
      return [...events]
    })

    it.effect("settle from the Finish usage and carry the cost on Finish", () =>
      Effect.gen(function*() {
        const events = yield* collectStream
        const finish = events.find((e) => e._tag === "Finish")
        expect(finish?._tag === "Finish" && finish.cost?.usd).toBeCloseTo(ACTUAL, 12)
        const global = (yield* line("global"))!
        expect([global.spentUsd, global.reservedUsd]).toEqual([ACTUAL, 0])
      }).pipe(Effect.provide(stack(
        { limits: [{ scope: "global", period: "day", usd: 1 }] },
        () => ({ ...reply, latency: undefined, text: "one two three" })
      ))))

    it.effect("a stream that ends without usage settles at the reserved worst case", () =>
      Effect.gen(function*() {
        const events = yield* collectStream
        expect(events.some((e) => e._tag === "Finish")).toBe(false)
        const global = (yield* line("global"))!
        expect([global.spentUsd, global.reservedUsd]).toEqual([WORST, 0])
      }).pipe(Effect.provide(stack(
        { limits: [{ scope: "global", period: "day", usd: 1 }] },
        () => ({ ...reply, latency: undefined, text: "one two three", dropAfter: 1 })
      ))))

    it.effect("a stream that fails before any event releases its reservation", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(collectStream)
        expect(error._tag).toBe("RateLimited")
        const global = (yield* line("global"))!
        expect([global.spentUsd, global.reservedUsd]).toEqual([0, 0])
      }).pipe(Effect.provide(stack(
        { limits: [{ scope: "global", period: "day", usd: 1 }] },
        () => new LlmError.RateLimited({ source: "provider", message: "slow down" })
      ))))
  })
})
