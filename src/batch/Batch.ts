/**
 * Provider batch jobs: many requests submitted as one job, answered within hours
 * at half the price. OpenAI's Batch API (a JSONL file uploaded to `/v1/files`, a
 * job on `/v1/batches`) and Anthropic's Message Batches, over the official SDKs.
 *
 * ```ts
 * const results = Batch.run(requests)          // submit, poll on a Schedule, stream results
 * // Stream<Batch.Result, LlmError, Batch>: one Succeeded | Failed per request,
 * // matched to its request by custom id, in the order the provider returns them
 * ```
 *
 * - Every request gets exactly one result. A request the provider answered with an
 *   error is a `Failed` result carrying the `LlmError` that error maps to (the same
 *   classification as a live call: 429 → RateLimited, 400 → InvalidRequest, ...);
 *   an expired request is `ProviderUnavailable` (kind `timeout`), a cancelled one
 *   `ProviderUnavailable` (kind `server`), and a request the provider returned no
 *   line for at all is `ProviderUnavailable` (kind `server`, "no result").
 * - Costs: each answer's `cost` is `Pricing.costOf(price, usage) × discount`
 *   (default 0.5: both vendors bill batch jobs at 50% of the live price, cached
 *   input and output alike). Every model the job names must have a price, checked
 *   before anything is uploaded (`InvalidRequest`, code `unpriced_model`): an
 *   answer priced at $0 would be a lie.
 * - Polling: `Schedule` (default: every 30 seconds for the first 5 minutes, then
 *   every 2 minutes, for up to 25 hours). Its delays run on the Effect clock, so
 *   tests drive them with `TestClock`; the job failing as a whole (OpenAI status
 *   `failed`) fails the stream with an `InvalidRequest` naming the problem; a
 *   schedule that runs out fails it with `ProviderUnavailable` (kind `timeout`),
 *   leaving the job running (its id is in the message; `results(job)` reads it
 *   later).
 * - Budgets are not applied: a batch is not a `LanguageModel` call. Read
 *   `Result.response.cost` to account for it.
 *
 * @since 0.1.0
 */
import Sdk from "@anthropic-ai/sdk"
import { Context, Duration, Effect, Either, Layer, Option, Redacted, Schedule, Stream } from "effect"
import OpenAI from "openai"
import * as Pricing from "../cost/Pricing.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as NodeFetch from "../providers/NodeFetch.js"
import type { Adapter } from "./internal/adapter.js"
import * as AnthropicBatch from "./internal/anthropic.js"
import * as OpenAiBatch from "./internal/openai.js"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/**
 * One request of a batch with the id its result comes back under. Without an id,
 * requests are numbered `req-0`, `req-1`, ... in submission order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Item {
  readonly customId: string
  readonly request: LanguageModel.Request | LanguageModel.RequestInput
}

/**
 * What a batch is made of: requests, or {@link Item}s with their own ids.
 *
 * @since 0.1.0
 * @category models
 */
export type Submission = ReadonlyArray<LanguageModel.Request | LanguageModel.RequestInput | Item>

/**
 * A submitted job: the provider's id and the requests, by custom id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Job {
  readonly id: string
  readonly provider: string
  /** OpenAI: the uploaded input file. */
  readonly inputFileId: string | undefined
  readonly items: ReadonlyArray<{ readonly customId: string; readonly request: LanguageModel.Request }>
}

/**
 * Where a job stands.
 *
 * @since 0.1.0
 * @category models
 */
export interface Status {
  /** The provider's status word (`validating`, `in_progress`, `completed`, `ended`...). */
  readonly state: string
  /** Results can be read. */
  readonly ended: boolean
  readonly total: number | undefined
  readonly succeeded: number
  readonly failed: number
}

/**
 * The answer to one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Succeeded {
  readonly _tag: "Succeeded"
  readonly customId: string
  /** The request's position in the submission. */
  readonly index: number
  readonly request: LanguageModel.Request
  /** With `cost` at the batch discount. */
  readonly response: LanguageModel.Response
}

/**
 * The failure of one request.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failed {
  readonly _tag: "Failed"
  readonly customId: string
  readonly index: number
  readonly request: LanguageModel.Request
  readonly error: LlmError.LlmError
}

/**
 * One request's outcome.
 *
 * @since 0.1.0
 * @category models
 */
export type Result = Succeeded | Failed

