/**
 * Spending limits that hold under any concurrency: before a call, the worst case it can
 * cost is reserved in every budget it falls under, atomically; after the call the
 * reservation is replaced by what the call actually cost; on failure or interruption
 * it is released.
 *
 * Limits apply per scope (global, tenant, user, model, tag) and period (calendar day or
 * month in a configured IANA time zone, or a rolling window). The worst case is the
 * estimated input (see `Tokens`) plus `maxTokens` output, priced at the dearest model
 * the inner stack may call (see `Pricing`). Since a reservation is only granted when
 * `spent + reserved + worstCase <= limit` in every bucket, and a call settles at most
 * at its worst case, settled spend cannot pass the limit (docs/cost.md explains the
 * conditions).
 *
 * Mode `fail` refuses at once with `BudgetExceeded`; mode `wait` polls until open
 * reservations settle and free room, up to a timeout, and fails early when no open
 * reservation could free enough.
 *
 * @since 0.1.0
 */
import { Chunk, Clock, Context, DateTime, Deferred, Duration, Effect, Layer, Option, Ref, Schema, Scope as EffectScope } from "effect"
import * as Construct from "../internal/construct.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import { type Bucket, BudgetStore, type BudgetStoreError, type ReserveResult } from "./BudgetStore.js"
import * as Pricing from "./Pricing.js"
import * as Tokens from "./Tokens.js"

// -----------------------------------------------------------------------------
// Options
// -----------------------------------------------------------------------------

/**
 * What a limit counts: all calls, or calls per tenant, user, model (`provider/model`)
 * or value of a metadata tag.
 *
 * @since 0.1.0
 * @category models
 */
export type Scope = "global" | "tenant" | "user" | "model" | "tag"

/**
 * A calendar day or month in the configured time zone, or a rolling window.
 *
 * @since 0.1.0
 * @category models
 */
export type Period = "day" | "month" | { readonly window: Duration.DurationInput }

/**
 * One spending limit.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limit {
  readonly scope: Scope
  readonly period: Period
  /** The limit in USD. */
  readonly usd: number
  /** For scope `tag`: the metadata tag key the limit is per value of. */
  readonly tag?: string
  /**
   * Limit only this value of the scope (a tenant, a user, a model as `provider/model`
   * or bare id, a tag value). Without it, each value has its own budget of `usd`.
   * Calls without the metadata a scope needs share the value `(none)`.
   */
  readonly value?: string
  /** Different limits for some values, e.g. `{ acme: 500 }` next to `usd: 50`. */
  readonly overrides?: Readonly<Record<string, number>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly limits: ReadonlyArray<Limit>
  /** `fail` (default): refuse at once. `wait`: wait for open reservations to settle. */
  readonly mode?: "fail" | "wait"
  /** How long `wait` mode waits at most (default 30 seconds). */
  readonly waitTimeout?: Duration.DurationInput
  /**
   * How often waiting calls try again (default 100 millis); also the granularity of
   * `waitTimeout`.
   */
  readonly pollInterval?: Duration.DurationInput
  /** The IANA time zone of day and month periods (default `UTC`). */
  readonly timeZone?: string
  /**
   * The output tokens reserved for requests without `maxTokens`. Without it such
   * requests fail with `InvalidRequest`: a budget cannot bound an unbounded answer.
   */
  readonly defaultMaxTokens?: number
  /**
   * How long a reservation stays valid if its owner never settles it (a crashed
   * process); afterwards it is charged in full. Must exceed the longest call
   * (default 15 minutes).
   */
  readonly lease?: Duration.DurationInput
  /** How long spend is kept for reports after a period ends (default 35 days). */
  readonly retention?: Duration.DurationInput
  /** Token estimate options (approximation factor for non-OpenAI models). */
  readonly tokens?: Tokens.EstimateOptions
}

/**
 * A budget configuration that cannot work: an unknown time zone, a non-positive limit
 * or window.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidBudgetConfig extends Schema.TaggedError<InvalidBudgetConfig>("effect-llm/InvalidBudgetConfig")(
  "InvalidBudgetConfig",
  { message: Schema.String }
) {}

// -----------------------------------------------------------------------------
// Report
// -----------------------------------------------------------------------------

/**
 * Spend in one scope and period.
 *
 * @since 0.1.0
 * @category models
 */
