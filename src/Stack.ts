/**
 * Putting it together: the whole middleware stack from one Schema-validated
 * configuration, in the canonical order (outermost first):
 *
 * ```
 * Telemetry → Guard.input → SemanticCache → ResponseCache → Guard.output → Budget
 *   → Fallback[ per provider: CircuitBreaker → RateLimit → Retry → Provider ]
 * ```
 *
 * The configuration is plain JSON (or YAML): it comes from a file for the gateway
 * and the CLI, or from code. Every section but `providers` is optional. Errors
 * name the path and the problem (`providers.main.model: is missing`). API keys
 * come from the environment (`apiKeyEnv`), never from the file.
 *
 * @since 0.1.0
 */
import * as Fs from "node:fs"
import { Config, ConfigError, Duration, Effect, Layer, Option, ParseResult, type Redacted, Schema } from "effect"
import * as YAML from "yaml"
import * as CacheStore from "./cache/CacheStore.js"
import * as ResponseCache from "./cache/ResponseCache.js"
import * as Budget from "./cost/Budget.js"
import * as BudgetStore from "./cost/BudgetStore.js"
import * as Pricing from "./cost/Pricing.js"
import * as Guard from "./guard/Guard.js"
import * as SemanticCache from "./cache/SemanticCache.js"
import * as LanguageModel from "./LanguageModel.js"
import * as Anthropic from "./providers/Anthropic.js"
import * as Embeddings from "./providers/Embeddings.js"
import * as OpenAi from "./providers/OpenAi.js"
import * as CircuitBreaker from "./resilience/CircuitBreaker.js"
import * as Fallback from "./resilience/Fallback.js"
import * as RateLimit from "./resilience/RateLimit.js"
import * as Retry from "./resilience/Retry.js"
import * as Telemetry from "./telemetry/Telemetry.js"

// -----------------------------------------------------------------------------
// Configuration
// -----------------------------------------------------------------------------

/** A duration written as text ("30 seconds", "500 millis"). */
const DurationText = Schema.transformOrFail(Schema.String, Schema.DurationFromSelf, {
  strict: true,
  decode: (text, _, ast) =>
    Option.match(Duration.decodeUnknown(text), {
      onNone: () =>
        ParseResult.fail(
          new ParseResult.Type(ast, text, `expected a duration such as "30 seconds" or "500 millis", got ${JSON.stringify(text)}`)
        ),
      onSome: ParseResult.succeed
    }),
  encode: (duration) => ParseResult.succeed(`${Duration.toMillis(duration)} millis`)
})

const PositiveInt = Schema.Int.pipe(Schema.positive())

/** A Redis URL: `redis://host[:port][/db]`, or `rediss://` for TLS. */
const RedisUrl = Schema.NonEmptyString.pipe(Schema.filter((text) => {
  // Never repeats the text: a URL may hold a password.
  const expected = "expected a URL such as \"redis://127.0.0.1:6379\" (or rediss:// for TLS)"
  try {
    const url = new URL(text)
    if (url.protocol !== "redis:" && url.protocol !== "rediss:") return `${expected}, got protocol ${url.protocol}`
    if (url.hostname === "") return `${expected}, got no host`
    return url.pathname.length <= 1 || Number.isInteger(Number(url.pathname.slice(1))) || `${expected}: the path must be a database number`
  } catch {
    return `${expected}, got text that is not a URL`
  }
}))
const Probability = Schema.Number.pipe(Schema.between(0, 1))

/**
 * @since 0.1.0
 * @category config
 */
export const RetryConfig = Schema.Struct({
  maxAttempts: Schema.optional(PositiveInt),
  baseDelay: Schema.optional(DurationText),
  maxDelay: Schema.optional(DurationText),
  factor: Schema.optional(Schema.Number.pipe(Schema.greaterThanOrEqualTo(1))),
  jitter: Schema.optional(Schema.Boolean),
  budget: Schema.optional(DurationText),
  attemptTimeout: Schema.optional(DurationText)
})

/**
 * @since 0.1.0
 * @category config
 */