/**
 * @since 0.1.0
 * @category models
 */
export interface PollOptions {
  /** When to ask again; ends = give up (default: 30 s for 5 minutes, then 2 minutes, up to 25 hours). */
  readonly schedule?: Schedule.Schedule<unknown, Status> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunOptions extends PollOptions {
  /** Attached to the job (OpenAI `metadata`; ignored by Anthropic). */
  readonly metadata?: Readonly<Record<string, string>> | undefined
}

/**
 * What a batch client does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly provider: string
  /** Validates, prices and submits the requests as one job. */
  readonly submit: (requests: Submission, options?: RunOptions) => Effect.Effect<Job, LlmError.LlmError>
  /** The job's status, once. */
  readonly status: (job: Job) => Effect.Effect<Status, LlmError.LlmError>
  /** Polls on the schedule until the job ended. */
  readonly wait: (job: Job, options?: PollOptions) => Effect.Effect<Status, LlmError.LlmError>
  /** Every request's result (the job must have ended), matched by custom id, costed. */
  readonly results: (job: Job) => Stream.Stream<Result, LlmError.LlmError>
  /** Asks the provider to cancel the job; requests not run yet come back as failed. */
  readonly cancel: (job: Job) => Effect.Effect<void, LlmError.LlmError>
  /** submit + wait + results. */
  readonly run: (requests: Submission, options?: RunOptions) => Stream.Stream<Result, LlmError.LlmError>
}

/**
 * The batch client tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Batch extends Context.Tag("effect-llm/Batch")<Batch, Service>() {}

/**
 * The share of the live price a batch costs (50% at OpenAI and Anthropic).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_DISCOUNT = 0.5

/** Tries again after a transient failure of one status read: 1, 2, 4, 8, 16 s. */
const pollRetry = Schedule.intersect(Schedule.exponential("1 second"), Schedule.recurs(5))

/**
 * The default polling schedule: every 30 seconds for the first 5 minutes, then
 * every 2 minutes, giving up after 25 hours (jobs have a 24-hour window).
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSchedule: Schedule.Schedule<unknown, Status> = Schedule.spaced("30 seconds").pipe(
  Schedule.upTo("5 minutes"),
  Schedule.andThen(Schedule.spaced("2 minutes")),
  Schedule.upTo("25 hours")
)

// -----------------------------------------------------------------------------
// Constructors
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions {
  /** The model of requests that name none. */
  readonly model: string
  /** The provider name reported on responses and errors. */
  readonly provider?: string | undefined
  /** The share of the live price charged (default {@link DEFAULT_DISCOUNT}). */
  readonly discount?: number | undefined
  readonly timeout?: Duration.DurationInput | undefined
  /** The fetch the SDK calls (default {@link NodeFetch.fetch}; `globalThis.fetch` for undici's, e.g. behind a proxy dispatcher). */
  readonly fetch?: typeof globalThis.fetch | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenAiOptions extends CommonOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.openai.com/v1`. */
  readonly baseURL?: string | undefined
  readonly organization?: string | undefined
  readonly project?: string | undefined
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AnthropicOptions extends CommonOptions {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.anthropic.com` (without `/v1`). */
  readonly baseURL?: string | undefined
  /** `max_tokens` of requests that set none (default 4096; the API requires one). */
  readonly defaultMaxTokens?: number | undefined
}

const toItems = (
  requests: Submission
): Effect.Effect<ReadonlyArray<{ readonly customId: string; readonly request: LanguageModel.Request }>, LlmError.InvalidRequest> =>
  Effect.forEach(requests, (entry, index) => {
    const item: Item = typeof entry === "object" && entry !== null && "customId" in entry && "request" in entry
      ? entry as Item
      : { customId: `req-${index}`, request: entry as LanguageModel.Request | LanguageModel.RequestInput }
    return Effect.map(LanguageModel.decodeRequest(item.request), (request) => ({ customId: item.customId, request }))
  })

/**
 * Builds a batch client over a provider adapter; needs a `Pricing`.
 */
