/**
 * Where cached answers live: one interface, three stores.
 *
 * - `layerMemory` — an in-process LRU bounded by entries and bytes (the default).
 * - `layerSqlite` — a persistent embedded store in one SQLite file (better-sqlite3):
 *   survives restarts, shared by the processes of one machine.
 * - `layerRedis` — a shared store for many replicas, with the keys and values of
 *   `@effect/experimental/Persistence/Redis` (written here to own the client: an
 *   `error` listener, no offline queue, whole-millisecond TTLs, `clear` on an empty
 *   store).
 *
 * The interface IS `@effect/experimental`'s `Persistence.BackingPersistenceStore`
 * (get/set with a TTL/remove/clear on JSON values), so any `BackingPersistence`
 * (Redis, LMDB, a `KeyValueStore`) plugs in through {@link layer}, and the memory
 * and SQLite stores here are `BackingPersistence`s usable wherever Effect expects
 * one. The memory and SQLite ones are written by hand because the library lacks them: its
 * `Persistence.layerMemory` has no size bound (a cache must evict), and it ships no
 * SQLite backing (LMDB is its embedded one, and `lmdb` is not a dependency).
 *
 * `PersistedCache` itself is not used by the caches: it keeps failures in its
 * in-memory layer for a fixed TTL (errors must never be served from a cache), keys
 * on `Schema.TaggedRequest` classes, and has no notion of streams, bypass or
 * refresh. See `ResponseCache` for what is used instead.
 *
 * TTLs follow Effect's `Clock` in the memory and SQLite stores (so `TestClock`
 * drives them) and Redis's own clock (`PX`) in the Redis store.
 *
 * The memory and SQLite stores also register their synchronous read and write
 * (`internal/direct.ts`, for that store object only), which `ResponseCache` calls
 * instead of the Effect methods.
 *
 * @since 0.1.0
 */
import * as Persistence from "@effect/experimental/Persistence"
import Sqlite from "better-sqlite3"
import { Clock, Context, Duration, Effect, Layer, Option, Schema, type Scope } from "effect"
import { Redis, type RedisOptions } from "ioredis"
import { logOutages } from "../internal/redis.js"
import * as Direct from "./internal/direct.js"

/**
 * A store of JSON values with a time to live. The same shape as
 * `Persistence.BackingPersistenceStore`.
 *
 * @since 0.1.0
 * @category models
 */
export type Service = Persistence.BackingPersistenceStore

/**
 * The store the caches read and write.
 *
 * @since 0.1.0
 * @category tags
 */
export class CacheStore extends Context.Tag("effect-llm/CacheStore")<CacheStore, Service>() {}

/**
 * The errors a store may fail with (the caches log them and carry on as a miss).
 *
 * @since 0.1.0
 * @category errors
 */
export type CacheStoreError = Persistence.PersistenceError

const backingError = (method: string) => (cause: unknown) => Persistence.PersistenceBackingError.make(method, cause)

/**
 * `Effect.try` with a `PersistenceBackingError`, for the reads and writes of the
 * memory and SQLite stores: its options object of closures cost ~0.3 µs a call
 * under tsx (`serve`, the benchmarks), whose `keepNames` names every closure
 * written as a property or a variable, with an `Object.defineProperty`; a closure
 * passed as an argument is not named. (`ResponseCache` reads and writes these
 * stores through `internal/direct.ts`; other users take this path.)
 */
const attempt = <A>(method: string, evaluate: () => A): Effect.Effect<A, Persistence.PersistenceError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(evaluate())
    } catch (cause) {
      return Effect.fail(Persistence.PersistenceBackingError.make(method, cause))
    }
  })

const expiresAt = (now: number, ttl: Option.Option<Duration.Duration>): number | null =>
  Option.isNone(ttl) ? null : now + Duration.toMillis(ttl.value)

// -----------------------------------------------------------------------------
// Memory (LRU)
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** At most this many entries per store; the least recently used go first (default 10 000). */
  readonly maxEntries?: number | undefined
  /** At most this many bytes of JSON per store (default 64 MiB). */
  readonly maxBytes?: number | undefined
}