export const RateLimitConfig = Schema.Struct({
  requestsPerMinute: Schema.optional(PositiveInt),
  tokensPerMinute: Schema.optional(PositiveInt),
  maxConcurrency: Schema.optional(PositiveInt),
  window: Schema.optional(DurationText),
  mode: Schema.optional(Schema.Literal("delay", "fail")),
  perTenant: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category config
 */
export const BreakerConfig = Schema.Struct({
  threshold: Schema.optional(PositiveInt),
  window: Schema.optional(DurationText),
  cooldown: Schema.optional(DurationText)
})

/**
 * One provider: which API, which model, where, and its own resilience settings
 * (which override the stack-wide `retry` and `rateLimit`).
 *
 * @since 0.1.0
 * @category config
 */
export const ProviderConfig = Schema.Struct({
  type: Schema.Literal("openai", "anthropic", "openai-compatible"),
  model: Schema.NonEmptyString,
  models: Schema.optional(Schema.Array(Schema.NonEmptyString)),
  baseURL: Schema.optional(Schema.NonEmptyString),
  /** The environment variable holding the key (default OPENAI_API_KEY / ANTHROPIC_API_KEY; none for compatible servers). */
  apiKeyEnv: Schema.optional(Schema.NonEmptyString),
  /** The name reported as provider (default: the entry's name for compatible servers). */
  timeout: Schema.optional(DurationText),
  defaultMaxTokens: Schema.optional(PositiveInt),
  retry: Schema.optional(Schema.Union(RetryConfig, Schema.Literal(false))),
  rateLimit: Schema.optional(Schema.Union(RateLimitConfig, Schema.Literal(false))),
  breaker: Schema.optional(Schema.Union(BreakerConfig, Schema.Literal(false))),
  /** The HTTP client under the SDK: `node` (`NodeFetch.fetch`, default) or `fetch` (the global fetch, e.g. behind an undici proxy dispatcher). */
  transport: Schema.optional(Schema.Literal("node", "fetch"))
})

/**
 * @since 0.1.0
 * @category config
 */
export const CacheConfig = Schema.Struct({
  exact: Schema.optional(Schema.Struct({
    ttl: Schema.optional(DurationText),
    store: Schema.optional(Schema.Literal("memory", "sqlite", "redis")),
    maxEntries: Schema.optional(PositiveInt),
    /** The SQLite file (store `sqlite`). */
    path: Schema.optional(Schema.NonEmptyString),
    cacheSampled: Schema.optional(Schema.Boolean),
    namespace: Schema.optional(Schema.String)
  })),
  semantic: Schema.optional(Schema.Struct({
    threshold: Schema.optional(Probability),
    ttl: Schema.optional(DurationText),
    maxEntries: Schema.optional(PositiveInt),
    embedder: Schema.optional(Schema.Literal("local", "openai")),
    /** For the `openai` embedder: its model, base URL and key variable. */
    embeddingModel: Schema.optional(Schema.NonEmptyString),
    baseURL: Schema.optional(Schema.NonEmptyString),
    apiKeyEnv: Schema.optional(Schema.NonEmptyString)
  }))
})

const NonNegative = Schema.Number.pipe(Schema.nonNegative())

/**
 * Prices in USD per million tokens (the unit vendors publish in).
 *
 * @since 0.1.0
 * @category config
 */
export const PriceConfig = Schema.Struct({
  input: NonNegative,
  output: NonNegative,
  cachedInput: Schema.optional(NonNegative),
  cacheWrite: Schema.optional(NonNegative)
})

/**
 * @since 0.1.0
 * @category config
 */
export const PricingConfig = Schema.Struct({
  /** Replaces or adds prices, keyed by model id or `provider/model`. */
  overrides: Schema.optional(Schema.Record({ key: Schema.String, value: PriceConfig })),
  /** The price of any model the table does not know (default: an unknown model is an error). */
  fallback: Schema.optional(PriceConfig)
})

/**
 * @since 0.1.0
 * @category config
 */
export const BudgetConfig = Schema.Struct({
  limits: Schema.NonEmptyArray(Schema.Struct({
    scope: Schema.Literal("global", "tenant", "user", "model", "tag"),
    period: Schema.Union(Schema.Literal("day", "month"), Schema.Struct({ window: DurationText })),
    usd: Schema.Number.pipe(Schema.positive()),
    tag: Schema.optional(Schema.NonEmptyString),
    value: Schema.optional(Schema.NonEmptyString),
    overrides: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number.pipe(Schema.positive()) }))
  })),
  mode: Schema.optional(Schema.Literal("fail", "wait")),
  waitTimeout: Schema.optional(DurationText),
  timeZone: Schema.optional(Schema.NonEmptyString),
  defaultMaxTokens: Schema.optional(PositiveInt),
  /** `redis` shares the budget between processes (needs the top-level `redis`). */
  store: Schema.optional(Schema.Literal("memory", "redis"))
})

