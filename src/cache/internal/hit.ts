/**
 * Answers served from a cache, built from stored, already-valid parts: the hit
 * response and `Finish` (the same members with the cache info, a zero cost, no
 * attempts and the lookup's latency), and the conversions between a response and
 * its events. Shared by the exact and the semantic cache.
 *
 * Built on the prototype member by member: a Schema class constructor costs
 * 1-15 µs per instance even without validation (13-30 µs with), and a spread of
 * the stored response into `Construct.make` copied it twice. `eventsOf` equals
 * `LanguageModel.toEvents` (a test compares them) without the validating
 * constructors; a recorded stream is added up with `LanguageModel.fromEvents`.
 */
import * as Construct from "../../internal/construct.js"
import * as LanguageModel from "../../LanguageModel.js"

type Writable<A> = { -readonly [K in keyof A]: A[K] }

/** How a cache served: `exact`, or `semantic` with the similarity. */
export const hitInfo = (
  kind: LanguageModel.CacheInfo["kind"],
  storedAt: number,
  now: number,
  similarity?: number
): LanguageModel.CacheInfo => {
  const info = Object.create(LanguageModel.CacheInfo.prototype) as Writable<LanguageModel.CacheInfo>
  info.kind = kind
  if (similarity !== undefined) info.similarity = similarity
  info.ageMillis = Math.max(0, now - storedAt)
  return info
}

const zeroCost = (): LanguageModel.Cost => {
  const cost = Object.create(LanguageModel.Cost.prototype) as Writable<LanguageModel.Cost>
  cost.usd = 0
  cost.estimated = false
  return cost
}

/** The stored response as a hit: the same members, with `cache`, a zero `cost`, no `attempts` and the lookup's latency. */
export const hitResponse = (stored: LanguageModel.Response, cache: LanguageModel.CacheInfo, latencyMillis: number) => {
  const hit = Object.create(LanguageModel.Response.prototype) as Writable<LanguageModel.Response>
  if (stored.id !== undefined) hit.id = stored.id
  hit.text = stored.text
  hit.toolCalls = stored.toolCalls
  hit.finishReason = stored.finishReason
  if (stored.refusal !== undefined) hit.refusal = stored.refusal
  hit.usage = stored.usage
  hit.provider = stored.provider
  hit.model = stored.model
  if (stored.cost !== undefined) hit.cost = zeroCost()
  hit.cache = cache
  hit.attempts = []
  if (stored.route !== undefined) hit.route = stored.route
  hit.latencyMillis = latencyMillis
  return hit as LanguageModel.Response
}

/** The stored `Finish` as a hit, as {@link hitResponse}. */
export const hitFinish = (stored: LanguageModel.Finish, cache: LanguageModel.CacheInfo, latencyMillis: number) => {
  const hit = Object.create(LanguageModel.Finish.prototype) as Writable<LanguageModel.Finish>
  hit._tag = "Finish"
  if (stored.id !== undefined) hit.id = stored.id
  hit.reason = stored.reason
  if (stored.refusal !== undefined) hit.refusal = stored.refusal
  hit.usage = stored.usage
  hit.provider = stored.provider
  hit.model = stored.model
  if (stored.cost !== undefined) hit.cost = zeroCost()
  hit.cache = cache
  hit.attempts = []
  if (stored.route !== undefined) hit.route = stored.route
  hit.latencyMillis = latencyMillis
  return hit as LanguageModel.Finish
}

/** `LanguageModel.toEvents` without the validating constructors. */
export const eventsOf = (response: LanguageModel.Response): ReadonlyArray<LanguageModel.StreamEvent> => {
  const events: Array<LanguageModel.StreamEvent> = []
  if (response.text.length > 0) events.push(Construct.make(LanguageModel.TextDelta, { _tag: "TextDelta", text: response.text }))
  response.toolCalls.forEach((call, index) =>
    events.push(
      Construct.make(LanguageModel.ToolCallDelta, {
        _tag: "ToolCallDelta",
        index,
        id: call.id,
        name: call.name,
        argumentsDelta: call.arguments
      })
    )
  )
  events.push(Construct.make(LanguageModel.Finish, {
    _tag: "Finish",
    id: response.id,
    reason: response.finishReason,
    refusal: response.refusal,
    usage: response.usage,
    provider: response.provider,
    model: response.model,
    cost: response.cost,
    cache: response.cache,
    attempts: response.attempts,
    route: response.route,
    latencyMillis: response.latencyMillis
  }))
  return events
}

/** @internal exposed for the tests: the hand-built conversions beside the ones they replace. */


/** Stored events served as a hit: in one chunk (`Finish` as {@link hitFinish}), then the end. */
export const replayPull = (
  events: ReadonlyArray<LanguageModel.StreamEvent>,
  cache: LanguageModel.CacheInfo,
  latencyMillis: number
): LanguageModel.StreamPull => {
  const out = new Array<LanguageModel.StreamEvent>(events.length)
  for (let i = 0; i < events.length; i++) {
    const event = events[i]!
    out[i] = event._tag === "Finish" ? hitFinish(event, cache, latencyMillis) : event
  }
  return LanguageModel.pullOnce(out)
}
