/**
 * A semantic cache: a request whose last user turn means the same as an earlier
 * one — in the same conversation context — is answered with the earlier answer.
 *
 * - What is compared: the embedding of the last user turn (the `Embeddings`
 *   service in context), by cosine similarity, against entries in the same scope
 *   only. The scope is sha256 of everything else that shapes the answer: the
 *   serving provider and model, the system prompt and every earlier turn, tools and
 *   tool choice, response format, sampling parameters, seed, tenant, and the
 *   configured metadata and namespace (the same canonical form as the exact
 *   `ResponseCache`). Another tenant, system prompt or history never matches.
 * - When it hits: similarity ≥ `threshold` (default {@link defaultThreshold}, chosen on
 *   docs/benchmarks/semantic.json so that false hits stay near zero), and the
 *   guards agree: same polarity (negations and opposite words: "turn on" vs
 *   "turn off", "enable" vs "disable", "not"), the same numbers and identifiers,
 *   and no swapped order ("5 miles to km" vs "5 km to miles", "Alice owes Bob" vs
 *   "Bob owes Alice").
 * - What is skipped: requests whose last turn is not a user turn (tool results are
 *   answers to the model's own calls, not questions), `bypass`, and sampled
 *   requests (as in `ResponseCache`). `refresh` skips the lookup, forgets the entries it would have hit, and stores anew.
 * - What is stored: successful answers with a cacheable finish reason, under the
 *   scope of the model that produced them. A hit carries `cache: { kind:
 *   "semantic", similarity, ageMillis }`; a stream hit replays the recorded
 *   events when the answer was streamed, else the answer's text as one delta.
 * - Embedding failures never fail a call: it goes to the model uncached.
 *
 * Entries live in memory (a bounded map plus the {@link VectorIndex.Service}).
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Layer, Option, type Scope } from "effect"
import { Embeddings, type Service as EmbeddingsService } from "../providers/Embeddings.js"
import * as LanguageModel from "../LanguageModel.js"
import type * as LlmError from "../LlmError.js"
import { sameOrder, samePolarity, sameSpecifics } from "./internal/guards.js"
import { eventsOf, hitInfo, hitResponse as hitResponseOf, replayPull } from "./internal/hit.js"
import {
  canonicalText,
  expectedServing,
  producedBy,
  type Serving,
  sha256,
  type VaryBy
} from "./internal/key.js"
import * as VectorIndex from "./VectorIndex.js"

/**
 * The default similarity threshold, chosen on the paraphrase benchmark for the
 * local embedder (docs/benchmarks/semantic.json).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultThreshold = 0.8

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Minimum cosine similarity for a hit (default {@link defaultThreshold}). Tune it per embedder. */
  readonly threshold?: number | undefined
  /** How long an entry lives (default 1 hour). */
  readonly ttl?: Duration.DurationInput | undefined
  /** At most this many entries; the oldest go first (default 10 000). */
  readonly maxEntries?: number | undefined
  /** The guards after the threshold (default all on). */
  readonly guards?: {
    readonly polarity?: boolean | undefined
    readonly specifics?: boolean | undefined
    readonly order?: boolean | undefined
  } | undefined
  /** Also cache requests with `temperature > 0` (default false). */
  readonly cacheSampled?: boolean | undefined
  /** Cache requests that set no temperature (default true). */
  readonly cacheUnsetTemperature?: boolean | undefined
  readonly varyBy?: VaryBy | undefined
  readonly namespace?: string | undefined
  /** Answers stored only when they finished so (default `stop`, `length`, `tool_calls`). */
  readonly cacheableFinishReasons?: ReadonlyArray<LanguageModel.FinishReason> | undefined
  /** The vector index (default: a new exact in-memory one). */
  readonly index?: VectorIndex.Service | undefined
  /** Candidates examined per lookup, best first (default 4). */
  readonly candidates?: number | undefined
}

/**
 * The scope of a request: sha256 of everything but its last user turn, for the
 * given serving model. Requests in different scopes never share answers.
 *
 * @since 0.1.0
 * @category keys
 */
export const scopeOf = (
  request: LanguageModel.Request,
  serving: Serving,
  options: Pick<Options, "namespace" | "varyBy"> = {}
): string =>
  sha256(canonicalText(request, serving, options, "semantic"))

/**
 * Whether two questions may share an answer once their embeddings are close: same
 * polarity, the same numbers and identifiers, and their shared words in the order
 * that carries the meaning (see src/cache/internal/guards.ts).
 *
 * @since 0.1.0
 * @category predicates
 */