const GuardAction = Schema.Literal("reject", "redact", "off")

/**
 * @since 0.1.0
 * @category config
 */
export const GuardConfig = Schema.Struct({
  input: Schema.optional(Schema.Union(
    Schema.Struct({
      threshold: Schema.optional(Schema.Number.pipe(Schema.positive())),
      disable: Schema.optional(Schema.Array(Schema.String))
    }),
    Schema.Literal(false)
  )),
  output: Schema.optional(Schema.Union(
    Schema.Struct({
      canary: Schema.optional(Schema.Boolean),
      secrets: Schema.optional(GuardAction),
      pii: Schema.optional(GuardAction),
      allowedActions: Schema.optional(Schema.Array(Schema.String)),
      spotlight: Schema.optional(Schema.Boolean),
      /**
       * Refuse JSON answers that do not match the request's schema (default true).
       * `Structured` decodes and re-asks by itself; a refusal here ends its re-asking,
       * so turn this off for stacks used mainly through `Structured`.
       */
      checkResponseFormat: Schema.optional(Schema.Boolean),
      stream: Schema.optional(Schema.Literal("incremental", "buffer"))
    }),
    Schema.Literal(false)
  ))
})

/**
 * @since 0.1.0
 * @category config
 */
export const TelemetryConfig = Schema.Struct({
  recordPrompts: Schema.optional(Schema.Boolean),
  recordOutputs: Schema.optional(Schema.Boolean),
  tenantLabel: Schema.optional(Schema.Boolean),
  log: Schema.optional(Schema.Boolean)
})

/**
 * The whole stack.
 *
 * @since 0.1.0
 * @category config
 */
export const StackConfig = Schema.Struct({
  providers: Schema.Record({ key: Schema.String, value: ProviderConfig }),
  /** The fallback order (default: the providers in the order written). */
  chain: Schema.optional(Schema.Array(Schema.String)),
  fallback: Schema.optional(Schema.Struct({
    hedge: Schema.optional(DurationText),
    onContentFiltered: Schema.optional(Schema.Boolean)
  })),
  retry: Schema.optional(Schema.Union(RetryConfig, Schema.Literal(false))),
  rateLimit: Schema.optional(RateLimitConfig),
  breaker: Schema.optional(Schema.Union(BreakerConfig, Schema.Literal(false))),
  cache: Schema.optional(CacheConfig),
  pricing: Schema.optional(PricingConfig),
  budget: Schema.optional(BudgetConfig),
  guard: Schema.optional(GuardConfig),
  /** Spans, metrics and one log line per call (default on; `false` for off). */
  telemetry: Schema.optional(Schema.Union(TelemetryConfig, Schema.Literal(false))),
  /**
   * Shared stores: rate limits and (store `redis`) the response cache and the budget.
   * `prefix` starts every key, so deployments with different prefixes share nothing.
   */
  redis: Schema.optional(Schema.Struct({ url: RedisUrl, prefix: Schema.optional(Schema.String) }))
})

/**
 * @since 0.1.0
 * @category config
 */
export type StackConfig = typeof StackConfig.Type

/**
 * What a configuration file or object holds before validation.
 *
 * @since 0.1.0
 * @category config
 */
export type StackConfigInput = typeof StackConfig.Encoded

/**
 * A configuration that does not hold: `path` says where, `message` what.
 *
 * @since 0.1.0
 * @category errors
 */
export class StackConfigError extends Schema.TaggedError<StackConfigError>("effect-llm/StackConfigError")(
  "StackConfigError",
  {
    path: Schema.String,
    message: Schema.String
  }
) {}

const pathText = (path: ReadonlyArray<PropertyKey>) =>
  path.length === 0 ? "(root)" : path.map((p) => (typeof p === "number" ? `[${p}]` : String(p))).join(".").replace(/\.\[/g, "[")

/**
 * A schema failure as a `StackConfigError`: the first problem's path (`a.b[0].c`),
 * every problem in the message as `path: problem`, joined by `; `. For other
 * configuration schemas built on the stack's (the gateway's file).
 *
 * @since 0.1.0
 * @category config
 */
export const configErrorFromParseError = (error: ParseResult.ParseError): StackConfigError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const lines = issues.map((issue) => `${pathText(issue.path)}: ${issue.message}`)
  return new StackConfigError({ path: pathText(issues[0]?.path ?? []), message: lines.join("; ") })
}

