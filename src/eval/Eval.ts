/**
 * Evaluation suites: prompts × models × cases, each case an answer checked by
 * assertions, run with bounded concurrency through the response cache, giving a
 * {@link Report} that renders to the console, JSON, JUnit XML and HTML
 * (`Report`), compares against a saved baseline, and turns into an exit code for
 * CI (`verdict`).
 *
 * A suite is Schema-validated whether it comes from TypeScript (`make`), JSON or
 * YAML (`loadFile`). Models are named: a name is looked up in the map of layers
 * the caller passes (`RunOptions.models`), or the suite describes the provider
 * itself (OpenAI, an OpenAI-compatible server, or Anthropic: `model`, `baseURL`,
 * and the environment variable holding the key).
 *
 * Caching: every model (and the judge) is wrapped in `ResponseCache`, on by
 * default with an in-memory store (the CLI uses a SQLite file so reruns are
 * served from disk). Sampled requests are cached too (`cacheSampled`): in an
 * evaluation a rerun should replay what was judged. Repetitions of a `repeat: N`
 * case are separate entries (tag `evalRepeat`), so N repetitions make N calls the
 * first time and replay the same N answers after. A case with a latency
 * ceiling always calls the model: a cached answer says nothing about latency.
 *
 * Batch mode (`RunOptions.batch`, off by default: a job may take a day): each
 * model's uncached calls are submitted as one provider batch job (`Batch`) at
 * the batch discount, polled on a Schedule and matched back by custom id; see
 * {@link BatchOptions}. The cache is asked without calling the model by running
 * its inner service in a "probe" mode whose miss is a marker error (the cache
 * never stores errors), and batch answers are written back through the same
 * cache, so no cache internals are copied here.
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import * as NodePath from "node:path"
import { pathToFileURL } from "node:url"
import {
  Cause,
  Chunk,
  Clock,
  Config,
  Context,
  Effect,
  Either,
  Exit,
  FiberRef,
  Layer,
  Option,
  ParseResult,
  Redacted,
  Ref,
  Schedule,
  Schema,
  Scope,
  Stream
} from "effect"
import * as YAML from "yaml"
import * as Batch from "../batch/Batch.js"
import * as ResponseCache from "../cache/ResponseCache.js"
import * as CacheStore from "../cache/CacheStore.js"
import * as Pricing from "../cost/Pricing.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Anthropic from "../providers/Anthropic.js"
import * as Embeddings from "../providers/Embeddings.js"
import * as OpenAi from "../providers/OpenAi.js"
import * as Assertions from "./Assertions.js"

// -----------------------------------------------------------------------------
// Suite
// -----------------------------------------------------------------------------

/**
 * A prompt: a user-message template with `{{variables}}`, an optional system
 * template, and an id (a bare string is a template with the id `p1`, `p2`, ...).
 *
 * @since 0.1.0
 * @category models
 */
export const Prompt = Schema.Union(
  Schema.String,
  Schema.Struct({
    id: Schema.NonEmptyString,
    system: Schema.optional(Schema.String),
    template: Schema.String
  })
)

/**
 * A model the suite describes itself. `apiKeyEnv` names the environment variable
 * holding the key (default `OPENAI_API_KEY` / `ANTHROPIC_API_KEY`; none for
 * `openai-compatible`).
 *
 * @since 0.1.0
 * @category models
 */