interface MemoryEntry {
  readonly key: string
  readonly json: string
  /**
   * The value parsed back from `json` once, on the first read, deep-frozen, handed
   * to every reader: parsing on each read cost a cache hit more than the rest of
   * it, and a frozen copy still cannot be changed through a reader (so
   * `ResponseCache` can also keep its decoded form per value). Entries never read
   * (most, under a miss-heavy load) are never parsed.
   */
  value: unknown
  parsed: boolean
  readonly expires: number | null
  /** Neighbours in recency order (`older` towards the eviction end). */
  older: MemoryEntry | undefined
  newer: MemoryEntry | undefined
}

const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

/**
 * The LRU is a `Map` for lookups plus a doubly linked list for recency. A `Map`
 * alone (re-inserting on read, evicting the first key) was simpler but costs
 * O(holes) per eviction: V8 leaves a deleted entry's slot in place until it
 * rehashes, and finding the first live key walks over them — ~10 µs per write at
 * 10 000 entries, against ~0.3 µs at 100 (measured here).
 */
const makeMemoryStore = (clock: Clock.Clock, options: MemoryOptions): Service => {
  const maxEntries = options.maxEntries ?? 10_000
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024
  const entries = new Map<string, MemoryEntry>()
  let oldest: MemoryEntry | undefined
  let newest: MemoryEntry | undefined
  let bytes = 0
  const unlink = (entry: MemoryEntry) => {
    if (entry.older === undefined) oldest = entry.newer
    else entry.older.newer = entry.newer
    if (entry.newer === undefined) newest = entry.older
    else entry.newer.older = entry.older
    entry.older = undefined
    entry.newer = undefined
  }
  const append = (entry: MemoryEntry) => {
    entry.older = newest
    entry.newer = undefined
    if (newest === undefined) oldest = entry
    else newest.newer = entry
    newest = entry
  }
  const dropEntry = (entry: MemoryEntry) => {
    entries.delete(entry.key)
    unlink(entry)
    bytes -= entry.json.length * 2
  }
  const drop = (key: string) => {
    const entry = entries.get(key)
    if (entry !== undefined) dropEntry(entry)
  }
  const read = (key: string): Option.Option<unknown> => {
    const entry = entries.get(key)
    if (entry === undefined) return Option.none()
    if (entry.expires !== null && entry.expires <= clock.unsafeCurrentTimeMillis()) {
      dropEntry(entry)
      return Option.none()
    }
    if (entry !== newest) {
      unlink(entry)
      append(entry)
    }
    if (!entry.parsed) {
      entry.value = deepFreeze(JSON.parse(entry.json))
      entry.parsed = true
    }
    return Option.some(entry.value)
  }
  const write = (key: string, value: unknown, ttl: Option.Option<Duration.Duration>) => {
    const json = JSON.stringify(value)
    const size = json.length * 2
    drop(key)
    if (size > maxBytes) return
    const entry: MemoryEntry = {
      key,
      json,
      value: undefined,
      parsed: false,
      expires: expiresAt(clock.unsafeCurrentTimeMillis(), ttl),
      older: undefined,
      newer: undefined
    }
    entries.set(key, entry)
    append(entry)
    bytes += size
    while (oldest !== undefined && (entries.size > maxEntries || bytes > maxBytes)) dropEntry(oldest)
  }
  return Direct.attach({
    get: (key) => attempt("get", () => read(key)),
    getMany: (keys) => Effect.try({ try: () => keys.map(read), catch: backingError("getMany") }),
    set: (key, value, ttl) => attempt("set", () => write(key, value, ttl)),
    setMany: (items) =>
      Effect.try({ try: () => items.forEach(([key, value, ttl]) => write(key, value, ttl)), catch: backingError("setMany") }),
    remove: (key) => Effect.sync(() => drop(key)),
    clear: Effect.sync(() => {
      entries.clear()
      oldest = undefined
      newest = undefined
      bytes = 0
    })
  }, { get: read, set: write })
}

