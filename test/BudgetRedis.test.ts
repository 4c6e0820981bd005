/**
 * The budget store contract, run against the in-memory store and Redis alike, and
 * the 2,000-concurrent-request test over Redis with two independent Budget layers.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Layer, TestClock } from "effect"
import { Redis } from "ioredis"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Budget from "../src/cost/Budget.js"
import * as BudgetStore from "../src/cost/BudgetStore.js"
import * as Pricing from "../src/cost/Pricing.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"
const clients: Array<Redis> = []
const prefixes: Array<string> = []

/** A store on a fresh prefix, with its client and prefix (cleaned up after all tests). */
const redisStoreWith = () => {
  const client = new Redis(url)
  clients.push(client)
  const prefix = `{test-budget-${crypto.randomUUID()}}`
  prefixes.push(prefix)
  return { client, prefix, store: BudgetStore.makeRedis(client, { prefix }) }
}

const redisStore = (): BudgetStore.Service => redisStoreWith().store

afterAll(async () => {
  const client = new Redis(url)
  for (const prefix of prefixes) {
    const keys = await client.keys(`${prefix.replace(/[{}]/g, "\\$&")}*`)
    if (keys.length > 0) await client.del(...keys)
  }
  await client.quit()
  await Promise.all(clients.map((c) => c.quit()))
})

const stores: ReadonlyArray<readonly [string, () => Effect.Effect<BudgetStore.Service>]> = [
  ["memory", () => BudgetStore.makeMemory],
  ["redis", () => Effect.sync(redisStore)]
]

const bucket = (key: string, limit: number, windowMillis?: number): BudgetStore.Bucket =>
  windowMillis === undefined ? { key, limit, ttlMillis: 60_000 } : { key, limit, windowMillis, ttlMillis: 60_000 }

describe.each(stores)("BudgetStore contract: %s", (_name, makeStore) => {
  it.effect("a reservation is all or nothing across its buckets", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 100)
      const b = bucket("b", 50)
      expect(yield* store.reserve({ id: "r1", buckets: [a, b], amount: 40, now: 0, leaseMillis: 60_000 }))
        .toEqual({ _tag: "Reserved" })
      expect(yield* store.reserve({ id: "r2", buckets: [a, b], amount: 40, now: 0, leaseMillis: 60_000 }))
        .toEqual({ _tag: "Refused", index: 1, spent: 0, reserved: 40 })
      expect(yield* store.read([a, b], 0)).toEqual([
        { key: "a", spent: 0, reserved: 40 },
        { key: "b", spent: 0, reserved: 40 }
      ])
    }))

  it.effect("settle replaces the reservation with the actual amounts; twice is a no-op", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 100)
      const m = bucket("model:x", 100)
      yield* store.reserve({ id: "r1", buckets: [a, m], amount: 40, now: 0, leaseMillis: 60_000 })
      expect(yield* store.settle({ id: "r1", amounts: [15, 0], now: 1 })).toBe(true)
      expect(yield* store.settle({ id: "r1", amounts: [15, 0], now: 1 })).toBe(false)
      expect(yield* store.read([a, m], 1)).toEqual([
        { key: "a", spent: 15, reserved: 0 },
        { key: "model:x", spent: 0, reserved: 0 }
      ])
    }))

  it.effect("release frees the reservation without spending", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 100)
      yield* store.reserve({ id: "r1", buckets: [a], amount: 100, now: 0, leaseMillis: 60_000 })
      expect((yield* store.reserve({ id: "r2", buckets: [a], amount: 1, now: 0, leaseMillis: 60_000 }))._tag)
        .toBe("Refused")
      expect(yield* store.release("r1", 0)).toBe(true)
      expect(yield* store.release("r1", 0)).toBe(false)
      expect(yield* store.read([a], 0)).toEqual([{ key: "a", spent: 0, reserved: 0 }])
      expect((yield* store.reserve({ id: "r2", buckets: [a], amount: 100, now: 0, leaseMillis: 60_000 }))._tag)
        .toBe("Reserved")
    }))

  it.effect("reserve is idempotent per id", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 100)
      yield* store.reserve({ id: "r1", buckets: [a], amount: 30, now: 0, leaseMillis: 60_000 })
      yield* store.reserve({ id: "r1", buckets: [a], amount: 30, now: 0, leaseMillis: 60_000 })
      expect(yield* store.read([a], 0)).toEqual([{ key: "a", spent: 0, reserved: 30 }])
    }))

  it.effect("spend in a rolling window stops counting once it is older than the window", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const w = bucket("w", 100, 1_000)
      yield* store.reserve({ id: "r1", buckets: [w], amount: 80, now: 0, leaseMillis: 60_000 })
      yield* store.settle({ id: "r1", amounts: [80], now: 100 })
      expect((yield* store.reserve({ id: "r2", buckets: [w], amount: 30, now: 1_000, leaseMillis: 60_000 }))._tag)
        .toBe("Refused")
      expect(yield* store.reserve({ id: "r3", buckets: [w], amount: 30, now: 1_101, leaseMillis: 60_000 }))
        .toEqual({ _tag: "Reserved" })
      expect(yield* store.read([w], 1_101)).toEqual([{ key: "w", spent: 0, reserved: 30 }])
    }))

  it.effect("a reservation whose lease ran out is charged in full", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 100)
      yield* store.reserve({ id: "lost", buckets: [a], amount: 60, now: 0, leaseMillis: 5_000 })
      yield* store.reserve({ id: "other", buckets: [bucket("b", 100)], amount: 1, now: 6_000, leaseMillis: 5_000 })
      expect(yield* store.read([a], 6_000)).toEqual([{ key: "a", spent: 60, reserved: 0 }])
      expect(yield* store.settle({ id: "lost", amounts: [10], now: 6_001 })).toBe(false)
    }))

  it.effect("300 concurrent reservations of 10 against a limit of 1,000: exactly 100 win", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      const a = bucket("a", 1_000)
      const results = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i),
        (i) => store.reserve({ id: `r${i}`, buckets: [a], amount: 10, now: 0, leaseMillis: 60_000 }),
        { concurrency: "unbounded" }
      )
      expect(results.filter((r) => r._tag === "Reserved").length).toBe(100)
      expect(yield* store.read([a], 0)).toEqual([{ key: "a", spent: 0, reserved: 1_000 }])
    }))

  it.effect("keys lists the buckets still kept", () =>
    Effect.gen(function*() {
      const store = yield* makeStore()
      yield* store.reserve({ id: "r1", buckets: [bucket("a", 10), bucket("b", 10)], amount: 1, now: 0, leaseMillis: 1e6 })
      expect([...(yield* store.keys(0))].sort()).toEqual(["a", "b"])
    }))
})