export const ProviderModel = Schema.Struct({
  name: Schema.NonEmptyString,
  provider: Schema.Literal("openai", "openai-compatible", "anthropic"),
  model: Schema.NonEmptyString,
  baseURL: Schema.optional(Schema.String),
  apiKeyEnv: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ProviderModel = typeof ProviderModel.Type

/**
 * A model: a name looked up in `RunOptions.models`, or a provider description.
 *
 * @since 0.1.0
 * @category models
 */
export const ModelSpec = Schema.Union(Schema.NonEmptyString, ProviderModel)

/**
 * @since 0.1.0
 * @category models
 */
export type ModelSpec = typeof ModelSpec.Type

const Rate = Schema.Number.pipe(Schema.between(0, 1))
const Vars = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * One case: variables for the prompts and assertions on the answer. `repeat` runs
 * it N times and `passRate` is the share of runs that must pass (default 1);
 * `threshold` makes the case pass on its weighted score instead of on every
 * assertion; `prompts` limits it to some prompt ids.
 *
 * @since 0.1.0
 * @category models
 */
export const Case = Schema.Struct({
  id: Schema.NonEmptyString,
  description: Schema.optional(Schema.String),
  vars: Schema.optionalWith(Vars, { default: () => ({}) }),
  assertions: Schema.optionalWith(Schema.Array(Assertions.Assertion), { default: () => [] }),
  repeat: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
  passRate: Schema.optional(Rate),
  threshold: Schema.optional(Rate),
  prompts: Schema.optional(Schema.Array(Schema.String))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Case = typeof Case.Type

/**
 * A suite. `defaults` apply to every case (its assertions are added to each
 * case's); `request` sets the sampling parameters (none by default: the
 * provider's defaults apply; set `temperature: 0` for repeatable answers);
 * `judge` names the model answering `llmRubric` assertions (the judge is asked at
 * temperature 0); `embeddings` picks the embedder for `similar` (default the
 * local deterministic one).
 *
 * @since 0.1.0
 * @category models
 */
export const Suite = Schema.Struct({
  name: Schema.NonEmptyString,
  description: Schema.optional(Schema.String),
  prompts: Schema.NonEmptyArray(Prompt),
  models: Schema.NonEmptyArray(ModelSpec),
  judge: Schema.optional(ModelSpec),
  embeddings: Schema.optional(Schema.Struct({
    provider: Schema.Literal("local", "openai"),
    model: Schema.optional(Schema.String),
    baseURL: Schema.optional(Schema.String),
    apiKeyEnv: Schema.optional(Schema.String),
    dimensions: Schema.optional(Schema.Int.pipe(Schema.positive()))
  })),
  request: Schema.optional(Schema.Struct({
    maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
    temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
    seed: Schema.optional(Schema.Int)
  })),
  defaults: Schema.optional(Schema.Struct({
    assertions: Schema.optional(Schema.Array(Assertions.Assertion)),
    repeat: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
    passRate: Schema.optional(Rate),
    threshold: Schema.optional(Rate)
  })),
  concurrency: Schema.optional(Schema.Int.pipe(Schema.positive())),
  cases: Schema.NonEmptyArray(Case)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Suite = typeof Suite.Type

/**
 * What a TypeScript suite is written as (defaults may be left out).
 *
 * @since 0.1.0
 * @category models
 */
export type SuiteInput = typeof Suite.Encoded

/**
 * A suite that cannot run: it does not decode, a case lacks a variable a prompt
 * or an assertion uses, a model name is unknown, a provider cannot be built, a
 * file is unreadable, a baseline belongs to another suite.
 *
 * @since 0.1.0
 * @category errors
 */
export class EvalConfigError extends Schema.TaggedError<EvalConfigError>("effect-llm/EvalConfigError")(
  "EvalConfigError",
  { message: Schema.String }
) {}

const decodeSuite = Schema.decodeUnknown(Suite, { errors: "all", onExcessProperty: "error" })

/**
 * Validates a suite (from TypeScript, or parsed JSON/YAML) and checks that it can
 * run: unique ids, every variable a prompt uses given by every case that uses the
 * prompt, every variable an assertion uses (the case's and `defaults.assertions`)
 * given by the case, prompt ids a case names exist (and at least one: `prompts: []`
 * is an error), a judge when a case uses `llmRubric`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: unknown): Effect.Effect<Suite, EvalConfigError> =>
  decodeSuite(input).pipe(
    Effect.mapError((error) =>
      new EvalConfigError({ message: `Invalid suite:\n${ParseResult.TreeFormatter.formatErrorSync(error)}` })
    ),
    Effect.flatMap((suite) => {
      const problems = check(suite)
      return problems.length === 0
        ? Effect.succeed(suite)
        : Effect.fail(new EvalConfigError({ message: `Invalid suite ${suite.name}:\n- ${problems.join("\n- ")}` }))
    })
  )

/**
 * A prompt with its id.
 *
 * @since 0.1.0
 * @category models
 */
export interface NamedPrompt {
  readonly id: string
  readonly system?: string | undefined
  readonly template: string
}

/**
 * The suite's prompts with their ids.
 *
 * @since 0.1.0
 * @category getters
 */
export const promptsOf = (suite: Suite): ReadonlyArray<NamedPrompt> =>
  suite.prompts.map((p, i) => typeof p === "string" ? { id: `p${i + 1}`, template: p } : p)

/**
 * The name of a model spec.
 *
 * @since 0.1.0
 * @category getters
 */
export const modelName = (spec: ModelSpec): string => typeof spec === "string" ? spec : spec.name

const duplicates = (ids: ReadonlyArray<string>) => ids.filter((id, i) => ids.indexOf(id) !== i)

const assertionsOf = (suite: Suite, c: Case): ReadonlyArray<Assertions.Assertion> => [
  ...(suite.defaults?.assertions ?? []),
  ...c.assertions
]

const check = (suite: Suite): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const prompts = promptsOf(suite)
  for (const id of duplicates(prompts.map((p) => p.id))) problems.push(`prompt id ${id} is used twice`)
  for (const id of duplicates(suite.models.map(modelName))) problems.push(`model name ${id} is used twice`)
  for (const id of duplicates(suite.cases.map((c) => c.id))) problems.push(`case id ${id} is used twice`)
  for (const c of suite.cases) {
    for (const id of c.prompts ?? []) {
      if (!prompts.some((p) => p.id === id)) problems.push(`case ${c.id} names prompt ${id}, which the suite lacks`)
    }
    if (c.prompts !== undefined && c.prompts.length === 0) {
      problems.push(`case ${c.id} has prompts: [] and would never run: a case needs at least one prompt (leave prompts out for all)`)
    }
    // own keys only: `{{constructor}}` is not given by Object.prototype
    const given = (name: string) => Object.hasOwn(c.vars, name)
    for (const prompt of prompts.filter((p) => c.prompts === undefined || c.prompts.includes(p.id))) {
      const used = [...Assertions.variablesOf(prompt.template), ...Assertions.variablesOf(prompt.system ?? "")]
      for (const name of used) {
        if (!given(name)) problems.push(`case ${c.id} gives no value for {{${name}}} used by prompt ${prompt.id}`)
      }
    }
    // an undefined variable in an assertion would be compared as the literal text "{{name}}"
    const assertions = [
      ...(suite.defaults?.assertions ?? []).map((a, i) => ({ a, where: `defaults.assertions[${i}]` })),
      ...c.assertions.map((a, i) => ({ a, where: `assertions[${i}]` }))
    ]
    for (const { a, where } of assertions) {
      const used = new Set(Assertions.templatesOf(a).flatMap(Assertions.variablesOf))
      for (const name of used) {
        if (!given(name)) problems.push(`case ${c.id} gives no value for {{${name}}} used by its ${a.type} assertion (${where})`)
      }
    }
    if (suite.judge === undefined && assertionsOf(suite, c).some((a) => a.type === "llmRubric")) {
      problems.push(`case ${c.id} uses llmRubric but the suite names no judge model`)
    }
  }
  return problems
}

/**
 * Reads a suite file: `.yaml`/`.yml`/`.json` are parsed and validated; `.ts`,
 * `.mts`, `.js`, `.mjs` are imported (under `tsx` for TypeScript) and their
 * `default` or `suite` export validated. A module may also export `models`, a
 * record of model name → `Layer<LanguageModel>`, returned beside the suite.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadFile = (path: string): Effect.Effect<Loaded, EvalConfigError> =>
  Effect.gen(function*() {
    const absolute = NodePath.resolve(path)
    const extension = NodePath.extname(absolute).toLowerCase()
    if ([".yaml", ".yml", ".json"].includes(extension)) {
      const text = yield* Effect.tryPromise({
        try: () => readFile(absolute, "utf8"),
        catch: (error) => new EvalConfigError({ message: `Cannot read ${path}: ${messageOf(error)}` })
      })
      const parsed = yield* Effect.try({
        try: () => extension === ".json" ? JSON.parse(text) as unknown : YAML.parse(text) as unknown,
        catch: (error) => new EvalConfigError({ message: `Cannot parse ${path}: ${messageOf(error)}` })
      })
      return { suite: yield* make(parsed), models: {} }
    }
    if ([".ts", ".mts", ".js", ".mjs"].includes(extension)) {
      const module = yield* Effect.tryPromise({
        try: () => import(pathToFileURL(absolute).href) as Promise<Record<string, unknown>>,
        catch: (error) => new EvalConfigError({ message: `Cannot import ${path}: ${messageOf(error)}` })
      })
      const suite = yield* make(module["suite"] ?? module["default"])
      const models = module["models"]
      return { suite, models: isRecord(models) ? models as Models : {} }
    }
    return yield* Effect.fail(new EvalConfigError({ message: `Unknown suite file type ${extension} (use .yaml, .json or .ts)` }))
  })

/**
 * A suite read from a file, with the model layers a TypeScript suite exported.
 *
 * @since 0.1.0
 * @category models
 */
export interface Loaded {
  readonly suite: Suite
  readonly models: Models
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const messageOf = (error: unknown): string => error instanceof Error ? error.message : String(error)

// -----------------------------------------------------------------------------
// Results
// -----------------------------------------------------------------------------

const TokenCount = Schema.Struct({ input: Schema.Number, output: Schema.Number })

/**
 * One call of one cell and its assertions.
 *
 * @since 0.1.0
 * @category models
 */
export class RunResult extends Schema.Class<RunResult>("effect-llm/eval/RunResult")({
  iteration: Schema.Number,
  output: Schema.String,
  pass: Schema.Boolean,
  score: Schema.Number,
  latencyMillis: Schema.Number,
  tokens: TokenCount,
  /** What this call spent (0 when served from the cache); absent when unknown. */
  costUsd: Schema.optional(Schema.Number),
  cached: Schema.Boolean,
  servedBy: Schema.optional(Schema.String),
  /** The provider error, when the call failed. */
  error: Schema.optional(Schema.String),
  assertions: Schema.Array(Assertions.AssertionResult),
  /** Set when the answer came from a provider batch job: the job and the item's custom id. */
  batch: Schema.optional(Schema.Struct({ job: Schema.String, customId: Schema.String }))
}) {}

/**
 * What batch mode did with one model of the suite: `batched` (its calls went out
 * as one provider job), `failed` (the job failed as a whole: every call in it is
 * an error carrying the job's error), `cached` (every call was answered from the
 * response cache, so no job was needed), or `online` (batch mode was on but the
 * model was called live: `note` says why).
 *
 * @since 0.1.0
 * @category models
 */
export class BatchTarget extends Schema.Class<BatchTarget>("effect-llm/eval/BatchTarget")({
  model: Schema.String,
  outcome: Schema.Literal("batched", "failed", "online", "cached"),
  note: Schema.optional(Schema.String),
  /** The provider's job id (absent when the submission itself failed). */
  job: Schema.optional(Schema.String),
  /** The provider's last status word (`completed`, `ended`, ...). */
  state: Schema.optional(Schema.String),
  /** Calls submitted in the job. */
  calls: Schema.Number,
  /** Calls of the job that came back as errors. */
  failedCalls: Schema.Number,
  /** What the job's answers cost, at the batch price. */
  costUsd: Schema.Number,
  /** The share of the live price charged, when the runner built the batch client. */
  discount: Schema.optional(Schema.Number),
  /** From submission to the last result read. */
  durationMillis: Schema.Number
}) {}

/**
 * The status of a cell: every required run passed, some failed, or a provider (or
 * judge) error prevented checking.
 *
 * @since 0.1.0
 * @category models
 */
export const Status = Schema.Literal("pass", "fail", "error")

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * One case × prompt × model, over its repetitions.
 *
 * @since 0.1.0
 * @category models
 */
export class CellResult extends Schema.Class<CellResult>("effect-llm/eval/CellResult")({
  caseId: Schema.String,
  description: Schema.optional(Schema.String),
  promptId: Schema.String,
  model: Schema.String,
  prompt: Schema.String,
  status: Status,
  score: Schema.Number,
  passRate: Schema.Number,
  requiredPassRate: Schema.Number,
  latencyMillis: Schema.Number,
  tokens: TokenCount,
  costUsd: Schema.optional(Schema.Number),
  runs: Schema.Array(RunResult)
}) {}

/**
 * Totals over the cells.
 *
 * @since 0.1.0
 * @category models
 */
export class Summary extends Schema.Class<Summary>("effect-llm/eval/Summary")({
  cells: Schema.Number,
  passed: Schema.Number,
  failed: Schema.Number,
  errors: Schema.Number,
  passRate: Schema.Number,
  calls: Schema.Number,
  cachedCalls: Schema.Number,
  tokens: TokenCount,
  costUsd: Schema.Number,
  /** Whether some call's cost was unknown (so `costUsd` is a lower bound). */
  costIncomplete: Schema.Boolean,
  durationMillis: Schema.Number,
  /** Calls answered by a provider batch job (absent when batch mode was off). */
  batchedCalls: Schema.optional(Schema.Number),
  /** What batch mode did, per model (absent when it was off). */
  batches: Schema.optional(Schema.Array(BatchTarget))
}) {}

/**
 * A finished run of a suite; its JSON form is what `--json` writes and what a
 * baseline is.
 *
 * @since 0.1.0
 * @category models
 */
export class Report extends Schema.Class<Report>("effect-llm/eval/Report")({
  suite: Schema.String,
  description: Schema.optional(Schema.String),
  startedAt: Schema.String,
  models: Schema.Array(Schema.String),
  prompts: Schema.Array(Schema.String),
  cases: Schema.Array(Schema.String),
  summary: Summary,
  cells: Schema.Array(CellResult)
}) {}

/**
 * The key a cell is compared under in a baseline: the JSON array
 * `[caseId, promptId, model]`, unambiguous whatever the ids contain (ids with
 * " / " cannot make two cells share a key). It is computed from the cell's
 * fields, not stored, so reports saved before it changed compare as before. For
 * display use {@link cellLabel}.
 *
 * @since 0.1.0
 * @category getters
 */
export const cellKey = (cell: { readonly caseId: string; readonly promptId: string; readonly model: string }): string =>
  JSON.stringify([cell.caseId, cell.promptId, cell.model])

/**
 * How a cell is named in reports and progress lines: `case / prompt / model`.
 * Readable, but not unique when ids contain " / " (compare with {@link cellKey}).
 *
 * @since 0.1.0
 * @category getters
 */
export const cellLabel = (cell: { readonly caseId: string; readonly promptId: string; readonly model: string }): string =>
  `${cell.caseId} / ${cell.promptId} / ${cell.model}`

/**
 * A report as JSON text.
 *
 * @since 0.1.0
 * @category conversions
 */
export const encodeReport = (report: Report): string => JSON.stringify(Schema.encodeSync(Report)(report), null, 2)

/**
 * Reads a report (a baseline) from JSON text.
 *
 * @since 0.1.0
 * @category conversions
 */
export const decodeReport = (json: string): Effect.Effect<Report, EvalConfigError> =>
  Effect.try({ try: () => JSON.parse(json) as unknown, catch: (e) => new EvalConfigError({ message: `Baseline is not JSON: ${messageOf(e)}` }) })
    .pipe(Effect.flatMap((u) =>
      Schema.decodeUnknown(Report)(u).pipe(
        Effect.mapError((e) => new EvalConfigError({ message: `Not an eval report:\n${ParseResult.TreeFormatter.formatErrorSync(e)}` }))
      )
    ))

// -----------------------------------------------------------------------------
// Running
// -----------------------------------------------------------------------------

/**
 * Model layers (or built services) by name.
 *
 * @since 0.1.0
 * @category models
 */
export type Models = Readonly<Record<string, Layer.Layer<LanguageModel.LanguageModel, unknown> | LanguageModel.Service>>

/**
 * One finished cell, as the runner reports progress.
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly done: number
  readonly total: number
  readonly cell: CellResult
}

/**
 * Where provider models described in a suite are sent instead of their own
 * `baseURL` (the CLI's `--simulator`), with the key to use.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProviderOverride {
  readonly openaiBaseURL?: string | undefined
  readonly anthropicBaseURL?: string | undefined
  /** Batch jobs of OpenAI models go here (default `openaiBaseURL`). */
  readonly batchOpenaiBaseURL?: string | undefined
  /** Batch jobs of Anthropic models go here (default `anthropicBaseURL`). */
  readonly batchAnthropicBaseURL?: string | undefined
  readonly apiKey?: Redacted.Redacted<string> | undefined
}

/**
 * Batch mode: a model's calls are submitted as one provider batch job (half the
 * price, answers within minutes to 24 hours) instead of called one by one.
 *
 * Which models: those the suite describes with `provider: openai` or
 * `anthropic` (the client is built from the same key and `baseURL`), and any
 * model named in `clients`. OpenAI-compatible servers and models given as layers
 * without a client are called live (the report's `summary.batches` says so).
 * Cases with a `latency` ceiling are always called live: a batch answer's latency
 * is the job's. Judge (`llmRubric`) and embedding calls are made live, after the
 * answers arrive.
 *
 * The response cache still applies: cached answers are served from it and only
 * the misses are submitted; batch answers are stored in it for reruns.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions {
  /**
   * Submit a model's calls as a job only when at least this many of them are
   * left after the cache (default 1: always); with fewer, they are made live.
   */
  readonly minCalls?: number | undefined
  /** When to poll the job (default `Batch.defaultSchedule`: 30 s, then 2 min, up to 25 h). */
  readonly schedule?: Schedule.Schedule<unknown, Batch.Status> | undefined
  /** The share of the live price batch answers cost (default `Batch.DEFAULT_DISCOUNT`, 0.5). */
  readonly discount?: number | undefined
  /** Batch clients by model name, for models the suite does not describe itself. */
  readonly clients?: Readonly<Record<string, Batch.Service>> | undefined
  /** Attached to every job (OpenAI `metadata`). */
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** Model layers or services by the names the suite uses. */
  readonly models?: Models | undefined
  /** The judge for `llmRubric` (default: the suite's `judge`). */
  readonly judge?: Layer.Layer<LanguageModel.LanguageModel, unknown> | LanguageModel.Service | undefined
  /** The embedder for `similar` (default: the suite's `embeddings`, else local). */
  readonly embeddings?: Embeddings.Service | undefined
  /** Cells run at once (default: the suite's `concurrency`, else 4). */
  readonly concurrency?: number | undefined
  /**
   * The response cache: `false` to call every time; otherwise a store (default an
   * in-memory one, fresh per run) and a TTL (default 30 days).
   */
  readonly cache?: false | {
    readonly store?: Layer.Layer<CacheStore.CacheStore, unknown> | undefined
    readonly ttl?: import("effect/Duration").DurationInput | undefined
  } | undefined
  /** Prices for responses without `cost` (default: the built-in table). */
  readonly pricing?: Pricing.Service | undefined
  /** Called as each cell finishes. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
  /** Provider models described in the suite go here instead. */
  readonly providerOverride?: ProviderOverride | undefined
  /** Batch mode (default off); `true` is `{}`: every model that can be batched is. */
  readonly batch?: boolean | BatchOptions | undefined
  /** Called when a batch job has been submitted (it may take hours to answer). */
  readonly onBatchSubmitted?: ((job: { readonly model: string; readonly job: string; readonly calls: number }) => Effect.Effect<void>) | undefined
}

/**
 * The `LanguageModel` layer for a provider model the suite describes; the key is
 * read from `apiKeyEnv` (through `Config`, so a missing key is a config error).
 *
 * @since 0.1.0
 * @category constructors
 */
export const providerLayer = (
  spec: ProviderModel,
  override: ProviderOverride = {}
): Layer.Layer<LanguageModel.LanguageModel, EvalConfigError> => {
  const key = apiKeyOf(spec, override)
  return Layer.effect(
    LanguageModel.LanguageModel,
    Effect.flatMap(key, (apiKey) => {
      switch (spec.provider) {
        case "anthropic":
          if (Option.isNone(apiKey)) return Effect.fail(new EvalConfigError({ message: `Model ${spec.name}: no API key` }))
          return Anthropic.make({
            apiKey: apiKey.value,
            model: spec.model,
            baseURL: override.anthropicBaseURL ?? spec.baseURL,
            provider: spec.name
          })
        case "openai":
        case "openai-compatible":
          return OpenAi.make({
            apiKey: Option.getOrUndefined(apiKey),
            model: spec.model,
            baseURL: override.openaiBaseURL ?? spec.baseURL,
            provider: spec.name,
            ...(spec.provider === "openai-compatible" ? { maxTokensField: "max_tokens" as const } : {})
          })
      }
    })
  )
}

/** The key of a provider model: the override's, else `apiKeyEnv` (optional for compatible servers). */
const apiKeyOf = (
  spec: ProviderModel,
  override: ProviderOverride
): Effect.Effect<Option.Option<Redacted.Redacted<string>>, EvalConfigError> => {
  const keyEnv = spec.apiKeyEnv ?? (spec.provider === "anthropic" ? "ANTHROPIC_API_KEY" : spec.provider === "openai" ? "OPENAI_API_KEY" : undefined)
  return override.apiKey !== undefined
    ? Effect.succeed(Option.some(override.apiKey))
    : keyEnv === undefined
    ? Effect.succeed(Option.none())
    : Config.redacted(keyEnv).pipe(
      spec.provider === "openai-compatible" ? Config.option : (c) => Config.map(c, Option.some),
      Effect.mapError(() => new EvalConfigError({ message: `Model ${spec.name}: set the environment variable ${keyEnv}` }))
    )
}

/**
 * The batch client of a model, or why it has none: a client given by name, else
 * one built for an OpenAI or Anthropic model the suite describes (same key, same
 * `baseURL` or the batch override, priced with the run's `Pricing`).
 */
const batchClientFor = (
  spec: ModelSpec,
  options: RunOptions,
  batch: BatchOptions,
  pricing: Pricing.Service
): Effect.Effect<Either.Either<Batch.Service, string>, EvalConfigError> => {
  const name = modelName(spec)
  const given = batch.clients?.[name]
  if (given !== undefined) return Effect.succeed(Either.right(given))
  if (options.models?.[name] !== undefined) {
    return Effect.succeed(Either.left("given to the runner as a layer or service without a batch client (BatchOptions.clients)"))
  }
  if (typeof spec === "string") return Effect.succeed(Either.left("no batch client given for it (BatchOptions.clients)"))
  if (spec.provider === "openai-compatible") return Effect.succeed(Either.left("OpenAI-compatible servers have no batch API here"))
  const override = options.providerOverride ?? {}
  return Effect.flatMap(apiKeyOf(spec, override), (key) => {
    if (Option.isNone(key)) return Effect.fail(new EvalConfigError({ message: `Model ${spec.name}: no API key` }))
    const common = { apiKey: key.value, model: spec.model, provider: spec.name, discount: batch.discount }
    const client = spec.provider === "anthropic"
      ? Batch.makeAnthropic({ ...common, baseURL: override.batchAnthropicBaseURL ?? override.anthropicBaseURL ?? spec.baseURL })
      : Batch.makeOpenAi({ ...common, baseURL: override.batchOpenaiBaseURL ?? override.openaiBaseURL ?? spec.baseURL })
    return Effect.map(Effect.provideService(client, Pricing.Pricing, pricing), Either.right)
  })
}

const isService = (u: Layer.Layer<LanguageModel.LanguageModel, unknown> | LanguageModel.Service): u is LanguageModel.Service =>
  !Layer.isLayer(u)

const buildModel = (
  source: Layer.Layer<LanguageModel.LanguageModel, unknown> | LanguageModel.Service,
  name: string,
  scope: Scope.Scope
): Effect.Effect<LanguageModel.Service, EvalConfigError> =>
  isService(source)
    ? Effect.succeed(source)
    : Layer.buildWithScope(source, scope).pipe(
      Effect.map((context) => Context.get(context, LanguageModel.LanguageModel)),
      Effect.catchAllCause((cause) =>
        Effect.fail(
          new EvalConfigError({ message: `Model ${name} could not be built: ${messageOf(Cause.squash(cause))}` })
        )
      )
    )

const resolveModel = (
  spec: ModelSpec,
  options: RunOptions,
  scope: Scope.Scope
): Effect.Effect<LanguageModel.Service, EvalConfigError> => {
  const name = modelName(spec)
  const given = options.models?.[name]
  if (given !== undefined) return buildModel(given, name, scope)
  if (typeof spec === "string") {
    return Effect.fail(new EvalConfigError({ message: `Model ${name} is neither described in the suite nor given to the runner` }))
  }
  return buildModel(providerLayer(spec, options.providerOverride), name, scope)
}

const resolveEmbeddings = (suite: Suite, options: RunOptions): Effect.Effect<Embeddings.Service, EvalConfigError> => {
  if (options.embeddings !== undefined) return Effect.succeed(options.embeddings)
  const config = suite.embeddings
  if (config === undefined || config.provider === "local") {
    return Effect.succeed(Embeddings.local(config?.dimensions === undefined ? {} : { dimensions: config.dimensions }))
  }
  const keyEnv = config.apiKeyEnv ?? "OPENAI_API_KEY"
  const key = options.providerOverride?.apiKey !== undefined
    ? Effect.succeed(options.providerOverride.apiKey)
    : Config.redacted(keyEnv).pipe(
      Effect.mapError(() => new EvalConfigError({ message: `Embeddings: set the environment variable ${keyEnv}` }))
    )
  return Effect.flatMap(key, (apiKey) =>
    Embeddings.openAi({
      apiKey,
      model: config.model,
      baseURL: options.providerOverride?.openaiBaseURL ?? config.baseURL,
      dimensions: config.dimensions
    }))
}

interface Unit {
  readonly case: Case
  readonly prompt: NamedPrompt
  readonly model: string
}

const requestFor = (
  suite: Suite,
  unit: Unit,
  iteration: number,
  repeat: number,
  cache: LanguageModel.Request["cache"]
) => {
  const vars = unit.case.vars
  const messages: Array<LanguageModel.Message> = []
  if (unit.prompt.system !== undefined) {
    messages.push(new LanguageModel.SystemMessage({ role: "system", content: Assertions.render(unit.prompt.system, vars) }))
  }
  messages.push(new LanguageModel.UserMessage({ role: "user", content: Assertions.render(unit.prompt.template, vars) }))
  return new LanguageModel.Request({
    messages: messages as unknown as LanguageModel.Request["messages"],
    maxTokens: suite.request?.maxTokens,
    temperature: suite.request?.temperature,
    seed: suite.request?.seed,
    metadata: repeat > 1 ? new LanguageModel.Metadata({ tags: { evalRepeat: String(iteration) } }) : undefined,
    cache
  })
}

const answerCost = (response: LanguageModel.Response, pricing: Pricing.Service): number | undefined => {
  if (response.cost !== undefined && response.cache === undefined) return response.cost.usd
  return Option.getOrUndefined(
    Option.map(pricing.lookup({ provider: response.provider, model: response.model }), (price) => Pricing.costOf(price, response.usage))
  )
}

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)
const mean = (values: ReadonlyArray<number>) => values.length === 0 ? 0 : sum(values) / values.length

/** One model answer (or failure) before its assertions run. */
interface Answer {
  readonly exit: Exit.Exit<LanguageModel.Response, unknown>
  readonly latencyMillis: number
  readonly batch?: { readonly job: string; readonly customId: string } | undefined
}

/**
 * How the model of a batched target answers a call. The runner wraps such a
 * model so the response cache in front of it can be asked without calling it
 * (`probe`: a miss fails with the run's marker error, which the cache never
 * stores) and can be handed a batch answer to store (`replay`).
 */
type CallMode =
  | { readonly _tag: "live" }
  | { readonly _tag: "probe"; readonly miss: LlmError.LlmError }
  | { readonly _tag: "replay"; readonly response: LanguageModel.Response }

const callMode = FiberRef.unsafeMake<CallMode>({ _tag: "live" })

const switchable = (real: LanguageModel.Service): LanguageModel.Service => ({
  models: real.models,
  generate: (request) =>
    Effect.flatMap(FiberRef.get(callMode), (mode) =>
      mode._tag === "live"
        ? real.generate(request)
        : mode._tag === "probe"
        ? Effect.fail(mode.miss)
        : Effect.succeed(mode.response)),
  stream: real.stream
})

/** A custom id both batch APIs accept (Anthropic: `[a-zA-Z0-9_-]{1,64}`), unique by its number. */
const customIdOf = (n: number, caseId: string) => `${n}_${caseId.replace(/[^a-zA-Z0-9_-]/g, "-")}`.slice(0, 64)

const errorText = (error: unknown) => LlmError.isLlmError(error) ? `${error._tag}: ${error.message}` : messageOf(error)

/**
 * Runs a suite: every case × prompt × model, with bounded concurrency, through
 * the response cache. Provider failures are recorded in the report (status
 * `error`), not raised; the effect fails only when the suite cannot start.
 *
 * With `batch` (see {@link BatchOptions}) the calls of each model that can be
 * batched are first looked up in the cache, the misses submitted as one provider
 * job polled on the schedule, and the answers matched back to their cases by
 * custom id: a failed item is that case's error (with the provider's message),
 * a job that fails as a whole makes every call in it an error. Neither fails the
 * run.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (suite: Suite, options: RunOptions = {}): Effect.Effect<Report, EvalConfigError> =>
  Effect.scoped(Effect.gen(function*() {
    const scope = yield* Effect.scope
    const startedAtMillis = yield* Clock.currentTimeMillis
    const pricing = options.pricing ?? Pricing.make()
    const embeddings = yield* resolveEmbeddings(suite, options)
    const concurrency = Math.max(1, options.concurrency ?? suite.concurrency ?? 4)
    const batchOptions: BatchOptions | undefined = options.batch === undefined || options.batch === false
      ? undefined
      : options.batch === true
      ? {}
      : options.batch

    const cacheOptions = options.cache === false ? undefined : options.cache ?? {}
    const store = cacheOptions === undefined
      ? undefined
      : yield* Layer.buildWithScope(cacheOptions.store ?? CacheStore.layerMemory(), scope).pipe(
        Effect.catchAllCause((cause) =>
          Effect.fail(new EvalConfigError({ message: `The response cache could not open: ${messageOf(Cause.squash(cause))}` }))
        )
      )
    const cached = (service: LanguageModel.Service, namespace: string): Effect.Effect<LanguageModel.Service> =>
      store === undefined || cacheOptions === undefined
        ? Effect.succeed(service)
        : ResponseCache.make({
          namespace,
          cacheSampled: true,
          varyBy: { tags: ["evalRepeat"] },
          ttl: cacheOptions.ttl ?? "30 days"
        })(service).pipe(Effect.provide(store))

    // batch clients first: a model that can be batched gets a switchable service under its cache
    const batchClients = new Map<string, Batch.Service>()
    const targets: Array<BatchTarget> = []
    if (batchOptions !== undefined) {
      for (const spec of suite.models) {
        const client = yield* batchClientFor(spec, options, batchOptions, pricing)
        if (Either.isRight(client)) batchClients.set(modelName(spec), client.right)
        else {
          targets.push(new BatchTarget({
            model: modelName(spec),
            outcome: "online",
            note: client.left,
            calls: 0,
            failedCalls: 0,
            costUsd: 0,
            durationMillis: 0
          }))
        }
      }
    }

    const services = new Map<string, LanguageModel.Service>()
    for (const spec of suite.models) {
      const name = modelName(spec)
      const real = yield* resolveModel(spec, options, scope)
      services.set(name, yield* cached(batchClients.has(name) ? switchable(real) : real, `eval:${name}`))
    }
    const judgeSource = options.judge
    const judge = judgeSource !== undefined
      ? yield* Effect.flatMap(buildModel(judgeSource, "judge", scope), (s) => cached(s, "eval-judge"))
      : suite.judge !== undefined
      ? (services.get(modelName(suite.judge)) ??
        (yield* Effect.flatMap(resolveModel(suite.judge, options, scope), (s) => cached(s, "eval-judge"))))
      : undefined

    const prompts = promptsOf(suite)
    const units: Array<Unit> = []
    for (const c of suite.cases) {
      for (const prompt of prompts) {
        if (c.prompts !== undefined && !c.prompts.includes(prompt.id)) continue
        for (const spec of suite.models) units.push({ case: c, prompt, model: modelName(spec) })
      }
    }
    const done = yield* Ref.make(0)
    const repeatOf = (unit: Unit) => unit.case.repeat ?? suite.defaults?.repeat ?? 1
    const hasLatencyCeiling = (unit: Unit) => assertionsOf(suite, unit.case).some((a) => a.type === "latency")

    const callLive = (unit: Unit, iteration: number, repeat: number): Effect.Effect<Answer> =>
      Effect.gen(function*() {
        const request = requestFor(suite, unit, iteration, repeat, hasLatencyCeiling(unit) ? { bypass: true } : undefined)
        const start = yield* Clock.currentTimeMillis
        const exit = yield* Effect.exit(services.get(unit.model)!.generate(request))
        return { exit, latencyMillis: (yield* Clock.currentTimeMillis) - start }
      })

    const check = (unit: Unit, iteration: number, answer: Answer): Effect.Effect<RunResult> =>
      Effect.gen(function*() {
        const { exit, latencyMillis } = answer
        if (Exit.isFailure(exit)) {
          return new RunResult({
            iteration,
            output: "",
            pass: false,
            score: 0,
            latencyMillis,
            tokens: { input: 0, output: 0 },
            costUsd: undefined,
            cached: false,
            error: errorText(Cause.squash(exit.cause)),
            assertions: [],
            batch: answer.batch
          })
        }
        const response = exit.value
        const hit = response.cache !== undefined
        const cost = answerCost(response, pricing)
        const results = yield* Effect.forEach(
          assertionsOf(suite, unit.case),
          (assertion) =>
            Assertions.evaluate(assertion, {
              output: response.text,
              vars: unit.case.vars,
              latencyMillis,
              costUsd: cost,
              response
            }, { embeddings, judge }),
          { concurrency: "unbounded" }
        )
        const threshold = unit.case.threshold ?? suite.defaults?.threshold
        return new RunResult({
          iteration,
          output: response.text,
          pass: Assertions.passes(results, threshold),
          score: Assertions.weightedScore(results),
          latencyMillis,
          tokens: { input: response.usage.inputTokens, output: response.usage.outputTokens },
          costUsd: hit ? 0 : cost,
          cached: hit,
          servedBy: `${response.provider}/${response.model}`,
          error: results.find((r) => r.error !== undefined)?.error,
          assertions: results,
          batch: answer.batch
        })
      })

    const cellOf = (unit: Unit, runs: ReadonlyArray<RunResult>): Effect.Effect<CellResult> =>
      Effect.gen(function*() {
        const required = unit.case.passRate ?? suite.defaults?.passRate ?? 1
        const passRate = runs.filter((r) => r.pass).length / runs.length
        const status: Status = runs.some((r) => r.error !== undefined)
          ? "error"
          : passRate >= required
          ? "pass"
          : "fail"
        const costs = runs.map((r) => r.costUsd)
        const cell = new CellResult({
          caseId: unit.case.id,
          description: unit.case.description,
          promptId: unit.prompt.id,
          model: unit.model,
          prompt: Assertions.render(unit.prompt.template, unit.case.vars),
          status,
          score: mean(runs.map((r) => r.score)),
          passRate,
          requiredPassRate: required,
          latencyMillis: mean(runs.map((r) => r.latencyMillis)),
          tokens: { input: sum(runs.map((r) => r.tokens.input)), output: sum(runs.map((r) => r.tokens.output)) },
          costUsd: costs.some((c) => c === undefined) ? undefined : sum(costs as ReadonlyArray<number>),
          runs
        })
        const count = yield* Ref.updateAndGet(done, (n) => n + 1)
        if (options.onProgress !== undefined) yield* options.onProgress({ done: count, total: units.length, cell })
        return cell
      })

    const runUnit = (unit: Unit): Effect.Effect<CellResult> =>
      Effect.gen(function*() {
        const repeat = repeatOf(unit)
        const runs: Array<RunResult> = []
        for (let i = 1; i <= repeat; i++) runs.push(yield* check(unit, i, yield* callLive(unit, i, repeat)))
        return yield* cellOf(unit, runs)
      })

    // --- batch mode: plan each batched model's calls against the cache -------------
    interface Call {
      readonly unit: Unit
      readonly iteration: number
      readonly request: LanguageModel.Request
    }
    interface Plan {
      readonly model: string
      readonly client: Batch.Service
      readonly units: ReadonlyArray<Unit>
      readonly calls: ReadonlyArray<Call>
      /** Answers known before the job: cache hits. */
      readonly answers: Array<Answer | undefined>
    }
    const plans: Array<Plan> = []
    const live = new Set<Unit>(units)
    for (const [model, client] of batchClients) {
      const batchable = units.filter((u) => u.model === model && !hasLatencyCeiling(u))
      const calls: Array<Call> = []
      for (const unit of batchable) {
        const repeat = repeatOf(unit)
        for (let i = 1; i <= repeat; i++) calls.push({ unit, iteration: i, request: requestFor(suite, unit, i, repeat, undefined) })
      }
      const answers = new Array<Answer | undefined>(calls.length)
      if (store !== undefined) {
        const miss = new LlmError.ProviderUnavailable({ kind: "server", message: "eval batch probe: not in the cache" })
        const service = services.get(model)!
        yield* Effect.forEach(calls, (call, i) =>
          Effect.gen(function*() {
            const start = yield* Clock.currentTimeMillis
            const exit = yield* Effect.exit(Effect.locally(service.generate(call.request), callMode, { _tag: "probe", miss }))
            const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
            if (Option.isSome(failure) && failure.value === miss) return
            answers[i] = { exit, latencyMillis: (yield* Clock.currentTimeMillis) - start }
          }), { concurrency, discard: true })
      }
      let misses = 0
      for (let i = 0; i < calls.length; i++) if (answers[i] === undefined) misses++
      const minCalls = batchOptions?.minCalls ?? 1
      if (misses > 0 && misses < minCalls) {
        targets.push(new BatchTarget({
          model,
          outcome: "online",
          note: `${misses} call(s) to make, under the batch minimum of ${minCalls}`,
          calls: 0,
          failedCalls: 0,
          costUsd: 0,
          durationMillis: 0
        }))
        continue
      }
      for (const unit of batchable) live.delete(unit)
      plans.push({ model, client, units: batchable, calls, answers })
    }

    // the discount is known for the clients the runner built
    const discountOf = (model: string) =>
      batchOptions?.clients?.[model] === undefined ? batchOptions?.discount ?? Batch.DEFAULT_DISCOUNT : undefined

    /** Submits a plan's misses as one job, polls it, matches the answers, stores them in the cache. */
    const runPlan = (plan: Plan): Effect.Effect<ReadonlyArray<readonly [Unit, CellResult]>> =>
      Effect.gen(function*() {
        const pending = plan.calls.flatMap((call, i) => plan.answers[i] === undefined ? [{ call, i }] : [])
        if (pending.length === 0 && plan.calls.length > 0) {
          targets.push(new BatchTarget({
            model: plan.model,
            outcome: "cached",
            note: "every call was answered from the response cache: no job",
            calls: 0,
            failedCalls: 0,
            costUsd: 0,
            durationMillis: 0
          }))
        }
        if (pending.length > 0) {
          const items = pending.map(({ call }, n) => ({ customId: customIdOf(n, call.unit.case.id), request: call.request }))
          const byId = new Map(items.map((item, n) => [item.customId, pending[n]!] as const))
          const start = yield* Clock.currentTimeMillis
          const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - start)
          const failAll = (error: unknown, job: string | undefined, state: string | undefined) =>
            Effect.gen(function*() {
              const latencyMillis = yield* elapsed
              for (const { customId } of items) {
                const { i } = byId.get(customId)!
                plan.answers[i] = { exit: Exit.fail(error), latencyMillis, batch: job === undefined ? undefined : { job, customId } }
              }
              targets.push(new BatchTarget({
                model: plan.model,
                outcome: "failed",
                note: errorText(error),
                job,
                state,
                calls: items.length,
                failedCalls: items.length,
                costUsd: 0,
                discount: discountOf(plan.model),
                durationMillis: latencyMillis
              }))
            })
          const submitted = yield* Effect.either(plan.client.submit(items, { metadata: batchOptions?.metadata }))
          if (Either.isLeft(submitted)) yield* failAll(submitted.left, undefined, undefined)
          else {
            const job = submitted.right
            if (options.onBatchSubmitted !== undefined) {
              yield* options.onBatchSubmitted({ model: plan.model, job: job.id, calls: items.length })
            }
            const outcome = yield* Effect.either(Effect.gen(function*() {
              const status = yield* plan.client.wait(job, { schedule: batchOptions?.schedule })
              const results = yield* Stream.runCollect(plan.client.results(job))
              return { status, results: Chunk.toReadonlyArray(results) }
            })).pipe(
              // a run stopped while its job is pending asks the provider to cancel the job
              Effect.onInterrupt(() => Effect.ignore(plan.client.cancel(job)))
            )
            if (Either.isLeft(outcome)) yield* failAll(outcome.left, job.id, undefined)
            else {
              const latencyMillis = yield* elapsed
              let costUsd = 0
              let failedCalls = 0
              for (const result of outcome.right.results) {
                const entry = byId.get(result.customId)
                if (entry === undefined) continue
                const batch = { job: job.id, customId: result.customId }
                if (result._tag === "Succeeded") {
                  costUsd += result.response.cost?.usd ?? 0
                  plan.answers[entry.i] = { exit: Exit.succeed(result.response), latencyMillis, batch }
                } else {
                  failedCalls++
                  plan.answers[entry.i] = { exit: Exit.fail(result.error), latencyMillis, batch }
                }
              }
              // an item the job's results left out is that call's error, not a crash of the run
              for (const { customId } of items) {
                const { i } = byId.get(customId)!
                if (plan.answers[i] !== undefined) continue
                failedCalls++
                plan.answers[i] = {
                  exit: Exit.fail(new LlmError.ProviderUnavailable({
                    kind: "server",
                    message: `no result for custom id ${customId} in batch job ${job.id}`
                  })),
                  latencyMillis,
                  batch: { job: job.id, customId }
                }
              }
              // into the cache, one at a time (a refresh writes without reading; one at a
              // time so identical requests do not share a flight and each keeps its answer)
              if (store !== undefined) {
                const service = services.get(plan.model)!
                yield* Effect.forEach(outcome.right.results, (result) => {
                  const entry = byId.get(result.customId)
                  if (result._tag !== "Succeeded" || entry === undefined) return Effect.void
                  const { call } = entry
                  const refresh = requestFor(suite, call.unit, call.iteration, repeatOf(call.unit), { refresh: true })
                  return Effect.ignore(Effect.locally(service.generate(refresh), callMode, { _tag: "replay", response: result.response }))
                }, { discard: true })
              }
              targets.push(new BatchTarget({
                model: plan.model,
                outcome: "batched",
                job: job.id,
                state: outcome.right.status.state,
                calls: items.length,
                failedCalls,
                costUsd,
                discount: discountOf(plan.model),
                durationMillis: latencyMillis
              }))
            }
          }
        }
        const callsOf = new Map<Unit, Array<number>>()
        plan.calls.forEach((call, i) => {
          const list = callsOf.get(call.unit) ?? []
          list.push(i)
          callsOf.set(call.unit, list)
        })
        return yield* Effect.forEach(plan.units, (unit) =>
          Effect.gen(function*() {
            const runs: Array<RunResult> = []
            for (const i of callsOf.get(unit) ?? []) runs.push(yield* check(unit, plan.calls[i]!.iteration, plan.answers[i]!))
            return [unit, yield* cellOf(unit, runs)] as const
          }), { concurrency })
      })

    const liveUnits = units.filter((u) => live.has(u))
    const [liveCells, batchCells] = yield* Effect.all([
      Effect.forEach(liveUnits, (unit) => Effect.map(runUnit(unit), (cell) => [unit, cell] as const), { concurrency }),
      Effect.forEach(plans, runPlan, { concurrency: "unbounded" })
    ], { concurrency: "unbounded" })
    const cellByUnit = new Map<Unit, CellResult>([...liveCells, ...batchCells.flat()])
    const cells = units.map((u) => cellByUnit.get(u)!)

    const finishedAt = yield* Clock.currentTimeMillis
    const allRuns = cells.flatMap((c) => c.runs)
    const passed = cells.filter((c) => c.status === "pass").length
    return new Report({
      suite: suite.name,
      description: suite.description,
      startedAt: new Date(startedAtMillis).toISOString(),
      models: suite.models.map(modelName),
      prompts: prompts.map((p) => p.id),
      cases: suite.cases.map((c) => c.id),
      summary: new Summary({
        cells: cells.length,
        passed,
        failed: cells.filter((c) => c.status === "fail").length,
        errors: cells.filter((c) => c.status === "error").length,
        passRate: cells.length === 0 ? 1 : passed / cells.length,
        calls: allRuns.length,
        cachedCalls: allRuns.filter((r) => r.cached).length,
        tokens: { input: sum(allRuns.map((r) => r.tokens.input)), output: sum(allRuns.map((r) => r.tokens.output)) },
        costUsd: sum(allRuns.map((r) => r.costUsd ?? 0)),
        costIncomplete: allRuns.some((r) => r.costUsd === undefined),
        durationMillis: finishedAt - startedAtMillis,
        batchedCalls: batchOptions === undefined ? undefined : allRuns.filter((r) => r.batch !== undefined).length,
        batches: batchOptions === undefined
          ? undefined
          : suite.models.flatMap((spec) => targets.filter((t) => t.model === modelName(spec)))
      }),
      cells
    })
  }))