/**
 * An in-memory LRU as a `BackingPersistence`: each store id gets its own bounded
 * LRU.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryBacking = (options: MemoryOptions = {}): Effect.Effect<Persistence.BackingPersistence> =>
  Effect.map(Effect.clock, (clock) => {
    const stores = new Map<string, Service>()
    return Persistence.BackingPersistence.of({
      [Persistence.BackingPersistenceTypeId]: Persistence.BackingPersistenceTypeId,
      make: (storeId) =>
        Effect.sync(() => {
          let store = stores.get(storeId)
          if (store === undefined) {
            store = makeMemoryStore(clock, options)
            stores.set(storeId, store)
          }
          return store
        })
    })
  })

/**
 * The default store: an in-memory LRU bounded by entries and bytes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (options: MemoryOptions = {}): Layer.Layer<CacheStore> =>
  Layer.effect(CacheStore, Effect.map(Effect.clock, (clock) => makeMemoryStore(clock, options)))

// -----------------------------------------------------------------------------
// SQLite
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface SqliteOptions {
  /** The database file (created if missing). `:memory:` works but persists nothing. */
  readonly filename: string
  /** The table (default `effect_llm_cache`). */
  readonly table?: string | undefined
  /** The store id entries are filed under (default `response-cache`). */
  readonly storeId?: string | undefined
  /** Past this many entries per store, the oldest expiring are deleted (default: no bound). */
  readonly maxEntries?: number | undefined
}

const tableName = (table: string | undefined) => {
  const name = table ?? "effect_llm_cache"
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`Invalid SQLite table name: ${name}`)
  return name
}

/**
 * A SQLite file as a `BackingPersistence` (WAL mode, one row per entry, expired
 * rows deleted on read and on every 1000th write). The database closes with the
 * scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSqliteBacking = (
  options: Omit<SqliteOptions, "storeId">
): Effect.Effect<Persistence.BackingPersistence, Persistence.PersistenceError, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const table = yield* Effect.try({ try: () => tableName(options.table), catch: backingError("open") })
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new Sqlite(options.filename)
          db.pragma("journal_mode = WAL")
          db.pragma("busy_timeout = 5000")
          db.exec(
            `CREATE TABLE IF NOT EXISTS ${table} (store TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, ` +
              `expires INTEGER, PRIMARY KEY (store, key)) WITHOUT ROWID`
          )
          return db
        },
        catch: backingError("open")
      }),
      (db) => Effect.sync(() => db.close())
    )
    const select = db.prepare<[string, string], { value: string; expires: number | null }>(
      `SELECT value, expires FROM ${table} WHERE store = ? AND key = ?`
    )
    const upsert = db.prepare<[string, string, string, number | null]>(
      `INSERT INTO ${table} (store, key, value, expires) VALUES (?, ?, ?, ?) ` +
        `ON CONFLICT (store, key) DO UPDATE SET value = excluded.value, expires = excluded.expires`
    )
    const del = db.prepare<[string, string]>(`DELETE FROM ${table} WHERE store = ? AND key = ?`)
    const delAll = db.prepare<[string]>(`DELETE FROM ${table} WHERE store = ?`)
    const purge = db.prepare<[string, number]>(`DELETE FROM ${table} WHERE store = ? AND expires IS NOT NULL AND expires <= ?`)
    const count = db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM ${table} WHERE store = ?`)
    const trim = db.prepare<[string, string, number]>(
      `DELETE FROM ${table} WHERE store = ? AND key IN (SELECT key FROM ${table} WHERE store = ? ` +
        `ORDER BY expires IS NULL, expires LIMIT ?)`
    )
    let writes = 0

    const makeStore = (store: string): Service => {
      const read = (key: string): Option.Option<unknown> => {
        const row = select.get(store, key)
        if (row === undefined) return Option.none()
        if (row.expires !== null && row.expires <= clock.unsafeCurrentTimeMillis()) {
          del.run(store, key)
          return Option.none()
        }
        return Option.some(JSON.parse(row.value))
      }
      const write = (key: string, value: unknown, ttl: Option.Option<Duration.Duration>) => {
        const now = clock.unsafeCurrentTimeMillis()
        upsert.run(store, key, JSON.stringify(value), expiresAt(now, ttl))
        if (++writes % 1000 === 0) purge.run(store, now)
        if (options.maxEntries !== undefined) {
          const excess = count.get(store)!.n - options.maxEntries
          if (excess > 0) trim.run(store, store, excess)
        }
      }
      return Direct.attach({
        get: (key) => attempt("get", () => read(key)),
        getMany: (keys) => Effect.try({ try: () => keys.map(read), catch: backingError("getMany") }),
        set: (key, value, ttl) => attempt("set", () => write(key, value, ttl)),
        setMany: (items) =>
          Effect.try({
            try: () => db.transaction(() => items.forEach(([key, value, ttl]) => write(key, value, ttl)))(),
            catch: backingError("setMany")
          }),
        remove: (key) => Effect.try({ try: () => void del.run(store, key), catch: backingError("remove") }),
        clear: Effect.try({ try: () => void delAll.run(store), catch: backingError("clear") })
      }, { get: read, set: write })
    }
    return Persistence.BackingPersistence.of({
      [Persistence.BackingPersistenceTypeId]: Persistence.BackingPersistenceTypeId,
      make: (storeId) => Effect.sync(() => makeStore(storeId))
    })
  })

/**
 * A persistent embedded store in a SQLite file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = (options: SqliteOptions): Layer.Layer<CacheStore, Persistence.PersistenceError> =>
  Layer.scoped(
    CacheStore,
    Effect.flatMap(makeSqliteBacking(options), (backing) => backing.make(options.storeId ?? "response-cache"))
  )

// -----------------------------------------------------------------------------
// Redis and any other BackingPersistence
// -----------------------------------------------------------------------------

/**
 * A store from whatever `BackingPersistence` is in context (Redis, LMDB, a
 * `KeyValueStore`, the memory or SQLite backings above).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (storeId: string): Layer.Layer<CacheStore, never, Persistence.BackingPersistence> =>
  Layer.scoped(CacheStore, Effect.flatMap(Persistence.BackingPersistence, (backing) => backing.make(storeId)))

/**
 * @since 0.1.0
 * @category models
 */
