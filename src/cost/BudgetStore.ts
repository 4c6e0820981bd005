/**
 * Where budgets keep their counters: spend and open reservations per bucket (a scope
 * in a period), and the reservations themselves.
 *
 * Every operation is one atomic step: in memory, one synchronous update; in
 * Redis, one Lua script (Redis runs a script without interleaving other commands).
 * A reservation is checked against EVERY bucket it touches and written to all of them
 * in the same step, so two callers can never both take the last room.
 *
 * Money is counted in integer nano-dollars (1e-9 USD) so that sums are exact in
 * JavaScript, in Lua and in Redis `HINCRBY`; the Budget module converts.
 *
 * Open reservations carry a lease. A reservation whose owner never settled it (a
 * crashed process) is swept once its lease ends and charged at its full reserved
 * amount: the bill of a call that was never reported may have been incurred, and a
 * budget must not assume it was free.
 *
 * Both stores take the current time from the caller (the Effect `Clock`), so tests
 * drive periods and leases with `TestClock`, also against Redis. Instances sharing a
 * Redis store should run on synchronized clocks.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"
import { createHash } from "node:crypto"
import { Redis } from "ioredis"
import { logOutages } from "../internal/redis.js"

/**
 * One counter a reservation touches: a scope in a period, with its limit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket {
  /** The bucket's identity, e.g. `tenant:acme|day|2026-03-05`. */
  readonly key: string
  /** The limit in nano-USD (integer). */
  readonly limit: number
  /** For rolling windows: the window length; spend older than this no longer counts. */
  readonly windowMillis?: number
  /** How long to keep the bucket after this operation (for reports), in ms. */
  readonly ttlMillis: number
}

/**
 * What a reservation attempt did.
 *
 * @since 0.1.0
 * @category models
 */
export type ReserveResult =
  | { readonly _tag: "Reserved" }
  | {
    readonly _tag: "Refused"
    /** The index (in the request's buckets) of the first bucket without room. */
    readonly index: number
    /** Its settled spend and open reservations, in nano-USD. */
    readonly spent: number
    readonly reserved: number
  }

/**
 * A bucket's counters in nano-USD.
 *
 * @since 0.1.0
 * @category models
 */
export interface BucketState {
  readonly key: string
  readonly spent: number
  readonly reserved: number
}

/**
 * The store could not be reached or answered nonsense.
 *
 * @since 0.1.0
 * @category errors
 */
export class BudgetStoreError extends Schema.TaggedError<BudgetStoreError>("effect-llm/BudgetStoreError")(
  "BudgetStoreError",
  {
    message: Schema.String,
    cause: Schema.optional(Schema.Defect)
  }
) {}

/**
 * A budget store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Reserves `amount` in every bucket if each has room (`spent + reserved + amount <=
   * limit`), else nothing. Idempotent per `id`.
   */
  readonly reserve: (input: {
    readonly id: string
    readonly buckets: ReadonlyArray<Bucket>
    readonly amount: number
    readonly now: number
    readonly leaseMillis: number
  }) => Effect.Effect<ReserveResult, BudgetStoreError>
  /**
   * Replaces reservation `id` with actual spend: `amounts[i]` for its i-th bucket.
   * Returns false when the reservation no longer exists (already settled, released or
   * swept).
   */
  readonly settle: (input: {
    readonly id: string
    readonly amounts: ReadonlyArray<number>
    readonly now: number
  }) => Effect.Effect<boolean, BudgetStoreError>
  /** Drops reservation `id` without spending. */
  readonly release: (id: string, now: number) => Effect.Effect<boolean, BudgetStoreError>
  /** The counters of some buckets (rolling windows pruned to `now`). */
  readonly read: (
    buckets: ReadonlyArray<{ readonly key: string; readonly windowMillis?: number }>,
    now: number
  ) => Effect.Effect<ReadonlyArray<BucketState>, BudgetStoreError>
  /** Every bucket key the store still keeps. */
  readonly keys: (now: number) => Effect.Effect<ReadonlyArray<string>, BudgetStoreError>
}