export interface SpendLine {
  /** e.g. `global`, `tenant:acme`, `tag:feature=search`, `model:openai/gpt-4o`. */
  readonly scope: string
  /** e.g. `day`, `month`, `window:1h`. */
  readonly period: string
  /** The calendar period (`2026-03-05`, `2026-03`), empty for rolling windows. */
  readonly periodId: string
  readonly limitUsd: number | undefined
  readonly spentUsd: number
  readonly reservedUsd: number
  readonly remainingUsd: number | undefined
}

/**
 * What a budget layer offers besides the model: its spend report.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Spend and open reservations for every scope and period the store keeps. */
  readonly report: Effect.Effect<ReadonlyArray<SpendLine>, BudgetStoreError>
}

/**
 * The budget report tag (provided by {@link layer}).
 *
 * @since 0.1.0
 * @category tags
 */
export class Budget extends Context.Tag("effect-llm/Budget")<Budget, Service>() {}

// -----------------------------------------------------------------------------
// Money and periods
// -----------------------------------------------------------------------------

const NANO = 1e9

/** Rounds USD up to whole nano-dollars (tolerating float noise below 1e-3 nano). */
const toNanoCeil = (usd: number): number => Math.ceil(Math.round(usd * NANO * 1000) / 1000)
const toNanoFloor = (usd: number): number => Math.floor(Math.round(usd * NANO * 1000) / 1000)
const toUsd = (nano: number): number => nano / NANO

const NONE = "(none)"
const esc = (value: string) => encodeURIComponent(value)

interface PeriodInfo {
  readonly label: string
  readonly id: string
  /** End of the calendar period (epoch ms); Infinity for windows. */
  readonly end: number
  readonly windowMillis: number | undefined
}

const pad = (n: number) => String(n).padStart(2, "0")

const periodLabel = (period: Period): string =>
  typeof period === "string" ? period : `window:${Duration.format(Duration.decode(period.window))}`

const windowInfo = (period: Exclude<Period, string>): PeriodInfo => ({
  label: periodLabel(period),
  id: "",
  end: Infinity,
  windowMillis: Duration.toMillis(Duration.decode(period.window))
})

/**
 * How far past a period's start surely lies inside the next period: days last
 * 23-25 hours, months 28-31 days.
 */
const intoNext = { day: 36 * 3_600_000, month: 45 * 86_400_000 } as const

/**
 * The calendar period holding `now`, and when it started (epoch ms). It ends
 * where the next one starts, not one unit after its own start: where daylight
 * saving begins at midnight (America/Santiago, Asia/Beirut) a day starts at
 * 01:00, and start + 1 day would run an hour into the next day.
 */
const calendarAt = (period: "day" | "month", zone: DateTime.TimeZone, now: number) => {
  const zoned = DateTime.unsafeMakeZoned(now, { timeZone: zone })
  const start = DateTime.startOf(zoned, period)
  const next = DateTime.unsafeMakeZoned(DateTime.toEpochMillis(start) + intoNext[period], { timeZone: zone })
  const end = DateTime.toEpochMillis(DateTime.startOf(next, period))
  const parts = DateTime.toParts(start)
  const id = period === "day" ? `${parts.year}-${pad(parts.month)}-${pad(parts.day)}` : `${parts.year}-${pad(parts.month)}`
  const info: PeriodInfo = { label: period, id, end, windowMillis: undefined }
  return { start: DateTime.toEpochMillis(start), info }
}

/**
 * The period of a limit at a time, with the last answer kept: a calendar period
 * is the same from its start to its end, and working it out in a named time zone
 * (`DateTime` zone offsets) cost ~20 µs a call. A window's info never changes.
 */
const periodCache = (period: Period, zone: DateTime.TimeZone): (now: number) => PeriodInfo => {
  if (typeof period !== "string") {
    const info = windowInfo(period)
    return () => info
  }
  let cached: { readonly start: number; readonly info: PeriodInfo } | undefined
  return (now) => {
    if (cached === undefined || now < cached.start || now >= cached.info.end) cached = calendarAt(period, zone, now)
    return cached.info
  }
}

// -----------------------------------------------------------------------------
// The middleware
// -----------------------------------------------------------------------------

interface PlannedBucket extends Bucket {
  readonly scope: string
  readonly period: PeriodInfo
  /** For model-scope buckets: the candidate model it belongs to. */
  readonly model: LanguageModel.ModelRef | undefined
}

interface Plan {
  readonly id: string
  readonly buckets: ReadonlyArray<PlannedBucket>
  readonly amount: number
  readonly worstUsd: number
  /** The clock when the plan was made. */
  readonly plannedAt: number
}