describe("Redis store: a window bucket's keys expire apart", () => {
  it.effect("a counter that expired while its window entries stayed starts from zero (it went negative: double the limit in a window)", () =>
    Effect.gen(function*() {
      const { client, prefix, store } = redisStoreWith()
      const w: BudgetStore.Bucket = { key: "user:u", limit: 1_000, windowMillis: 300, ttlMillis: 60_000 }
      yield* store.reserve({ id: "a", buckets: [w], amount: 1_000, now: 0, leaseMillis: 100 })
      yield* store.settle({ id: "a", amounts: [1_000], now: 10 })
      // what the counter's expiry (window + lease after its last reservation) does; the
      // window entries live a day longer
      yield* Effect.promise(() => client.del(`${prefix}:b:user:u`))
      expect(yield* Effect.promise(() => client.exists(`${prefix}:w:user:u`))).toBe(1)
      expect(yield* store.read([w], 10_000)).toEqual([{ key: "user:u", spent: 0, reserved: 0 }])
      expect(yield* store.reserve({ id: "b", buckets: [w], amount: 1_000, now: 10_000, leaseMillis: 100 })).toEqual({ _tag: "Reserved" })
      expect((yield* store.reserve({ id: "c", buckets: [w], amount: 1_000, now: 10_000, leaseMillis: 100 }))._tag).toBe("Refused")
    }))

  it.effect("settling keeps the counter for at least the window its entry counts in", () =>
    Effect.gen(function*() {
      const { client, prefix, store } = redisStoreWith()
      const w: BudgetStore.Bucket = { key: "k", limit: 1_000, windowMillis: 3_600_000, ttlMillis: 1_000 }
      yield* store.reserve({ id: "a", buckets: [w], amount: 10, now: 0, leaseMillis: 100 })
      yield* store.settle({ id: "a", amounts: [10], now: 10 })
      expect(yield* Effect.promise(() => client.pttl(`${prefix}:b:k`))).toBeGreaterThan(3_500_000)
    }))
})

// The request "hi" to gpt-4.1 with maxTokens 60: worst case 8 x $2/M + 60 x $8/M =
// $0.000496; actual (8 in, 50 out) $0.000416. The limit fits 300 calls at actual cost.
const ACTUAL = 0.000416
const WORST = 0.000496
const LIMIT = 300 * ACTUAL