// -----------------------------------------------------------------------------
// Baselines and verdicts
// -----------------------------------------------------------------------------

/**
 * A cell whose status changed against the baseline.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  /** The cell's {@link cellKey}. */
  readonly key: string
  /** The cell's {@link cellLabel}, for display. */
  readonly label: string
  readonly before: CellResult
  readonly after: CellResult
}

/**
 * How a report compares with a baseline: cells that passed before and do not now
 * (`regressions`), cells that pass now and did not (`improvements`), cells only
 * in one of them (by {@link cellKey}), how many cells both have (`matched`), the
 * two suite names, and the change of the pass rate. {@link verdict} fails a
 * comparison against another suite's baseline (exit 3) or one that matched no
 * cell (exit 2).
 *
 * @since 0.1.0
 * @category models
 */
export interface Comparison {
  readonly regressions: ReadonlyArray<Change>
  readonly improvements: ReadonlyArray<Change>
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  /** Cells present in both the report and the baseline. */
  readonly matched: number
  /** The report's suite name. */
  readonly suite: string
  /** The baseline's suite name. */
  readonly baselineSuite: string
  readonly baselinePassRate: number
  readonly passRate: number
  /** The baseline cell of each {@link cellKey}, for diffs. */
  readonly baseline: ReadonlyMap<string, CellResult>
}

