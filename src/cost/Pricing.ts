/**
 * What a call costs: a price table per model (USD per token for input, cached input,
 * cache writes and output) and `cost(model, usage)`.
 *
 * The built-in table covers current OpenAI and Anthropic chat models. It was compiled
 * WITHOUT live access to the vendors' pages: figures are the vendors' published list
 * prices as known to the authors (OpenAI: platform.openai.com/docs/pricing; Anthropic:
 * docs.anthropic.com/en/docs/about-claude/pricing), cross-checked against third-party
 * copies of those pages dated January to June 2026. {@link asOf} is the date of that
 * cross-check. Prices change: check them, and pass `overrides` for anything that
 * differs or is missing. Batch, flex and priority tiers, regional surcharges and
 * Anthropic's one-hour cache writes (2x input instead of 1.25x) are not modelled.
 *
 * An unknown model is an error (`UnknownModel`), never $0: a budget that prices a call
 * at nothing cannot protect anything. A `fallback` price may be configured instead
 * (pick a conservative one).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { ModelRef, Usage } from "../LanguageModel.js"

/**
 * USD per token for each kind of token. `cachedInput` is the price of an input token
 * read from the provider's prompt cache, `cacheWrite` of one written to it (OpenAI:
 * the input price; Anthropic: 1.25x input for the default 5-minute cache). Reasoning
 * tokens are billed as output.
 *
 * @since 0.1.0
 * @category models
 */
export interface Rates {
  readonly input: number
  readonly cachedInput: number
  readonly cacheWrite: number
  readonly output: number
}

/**
 * The price of one model, with an optional long-context tier: when a request's
 * `inputTokens` exceed `above`, the whole request is billed at `rates` (as Anthropic
 * does for Sonnet 4 / 4.5 above 200K input tokens).
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelPrice extends Rates {
  readonly longContext?: { readonly above: number; readonly rates: Rates }
}

/**
 * Rates per one million tokens, the unit vendors publish in. `cachedInput` defaults to
 * `input`, `cacheWrite` to `input`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PerMillion {
  readonly input: number
  readonly output: number
  readonly cachedInput?: number
  readonly cacheWrite?: number
}

const M = 1_000_000

const ratesPerMillion = (p: PerMillion): Rates => ({
  input: p.input / M,
  output: p.output / M,
  cachedInput: (p.cachedInput ?? p.input) / M,
  cacheWrite: (p.cacheWrite ?? p.input) / M
})

/**
 * Builds a {@link ModelPrice} from per-million-token figures.
 *
 * @example
 * Pricing.perMillion({ input: 2, cachedInput: 0.5, output: 8 }) // gpt-4.1
 *
 * @since 0.1.0
 * @category constructors
 */
export const perMillion = (
  p: PerMillion & { readonly longContext?: { readonly above: number } & PerMillion }
): ModelPrice =>
  p.longContext === undefined
    ? ratesPerMillion(p)
    : { ...ratesPerMillion(p), longContext: { above: p.longContext.above, rates: ratesPerMillion(p.longContext) } }

/**
 * When the built-in table's figures were last cross-checked (see the module comment
 * for how).
 *
 * @since 0.1.0
 * @category constants
 */
export const asOf = "2026-06-21"

// OpenAI: cache writes cost nothing extra (they are billed as input).
const openai = (input: number, cachedInput: number, output: number): ModelPrice =>
  perMillion({ input, cachedInput, output })
// Anthropic: 5-minute cache write 1.25x input, cache read 0.1x input.
const anthropic = (input: number, output: number): ModelPrice =>
  perMillion({ input, output, cachedInput: input * 0.1, cacheWrite: input * 1.25 })

