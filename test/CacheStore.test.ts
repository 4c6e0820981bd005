import { describe, expect, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Context, Duration, Effect, Layer, Option, TestClock } from "effect"
import { Redis } from "ioredis"
import * as CacheStore from "../src/cache/CacheStore.js"
import * as ResponseCache from "../src/cache/ResponseCache.js"
import * as LanguageModel from "../src/LanguageModel.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const ttl = (input: Duration.DurationInput) => Option.some(Duration.decode(input))
const request = Effect.runSync(LanguageModel.decodeRequest({ messages: [{ role: "user", content: "What is Effect?" }] }))

/** A cached scripted model over the given store layer. */
const cachedWith = (store: Layer.Layer<CacheStore.CacheStore, unknown>, text: string) =>
  Effect.gen(function*() {
    const { recorder, service } = yield* ScriptedModel.make([{ text }], { whenExhausted: "repeat-last" })
    // Built in the caller's scope, so the store stays open until that scope closes.
    const context = yield* Layer.build(store)
    const lm = yield* ResponseCache.make()(service).pipe(Effect.provide(context))
    return { lm, recorder }
  })

describe("CacheStore.layerMemory", () => {
  it.effect("evicts the least recently used entry past maxEntries", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      yield* store.set("a", 1, Option.none())
      yield* store.set("b", 2, Option.none())
      yield* store.get("a")
      yield* store.set("c", 3, Option.none())
      expect(yield* store.get("a")).toEqual(Option.some(1))
      expect(yield* store.get("b")).toEqual(Option.none())
      expect(yield* store.get("c")).toEqual(Option.some(3))
    }).pipe(Effect.provide(CacheStore.layerMemory({ maxEntries: 2 }))))

  it.effect("evicts past maxBytes and refuses a value larger than the bound", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      yield* store.set("a", "x".repeat(300), Option.none())
      yield* store.set("b", "y".repeat(300), Option.none())
      expect(Option.isNone(yield* store.get("a"))).toBe(true)
      expect(Option.isSome(yield* store.get("b"))).toBe(true)
      yield* store.set("huge", "z".repeat(2000), Option.none())
      expect(Option.isNone(yield* store.get("huge"))).toBe(true)
    }).pipe(Effect.provide(CacheStore.layerMemory({ maxBytes: 1000 }))))

  it.effect("expires entries by the Effect clock (TestClock)", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      yield* store.set("k", { v: 1 }, ttl("10 seconds"))
      yield* TestClock.adjust("9 seconds")
      expect(yield* store.get("k")).toEqual(Option.some({ v: 1 }))
      yield* TestClock.adjust("1 second")
      expect(yield* store.get("k")).toEqual(Option.none())
    }).pipe(Effect.provide(CacheStore.layerMemory())))

  it.effect("keeps exactly what a reference LRU keeps, over random sets, gets, removes and byte bounds", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      // The reference: an array, least recently used first; bytes as the store counts them (JSON UTF-16).
      let model: Array<{ key: string; value: string }> = []
      const size = (value: string) => JSON.stringify(value).length * 2
      let seed = 7
      const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
      for (let step = 0; step < 3000; step++) {
        const key = `k${Math.floor(random() * 12)}`
        const op = random()
        if (op < 0.45) {
          const value = "v".repeat(Math.floor(random() * 60))
          yield* store.set(key, value, Option.none())
          model = model.filter((e) => e.key !== key)
          model.push({ key, value })
          while (model.length > 6 || model.reduce((n, e) => n + size(e.value), 0) > 400) model.shift()
        } else if (op < 0.9) {
          const found = model.find((e) => e.key === key)
          expect(yield* store.get(key)).toEqual(found === undefined ? Option.none() : Option.some(found.value))
          if (found !== undefined) model = [...model.filter((e) => e !== found), found]
        } else {
          yield* store.remove(key)
          model = model.filter((e) => e.key !== key)
        }
      }
      for (let i = 0; i < 12; i++) {
        const found = model.find((e) => e.key === `k${i}`)
        expect(Option.getOrUndefined(yield* store.get(`k${i}`))).toBe(found?.value)
      }
    }).pipe(Effect.provide(CacheStore.layerMemory({ maxEntries: 6, maxBytes: 400 }))))

  it.effect("stores copies: mutating a value after set does not change the entry", () =>
    Effect.gen(function*() {
      const store = yield* CacheStore.CacheStore
      const value = { n: 1 }
      yield* store.set("k", value, Option.none())
      value.n = 2
      expect(yield* store.get("k")).toEqual(Option.some({ n: 1 }))
    }).pipe(Effect.provide(CacheStore.layerMemory())))
})