export interface RedisStoreOptions extends RedisOptions {
  /** Every key is `PREFIX:KEY` (default `effect-llm:cache`). Replicas that share a prefix share entries. */
  readonly prefix?: string | undefined
}

/**
 * The client options a cache needs when Redis may be down: a command fails at once
 * instead of waiting in ioredis's offline queue (a failure is a miss, and the model
 * answers), one retry per command, and a bounded connect. The client keeps
 * reconnecting in the background, so the cache comes back with Redis.
 */
const redisClientDefaults: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2_000
}

/** A whole number of milliseconds, at least 1 (Redis refuses `PX 1.5` and `PX 0`). */
const redisTtlMillis = (ttl: Duration.Duration): number => Math.max(1, Math.ceil(Duration.toMillis(ttl)))

/**
 * A client of our own (so it has an `error` listener: without one ioredis prints
 * "Unhandled error event" on every reconnect attempt). It waits for the first
 * connection at most `connectTimeout`, and starts anyway when Redis is down.
 */
const acquireRedisClient = (options: RedisOptions): Effect.Effect<Redis, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    return yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const client = new Redis({ ...redisClientDefaults, ...options, lazyConnect: true })
        logOutages(client, "Redis cache store (answers are misses until it is back)", runtime)
        await client.connect().catch(() => undefined)
        return client
      }),
      (client) =>
        Effect.promise(() => client.status === "ready" ? client.quit().then(() => undefined, () => client.disconnect()) : Promise.resolve(client.disconnect()))
    )
  })

const redisStore = (client: Redis, prefix: string): Service => {
  const prefixed = (key: string) => `${prefix}:${key}`
  const parse = (method: string) => (text: string | null): Effect.Effect<Option.Option<unknown>, Persistence.PersistenceError> =>
    text === null ? Effect.succeedNone : Effect.try({ try: () => Option.some(JSON.parse(text) as unknown), catch: backingError(method) })
  const ttlMillis = (ttl: Option.Option<Duration.Duration>): number | undefined =>
    Option.isNone(ttl) || !Duration.isFinite(ttl.value) ? undefined : redisTtlMillis(ttl.value)
  return {
    get: (key) => Effect.flatMap(Effect.tryPromise({ try: () => client.get(prefixed(key)), catch: backingError("get") }), parse("get")),
    getMany: (keys) =>
      Effect.flatMap(
        Effect.tryPromise({ try: () => client.mget(keys.map(prefixed)), catch: backingError("getMany") }),
        Effect.forEach(parse("getMany"))
      ),
    set: (key, value, ttl) =>
      Effect.tryPromise({
        try: () => {
          const json = JSON.stringify(value)
          const px = ttlMillis(ttl)
          return px === undefined ? client.set(prefixed(key), json) : client.set(prefixed(key), json, "PX", px)
        },
        catch: backingError("set")
      }).pipe(Effect.asVoid),
    setMany: (items) =>
      Effect.tryPromise({
        try: () => {
          const multi = client.multi()
          for (const [key, value, ttl] of items) {
            const px = ttlMillis(ttl)
            if (px === undefined) multi.set(prefixed(key), JSON.stringify(value))
            else multi.set(prefixed(key), JSON.stringify(value), "PX", px)
          }
          return multi.exec()
        },
        catch: backingError("setMany")
      }).pipe(Effect.asVoid),
    remove: (key) => Effect.tryPromise({ try: () => client.del(prefixed(key)), catch: backingError("remove") }).pipe(Effect.asVoid),
    clear: Effect.tryPromise({
      try: async () => {
        const keys = await client.keys(`${prefix}:*`)
        // `DEL` with no key is an error in Redis: an empty store is already clear.
        if (keys.length > 0) await client.del(keys)
      },
      catch: backingError("clear")
    })
  }
}