/**
 * Compares a report with a baseline report. It does not refuse a baseline of
 * another suite (the comparison records both names and {@link verdict} fails
 * it); {@link compareBaseline} does.
 *
 * @since 0.1.0
 * @category baselines
 */
export const compare = (report: Report, baseline: Report): Comparison => {
  const before = new Map(baseline.cells.map((c) => [cellKey(c), c] as const))
  const after = new Map(report.cells.map((c) => [cellKey(c), c] as const))
  const regressions: Array<Change> = []
  const improvements: Array<Change> = []
  let matched = 0
  for (const [key, cell] of after) {
    const old = before.get(key)
    if (old === undefined) continue
    matched++
    const label = cellLabel(cell)
    if (old.status === "pass" && cell.status !== "pass") regressions.push({ key, label, before: old, after: cell })
    if (old.status !== "pass" && cell.status === "pass") improvements.push({ key, label, before: old, after: cell })
  }
  return {
    regressions,
    improvements,
    added: [...after.keys()].filter((k) => !before.has(k)),
    removed: [...before.keys()].filter((k) => !after.has(k)),
    matched,
    suite: report.suite,
    baselineSuite: baseline.suite,
    baselinePassRate: baseline.summary.passRate,
    passRate: report.summary.passRate,
    baseline: before
  }
}