/**
 * The budget store tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class BudgetStore extends Context.Tag("effect-llm/BudgetStore")<BudgetStore, Service>() {}

// -----------------------------------------------------------------------------
// Memory
// -----------------------------------------------------------------------------

interface MemoryBucket {
  spent: number
  reserved: number
  expiresAt: number
  /** Rolling windows: settled entries [time, amount], oldest first. */
  entries: Array<readonly [number, number]>
}

interface MemoryReservation {
  readonly amount: number
  /** The caller's buckets as reserved (read-only, so kept rather than copied). */
  readonly buckets: ReadonlyArray<Bucket>
  readonly leaseUntil: number
}

interface MemoryState {
  readonly buckets: Map<string, MemoryBucket>
  readonly reservations: Map<string, MemoryReservation>
  lastSweep: number
}

const SWEEP_EVERY_MILLIS = 1_000

/** The one "Reserved" answer (it carries nothing). */
const RESERVED: ReserveResult = { _tag: "Reserved" }

/**
 * An in-memory store: one process, exact, the default. The state is changed only
 * inside one synchronous step per operation (`Effect.sync`), which JavaScript runs
 * to completion without interleaving any other.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(
  // Every run gets fresh maps (the state object is mutated in place).
  () => {
    const state: MemoryState = { buckets: new Map(), reservations: new Map(), lastSweep: -Infinity }
    const bucketOf = (state: MemoryState, key: string): MemoryBucket => {
      let bucket = state.buckets.get(key)
      if (bucket === undefined) {
        bucket = { spent: 0, reserved: 0, expiresAt: 0, entries: [] }
        state.buckets.set(key, bucket)
      }
      return bucket
    }
    const prune = (bucket: MemoryBucket, windowMillis: number | undefined, now: number) => {
      if (windowMillis === undefined || windowMillis <= 0) return
      const cutoff = now - windowMillis
      let drop = 0
      while (drop < bucket.entries.length && bucket.entries[drop]![0] < cutoff) {
        bucket.spent -= bucket.entries[drop]![1]
        drop++
      }
      if (drop > 0) bucket.entries.splice(0, drop)
    }
    const finish = (state: MemoryState, id: string, amounts: ReadonlyArray<number> | undefined, now: number) => {
      const reservation = state.reservations.get(id)
      if (reservation === undefined) return false
      state.reservations.delete(id)
      for (let i = 0; i < reservation.buckets.length; i++) {
        const spec = reservation.buckets[i]!
        const bucket = bucketOf(state, spec.key)
        const actual = amounts === undefined ? reservation.amount : (amounts[i] ?? reservation.amount)
        bucket.reserved -= reservation.amount
        if (actual > 0) {
          bucket.spent += actual
          if ((spec.windowMillis ?? 0) > 0) bucket.entries.push([now, actual])
        }
      }
      return true
    }
    const sweep = (state: MemoryState, now: number) => {
      if (now - state.lastSweep < SWEEP_EVERY_MILLIS) return
      state.lastSweep = now
      for (const [id, reservation] of state.reservations) {
        if (reservation.leaseUntil <= now) finish(state, id, undefined, now)
      }
      for (const [key, bucket] of state.buckets) {
        if (bucket.expiresAt <= now && bucket.reserved === 0) state.buckets.delete(key)
      }
    }
    // Every operation is one synchronous step over the state: JavaScript runs it
    // to completion, so it is atomic without a lock (a `SynchronizedRef`'s
    // semaphore cost more than the bookkeeping itself).
    const modify = <A>(f: (state: MemoryState) => A): Effect.Effect<A> => Effect.sync(() => f(state))

    const service: Service = {
      reserve: ({ amount, buckets, id, leaseMillis, now }) =>
        modify((state): ReserveResult => {
          sweep(state, now)
          if (state.reservations.has(id)) return RESERVED
          for (let i = 0; i < buckets.length; i++) {
            const spec = buckets[i]!
            const bucket = state.buckets.get(spec.key)
            if (bucket !== undefined) prune(bucket, spec.windowMillis, now)
            const spent = bucket?.spent ?? 0
            const reserved = bucket?.reserved ?? 0
            if (spent + reserved + amount > spec.limit) return { _tag: "Refused", index: i, spent, reserved }
          }
          for (const spec of buckets) {
            const bucket = bucketOf(state, spec.key)
            bucket.reserved += amount
            bucket.expiresAt = Math.max(bucket.expiresAt, now + spec.ttlMillis)
          }
          state.reservations.set(id, { amount, buckets, leaseUntil: now + leaseMillis })
          return RESERVED
        }),
      settle: ({ amounts, id, now }) => modify((state) => finish(state, id, amounts, now)),
      release: (id, now) =>
        modify((state) => {
          const reservation = state.reservations.get(id)
          return finish(state, id, reservation === undefined ? [] : reservation.buckets.map(() => 0), now)
        }),
      read: (buckets, now) =>
        modify((state) =>
          buckets.map(({ key, windowMillis }) => {
            const bucket = state.buckets.get(key)
            if (bucket === undefined) return { key, spent: 0, reserved: 0 }
            prune(bucket, windowMillis, now)
            return { key, spent: bucket.spent, reserved: bucket.reserved }
          })
        ),
      keys: (now) =>
        modify((state) => {
          sweep(state, now)
          return [...state.buckets.keys()]
        })
    }
    return service
  }
)

/**
 * The in-memory store as a Layer (each provided layer owns its own state).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<BudgetStore> = Layer.effect(BudgetStore, makeMemory)

// -----------------------------------------------------------------------------
// Redis
// -----------------------------------------------------------------------------

// Shared Lua helpers. P is the key prefix (it must hold a hash tag such as
// `{effect-llm:budget}` so that every key of a store lives in one cluster slot).
// Keys: P:b:<bucket> hash {spent, reserved}; P:w:<bucket> zset of window entries
// "<id>:<amount>" scored by time; P:r:<id> hash {amount, keys, windows};
// P:open zset of reservation ids scored by lease end; P:keys zset of bucket keys
// scored by expiry.
const LUA_COMMON = `
local P = ARGV[1]
local function int(x) return string.format('%d', x) end
local function split(s, sep)
  local out = {}
  if s == nil or s == '' then return out end
  for part in string.gmatch(s, '([^' .. sep .. ']+)') do out[#out + 1] = part end
  return out
end
local function prune(key, window, now)
  if window <= 0 then return end
  local w = P .. ':w:' .. key
  -- The counter expired (idle past window + lease): the spend its entries record
  -- went with it. Subtracting them from a new counter would make it negative.
  if redis.call('EXISTS', P .. ':b:' .. key) == 0 then
    redis.call('DEL', w)
    return
  end
  local cutoff = '(' .. int(now - window)
  local old = redis.call('ZRANGEBYSCORE', w, '-inf', cutoff)
  if #old > 0 then
    local sum = 0
    for _, m in ipairs(old) do sum = sum + tonumber(string.match(m, ':(%d+)$')) end
    redis.call('HINCRBY', P .. ':b:' .. key, 'spent', int(-sum))
    redis.call('ZREMRANGEBYSCORE', w, '-inf', cutoff)
  end
end
local function finish(id, amounts, now)
  local r = P .. ':r:' .. id
  local rec = redis.call('HMGET', r, 'amount', 'keys', 'windows')
  if not rec[1] then return 0 end
  local amount = tonumber(rec[1])
  local keys = split(rec[2], '\\n')
  local windows = split(rec[3], ',')
  for i, key in ipairs(keys) do
    local b = P .. ':b:' .. key
    local actual = amount
    if amounts ~= nil and amounts[i] ~= nil then actual = tonumber(amounts[i]) end
    redis.call('HINCRBY', b, 'reserved', int(-amount))
    if actual > 0 then
      redis.call('HINCRBY', b, 'spent', int(actual))
      local window = tonumber(windows[i])
      if window > 0 then
        local w = P .. ':w:' .. key
        redis.call('ZADD', w, int(now), id .. ':' .. int(actual))
        redis.call('PEXPIRE', w, int(window + 86400000))
        -- The counter holds this spend for as long as the window counts it.
        local ttl = redis.call('PTTL', b)
        if ttl >= 0 and ttl < window then redis.call('PEXPIRE', b, int(window)) end
      end
    end
  end
  redis.call('DEL', r)
  redis.call('ZREM', P .. ':open', id)
  return 1
end
local function sweep(now)
  local ids = redis.call('ZRANGEBYSCORE', P .. ':open', '-inf', int(now), 'LIMIT', 0, 100)
  for _, id in ipairs(ids) do finish(id, nil, now) end
end
`

// ARGV: P, id, now, amount, leaseMillis, n, then n times: key, limit, window, ttl
const LUA_RESERVE = LUA_COMMON + `
local id = ARGV[2]
local now = tonumber(ARGV[3])
local amount = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
sweep(now)
local r = P .. ':r:' .. id
if redis.call('EXISTS', r) == 1 then return {1} end
local keys, windows = {}, {}
for i = 1, n do
  local base = 6 + (i - 1) * 4
  local key = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local window = tonumber(ARGV[base + 3])
  keys[i] = key
  windows[i] = ARGV[base + 3]
  prune(key, window, now)
  local v = redis.call('HMGET', P .. ':b:' .. key, 'spent', 'reserved')
  local spent = tonumber(v[1] or '0')
  local reserved = tonumber(v[2] or '0')
  if spent + reserved + amount > limit then return {0, i - 1, spent, reserved} end
end
for i = 1, n do
  local base = 6 + (i - 1) * 4
  local key = ARGV[base + 1]
  local ttl = tonumber(ARGV[base + 4])
  local b = P .. ':b:' .. key
  redis.call('HINCRBY', b, 'reserved', int(amount))
  redis.call('HSETNX', b, 'spent', 0)
  if redis.call('PTTL', b) < ttl then redis.call('PEXPIRE', b, int(ttl)) end
  local old = redis.call('ZSCORE', P .. ':keys', key)
  if (not old) or tonumber(old) < now + ttl then redis.call('ZADD', P .. ':keys', int(now + ttl), key) end
end
redis.call('HSET', r, 'amount', int(amount), 'keys', table.concat(keys, '\\n'), 'windows', table.concat(windows, ','))
redis.call('PEXPIRE', r, int(lease + 86400000))
redis.call('ZADD', P .. ':open', int(now + lease), id)
return {1}
`

// ARGV: P, id, now, then the amounts per bucket
const LUA_SETTLE = LUA_COMMON + `
local amounts = {}
for i = 4, #ARGV do amounts[#amounts + 1] = ARGV[i] end
return finish(ARGV[2], amounts, tonumber(ARGV[3]))
`

// ARGV: P, id, now
const LUA_RELEASE = LUA_COMMON + `
local rec = redis.call('HGET', P .. ':r:' .. ARGV[2], 'keys')
if not rec then return 0 end
local zeros = {}
for _ in string.gmatch(rec, '([^\\n]+)') do zeros[#zeros + 1] = '0' end
return finish(ARGV[2], zeros, tonumber(ARGV[3]))
`

// ARGV: P, now, n, then n times: key, window
const LUA_READ = LUA_COMMON + `
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local out = {}
for i = 1, n do
  local key = ARGV[3 + (i - 1) * 2 + 1]
  prune(key, tonumber(ARGV[3 + (i - 1) * 2 + 2]), now)
  local v = redis.call('HMGET', P .. ':b:' .. key, 'spent', 'reserved')
  out[#out + 1] = tonumber(v[1] or '0')
  out[#out + 1] = tonumber(v[2] or '0')
end
return out
`

// ARGV: P, now
const LUA_KEYS = LUA_COMMON + `
local now = tonumber(ARGV[2])
sweep(now)
redis.call('ZREMRANGEBYSCORE', P .. ':keys', '-inf', '(' .. int(now))
return redis.call('ZRANGE', P .. ':keys', 0, -1)
`

/**
 * @since 0.1.0
 * @category models
 */