export const compatible = (
  a: string,
  b: string,
  guards: Options["guards"] = {}
): boolean =>
  (guards.polarity === false || samePolarity(a, b)) && (guards.specifics === false || sameSpecifics(a, b)) &&
  (guards.order === false || sameOrder(a, b))

interface Entry {
  readonly id: string
  readonly scope: string
  readonly text: string
  readonly response: LanguageModel.Response
  /** The events as they went out, when the answer was streamed. */
  readonly events: ReadonlyArray<LanguageModel.StreamEvent> | undefined
  readonly storedAt: number
  readonly expiresAt: number
}

/**
 * What a lookup found.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hit {
  readonly response: LanguageModel.Response
  readonly events: ReadonlyArray<LanguageModel.StreamEvent> | undefined
  readonly similarity: number
  readonly storedAt: number
}

/**
 * Wraps a `LanguageModel` service with the semantic cache, embedding with the
 * `Embeddings` service in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) =>
(inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service, never, Embeddings> =>
  Effect.gen(function*() {
    const embeddings: EmbeddingsService = yield* Embeddings
    const index = options.index ?? (yield* VectorIndex.makeMemory())
    const threshold = options.threshold ?? defaultThreshold
    const ttl = Duration.toMillis(options.ttl ?? "1 hour")
    const maxEntries = options.maxEntries ?? 10_000
    const candidates = options.candidates ?? 4
    const finishReasons = new Set(options.cacheableFinishReasons ?? ["stop", "length", "tool_calls"])
    const entries = new Map<string, Entry>()
    let nextId = 0
    let oldestId = 0

    interface Plan {
      readonly request: LanguageModel.Request
      readonly text: string
      readonly expected: Serving
      readonly scope: string
      readonly refresh: boolean
    }

    const planOf = (request: LanguageModel.Request): Plan | undefined => {
      if (request.cache?.bypass === true) return undefined
      const temperature = request.temperature
      const cacheable = temperature === undefined
        ? options.cacheUnsetTemperature ?? true
        : temperature === 0 || options.cacheSampled === true
      if (!cacheable) return undefined
      const last = request.messages[request.messages.length - 1]!
      // Only a user question is looked up: tool results and prefilled turns are not.
      if (last.role !== "user" || last.content.trim().length === 0) return undefined
      const expected = expectedServing(request, inner.models)
      return {
        request,
        text: last.content,
        expected,
        scope: scopeOf(request, expected, options),
        refresh: request.cache?.refresh === true
      }
    }

    const evict = (id: string) =>
      Effect.suspend(() => {
        const entry = entries.get(id)
        if (entry === undefined) return Effect.void
        entries.delete(id)
        return index.remove(entry.scope, id)
      })

    const embed = (text: string): Effect.Effect<Option.Option<Float32Array>> =>
      embeddings.embed([text]).pipe(
        Effect.map((vectors) => Option.fromNullable(vectors[0])),
        Effect.catchAll((error: LlmError.LlmError) =>
          Effect.as(Effect.logWarning("SemanticCache: embedding failed, the call goes uncached", error), Option.none())
        )
      )

    /**
     * The entries of the plan's scope that answer its question (similar enough,
     * the guards agree, not expired: expired ones met are evicted), best first;
     * with `all`, every one of the candidates, else the first only.
     */
    const answering = (plan: Plan, vector: Float32Array, all: boolean) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const matches = yield* index.search(plan.scope, vector, candidates)
        const found: Array<{ readonly entry: Entry; readonly score: number }> = []
        for (const match of matches) {
          if (match.score < threshold) break
          const entry = entries.get(match.id)
          if (entry === undefined) continue
          if (entry.expiresAt <= now) {
            yield* evict(entry.id)
            continue
          }
          if (!compatible(plan.text, entry.text, options.guards)) continue
          found.push({ entry, score: match.score })
          if (!all) break
        }
        return found
      })

    const lookup = (plan: Plan, vector: Float32Array): Effect.Effect<Option.Option<Hit>> =>
      Effect.map(answering(plan, vector, false), ([first]) =>
        first === undefined
          ? Option.none()
          : Option.some({ response: first.entry.response, events: first.entry.events, similarity: first.score, storedAt: first.entry.storedAt }))

    /**
     * A refresh replaces what the question would have been answered with: those
     * entries go before the new answer is stored (kept, the oldest would still win
     * a tie with it).
     */
    const forget = (plan: Plan, vector: Float32Array): Effect.Effect<void> =>
      Effect.flatMap(answering(plan, vector, true), (found) => Effect.forEach(found, ({ entry }) => evict(entry.id), { discard: true }))

    const save = (
      plan: Plan,
      vector: Float32Array,
      response: LanguageModel.Response,
      events?: ReadonlyArray<LanguageModel.StreamEvent>
    ): Effect.Effect<void> =>
      Effect.gen(function*() {
        if (!finishReasons.has(response.finishReason)) return
        const served = producedBy(response, plan.expected, inner.models)
        const scope = served.provider === plan.expected.provider && served.model === plan.expected.model
          ? plan.scope
          : scopeOf(plan.request, served, options)
        const now = yield* Clock.currentTimeMillis
        // An answer the exact cache below served is as old as it says: it keeps its
        // age here too, and does not live a second TTL.
        const storedAt = now - (response.cache?.ageMillis ?? 0)
        if (storedAt + ttl <= now) return
        const id = `${nextId++}`
        entries.set(id, { id, scope, text: plan.text, response, events, storedAt, expiresAt: storedAt + ttl })
        yield* index.add(scope, id, vector)
        // Oldest first by id (ids grow): walking the Map's keys instead passes over
        // the slots of deleted entries, ~10 µs per eviction at 10 000 entries.
        while (entries.size > maxEntries) {
          while (!entries.has(`${oldestId}`)) oldestId++
          yield* evict(`${oldestId}`)
        }
      })

    // Built from the stored parts without constructors (see internal/hit).
    const hitResponse = (hit: Hit, started: number) =>
      Effect.map(Clock.currentTimeMillis, (now) =>
        hitResponseOf(hit.response, hitInfo("semantic", hit.storedAt, now, hit.similarity), now - started))

    interface Prepared {
      readonly vector: Option.Option<Float32Array>
      readonly hit: Option.Option<Hit>
    }
    const miss = (vector: Option.Option<Float32Array>): Prepared => ({ vector, hit: Option.none() })

    /** Embeds and looks up (a refresh forgets what it would have hit); `None` vector when embedding failed. */
    const prepare = (plan: Plan): Effect.Effect<Prepared> =>
      Effect.flatMap(embed(plan.text), (vector): Effect.Effect<Prepared> =>
        Option.isNone(vector)
          ? Effect.succeed(miss(vector))
          : plan.refresh
          ? Effect.as(forget(plan, vector.value), miss(vector))
          : Effect.map(lookup(plan, vector.value), (hit): Prepared => ({ vector, hit })))

    // A pull, not a Stream: each Effect stream stage costs a channel executor per
    // stream (≈ 0.4 ms CPU here); the layers around it hand pulls down too.
    const streamPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> => {
      const plan = planOf(request)
      if (plan === undefined) return LanguageModel.pullOf(inner, request)
      return Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const { hit, vector } = yield* prepare(plan)
        if (Option.isSome(hit)) {
          const now = yield* Clock.currentTimeMillis
          const cache = hitInfo("semantic", hit.value.storedAt, now, hit.value.similarity)
          return replayPull(hit.value.events ?? eventsOf(hit.value.response), cache, now - started)
        }
        if (Option.isNone(vector)) return yield* LanguageModel.pullOf(inner, request)
        const upstream = yield* LanguageModel.pullOf(inner, request)
        // Recorded per chunk (no effect per event); saved when the stream ends whole.
        const recorded: Array<LanguageModel.StreamEvent> = []
        let saved = false
        const complete = Effect.suspend(() => {
          saved = true
          const response = LanguageModel.fromEvents(recorded)
          return response === undefined ? Effect.void : save(plan, vector.value, response, [...recorded])
        })
        return Effect.matchEffect(upstream, {
          onSuccess: (chunk) => {
            for (const event of chunk) recorded.push(event)
            return Effect.succeed(chunk)
          },
          onFailure: (error) => Option.isNone(error) && !saved ? Effect.zipRight(complete, Effect.fail(error)) : Effect.fail(error)
        })
      })
    }

    return {
      models: inner.models,
      generate: (request) => {
        const plan = planOf(request)
        if (plan === undefined) return inner.generate(request)
        return Effect.gen(function*() {
          const started = yield* Clock.currentTimeMillis
          const { hit, vector } = yield* prepare(plan)
          if (Option.isSome(hit)) return yield* hitResponse(hit.value, started)
          const response = yield* inner.generate(request)
          if (Option.isSome(vector)) yield* save(plan, vector.value, response)
          return response
        })
      },
      stream: (request) => LanguageModel.fromPull(streamPull(request)),
      streamPull
    }
  })

/**
 * The semantic cache as a Layer from `LanguageModel` to `LanguageModel`; provide
 * an `Embeddings` layer (`Embeddings.layerLocal()` needs no network).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel | Embeddings> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))