const sameModel = (a: LanguageModel.ModelRef, b: LanguageModel.ModelRef) =>
  a.provider === b.provider && (a.model === b.model || Pricing.candidates(a.model).includes(b.model) ||
    Pricing.candidates(b.model).includes(a.model))

const refLabel = (ref: LanguageModel.ModelRef) => `${ref.provider}/${ref.model}`

/**
 * The budget middleware and its report, built around one inner service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWithReport = (options: Options) =>
(inner: LanguageModel.Service): Effect.Effect<
  { readonly service: LanguageModel.Service; readonly budget: Service },
  InvalidBudgetConfig | Pricing.UnknownModel,
  Pricing.Pricing | BudgetStore
> =>
  Effect.gen(function*() {
    const pricing = yield* Pricing.Pricing
    const store = yield* BudgetStore
    const zone = yield* Option.match(DateTime.zoneMakeNamed(options.timeZone ?? "UTC"), {
      onNone: () => Effect.fail(new InvalidBudgetConfig({ message: `Unknown time zone: ${options.timeZone}` })),
      onSome: Effect.succeed
    })
    for (const limit of options.limits) {
      if (!(limit.usd >= 0) || Object.values(limit.overrides ?? {}).some((usd) => !(usd >= 0))) {
        return yield* new InvalidBudgetConfig({ message: `A budget limit must be a non-negative USD amount` })
      }
      if (typeof limit.period !== "string" && !(Duration.toMillis(Duration.decode(limit.period.window)) > 0)) {
        return yield* new InvalidBudgetConfig({ message: `A rolling window must be longer than zero` })
      }
      if (limit.scope === "tag" && limit.tag === undefined) {
        return yield* new InvalidBudgetConfig({ message: `A tag-scoped limit needs the tag key (option "tag")` })
      }
    }
    if (options.defaultMaxTokens !== undefined && !(options.defaultMaxTokens > 0)) {
      return yield* new InvalidBudgetConfig({ message: `defaultMaxTokens must be positive` })
    }
    // Every model the stack may call must have a price: fail here, not on the first call.
    const prices = new Map<string, Pricing.ModelPrice>()
    for (const ref of inner.models) prices.set(refLabel(ref), yield* pricing.price(ref))

    const mode = options.mode ?? "fail"
    const periods = options.limits.map((limit) => periodCache(limit.period, zone))
    const waitTimeout = Duration.toMillis(Duration.decode(options.waitTimeout ?? "30 seconds"))
    const pollInterval = Duration.decode(options.pollInterval ?? "100 millis")
    const leaseMillis = Duration.toMillis(Duration.decode(options.lease ?? "15 minutes"))
    const retention = Duration.toMillis(Duration.decode(options.retention ?? "35 days"))

    // Waiting calls share one ticker: a single fiber sleeps `pollInterval` and wakes
    // every waiter at once, so a thousand waiters cost one timer, not a thousand.
    const waiters = yield* Ref.make(0)
    const tick = yield* Ref.make(yield* Deferred.make<void>())
    const ticking = yield* Ref.make(false)
    const ticker: Effect.Effect<void> = Effect.gen(function*() {
      while (true) {
        yield* Effect.sleep(pollInterval)
        const next = yield* Deferred.make<void>()
        yield* Deferred.succeed(yield* Ref.getAndSet(tick, next), undefined)
        const stop = yield* Effect.flatMap(Ref.get(waiters), (n) =>
          n > 0 ? Effect.succeed(false) : Effect.as(Ref.set(ticking, false), true))
        if (stop) return
      }
    })
    /** Waits for the next tick (interruptible); starts the ticker when none runs. */
    const nextTick = Effect.gen(function*() {
      const current = yield* Ref.get(tick)
      yield* Ref.update(waiters, (n) => n + 1)
      if (!(yield* Ref.getAndSet(ticking, true))) yield* Effect.forkDaemon(ticker)
      return current
    }).pipe(
      Effect.flatMap((current) => Deferred.await(current)),
      Effect.ensuring(Ref.update(waiters, (n) => n - 1))
    )

    const invalid = (message: string, code: string) =>
      new LlmError.InvalidRequest({ message, code, provider: "budget" })
    const storeDown = (error: BudgetStoreError) =>
      new LlmError.ProviderUnavailable({ provider: "budget-store", kind: "network", message: error.message })

    /** The models a request may be served by: the request's model if the stack has it, else all. */
    const allCandidates = inner.models.map((ref) => [ref, prices.get(refLabel(ref))!] as const)
    const candidatesOf = (
      request: LanguageModel.Request
    ): ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]> | LlmError.InvalidRequest => {
      const all = allCandidates
      if (request.model === undefined) return all
      const matching = all.filter(([ref]) => sameModel(ref, { provider: ref.provider, model: request.model! }))
      if (matching.length > 0) return withOwnPrices(matching, request.model)
      const provider = inner.models[0]?.provider ?? "unknown"
      const ref = { provider, model: request.model }
      return Option.match(pricing.lookup(ref), {
        onNone: () => invalid(`No price for model ${request.model}: the budget cannot reserve for it`, "unpriced_model"),
        onSome: (price) => [...all, [ref, price] as const]
      })
    }

    /**
     * A model asked for by a name the stack lists under another (a dated snapshot
     * of a listed base model) is sent as asked and billed at its own price, which
     * may be higher (gpt-4o-2024-05-13 costs twice gpt-4o): each such member is
     * reserved for at the dearer of the two. Same ref, so the same buckets.
     */
    const withOwnPrices = (
      matching: ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]>,
      model: string
    ): ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]> => {
      if (matching.every(([ref]) => ref.model === model)) return matching
      const out: Array<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]> = []
      for (const [ref, price] of matching) {
        out.push([ref, price])
        if (ref.model === model) continue
        const own = pricing.lookup({ provider: ref.provider, model })
        if (Option.isSome(own) && own.value !== price) out.push([ref, own.value])
      }
      return out
    }

    const valueOf = (limit: Limit, request: LanguageModel.Request): string => {
      const metadata = request.metadata
      switch (limit.scope) {
        case "tenant":
          return metadata?.tenant ?? NONE
        case "user":
          return metadata?.user ?? NONE
        case "tag":
          return metadata?.tags?.[limit.tag!] ?? NONE
        default:
          return "*"
      }
    }

    /**
     * A bucket's scope. A user is counted within the tenant the call is for: user
     * ids are the tenants' own (the gateway passes the client's `user` field), and
     * "bob" of one tenant must not spend the budget of "bob" of another.
     */
    const scopeLabel = (limit: Limit, value: string, request: LanguageModel.Request): string => {
      switch (limit.scope) {
        case "global":
          return "global"
        case "tag":
          return `tag:${esc(limit.tag!)}=${esc(value)}`
        case "user": {
          const tenant = request.metadata?.tenant
          return tenant === undefined ? `user:${esc(value)}` : `user:${esc(value)}@${esc(tenant)}`
        }
        default:
          return `${limit.scope}:${esc(value)}`
      }
    }

    const limitFor = (limit: Limit, value: string, model?: LanguageModel.ModelRef): number | undefined => {
      const matches = (v: string) => v === value || (model !== undefined && v === model.model)
      if (limit.value !== undefined && !matches(limit.value)) return undefined
      if (limit.overrides !== undefined) {
        for (const [key, usd] of Object.entries(limit.overrides)) if (matches(key)) return usd
      }
      return limit.usd
    }

    /**
     * Per limit, the scope and key of the last bucket it made, reused while the
     * period, value and (for user scopes) tenant are the same: escaping and
     * building them cost more than the rest of planning the buckets.
     */
    const made: Array<
      { readonly period: PeriodInfo; readonly value: string; readonly tenant: string | undefined; readonly scope: string; readonly key: string } | undefined
    > = options.limits.map(() => undefined)

    /** Adds limit `i`'s bucket for `value` to `out`; of two with one key, the lower limit stays. */
    const addBucket = (
      out: Array<PlannedBucket>,
      request: LanguageModel.Request,
      i: number,
      period: PeriodInfo,
      ttlMillis: number,
      value: string,
      model: LanguageModel.ModelRef | undefined
    ) => {
      const limit = options.limits[i]!
      const usd = limitFor(limit, value, model)
      if (usd === undefined) return
      const tenant = limit.scope === "user" ? request.metadata?.tenant : undefined
      let last = made[i]
      if (last === undefined || last.period !== period || last.value !== value || last.tenant !== tenant) {
        const scope = scopeLabel(limit, value, request)
        made[i] = last = { period, value, tenant, scope, key: `${scope}|${period.label}|${period.id}` }
      }
      const nano = toNanoFloor(usd)
      let at = 0
      while (at < out.length && out[at]!.key !== last.key) at++
      if (at < out.length && out[at]!.limit <= nano) return
      out[at] = period.windowMillis !== undefined
        ? { key: last.key, limit: nano, ttlMillis, windowMillis: period.windowMillis, scope: last.scope, period, model }
        : { key: last.key, limit: nano, ttlMillis, scope: last.scope, period, model }
    }

    const bucketsOf = (
      request: LanguageModel.Request,
      candidates: ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]>,
      now: number
    ): ReadonlyArray<PlannedBucket> => {
      const out: Array<PlannedBucket> = []
      for (let i = 0; i < options.limits.length; i++) {
        const period = periods[i]!(now)
        const ttlMillis = period.windowMillis !== undefined
          ? period.windowMillis + leaseMillis
          : period.end - now + retention
        if (options.limits[i]!.scope === "model") {
          for (const [ref] of candidates) addBucket(out, request, i, period, ttlMillis, refLabel(ref), ref)
        } else {
          addBucket(out, request, i, period, ttlMillis, valueOf(options.limits[i]!, request), undefined)
        }
      }
      return out
    }

    // Reservation ids: unique per layer instance (a random prefix, for stores shared
    // between processes) and call (a counter); cheaper than a UUID per call.
    const idPrefix = crypto.randomUUID()
    let idCounter = 0

    /**
     * The plan of a call made at `now`, synchronously; `undefined` when a token
     * encoding it needs is not loaded yet (then {@link plan} loads it).
     */
    const planNow = (request: LanguageModel.Request, now: number): Plan | LlmError.InvalidRequest | undefined => {
      const maxTokens = request.maxTokens ?? options.defaultMaxTokens
      if (maxTokens === undefined) {
        return invalid(
          "The request has no maxTokens and the budget has no defaultMaxTokens: its cost has no upper bound",
          "max_tokens_required"
        )
      }
      const candidates = candidatesOf(request)
      if (!Array.isArray(candidates)) return candidates as LlmError.InvalidRequest
      let worstUsd = 0
      // Members of a chain often share a model: count the request once per model.
      let lastModel: string | undefined
      let lastTokens = 0
      let inputTokens: Map<string, number> | undefined
      for (const [ref, price] of candidates as ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]>) {
        let tokens = ref.model === lastModel ? lastTokens : inputTokens?.get(ref.model)
        if (tokens === undefined) {
          const estimate = Tokens.estimateIfLoaded(request, ref.model, options.tokens)
          if (estimate === undefined) return undefined
          tokens = estimate.inputTokens
          if (lastModel !== undefined) (inputTokens ??= new Map([[lastModel, lastTokens]])).set(ref.model, tokens)
        }
        lastModel = ref.model
        lastTokens = tokens
        worstUsd = Math.max(worstUsd, Pricing.worstCaseOf(price, tokens, maxTokens))
      }
      const id = `${idPrefix}-${(idCounter++).toString(36)}`
      return { id, buckets: bucketsOf(request, candidates, now), amount: toNanoCeil(worstUsd), worstUsd, plannedAt: now }
    }

    /**
     * {@link planNow}, loading the token encodings of every candidate model first
     * when needed (a request for a model the stack lacks is planned over all the
     * stack's models as well). Loading happens once: a plan still missing an
     * encoding after it is a defect, not a loop.
     */
    const plan = (request: LanguageModel.Request, loaded = false): Effect.Effect<Plan, LlmError.InvalidRequest> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const planned = planNow(request, now)
        if (planned === undefined) {
          if (loaded) return Effect.dieMessage("Budget: a token encoding is still missing after loading it")
          const candidates = candidatesOf(request)
          const models = Array.isArray(candidates)
            ? [...new Set((candidates as ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]>).map(([ref]) => ref.model))]
            : []
          return Effect.zipRight(
            Effect.forEach(models, (model) => Tokens.estimate(request, model, options.tokens), { discard: true }),
            plan(request, true)
          )
        }
        return planned instanceof LlmError.InvalidRequest ? Effect.fail(planned) : Effect.succeed(planned)
      })

    const exceeded = (p: Plan, bucket: PlannedBucket, spent: number, reserved: number, now: number) =>
      new LlmError.BudgetExceeded({
        provider: "budget",
        message: `Budget ${bucket.scope} (${bucket.period.label}${
          bucket.period.id ? ` ${bucket.period.id}` : ""
        }) has no room: ${toUsd(spent + reserved).toFixed(6)} of ${
          toUsd(bucket.limit).toFixed(6)
        } USD spent or reserved, the call needs up to ${p.worstUsd.toFixed(6)} USD`,
        scope: bucket.scope,
        period: bucket.period.label,
        limit: toUsd(bucket.limit),
        spent: toUsd(spent + reserved),
        requested: p.worstUsd,
        retryAfterMillis: spent + p.amount > bucket.limit
          ? (bucket.period.windowMillis ?? Math.max(0, bucket.period.end - now))
          : Duration.toMillis(pollInterval)
      })

    /**
     * The plan's buckets again for `now` once a calendar period of theirs has
     * ended: a call that waited into a new day reserves in the new day's bucket.
     * A refused reservation holds nothing, so the id is kept.
     */
    const current = (p: Plan, request: LanguageModel.Request, now: number): Plan =>
      p.buckets.some((b) => b.period.windowMillis === undefined && now >= b.period.end)
        ? { ...p, buckets: bucketsOf(request, candidatesOf(request) as ReadonlyArray<readonly [LanguageModel.ModelRef, Pricing.ModelPrice]>, now) }
        : p

    /**
     * Reserves, waiting in `wait` mode; succeeds with the plan reserved under (its
     * buckets are the current periods'). Store calls run uninterruptibly; waits are
     * `restore`d.
     */
    const acquire = (
      planned: Plan,
      request: LanguageModel.Request,
      restore: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
      firstResult?: ReserveResult
    ) =>
      Effect.gen(function*() {
        // The first try reuses the plan's clock reading (nothing waited since).
        const deadline = planned.plannedAt + waitTimeout
        let p = planned
        for (let first = true;; first = false) {
          const now = first ? p.plannedAt : yield* Clock.currentTimeMillis
          if (!first) p = current(p, request, now)
          const result = first && firstResult !== undefined ? firstResult : yield* Effect.mapError(
            store.reserve({ id: p.id, buckets: p.buckets, amount: p.amount, now, leaseMillis }),
            storeDown
          )
          if (result._tag === "Reserved") return p
          const bucket = p.buckets[result.index]!
          // Built only when failing: constructing the error validates its schema.
          const error = () => exceeded(p, bucket, result.spent, result.reserved, now)
          if (mode === "fail") return yield* error()
          // Waiting helps only if open reservations could free enough room, a window
          // slides, or the period rolls over before the deadline.
          const canHelp = (result.reserved > 0 && result.spent + p.amount <= bucket.limit) ||
            bucket.period.windowMillis !== undefined || bucket.period.end <= deadline
          if (!canHelp || now >= deadline) return yield* error()
          yield* restore(nextTick)
        }
      })

    const settleFailed = (error: BudgetStoreError) =>
      Effect.logWarning(`Budget: settling failed (${error.message}); the lease will charge the reservation`)

    /** Settles at `now`, then succeeds with `value` (one match, not a catch and a map). */
    const settleAt = <A>(
      p: Plan,
      served: LanguageModel.ModelRef | undefined,
      actualNano: number,
      now: number,
      value: A
    ): Effect.Effect<A> => {
      let servedMatches = false
      if (served !== undefined) {
        for (const b of p.buckets) {
          if (b.model !== undefined && sameModel(b.model, served)) {
            servedMatches = true
            break
          }
        }
      }
      const amounts: Array<number> = []
      for (const b of p.buckets) {
        amounts.push(b.model === undefined || !servedMatches || sameModel(b.model, served!) ? actualNano : 0)
      }
      const settle = Effect.matchEffect(store.settle({ id: p.id, amounts, now }), {
        onFailure: (error) => Effect.as(settleFailed(error), value),
        onSuccess: () => Effect.succeed(value)
      })
      return actualNano > p.amount
        ? Effect.zipRight(
          Effect.logWarning(
            `Budget: a call cost ${toUsd(actualNano)} USD, more than the ${p.worstUsd} USD reserved (token estimate too low?)`
          ),
          settle
        )
        : settle
    }

    const settleWith = (p: Plan, served: LanguageModel.ModelRef | undefined, actualNano: number) =>
      Effect.clockWith((clock) => settleAt(p, served, actualNano, clock.unsafeCurrentTimeMillis(), undefined))

    const releaseFailed = (error: BudgetStoreError) =>
      Effect.logWarning(`Budget: releasing failed (${error.message}); the lease will charge the reservation`)

    const release = (p: Plan) =>
      Effect.clockWith((clock) => Effect.catchAll(store.release(p.id, clock.unsafeCurrentTimeMillis()), releaseFailed))

    // Built from already-valid parts with `Construct.make`: a Schema class
    // constructor costs 1-15 µs per instance even without validation. A field is
    // added with `Object.assign` after the copy, not as `{ ...value, field }`: V8
    // gives that spread a new hidden class every time (~0.9 µs a call here).
    /** The actual cost of what served, or the worst case when it has no price. */
    const actualCost = (p: Plan, served: LanguageModel.ModelRef, usage: LanguageModel.Usage) =>
      Option.match(pricing.lookup(served), {
        onNone: () => Construct.make(LanguageModel.Cost, { usd: p.worstUsd, estimated: true }),
        onSome: (price) => Construct.make(LanguageModel.Cost, { usd: Pricing.costOf(price, usage), estimated: false })
      })

    /**
     * The request the provider is sent: with `defaultMaxTokens` as its `maxTokens`
     * when it has none. The reservation assumed that bound; without it the provider
     * would apply its own (4,096 at Anthropic, the model's maximum at OpenAI) and
     * the call could cost many times what was reserved.
     */
    const bounded = (request: LanguageModel.Request): LanguageModel.Request =>
      request.maxTokens !== undefined || options.defaultMaxTokens === undefined
        ? request
        : Object.assign(Construct.make(LanguageModel.Request, request), { maxTokens: options.defaultMaxTokens })

    /**
     * The call once reserved: settle on success, release on failure or interruption.
     * `clock` is the fiber's Clock as `generate` found it (not looked up again to settle).
     */
    const call = (
      request: LanguageModel.Request,
      p: Plan,
      restore: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>,
      clock: Clock.Clock
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.matchCauseEffect(restore(inner.generate(bounded(request))), {
        onFailure: (cause) => Effect.zipRight(release(p), Effect.failCause(cause)),
        onSuccess: (response) => {
          const served = { provider: response.provider, model: response.model }
          const cost = actualCost(p, served, response.usage)
          return settleAt(
            p,
            served,
            cost.estimated ? p.amount : toNanoCeil(cost.usd),
            clock.unsafeCurrentTimeMillis(),
            Object.assign(Construct.make(LanguageModel.Response, response), { cost })
          )
        }
      })

    // The common path: the plan is made synchronously (clock read once, tokens
    // counted with the loaded encoding), one store call reserves, one match
    // settles or releases. Waiting, first calls (encoding not loaded) and refusals
    // take the general path.
    const generate = (request: LanguageModel.Request) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.clockWith((clock) => {
          const p = planNow(request, clock.unsafeCurrentTimeMillis())
          if (p === undefined) {
            return Effect.flatMap(plan(request), (p) => Effect.flatMap(acquire(p, request, restore), (p) => call(request, p, restore, clock)))
          }
          if (p instanceof LlmError.InvalidRequest) return Effect.fail(p)
          return Effect.matchEffect(
            store.reserve({ id: p.id, buckets: p.buckets, amount: p.amount, now: p.plannedAt, leaseMillis }),
            {
              onFailure: (error) => Effect.fail(storeDown(error)),
              onSuccess: (result) =>
                result._tag === "Reserved"
                  ? call(request, p, restore, clock)
                  : Effect.flatMap(acquire(p, request, restore, result), (p) => call(request, p, restore, clock))
            }
          )
        })
      )

    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, EffectScope.Scope> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const p = yield* acquire(yield* plan(request), request, restore)
          // Plain state read by the finalizer, events counted and Finish priced per
          // chunk (no effect per event).
          const seen: { events: number; finish?: LanguageModel.Finish; cost?: LanguageModel.Cost } = { events: 0 }
          // Into the scope directly (`Effect.addFinalizer` diffs the fiber refs around it).
          yield* EffectScope.addFinalizer(
            yield* Effect.scope,
            Effect.uninterruptible(Effect.suspend(() => {
              if (seen.finish !== undefined && seen.cost !== undefined) {
                const served = { provider: seen.finish.provider, model: seen.finish.model }
                return settleWith(p, served, seen.cost.estimated ? p.amount : toNanoCeil(seen.cost.usd))
              }
              // Nothing arrived: nothing was generated, release. Events but no final
              // usage: the bill is unknown, charge the reserved worst case.
              return seen.events === 0 ? release(p) : settleWith(p, undefined, p.amount)
            }))
          )
          // Opening (behind a fallback, a wait for a first event) can be interrupted.
          const pull = yield* restore(LanguageModel.pullOf(inner, bounded(request)))
          return Effect.map(pull, (chunk) => {
            seen.events += chunk.length
            return Chunk.map(chunk, (event): LanguageModel.StreamEvent => {
              if (event._tag !== "Finish") return event
              const cost = actualCost(p, { provider: event.provider, model: event.model }, event.usage)
              const finish = Object.assign(Construct.make(LanguageModel.Finish, event), { cost })
              seen.finish = finish
              seen.cost = cost
              return finish
            })
          })
        })
      )

    const report: Effect.Effect<ReadonlyArray<SpendLine>, BudgetStoreError> = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const keys = yield* store.keys(now)
      const parsed = keys.map((key) => {
        const [scope = "", period = "", periodId = ""] = key.split("|")
        const windowLimit = options.limits.find((l) => typeof l.period !== "string" && periodLabel(l.period) === period)
        const windowMillis = windowLimit !== undefined && typeof windowLimit.period !== "string"
          ? Duration.toMillis(Duration.decode(windowLimit.period.window))
          : undefined
        return { key, scope, period, periodId, windowMillis }
      })
      const states = yield* store.read(
        parsed.map((p) => (p.windowMillis === undefined ? { key: p.key } : { key: p.key, windowMillis: p.windowMillis })),
        now
      )
      return parsed.map((p, i): SpendLine => {
        let limit: number | undefined
        for (const l of options.limits) {
          if (periodLabel(l.period) !== p.period) continue
          const [kind, ...rest] = p.scope.split(":")
          if (kind !== l.scope && !(kind === "global" && l.scope === "global")) continue
          const raw = decodeURIComponent(rest.join(":"))
          const value = l.scope === "tag" ? raw.slice(raw.indexOf("=") + 1) : raw
          if (l.scope === "tag" && raw.slice(0, raw.indexOf("=")) !== l.tag) continue
          const slash = value.indexOf("/")
          const model = l.scope === "model" && slash > 0
            ? { provider: value.slice(0, slash), model: value.slice(slash + 1) }
            : undefined
          const usd = limitFor(l, l.scope === "global" ? "*" : value, model)
          if (usd !== undefined) limit = limit === undefined ? usd : Math.min(limit, usd)
        }
        const spentUsd = toUsd(states[i]!.spent)
        const reservedUsd = toUsd(states[i]!.reserved)
        return {
          scope: p.scope,
          period: p.period,
          periodId: p.periodId,
          limitUsd: limit,
          spentUsd,
          reservedUsd,
          remainingUsd: limit === undefined ? undefined : limit - spentUsd - reservedUsd
        }
      }).sort((a, b) => `${a.scope}|${a.period}|${a.periodId}`.localeCompare(`${b.scope}|${b.period}|${b.periodId}`))
    })

    const service: LanguageModel.Service = {
      models: inner.models,
      generate,
      stream: (request) => LanguageModel.fromPull(streamPull(request)),
      streamPull
    }
    return { service, budget: { report } }
  })

/**
 * Wraps one LanguageModel service in a budget. Fails with `UnknownModel` when a model
 * of the inner stack has no price.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
(inner: LanguageModel.Service): Effect.Effect<
  LanguageModel.Service,
  InvalidBudgetConfig | Pricing.UnknownModel,
  Pricing.Pricing | BudgetStore
> => Effect.map(makeWithReport(options)(inner), (built) => built.service)

/**
 * The budget as a Layer from LanguageModel to LanguageModel, also providing its
 * {@link Budget} report. Needs a `Pricing` and a `BudgetStore`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<
  LanguageModel.LanguageModel | Budget,
  InvalidBudgetConfig | Pricing.UnknownModel,
  LanguageModel.LanguageModel | Pricing.Pricing | BudgetStore
> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const inner = yield* LanguageModel.LanguageModel
      const { budget, service } = yield* makeWithReport(options)(inner)
      return Context.make(LanguageModel.LanguageModel, service).pipe(Context.add(Budget, budget))
    })
  )

/**
 * The spend report of the budget in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const report: Effect.Effect<ReadonlyArray<SpendLine>, BudgetStoreError, Budget> = Effect.flatMap(
  Budget,
  (budget) => budget.report
)