describe("2,000 concurrent requests over Redis, split across two independent Budget layers", () => {
  // Live clock with 50 ms of scripted latency (see test/Budget.test.ts for why not TestClock).
  const run = (mode: "fail" | "wait") =>
    Effect.gen(function*() {
      const client = new Redis(url)
      clients.push(client)
      const prefix = `{test-budget-${crypto.randomUUID()}}`
      prefixes.push(prefix)
      const instance = () =>
        Layer.build(
          Budget.layer({
            limits: [{ scope: "global", period: "day", usd: LIMIT }],
            mode,
            waitTimeout: "1 minute",
            pollInterval: "25 millis"
          }).pipe(
            Layer.provide(ScriptedModel.layer(
              () => ({ text: "ok", usage: { inputTokens: 8, outputTokens: 50 }, latency: "50 millis" }),
              { provider: "openai", model: "gpt-4.1" }
            )),
            Layer.provide(Pricing.layer()),
            // each instance has its own connection: they share only Redis
            Layer.provide(BudgetStore.layerRedis({ url, prefix }))
          )
        )
      const a = yield* instance()
      const b = yield* instance()
      const call = LanguageModel.generate({ messages: [{ role: "user", content: "hi" }], maxTokens: 60 })
      const exits = yield* Effect.forEach(
        Array.from({ length: 2_000 }, (_, i) => Effect.provide(call, i % 2 === 0 ? a : b)),
        Effect.exit,
        { concurrency: "unbounded" }
      )
      const ok = exits.filter(Exit.isSuccess).length
      const refused = exits.filter((e) =>
        Exit.isFailure(e) && e.cause._tag === "Fail" && e.cause.error._tag === "BudgetExceeded"
      ).length
      expect(refused).toBe(2_000 - ok)
      const lines = yield* Effect.provide(Budget.report, a)
      expect(lines.length).toBe(1)
      expect(yield* Effect.provide(Budget.report, b)).toEqual(lines)
      const global = lines[0]!
      expect(global.reservedUsd).toBe(0)
      expect(global.spentUsd).toBeCloseTo(ok * ACTUAL, 12)
      expect(global.spentUsd).toBeLessThanOrEqual(LIMIT)
      return { ok, remaining: LIMIT - global.spentUsd }
    })

  it.live("fail mode: settled spend never exceeds the limit", () =>
    Effect.gen(function*() {
      const { ok } = yield* Effect.scoped(run("fail"))
      expect(ok).toBeGreaterThanOrEqual(251)
    }), 60_000)

  it.live("wait mode: settled spend never exceeds the limit; less than one worst case is left unspent", () =>
    Effect.gen(function*() {
      const { ok, remaining } = yield* Effect.scoped(run("wait"))
      expect(remaining).toBeLessThan(WORST)
      expect(ok).toBe(299)
    }), 60_000)
})

describe("Budget over Redis", () => {
  const reply: ScriptedModel.Reply = { text: "ok", usage: { inputTokens: 8, outputTokens: 50 } }
  const stack = (options: Budget.Options, latency?: Duration.DurationInput) => {
    const prefix = `{test-budget-${crypto.randomUUID()}}`
    prefixes.push(prefix)
    return Budget.layer(options).pipe(
      Layer.provideMerge(ScriptedModel.layer((): ScriptedModel.Step => (latency === undefined ? reply : { ...reply, latency }), {
        provider: "openai",
        model: "gpt-4.1"
      })),
      Layer.provide(Pricing.layer()),
      Layer.provide(BudgetStore.layerRedis({ url, prefix }))
    )
  }
  // maxTokens 100: worst case 8 x $2/M + 100 x $8/M = $0.000816
  const call = (tenant?: string) =>
    Effect.exit(LanguageModel.generate({
      messages: [{ role: "user", content: "hi" }],
      maxTokens: 100,
      ...(tenant === undefined ? {} : { metadata: { tenant } })
    }))
  const tagOf = (exit: Exit.Exit<unknown, { readonly _tag: string }>) =>
    Exit.isSuccess(exit) ? "ok" : exit.cause._tag === "Fail" ? exit.cause.error._tag : "other"

  it.effect("the day rolls over at midnight in the configured zone", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.UTC(2026, 2, 6, 4, 59)) // 23:59 in New York
      expect(tagOf(yield* call())).toBe("ok")
      expect(tagOf(yield* call())).toBe("BudgetExceeded")
      yield* TestClock.adjust("1 minute")
      expect(tagOf(yield* call())).toBe("ok")
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.periodId, l.spentUsd])).toEqual([["2026-03-05", ACTUAL], ["2026-03-06", ACTUAL]])
    }).pipe(Effect.provide(stack({ limits: [{ scope: "global", period: "day", usd: 0.001 }], timeZone: "America/New_York" }))))

  it.effect("tenants are isolated", () =>
    Effect.gen(function*() {
      expect(tagOf(yield* call("acme"))).toBe("ok")
      expect(tagOf(yield* call("acme"))).toBe("BudgetExceeded")
      expect(tagOf(yield* call("globex"))).toBe("ok")
      const lines = yield* Budget.report
      expect(lines.map((l) => [l.scope, l.spentUsd])).toEqual([["tenant:acme", ACTUAL], ["tenant:globex", ACTUAL]])
    }).pipe(Effect.provide(stack({ limits: [{ scope: "tenant", period: "month", usd: 0.001 }] }))))

  it.live("an interrupted call releases its reservation", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(call())
      while ((yield* Effect.flatMap(ScriptedModel.ScriptedModel, (r) => r.calls)) === 0) yield* Effect.sleep("5 millis")
      const before = (yield* Budget.report)[0]!
      expect(before.reservedUsd).toBeCloseTo(0.000816, 12)
      yield* Fiber.interrupt(fiber)
      const after = (yield* Budget.report)[0]!
      expect([after.reservedUsd, after.spentUsd]).toEqual([0, 0])
    }).pipe(Effect.provide(stack({ limits: [{ scope: "global", period: "day", usd: 1 }] }, "10 seconds"))))
})