/**
 * A store in Redis, shared by every process that uses the same prefix (its
 * connection closes with the layer). Keys and values are those of
 * `@effect/experimental/Persistence/Redis` (`PREFIX:KEY`, JSON, `PX` TTLs rounded up
 * to a whole millisecond), so both read each other's entries.
 *
 * When Redis is down the store fails at once (`enableOfflineQueue: false`,
 * `maxRetriesPerRequest: 1`, `connectTimeout` 2 s unless `options` say otherwise):
 * `ResponseCache` treats a failure as a miss, so the model answers without waiting
 * for Redis, and one warning is logged per outage. Its `clear` uses `KEYS`, which
 * scans the whole database: avoid it on a large shared Redis.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedis = (options: RedisStoreOptions = {}): Layer.Layer<CacheStore> => {
  const { prefix, ...redis } = options
  return Layer.scoped(CacheStore, Effect.map(acquireRedisClient(redis), (client) => redisStore(client, prefix ?? "effect-llm:cache")))
}

/**
 * The options of a Redis URL (`redis://[user:password@]host[:port][/db]`, or
 * `rediss://` for TLS), or why it is not one.
 */
const redisUrlOptions = (url: string): { readonly _tag: "Right"; readonly options: RedisOptions } | { readonly _tag: "Left"; readonly reason: string } => {
  // The reasons never repeat the URL: it may hold a password.
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { _tag: "Left", reason: "it is not a URL (expected redis://host:port, or rediss:// for TLS)" }
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    return { _tag: "Left", reason: `its protocol is ${parsed.protocol} (expected redis://host:port, or rediss:// for TLS)` }
  }
  if (parsed.hostname === "") return { _tag: "Left", reason: "it names no host (expected redis://host:port)" }
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined
  if (db !== undefined && !Number.isInteger(db)) {
    return { _tag: "Left", reason: "its path is not a database number (expected redis://host:port/0)" }
  }
  return {
    _tag: "Right",
    options: {
      host: parsed.hostname,
      port: parsed.port === "" ? 6379 : Number(parsed.port),
      ...(parsed.username !== "" ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password !== "" ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(db !== undefined ? { db } : {}),
      ...(parsed.protocol === "rediss:" ? { tls: {} } : {})
    }
  }
}

/**
 * A Redis URL that is not one: `message` says why (without repeating the URL,
 * which may hold a password).
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRedisUrl extends Schema.TaggedError<InvalidRedisUrl>("effect-llm/CacheStore/InvalidRedisUrl")(
  "InvalidRedisUrl",
  { message: Schema.String }
) {}

/**
 * A Redis store from a URL such as `redis://127.0.0.1:6379/0` (`rediss://` for
 * TLS). A string that is not such a URL fails the layer with {@link InvalidRedisUrl}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerRedisUrl = (
  url: string,
  options: { readonly prefix?: string | undefined } = {}
): Layer.Layer<CacheStore, InvalidRedisUrl> => {
  const parsed = redisUrlOptions(url)
  return parsed._tag === "Left"
    ? Layer.fail(new InvalidRedisUrl({ message: `Invalid Redis URL: ${parsed.reason}` }))
    : layerRedis({ ...parsed.options, prefix: options.prefix })
}