export interface RedisOptions {
  /** Key prefix; it should contain a hash tag (default `{effect-llm:budget}`). */
  readonly prefix?: string
}

interface Script {
  readonly source: string
  readonly sha: string
}

const script = (source: string): Script => ({ source, sha: createHash("sha1").update(source).digest("hex") })

const scripts = {
  reserve: script(LUA_RESERVE),
  settle: script(LUA_SETTLE),
  release: script(LUA_RELEASE),
  read: script(LUA_READ),
  keys: script(LUA_KEYS)
}

/**
 * A Redis store over an existing `ioredis` client: shared by every process that uses
 * the same Redis and prefix. Each operation is one Lua script (EVALSHA, loaded on
 * first use).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeRedis = (client: Redis, options: RedisOptions = {}): Service => {
  const prefix = options.prefix ?? "{effect-llm:budget}"
  const run = (s: Script, args: ReadonlyArray<string | number>): Effect.Effect<unknown, BudgetStoreError> =>
    Effect.tryPromise({
      try: async () => {
        const argv = [prefix, ...args.map(String)]
        try {
          return await client.evalsha(s.sha, 0, ...argv)
        } catch (error) {
          if (error instanceof Error && error.message.includes("NOSCRIPT")) return await client.eval(s.source, 0, ...argv)
          throw error
        }
      },
      catch: (cause) =>
        new BudgetStoreError({
          message: `Redis budget store failed: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause
        })
    })
  const numbers = (value: unknown): ReadonlyArray<number> =>
    Array.isArray(value) ? value.map((v) => Number(v)) : [Number(value)]

  return {
    reserve: ({ amount, buckets, id, leaseMillis, now }) =>
      Effect.map(
        run(scripts.reserve, [
          id,
          now,
          amount,
          leaseMillis,
          buckets.length,
          ...buckets.flatMap((b) => [b.key, b.limit, b.windowMillis ?? 0, Math.max(1, Math.ceil(b.ttlMillis))])
        ]),
        (result): ReserveResult => {
          const [ok, index, spent, reserved] = numbers(result)
          return ok === 1
            ? { _tag: "Reserved" }
            : { _tag: "Refused", index: index ?? 0, spent: spent ?? 0, reserved: reserved ?? 0 }
        }
      ),
    settle: ({ amounts, id, now }) => Effect.map(run(scripts.settle, [id, now, ...amounts]), (r) => Number(r) === 1),
    release: (id, now) => Effect.map(run(scripts.release, [id, now]), (r) => Number(r) === 1),
    read: (buckets, now) =>
      Effect.map(
        run(scripts.read, [now, buckets.length, ...buckets.flatMap((b) => [b.key, b.windowMillis ?? 0])]),
        (result) => {
          const values = numbers(result)
          return buckets.map((b, i) => ({ key: b.key, spent: values[2 * i] ?? 0, reserved: values[2 * i + 1] ?? 0 }))
        }
      ),
    keys: (now) =>
      Effect.map(run(scripts.keys, [now]), (result) => (Array.isArray(result) ? result.map(String) : []))
  }
}

/**
 * A Redis store as a Layer: connects to `url` (default `REDIS_URL`, else
 * `redis://127.0.0.1:6379`) and disconnects when the layer's scope closes. A
 * Redis that cannot be reached within 5 s fails the layer. Afterwards, while
 * Redis is unreachable, operations fail at once (no offline queue, one retry per
 * command) rather than wait for a reconnect, and one warning is logged per outage.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (
  options: RedisOptions & { readonly url?: string } = {}
): Layer.Layer<BudgetStore, BudgetStoreError> =>
  Layer.scoped(
    BudgetStore,
    Effect.gen(function*() {
      const runtime = yield* Effect.runtime<never>()
      const client = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const client = new Redis(options.url ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379", {
              lazyConnect: true,
              enableOfflineQueue: false,
              maxRetriesPerRequest: 1,
              connectTimeout: 5_000
            })
            logOutages(client, "Redis budget store", runtime)
            try {
              await client.connect()
            } catch (error) {
              client.disconnect()
              throw error
            }
            return client
          },
          catch: (cause) => new BudgetStoreError({ message: `Cannot connect to Redis: ${String(cause)}`, cause })
        }),
        (client) => Effect.promise(() => client.quit().catch(() => "OK"))
      )
      return makeRedis(client, options)
    })
  )

/**
 * A Redis store over a client the caller owns (and closes).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisClient = (client: Redis, options?: RedisOptions): Layer.Layer<BudgetStore> =>
  Layer.succeed(BudgetStore, makeRedis(client, options))