/**
 * The built-in price table, keyed by model id (snapshot suffixes such as
 * `-2024-08-06` or `-20250929` resolve to the base id).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Readonly<Record<string, ModelPrice>> = {
  // --- OpenAI ---------------------------------------------------------------
  "gpt-5.2": openai(1.75, 0.175, 14),
  "gpt-5.1": openai(1.25, 0.125, 10),
  "gpt-5": openai(1.25, 0.125, 10),
  "gpt-5-mini": openai(0.25, 0.025, 2),
  "gpt-5-nano": openai(0.05, 0.005, 0.4),
  "gpt-4.1": openai(2, 0.5, 8),
  "gpt-4.1-mini": openai(0.4, 0.1, 1.6),
  "gpt-4.1-nano": openai(0.1, 0.025, 0.4),
  "gpt-4o": openai(2.5, 1.25, 10),
  // The first gpt-4o snapshot kept its launch price; without this line it would
  // resolve to the cheaper "gpt-4o".
  "gpt-4o-2024-05-13": openai(5, 5, 15),
  "gpt-4o-mini": openai(0.15, 0.075, 0.6),
  "o3": openai(2, 0.5, 8),
  "o3-mini": openai(1.1, 0.55, 4.4),
  "o4-mini": openai(1.1, 0.275, 4.4),
  "o1": openai(15, 7.5, 60),
  "gpt-4-turbo": openai(10, 10, 30),
  "gpt-4": openai(30, 30, 60),
  "gpt-3.5-turbo": openai(0.5, 0.5, 1.5),
  // --- Anthropic --------------------------------------------------------------
  "claude-opus-4-6": anthropic(5, 25),
  "claude-opus-4-5": anthropic(5, 25),
  "claude-opus-4-1": anthropic(15, 75),
  "claude-opus-4-0": anthropic(15, 75),
  "claude-opus-4": anthropic(15, 75),
  "claude-sonnet-4-6": anthropic(3, 15),
  "claude-sonnet-4-5": perMillion({
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    longContext: { above: 200_000, input: 6, output: 22.5, cachedInput: 0.6, cacheWrite: 7.5 }
  }),
  "claude-sonnet-4-0": perMillion({
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    longContext: { above: 200_000, input: 6, output: 22.5, cachedInput: 0.6, cacheWrite: 7.5 }
  }),
  "claude-sonnet-4": perMillion({
    input: 3,
    output: 15,
    cachedInput: 0.3,
    cacheWrite: 3.75,
    longContext: { above: 200_000, input: 6, output: 22.5, cachedInput: 0.6, cacheWrite: 7.5 }
  }),
  "claude-3-7-sonnet": anthropic(3, 15),
  "claude-haiku-4-5": anthropic(1, 5),
  "claude-3-5-haiku": anthropic(0.8, 4),
  "claude-3-haiku": anthropic(0.25, 1.25)
}

/**
 * A model has no price: it is not in the table and no fallback price is configured.
 *
 * @since 0.1.0
 * @category errors
 */
export class UnknownModel extends Schema.TaggedError<UnknownModel>("effect-llm/Pricing/UnknownModel")("UnknownModel", {
  provider: Schema.optional(Schema.String),
  model: Schema.String,
  message: Schema.String
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Prices that replace or add to the built-in table, keyed by model id
   * (`gpt-4o`) or by `provider/model` (`ollama/llama3.1`, wins over the bare id).
   */
  readonly overrides?: Readonly<Record<string, ModelPrice>>
  /** Start from an empty table instead of the built-in one (default false). */
  readonly withoutDefaults?: boolean
  /**
   * The price of any model the table does not know. Without it an unknown model is an
   * `UnknownModel` error. Choose it conservatively (at least your dearest model).
   */
  readonly fallback?: ModelPrice
}

/**
 * The pricing service.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The date of the built-in table. */
  readonly asOf: string
  /** The price of a model, if known (or the fallback price). */
  readonly lookup: (model: string | ModelRef) => Option.Option<ModelPrice>
  /** The price of a model, or `UnknownModel`. */
  readonly price: (model: string | ModelRef) => Effect.Effect<ModelPrice, UnknownModel>
  /** What `usage` cost on `model`, in USD. */
  readonly cost: (model: string | ModelRef, usage: Usage) => Effect.Effect<number, UnknownModel>
}

/**
 * The pricing service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Pricing extends Context.Tag("effect-llm/Pricing")<Pricing, Service>() {}

const snapshotSuffix = /-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/

/**
 * The candidate table keys for a model, most specific first: `provider/model`, the
 * model id, and the id without a snapshot date or `-latest` suffix.
 *
 * @since 0.1.0
 * @category utils
 */