describe("CacheStore.layerSqlite", () => {
  const tempFile = () => {
    const dir = mkdtempSync(join(tmpdir(), "effect-llm-cache-"))
    return { file: join(dir, "cache.db"), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
  }

  it.effect("a cached answer survives closing and reopening the database", () =>
    Effect.gen(function*() {
      const { cleanup, file } = tempFile()
      yield* Effect.addFinalizer(() => Effect.sync(cleanup))
      // First process: a miss, answered and stored; the database closes with the scope.
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const { lm, recorder } = yield* cachedWith(CacheStore.layerSqlite({ filename: file }), "persisted answer")
        const response = yield* lm.generate(request)
        expect(yield* recorder.calls).toBe(1)
        return response
      }))
      // Second process: a new model and a new connection to the same file.
      yield* Effect.scoped(Effect.gen(function*() {
        const { lm, recorder } = yield* cachedWith(CacheStore.layerSqlite({ filename: file }), "fresh answer")
        const response = yield* lm.generate(request)
        expect(response.text).toBe(first.text)
        expect(response.cache?.kind).toBe("exact")
        expect(yield* recorder.calls).toBe(0)
      }))
    }).pipe(Effect.scoped))

  it.effect("expires entries by the Effect clock and keeps store ids apart", () =>
    Effect.gen(function*() {
      const { cleanup, file } = tempFile()
      yield* Effect.addFinalizer(() => Effect.sync(cleanup))
      const backing = yield* CacheStore.makeSqliteBacking({ filename: file })
      const a = yield* backing.make("a")
      const b = yield* backing.make("b")
      yield* a.set("k", [1, 2], ttl("1 minute"))
      expect(yield* b.get("k")).toEqual(Option.none())
      yield* TestClock.adjust("59 seconds")
      expect(yield* a.get("k")).toEqual(Option.some([1, 2]))
      yield* TestClock.adjust("1 second")
      expect(yield* a.get("k")).toEqual(Option.none())
    }).pipe(Effect.scoped))

  it.effect("maxEntries deletes the oldest-expiring rows", () =>
    Effect.gen(function*() {
      const { cleanup, file } = tempFile()
      yield* Effect.addFinalizer(() => Effect.sync(cleanup))
      const backing = yield* CacheStore.makeSqliteBacking({ filename: file, maxEntries: 2 })
      const store = yield* backing.make("s")
      yield* store.set("first", 1, ttl("1 minute"))
      yield* TestClock.adjust("1 second")
      yield* store.set("second", 2, ttl("1 minute"))
      yield* TestClock.adjust("1 second")
      yield* store.set("third", 3, ttl("1 minute"))
      expect(yield* store.get("first")).toEqual(Option.none())
      expect(yield* store.get("second")).toEqual(Option.some(2))
      expect(yield* store.get("third")).toEqual(Option.some(3))
    }).pipe(Effect.scoped))
})

