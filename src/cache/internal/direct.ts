/**
 * Synchronous access to a store whose reads and writes are synchronous (the
 * memory and SQLite stores), for `ResponseCache`.
 *
 * Through the Effect interface a cache miss made a read and a write of a few steps
 * each (`suspend`, `succeed`, the caller's `matchEffect`, an `interruptible`
 * region around the write): 9 of the 17 steps of a miss over the memory store and
 * a third of its allocations (~3 KB). The cache calls these functions instead, while its
 * effect runs, and turns what they throw into the error the Effect method fails
 * with (`PersistenceBackingError` of the same method), so a failure is logged and
 * is a miss as before.
 *
 * The functions are kept against the exact store object they belong to: any
 * wrapper — a spread copy with its own `get`, a `Proxy`, an `Object.create` override
 * — is another object, has none, and is read and written through its own methods.
 * (A property, even a non-enumerable symbol, is forwarded by a Proxy and inherited
 * through a prototype: the cache would then go around the wrapper.)
 */
import type * as Persistence from "@effect/experimental/Persistence"
import type { Duration, Option } from "effect"

/** The synchronous read and write of a store; they throw where the Effect methods fail. */
export interface Direct {
  readonly get: (key: string) => Option.Option<unknown>
  readonly set: (key: string, value: unknown, ttl: Option.Option<Duration.Duration>) => void
}

const directs = new WeakMap<object, Direct>()

/** The store, with `direct` registered for it (that object only). */
export const attach = <S extends Persistence.BackingPersistenceStore>(store: S, direct: Direct): S => {
  directs.set(store, direct)
  return store
}

/** The synchronous access of a store, when it has one. */
export const of = (store: Persistence.BackingPersistenceStore): Direct | undefined => directs.get(store)