/**
 * Validates a configuration: the schema first, then the cross-references (an
 * empty chain or one naming an unknown provider, a Redis store without `redis`). Fails with the
 * first problem's path, listing all of them in the message.
 *
 * @since 0.1.0
 * @category config
 */
export const decodeConfig = (input: unknown): Effect.Effect<StackConfig, StackConfigError> =>
  Schema.decodeUnknown(StackConfig, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Effect.mapError(configErrorFromParseError),
    Effect.flatMap((config) => {
      const names = Object.keys(config.providers)
      if (names.length === 0) return Effect.fail(new StackConfigError({ path: "providers", message: "providers: at least one provider is required" }))
      if (config.chain !== undefined && config.chain.length === 0) {
        return Effect.fail(new StackConfigError({
          path: "chain",
          message: `chain: at least one provider is required (known: ${names.join(", ")}); leave chain out for all of them in the order written`
        }))
      }
      const unknown = (config.chain ?? []).findIndex((name) => !names.includes(name))
      if (unknown >= 0) {
        return Effect.fail(new StackConfigError({
          path: `chain[${unknown}]`,
          message: `chain[${unknown}]: no provider named '${config.chain![unknown]}' (known: ${names.join(", ")})`
        }))
      }
      if (config.cache?.exact?.store === "redis" && config.redis === undefined) {
        return Effect.fail(new StackConfigError({ path: "cache.exact.store", message: "cache.exact.store: 'redis' needs a top-level redis.url" }))
      }
      if (config.budget?.store === "redis" && config.redis === undefined) {
        return Effect.fail(new StackConfigError({ path: "budget.store", message: "budget.store: 'redis' needs a top-level redis.url" }))
      }
      if (config.cache?.exact?.store === "sqlite" && config.cache.exact.path === undefined) {
        return Effect.fail(new StackConfigError({ path: "cache.exact.path", message: "cache.exact.path: the 'sqlite' store needs a file path" }))
      }
      return Effect.succeed(config)
    })
  )

/**
 * Reads a JSON or YAML configuration file and validates it.
 *
 * @since 0.1.0
 * @category config
 */
export const loadConfigFile = (path: string): Effect.Effect<StackConfig, StackConfigError> =>
  Effect.try({
    try: () => {
      const text = Fs.readFileSync(path, "utf8")
      return /\.ya?ml$/i.test(path) ? YAML.parse(text) as unknown : JSON.parse(text) as unknown
    },
    catch: (e) => new StackConfigError({ path: "(file)", message: `Cannot read ${path}: ${e instanceof Error ? e.message : String(e)}` })
  }).pipe(Effect.flatMap(decodeConfig))

// -----------------------------------------------------------------------------
// Assembly
// -----------------------------------------------------------------------------

type ModelLayer = Layer.Layer<LanguageModel.LanguageModel, StackConfigError | ConfigError.ConfigError>

const optionalKey = (name: string) => Config.option(Config.redacted(name)).pipe(Config.map(Option.getOrUndefined))

/** The global fetch, looked up at each call (so a fetch installed later is the one used). */
const globalFetch: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init)

/**
 * The API key in environment variable `env`; a variable that is not set (or cannot
 * be read) is a configuration error at `path`.
 */
const requiredKey = (env: string, path: string): Effect.Effect<Redacted.Redacted<string>, StackConfigError> =>
  Effect.mapError(Config.redacted(env), (error) =>
    new StackConfigError({
      path,
      message: ConfigError.isMissingDataOnly(error)
        ? `${path}: the environment variable ${env} is not set (it holds the provider's API key)`
        : `${path}: cannot read the environment variable ${env}: ${error.toString()}`
    }))