describe("CacheStore.layerRedis", () => {
  const url = process.env.REDIS_URL ?? "redis://127.0.0.1:6379"

  it.live("two layer instances (two connections) share one Redis store", () =>
    Effect.gen(function*() {
      const prefix = `effect-llm-test:${randomUUID()}`
      const cleaner = new Redis(url)
      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          const keys = await cleaner.keys(`${prefix}:*`)
          if (keys.length > 0) await cleaner.del(keys)
          await cleaner.quit()
        })
      )
      const replicaA = yield* cachedWith(CacheStore.layerRedisUrl(url, { prefix }), "from replica A")
      const replicaB = yield* cachedWith(CacheStore.layerRedisUrl(url, { prefix }), "from replica B")
      const a = yield* replicaA.lm.generate(request)
      const b = yield* replicaB.lm.generate(request)
      expect(a.text).toBe("from replica A")
      expect(b.text).toBe("from replica A")
      expect(b.cache?.kind).toBe("exact")
      expect(yield* replicaA.recorder.calls).toBe(1)
      expect(yield* replicaB.recorder.calls).toBe(0)
      // The entry really is in Redis, with a TTL.
      const keys = yield* Effect.promise(() => cleaner.keys(`${prefix}:*`))
      expect(keys).toHaveLength(1)
      const pttl = yield* Effect.promise(() => cleaner.pttl(keys[0]!))
      expect(pttl).toBeGreaterThan(0)
    }).pipe(Effect.scoped))

  it.live("another prefix does not see the entry", () =>
    Effect.gen(function*() {
      const prefix = `effect-llm-test:${randomUUID()}`
      yield* Effect.addFinalizer(() =>
        Effect.promise(async () => {
          const cleaner = new Redis(url)
          const keys = await cleaner.keys(`${prefix}*`)
          if (keys.length > 0) await cleaner.del(keys)
          await cleaner.quit()
        })
      )
      const one = yield* cachedWith(CacheStore.layerRedisUrl(url, { prefix: `${prefix}:one` }), "one")
      const two = yield* cachedWith(CacheStore.layerRedisUrl(url, { prefix: `${prefix}:two` }), "two")
      yield* one.lm.generate(request)
      expect((yield* two.lm.generate(request)).text).toBe("two")
    }).pipe(Effect.scoped))

  /** A store under a fresh prefix, its keys deleted when the scope closes. */
  const freshStore = Effect.gen(function*() {
    const prefix = `effect-llm-test:${randomUUID()}`
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        const cleaner = new Redis(url)
        const keys = await cleaner.keys(`${prefix}:*`)
        if (keys.length > 0) await cleaner.del(keys)
        await cleaner.quit()
      })
    )
    const context = yield* Layer.build(CacheStore.layerRedisUrl(url, { prefix }))
    return { prefix, store: Context.get(context, CacheStore.CacheStore) }
  })

  it.live("clear succeeds on a store with no entries, and empties one with entries", () =>
    Effect.gen(function*() {
      const { store } = yield* freshStore
      yield* store.clear
      yield* store.set("k", { v: 1 }, Option.none())
      yield* store.clear
      expect(yield* store.get("k")).toEqual(Option.none())
    }).pipe(Effect.scoped))

  it.live("a TTL that is not a whole number of milliseconds is rounded up to one", () =>
    Effect.gen(function*() {
      const { prefix, store } = yield* freshStore
      yield* store.set("fraction", { v: 1 }, ttl("1500.5 millis"))
      yield* store.set("tiny", { v: 2 }, ttl("0.2 millis"))
      yield* store.setMany([["many", { v: 3 }, ttl("2000.25 millis")]])
      const client = new Redis(url)
      const [fraction, many] = yield* Effect.promise(() =>
        Promise.all([client.pttl(`${prefix}:fraction`), client.pttl(`${prefix}:many`)]).finally(() => client.quit())
      )
      expect(fraction).toBeGreaterThan(1400)
      expect(fraction).toBeLessThanOrEqual(1501)
      expect(many).toBeGreaterThan(1900)
      expect(many).toBeLessThanOrEqual(2001)
      expect(yield* store.get("fraction")).toEqual(Option.some({ v: 1 }))
    }).pipe(Effect.scoped))

  it.live("with Redis unreachable, a cached call is answered by the model at once", () =>
    Effect.gen(function*() {
      // Port 1: nothing listens there, every connection is refused.
      const { recorder, lm } = yield* cachedWith(CacheStore.layerRedisUrl("redis://127.0.0.1:1", { prefix: `effect-llm-test:${randomUUID()}` }), "from the model")
      const started = Date.now()
      const first = yield* lm.generate(request)
      const second = yield* lm.generate(request)
      const elapsed = Date.now() - started
      expect([first.text, second.text]).toEqual(["from the model", "from the model"])
      expect(yield* recorder.calls).toBe(2)
      expect(elapsed).toBeLessThan(3_000)
    }).pipe(Effect.scoped), 20_000)

  it.effect("a URL that is not a redis:// URL fails the layer with a typed error", () =>
    Effect.gen(function*() {
      for (const bad of ["127.0.0.1:6379", "http://127.0.0.1:6379", "redis://127.0.0.1:6379/cache"]) {
        const error = yield* Effect.flip(Layer.build(CacheStore.layerRedisUrl(bad)))
        expect(error).toBeInstanceOf(CacheStore.InvalidRedisUrl)
        expect(error.message).toContain("Invalid Redis URL")
      }
    }).pipe(Effect.scoped))
})