export const candidates = (model: string | ModelRef): ReadonlyArray<string> => {
  const ref = typeof model === "string" ? { provider: undefined, model } : model
  const keys: Array<string> = []
  const push = (id: string) => {
    if (ref.provider !== undefined) keys.push(`${ref.provider}/${id}`)
    keys.push(id)
  }
  push(ref.model)
  const base = ref.model.replace(snapshotSuffix, "")
  if (base !== ref.model) push(base)
  return keys
}

/**
 * The cost in USD of `usage` at `price`: uncached input, cached input and cache
 * writes at their rates (the latter two are parts of `inputTokens`), and all output
 * tokens (reasoning included) at the output rate.
 *
 * @since 0.1.0
 * @category pricing
 */
export const costOf = (price: ModelPrice, usage: Usage): number => {
  const rates = price.longContext !== undefined && usage.inputTokens > price.longContext.above
    ? price.longContext.rates
    : price
  const cached = Math.min(usage.cachedInputTokens, usage.inputTokens)
  const written = Math.min(usage.cacheWriteTokens, usage.inputTokens - cached)
  const uncached = usage.inputTokens - cached - written
  return uncached * rates.input + cached * rates.cachedInput + written * rates.cacheWrite +
    usage.outputTokens * rates.output
}

/**
 * The highest cost `inputTokens` input tokens and `outputTokens` output tokens can have
 * at `price`, however the input splits into cached, written and plain tokens.
 *
 * @since 0.1.0
 * @category pricing
 */
export const worstCaseOf = (price: ModelPrice, inputTokens: number, outputTokens: number): number => {
  const rates = price.longContext !== undefined && inputTokens > price.longContext.above
    ? price.longContext.rates
    : price
  return inputTokens * Math.max(rates.input, rates.cachedInput, rates.cacheWrite) + outputTokens * rates.output
}

/** Lookups a pricing service remembers before it starts over. */
const LOOKUPS_KEPT = 1024

/**
 * Builds a pricing service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Service => {
  const table: Record<string, ModelPrice> = { ...(options.withoutDefaults ? {} : defaults), ...options.overrides }
  const fallback = Option.fromNullable(options.fallback)
  const find = (model: string | ModelRef): Option.Option<ModelPrice> => {
    for (const key of candidates(model)) {
      const price = table[key]
      if (price !== undefined) return Option.some(price)
    }
    return fallback
  }
  // Answers remembered per provider (`undefined` for a bare id) and model: the
  // table never changes, and a budget looks up what served every call (~0.3 µs
  // of candidate keys each). Bounded, as model names can come from clients.
  let known = new Map<string | undefined, Map<string, Option.Option<ModelPrice>>>()
  let knownCount = 0
  const lookup = (model: string | ModelRef): Option.Option<ModelPrice> => {
    const provider = typeof model === "string" ? undefined : model.provider
    const id = typeof model === "string" ? model : model.model
    let byModel = known.get(provider)
    const hit = byModel?.get(id)
    if (hit !== undefined) return hit
    const price = find(model)
    if (knownCount >= LOOKUPS_KEPT) {
      known = new Map()
      knownCount = 0
      byModel = undefined
    }
    if (byModel === undefined) known.set(provider, byModel = new Map())
    byModel.set(id, price)
    knownCount++
    return price
  }
  const price = (model: string | ModelRef) =>
    Option.match(lookup(model), {
      onSome: Effect.succeed,
      onNone: () => {
        const ref = typeof model === "string" ? { provider: undefined, model } : model
        const name = ref.provider === undefined ? ref.model : `${ref.provider}/${ref.model}`
        return Effect.fail(
          new UnknownModel({
            provider: ref.provider,
            model: ref.model,
            message: `No price for model ${name}: add it to Pricing overrides or configure a fallback price`
          })
        )
      }
    })
  return {
    asOf,
    lookup,
    price,
    cost: (model, usage) => Effect.map(price(model), (p) => costOf(p, usage))
  }
}

/**
 * The pricing service as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Pricing> => Layer.succeed(Pricing, make(options))

/**
 * What `usage` cost on `model`, with the `Pricing` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const cost = (model: string | ModelRef, usage: Usage): Effect.Effect<number, UnknownModel, Pricing> =>
  Effect.flatMap(Pricing, (pricing) => pricing.cost(model, usage))