const providerLayer = (name: string, p: StackConfig["providers"][string]): ModelLayer => {
  const timeout = p.timeout
  const fetch = p.transport === "fetch" ? globalFetch : undefined
  const keyPath = `providers.${name}.apiKeyEnv`
  const defaultMaxTokens = p.defaultMaxTokens
  switch (p.type) {
    case "openai":
      return Layer.unwrapEffect(Effect.map(requiredKey(p.apiKeyEnv ?? "OPENAI_API_KEY", keyPath), (apiKey) =>
        OpenAi.layer({ apiKey, baseURL: p.baseURL, model: p.model, models: p.models, timeout, defaultMaxTokens, fetch })))
    case "openai-compatible":
      return Layer.unwrapEffect(Effect.map(p.apiKeyEnv === undefined ? Effect.succeed(undefined) : optionalKey(p.apiKeyEnv), (apiKey) =>
        OpenAi.layerCompatible({
          apiKey,
          baseURL: p.baseURL ?? "http://127.0.0.1:11434/v1",
          model: p.model,
          models: p.models,
          provider: name,
          timeout,
          defaultMaxTokens,
          fetch
        })))
    case "anthropic":
      return Layer.unwrapEffect(Effect.map(requiredKey(p.apiKeyEnv ?? "ANTHROPIC_API_KEY", keyPath), (apiKey) =>
        Anthropic.layer({ apiKey, baseURL: p.baseURL, model: p.model, models: p.models, timeout, defaultMaxTokens, fetch })))
  }
}

/** A member: RateLimit → Retry → Provider (the breaker is the chain's). */
const memberLayer = (name: string, p: StackConfig["providers"][string], config: StackConfig): ModelLayer => {
  const retry = p.retry ?? config.retry ?? {}
  const rateLimit = p.rateLimit ?? config.rateLimit
  let model = providerLayer(name, p)
  if (retry !== false) model = Retry.layer(retry).pipe(Layer.provide(model))
  if (rateLimit !== undefined && rateLimit !== false) model = RateLimit.layer(rateLimit).pipe(Layer.provide(model))
  return model
}

const cacheStoreLayer = (config: StackConfig): Layer.Layer<CacheStore.CacheStore, StackConfigError> => {
  const exact = config.cache?.exact
  switch (exact?.store ?? "memory") {
    case "memory":
      return CacheStore.layerMemory({ maxEntries: exact?.maxEntries })
    case "sqlite":
      return CacheStore.layerSqlite({ filename: exact!.path!, maxEntries: exact?.maxEntries }).pipe(
        Layer.mapError((e) => new StackConfigError({ path: "cache.exact.path", message: `cache.exact.path: ${e.message}` }))
      )
    case "redis":
      return CacheStore.layerRedisUrl(config.redis!.url, { prefix: config.redis!.prefix }).pipe(
        Layer.mapError((e) => new StackConfigError({ path: "redis.url", message: `redis.url: ${e.message}` }))
      )
  }
}

const embeddingsLayer = (semantic: NonNullable<NonNullable<StackConfig["cache"]>["semantic"]>) =>
  semantic.embedder === "openai"
    ? Layer.unwrapEffect(Effect.map(optionalKey(semantic.apiKeyEnv ?? "OPENAI_API_KEY"), (apiKey) =>
      Embeddings.layerOpenAi({ apiKey, baseURL: semantic.baseURL, model: semantic.embeddingModel })))
    : Embeddings.layerLocal()

const priceOf = (p: typeof PriceConfig.Type): Pricing.ModelPrice => Pricing.perMillion(p)

/**
 * The budget store's key prefix under `redis.prefix`: the prefix, then the store's
 * default `{effect-llm:budget}`, whose hash tag keeps every budget key in one Redis
 * Cluster slot (the Lua scripts touch several keys). Without `redis.prefix`, the
 * store's default: deployments that set none keep their keys.
 */
const budgetPrefix = (prefix: string | undefined): string | undefined =>
  prefix === undefined ? undefined : `${prefix}{effect-llm:budget}`

const budgetLayer = (config: StackConfig, budget: NonNullable<StackConfig["budget"]>) => {
  const pricing = Pricing.layer({
    overrides: config.pricing?.overrides === undefined
      ? undefined
      : Object.fromEntries(Object.entries(config.pricing.overrides).map(([model, price]) => [model, priceOf(price)])),
    fallback: config.pricing?.fallback === undefined ? undefined : priceOf(config.pricing.fallback)
  })
  const store = budget.store === "redis"
    ? BudgetStore.layerRedis({ url: config.redis!.url, prefix: budgetPrefix(config.redis!.prefix) }).pipe(
      Layer.mapError((e) => new StackConfigError({ path: "budget.store", message: `budget.store: ${e.message}` }))
    )
    : BudgetStore.layerMemory
  return Budget.layer({
    limits: budget.limits,
    mode: budget.mode,
    waitTimeout: budget.waitTimeout,
    timeZone: budget.timeZone,
    defaultMaxTokens: budget.defaultMaxTokens
  }).pipe(
    Layer.mapError((e) =>
      e._tag === "UnknownModel"
        ? new StackConfigError({ path: "pricing", message: `pricing: ${e.message} (add it under pricing.overrides)` })
        : new StackConfigError({ path: "budget", message: `budget: ${e.message}` })
    ),
    Layer.provide(Layer.merge(pricing, store))
  )
}