/**
 * Checks that a baseline belongs to a suite: a baseline saved from another suite
 * compares nothing meaningful, so it is a configuration error. The CLI checks
 * this before running.
 *
 * @since 0.1.0
 * @category baselines
 */
export const checkBaseline = (suite: string, baseline: Report): Effect.Effect<Report, EvalConfigError> =>
  baseline.suite === suite
    ? Effect.succeed(baseline)
    : Effect.fail(new EvalConfigError({ message: baselineSuiteMismatch(suite, baseline.suite) }))

/**
 * {@link compare}, failing with an `EvalConfigError` when the baseline comes
 * from another suite.
 *
 * @since 0.1.0
 * @category baselines
 */
export const compareBaseline = (report: Report, baseline: Report): Effect.Effect<Comparison, EvalConfigError> =>
  Effect.map(checkBaseline(report.suite, baseline), (b) => compare(report, b))

const baselineSuiteMismatch = (suite: string, baselineSuite: string) =>
  `The baseline is a report of suite ${JSON.stringify(baselineSuite)}, not of ${JSON.stringify(suite)}: ` +
  "it cannot tell what regressed (save a baseline of this suite with --save-baseline)"

/**
 * The exit codes of the `eval` command.
 *
 * @since 0.1.0
 * @category verdicts
 */