const fromAdapter = (adapter: Adapter, options: CommonOptions): Effect.Effect<Service, never, Pricing.Pricing> =>
  Effect.gen(function*() {
    const pricing = yield* Pricing.Pricing
    const discount = options.discount ?? DEFAULT_DISCOUNT
    const invalid = (message: string, code: string) =>
      new LlmError.InvalidRequest({ provider: adapter.provider, model: options.model, message, code })

    const submit = (requests: Submission, runOptions: RunOptions = {}) =>
      Effect.gen(function*() {
        if (requests.length === 0) return yield* invalid("A batch needs at least one request", "empty_batch")
        const items = yield* toItems(requests)
        const ids = new Set<string>()
        for (const { customId } of items) {
          if (!adapter.customIdPattern.test(customId)) {
            return yield* invalid(`Custom id ${JSON.stringify(customId)} is not accepted by ${adapter.provider}`, "invalid_custom_id")
          }
          if (ids.has(customId)) return yield* invalid(`Custom id ${customId} is used twice`, "duplicate_custom_id")
          ids.add(customId)
        }
        for (const model of new Set(items.map(({ request }) => adapter.modelOf(request)))) {
          if (Option.isNone(pricing.lookup({ provider: adapter.provider, model }))) {
            return yield* invalid(`No price for model ${model}: batch results could not be costed`, "unpriced_model")
          }
        }
        const created = yield* adapter.create(items, runOptions.metadata)
        yield* Effect.annotateCurrentSpan({ "effect_llm.batch.id": created.id, "effect_llm.batch.size": items.length })
        return { id: created.id, inputFileId: created.inputFileId, provider: adapter.provider, items } satisfies Job
      }).pipe(Effect.withSpan("Batch.submit"))

    const status = (job: Job) =>
      Effect.flatMap(adapter.retrieve(job), (progress) =>
        progress.failure !== undefined
          ? Effect.fail(progress.failure)
          : Effect.succeed<Status>({
            state: progress.state,
            ended: progress.ended,
            total: progress.total,
            succeeded: progress.succeeded,
            failed: progress.failed
          }))

    // One poll, tried again on a transient failure (a 503, a reset): a paid job
    // that keeps running must not be given up on for one failed status read.
    const poll = (job: Job) =>
      status(job).pipe(Effect.retry({ while: LlmError.isRetryable, schedule: pollRetry }))

    const wait = (job: Job, pollOptions: PollOptions = {}) =>
      Effect.gen(function*() {
        const last = yield* poll(job).pipe(
          Effect.repeat({ schedule: Schedule.passthrough(pollOptions.schedule ?? defaultSchedule), until: (s) => s.ended })
        )
        if (last.ended) return last
        return yield* new LlmError.ProviderUnavailable({
          provider: adapter.provider,
          kind: "timeout",
          message: `Batch ${job.id} still ${last.state} when the polling schedule ended; read it later with results(job)`
        })
      }).pipe(Effect.withSpan("Batch.wait", { attributes: { "effect_llm.batch.id": job.id } }))

    const costed = (response: LanguageModel.Response, request: LanguageModel.Request): LanguageModel.Response => {
      const served = pricing.lookup({ provider: response.provider, model: response.model })
      const price = Option.isSome(served)
        ? served
        : pricing.lookup({ provider: adapter.provider, model: adapter.modelOf(request) })
      return Option.match(price, {
        // unreachable: submit checked the requested models
        onNone: () => response,
        onSome: (p) =>
          new LanguageModel.Response({
            ...response,
            cost: new LanguageModel.Cost({ usd: Pricing.costOf(p, response.usage) * discount, estimated: Option.isNone(served) })
          })
      })
    }

    /** The results of a job known to have ended. */
    const resultsOfEnded = (job: Job): Stream.Stream<Result, LlmError.LlmError> =>
      Stream.suspend(() => {
        const pending = new Map(job.items.map((item, index) => [item.customId, { ...item, index }] as const))
        const models = new Map(job.items.map((item) => [item.customId, adapter.modelOf(item.request)] as const))
        const matched = adapter.results({ id: job.id, inputFileId: job.inputFileId }, models).pipe(
          Stream.mapEffect((outcome) => {
            const item = pending.get(outcome.customId)
            if (item === undefined) {
              return Effect.as(
                Effect.logWarning(`Batch ${job.id}: a result for unknown or repeated custom id ${outcome.customId}; ignored`),
                Option.none<Result>()
              )
            }
            pending.delete(outcome.customId)
            const base = { customId: item.customId, index: item.index, request: item.request }
            return Effect.succeed(Option.some<Result>(
              Either.isRight(outcome.result)
                ? { _tag: "Succeeded", ...base, response: costed(outcome.result.right, item.request) }
                : { _tag: "Failed", ...base, error: outcome.result.left }
            ))
          }),
          Stream.filterMap((result) => result)
        )
        const missing = Stream.suspend(() =>
          Stream.fromIterable([...pending.values()].map((item): Result => ({
            _tag: "Failed",
            customId: item.customId,
            index: item.index,
            request: item.request,
            error: new LlmError.ProviderUnavailable({
              provider: adapter.provider,
              model: adapter.modelOf(item.request),
              kind: "server",
              message: `Batch ${job.id} returned no result for ${item.customId}`
            })
          })))
        )
        return Stream.concat(matched, missing)
      })

    // A job still running has no output yet: read then, every request would come
    // back as "no result", and a caller retrying them would pay twice.
    const results = (job: Job): Stream.Stream<Result, LlmError.LlmError> =>
      Stream.unwrap(Effect.map(poll(job), (current) =>
        current.ended
          ? resultsOfEnded(job)
          : Stream.fail(
            new LlmError.InvalidRequest({
              provider: adapter.provider,
              code: "batch_not_ended",
              message: `Batch ${job.id} is still ${current.state}: its results can be read once it has ended (wait(job))`
            })
          )))

    // A caller that gives up on `run` cancels the job: its requests not run yet are not billed.
    const run = (requests: Submission, runOptions: RunOptions = {}) =>
      Stream.unwrap(Effect.gen(function*() {
        const job = yield* submit(requests, runOptions)
        yield* Effect.onInterrupt(wait(job, runOptions), () => Effect.ignore(adapter.cancel(job)))
        return resultsOfEnded(job)
      }))

    return { provider: adapter.provider, submit, status, wait, results, cancel: (job) => adapter.cancel(job), run }
  })