/**
 * The stack as layers, from a validated configuration. `CircuitBreaker.Registry`
 * exposes the breakers' states (for `/metrics` and health checks).
 *
 * @since 0.1.0
 * @category layers
 */
export const fromConfig = (
  config: StackConfig
): Layer.Layer<LanguageModel.LanguageModel | CircuitBreaker.Registry, StackConfigError | ConfigError.ConfigError> => {
  const names = config.chain ?? Object.keys(config.providers)
  const breakerOf = (p: StackConfig["providers"][string]) => {
    const b = p.breaker ?? config.breaker
    return b === false ? (false as const) : b ?? {}
  }
  const members: ReadonlyArray<Fallback.Member<StackConfigError | ConfigError.ConfigError>> = names.map((name) => ({
    name,
    layer: memberLayer(name, config.providers[name]!, config),
    breaker: breakerOf(config.providers[name]!)
  }))
  const chain = Fallback.layer(members, {
    hedge: config.fallback?.hedge === undefined ? undefined : { delay: config.fallback.hedge },
    onContentFiltered: config.fallback?.onContentFiltered
  }) as Layer.Layer<LanguageModel.LanguageModel | CircuitBreaker.Registry, StackConfigError | ConfigError.ConfigError>

  const withRateLimitStore = config.redis === undefined
    ? chain
    : chain.pipe(Layer.provide(RateLimit.layerStoreRedis({ url: config.redis.url, prefix: config.redis.prefix })))

  type Built = Layer.Layer<LanguageModel.LanguageModel | CircuitBreaker.Registry, StackConfigError | ConfigError.ConfigError>
  /** Puts `outer` (a layer from LanguageModel to LanguageModel) on top of `inner`. */
  const wrap = (outer: Layer.Layer<LanguageModel.LanguageModel, StackConfigError | ConfigError.ConfigError, LanguageModel.LanguageModel>, inner: Built): Built =>
    Layer.provideMerge(outer, inner)

  let model: Built = withRateLimitStore
  if (config.budget !== undefined) model = wrap(budgetLayer(config, config.budget), model)
  const guard = config.guard
  if (guard?.output !== undefined && guard.output !== false) {
    const o = guard.output
    model = wrap(Guard.layerOutput({
      canary: o.canary,
      secrets: o.secrets,
      pii: o.pii,
      allowedActions: o.allowedActions,
      spotlight: o.spotlight === false ? false : undefined,
      checkResponseFormat: o.checkResponseFormat,
      stream: o.stream
    }), model)
  }
  const exact = config.cache?.exact
  if (exact !== undefined) {
    model = wrap(
      ResponseCache.layer({ ttl: exact.ttl, cacheSampled: exact.cacheSampled, namespace: exact.namespace }).pipe(
        Layer.provide(cacheStoreLayer(config))
      ),
      model
    )
  }
  const semantic = config.cache?.semantic
  if (semantic !== undefined) {
    model = wrap(
      SemanticCache.layer({ threshold: semantic.threshold, ttl: semantic.ttl, maxEntries: semantic.maxEntries }).pipe(
        Layer.provide(embeddingsLayer(semantic))
      ),
      model
    )
  }
  if (guard?.input !== undefined && guard.input !== false) {
    model = wrap(Guard.layerInput({ scanner: { threshold: guard.input.threshold, disable: guard.input.disable } }), model)
  }
  if (config.telemetry !== false) {
    const t = config.telemetry ?? {}
    model = wrap(Telemetry.layer({
      cache: config.cache !== undefined,
      recordPrompts: t.recordPrompts,
      recordOutputs: t.recordOutputs,
      tenantLabel: t.tenantLabel,
      log: t.log
    }), model)
  }
  return model
}

/**
 * The stack from a configuration object (validated here) or file path.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: StackConfigInput | string
): Layer.Layer<LanguageModel.LanguageModel | CircuitBreaker.Registry, StackConfigError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(typeof config === "string" ? loadConfigFile(config) : decodeConfig(config), fromConfig))