export const ExitCode = {
  /** Every cell passed (or the pass rate reached `--min-pass-rate`), no regression. */
  ok: 0,
  /** Some assertion failed (and no `--min-pass-rate` tolerates it). */
  assertionFailures: 1,
  /** The pass rate is under `--min-pass-rate`, a cell regressed against the baseline, or no baseline cell matched. */
  belowThreshold: 2,
  /** The suite, a model or the baseline (another suite's) is misconfigured, the run has no cells, or a provider (or judge) call failed. */
  configOrProvider: 3
} as const

/**
 * @since 0.1.0
 * @category verdicts
 */
export type ExitCode = typeof ExitCode[keyof typeof ExitCode]

/**
 * What a report means for CI: the exit code and why. Precedence: errors (3) over
 * thresholds and regressions (2) over failures (1). With `minPassRate`, failing
 * cells are tolerated while the pass rate reaches it. A report with no cells, or
 * a comparison with another suite's baseline, is a configuration error (3); a
 * comparison that matched no cell of the baseline fails like a regression (2).
 *
 * @since 0.1.0
 * @category verdicts
 */
export const verdict = (
  report: Report,
  options: { readonly minPassRate?: number | undefined; readonly comparison?: Comparison | undefined } = {}
): { readonly code: ExitCode; readonly reasons: ReadonlyArray<string> } => {
  const s = report.summary
  const reasons: Array<string> = []
  const comparison = options.comparison
  const empty = report.cells.length === 0
  if (empty) reasons.push("the run has no cells: nothing was evaluated")
  const foreign = comparison !== undefined && comparison.baselineSuite !== comparison.suite
  if (foreign) reasons.push(baselineSuiteMismatch(comparison.suite, comparison.baselineSuite))
  if (s.errors > 0) reasons.push(`${s.errors} cell(s) hit a provider or judge error`)
  const below = options.minPassRate !== undefined && s.passRate < options.minPassRate
  if (below) reasons.push(`pass rate ${(s.passRate * 100).toFixed(1)}% is under the required ${(options.minPassRate! * 100).toFixed(1)}%`)
  const disjoint = comparison !== undefined && !foreign && !empty && comparison.matched === 0
  if (disjoint) {
    reasons.push(`no cell of this run is in the baseline (${comparison.removed.length} baseline cell(s), none matched): nothing was compared`)
  }
  const regressions = comparison?.regressions ?? []
  if (regressions.length > 0) reasons.push(`${regressions.length} cell(s) regressed against the baseline: ${regressions.map((r) => r.label).join(", ")}`)
  if (s.failed > 0 && options.minPassRate === undefined) reasons.push(`${s.failed} cell(s) failed their assertions`)
  const code: ExitCode = s.errors > 0 || empty || foreign
    ? ExitCode.configOrProvider
    : below || disjoint || regressions.length > 0
    ? ExitCode.belowThreshold
    : s.failed > 0 && options.minPassRate === undefined
    ? ExitCode.assertionFailures
    : ExitCode.ok
  return { code, reasons }
}