/**
 * A batch client for OpenAI's Batch API (Chat Completions requests).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeOpenAi = (options: OpenAiOptions): Effect.Effect<Service, never, Pricing.Pricing> =>
  Effect.suspend(() => {
    const client = new OpenAI({
      apiKey: Redacted.value(options.apiKey),
      baseURL: options.baseURL,
      organization: options.organization,
      project: options.project,
      maxRetries: 0,
      timeout: options.timeout === undefined ? undefined : Duration.toMillis(options.timeout),
      fetch: options.fetch ?? NodeFetch.fetch
    })
    const provider = options.provider ?? "openai"
    return fromAdapter(
      OpenAiBatch.make({ client, provider, model: options.model, maxTokensField: options.maxTokensField ?? "max_completion_tokens" }),
      options
    )
  })

/**
 * A batch client for Anthropic's Message Batches.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAnthropic = (options: AnthropicOptions): Effect.Effect<Service, never, Pricing.Pricing> =>
  Effect.suspend(() => {
    const client = new Sdk({
      apiKey: Redacted.value(options.apiKey),
      baseURL: options.baseURL,
      maxRetries: 0,
      timeout: Duration.toMillis(options.timeout ?? Duration.minutes(10)),
      fetch: options.fetch ?? NodeFetch.fetch,
      openTelemetry: false
    })
    const provider = options.provider ?? "anthropic"
    return fromAdapter(
      AnthropicBatch.make({ client, provider, model: options.model, defaultMaxTokens: options.defaultMaxTokens ?? 4096 }),
      options
    )
  })

/**
 * The OpenAI batch client as a Layer (needs a `Pricing`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOpenAi = (options: OpenAiOptions): Layer.Layer<Batch, never, Pricing.Pricing> =>
  Layer.effect(Batch, makeOpenAi(options))

/**
 * The Anthropic batch client as a Layer (needs a `Pricing`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerAnthropic = (options: AnthropicOptions): Layer.Layer<Batch, never, Pricing.Pricing> =>
  Layer.effect(Batch, makeAnthropic(options))

/**
 * Submits, waits and streams every result, with the `Batch` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const run = (requests: Submission, options?: RunOptions): Stream.Stream<Result, LlmError.LlmError, Batch> =>
  Stream.unwrap(Effect.map(Batch, (batch) => batch.run(requests, options)))

/**
 * Submits a job, with the `Batch` in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const submit = (requests: Submission, options?: RunOptions): Effect.Effect<Job, LlmError.LlmError, Batch> =>
  Effect.flatMap(Batch, (batch) => batch.submit(requests, options))
