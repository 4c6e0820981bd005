/**
 * The OpenAI provider over the official `openai` SDK (Chat Completions), also for
 * OpenAI-compatible servers (Ollama, llama.cpp, vLLM) through `baseURL`.
 *
 * The SDK's own retries are off: retrying is the `Retry` layer's job. Interrupting
 * the calling fiber aborts the HTTP request. Streams are checked for completeness:
 * a stream that ends without a finish reason and usage fails as
 * `ProviderUnavailable` (stream-interrupted), never as a silent success.
 *
 * @since 0.1.0
 */
import { Config, Duration, Effect, Either, Layer, Option, Redacted, type Scope } from "effect"
import OpenAI from "openai"
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParamsBase,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam
} from "openai/resources/chat/completions"
import * as Construct from "../internal/construct.js"
import * as Timed from "../internal/timed.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as NodeFetch from "./NodeFetch.js"
import { callWith } from "./internal/call.js"
import * as Cancel from "./internal/cancel.js"
import { fromApiFailure, fromTransport, malformedAnswer, type Origin } from "./internal/errors.js"
import { sdkPull } from "./internal/stream.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The API key. Optional for local OpenAI-compatible servers. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default `https://api.openai.com/v1`; for local servers e.g. `http://localhost:11434/v1`. */
  readonly baseURL?: string | undefined
  /** The model used when a request names none. */
  readonly model: string
  /** Other models requests may name (reported in `models` for pricing and budgets). */
  readonly models?: ReadonlyArray<string> | undefined
  /** The provider name reported on responses and errors (default `openai`). */
  readonly provider?: string | undefined
  readonly organization?: string | undefined
  readonly project?: string | undefined
  /** The SDK's timeout until the response headers arrive (default 10 minutes). */
  readonly timeout?: Duration.DurationInput | undefined
  /** Send `max_completion_tokens` (OpenAI, default) or the older `max_tokens` (most compatible servers). */
  readonly maxTokensField?: "max_completion_tokens" | "max_tokens" | undefined
  /** The output token limit sent (in `maxTokensField`) when a request sets no `maxTokens` (default: none sent, the model's own limit). */
  readonly defaultMaxTokens?: number | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The fetch the SDK calls (default {@link NodeFetch.fetch}; `globalThis.fetch` for undici's, e.g. behind a proxy dispatcher). */
  readonly fetch?: typeof globalThis.fetch | undefined
}

/**
 * The options of {@link layerCompatible}: a local server that needs no key.
 *
 * @since 0.1.0
 * @category models
 */
export interface CompatibleOptions extends Omit<Options, "baseURL" | "provider"> {
  readonly baseURL: string
  /** The provider name reported (default `openai-compatible`), e.g. `ollama`. */
  readonly provider?: string | undefined
}

const newController = () => new AbortController()

const finishReasons: Record<string, LanguageModel.FinishReason> = {
  stop: "stop",
  length: "length",
  tool_calls: "tool_calls",
  function_call: "tool_calls",
  content_filter: "content_filter"
}

/**
 * Builds the provider service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service> =>
  Effect.sync(() => {
    const provider = options.provider ?? "openai"
    const fetch = options.fetch ?? NodeFetch.fetch
    const client = new OpenAI({
      // The SDK refuses to start without a key; local servers ignore this one.
      apiKey: options.apiKey === undefined ? "no-key" : Redacted.value(options.apiKey),
      baseURL: options.baseURL,
      organization: options.organization,
      project: options.project,
      // Retry is ours. Also relied on by the NodeFetch cancel handle (internal/cancel.ts):
      // the SDK, not seeing a signal of ours aborted, would back off and retry it.
      maxRetries: 0,
      timeout: options.timeout === undefined ? undefined : Duration.toMillis(options.timeout),
      defaultHeaders: options.apiKey === undefined ? { ...options.headers, authorization: null } : options.headers,
      fetch
    })
    const maxTokensField = options.maxTokensField ?? "max_completion_tokens"
    const cancellable = Cancel.isCancellable(fetch)
    const originOf = (request: LanguageModel.Request): Origin => ({ provider, model: request.model ?? options.model })
    const paramsOf = (request: LanguageModel.Request, model: string): ChatCompletionCreateParamsBase => {
      const params = toParams(request, model, maxTokensField)
      if (request.maxTokens === undefined && options.defaultMaxTokens !== undefined) params[maxTokensField] = options.defaultMaxTokens
      return params
    }
    /** The body of a generate call: `stream: false` set on the fresh params, last, as a spread put it (one copy less). */
    const generateBody = (request: LanguageModel.Request, model: string): ChatCompletionCreateParamsNonStreaming => {
      const params = paramsOf(request, model)
      params.stream = false
      return params as ChatCompletionCreateParamsNonStreaming
    }

    const generateWithin = (
      request: LanguageModel.Request,
      timing: Timed.Timing | undefined
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> => {
      const origin = originOf(request)
      const started = Date.now()
      const onError = (error: unknown) => mapError(error, origin)
      const done = (completion: ChatCompletion) => fromCompletion(completion, origin, Date.now() - started)
      // Through NodeFetch, cancelled with a plain handle instead of an AbortSignal (internal/cancel.ts).
      return cancellable
        ? callWith(
          Cancel.make,
          (cancel) =>
            client.chat.completions.create(generateBody(request, origin.model), {
              fetchOptions: Cancel.fetchOptions(cancel)
            }),
          onError,
          timing,
          done
        )
        : callWith(
          newController,
          (controller) =>
            client.chat.completions.create(generateBody(request, origin.model), { signal: controller.signal }),
          onError,
          timing,
          done
        )
    }
    const generate = Timed.withTimedGenerate((request) => generateWithin(request, undefined), generateWithin)

    const streamPullWithin = (
      request: LanguageModel.Request,
      timing: Timed.Timing | undefined
    ): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> => {
      const origin = originOf(request)
      // A new state per run: a retry may run the same stream again.
      return Effect.suspend(() => {
        const state = new StreamState(origin)
        return sdkPull({
        origin,
        open: (signal) =>
          client.chat.completions.create({
            ...paramsOf(request, origin.model),
            stream: true,
            stream_options: { include_usage: true }
          }, { signal }),
        onError: (error, phase) =>
          phase === "read" && !(error instanceof OpenAI.APIError) ? fromTransport("stream-interrupted", error, origin) : mapError(error, origin),
        events: (chunk) => state.events(chunk),
        finish: (latencyMillis) => state.finish(latencyMillis)
        }, timing)
      })
    }
    const streamPull = Timed.withTimedStreamPull((request) => streamPullWithin(request, undefined), streamPullWithin)

    return {
      models: [options.model, ...(options.models ?? [])].map((model) => ({ provider, model })),
      generate,
      stream: (request) => LanguageModel.fromPull(streamPull(request)),
      streamPull
    }
  })

/**
 * The provider as a `LanguageModel` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, make(options))

/**
 * The provider with options from configuration, e.g.
 * `OpenAi.layerConfig({ apiKey: Config.redacted("OPENAI_API_KEY"), model: Config.succeed("gpt-4.1-mini") })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<LanguageModel.LanguageModel, import("effect/ConfigError").ConfigError> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(Config.unwrap(config), make))

/**
 * An OpenAI-compatible local server (Ollama, llama.cpp, vLLM): a `baseURL`, no key
 * needed, `max_tokens` sent as most such servers expect.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCompatible = (options: CompatibleOptions): Layer.Layer<LanguageModel.LanguageModel> =>
  layer({ maxTokensField: "max_tokens", ...options, provider: options.provider ?? "openai-compatible" })

/**
 * The API key and optional base URL from `OPENAI_API_KEY` / `OPENAI_BASE_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const configFromEnv = (model: string): Config.Config<Options> =>
  Config.all({
    apiKey: Config.redacted("OPENAI_API_KEY"),
    baseURL: Config.option(Config.string("OPENAI_BASE_URL")).pipe(Config.map(Option.getOrUndefined))
  }).pipe(Config.map((c) => ({ ...c, model })))

// -----------------------------------------------------------------------------
// Request mapping
// -----------------------------------------------------------------------------

const toMessage = (message: LanguageModel.Message): ChatCompletionMessageParam => {
  switch (message.role) {
    case "system":
      return { role: "system", content: message.content }
    case "user":
      return { role: "user", content: message.content }
    case "assistant":
      return {
        role: "assistant",
        content: message.content.length > 0 || message.toolCalls.length === 0 ? message.content : null,
        ...(message.toolCalls.length > 0
          ? {
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: "function" as const,
              function: { name: call.name, arguments: call.arguments }
            }))
          }
          : {})
      }
    case "tool":
      return { role: "tool", tool_call_id: message.toolCallId, content: message.content }
  }
}

const toResponseFormat = (format: LanguageModel.ResponseFormat): ChatCompletionCreateParamsBase["response_format"] => {
  switch (format.type) {
    case "text":
      return { type: "text" }
    case "json":
      return { type: "json_object" }
    case "jsonSchema":
      return {
        type: "json_schema",
        json_schema: {
          name: format.name,
          description: format.description,
          schema: format.schema as Record<string, unknown>,
          strict: format.strict ?? true
        }
      }
  }
}

/**
 * The Chat Completions body of a request. Shared with the `Batch` module.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toParams = (
  request: LanguageModel.Request,
  model: string,
  maxTokensField: "max_completion_tokens" | "max_tokens" = "max_completion_tokens"
): ChatCompletionCreateParamsBase => {
  const params: ChatCompletionCreateParamsBase = { model, messages: request.messages.map(toMessage) }
  if (request.maxTokens !== undefined) params[maxTokensField] = request.maxTokens
  if (request.temperature !== undefined) params.temperature = request.temperature
  if (request.topP !== undefined) params.top_p = request.topP
  if (request.stop !== undefined) params.stop = [...request.stop]
  if (request.seed !== undefined) params.seed = request.seed
  if (request.tools !== undefined && request.tools.length > 0) {
    params.tools = request.tools.map((tool) => ({
      type: "function",
      function: {
        name: tool.name,
        description: tool.description,
        parameters: tool.parameters as Record<string, unknown>,
        strict: tool.strict
      }
    }))
  }
  if (request.toolChoice !== undefined) {
    params.tool_choice = typeof request.toolChoice === "string"
      ? request.toolChoice
      : { type: "function", function: { name: request.toolChoice.tool } }
  }
  if (request.responseFormat !== undefined) params.response_format = toResponseFormat(request.responseFormat)
  return params
}

// -----------------------------------------------------------------------------
// Response mapping
// -----------------------------------------------------------------------------

const isCount = (n: unknown): boolean => typeof n === "number" && Number.isSafeInteger(n) && n >= 0
const isOptionalString = (u: unknown): boolean => u === undefined || typeof u === "string"

// The wire values are checked by hand and, when they hold what the schema asks
// for, the instances are built without the validating constructors (~20-40 µs a
// call); anything else goes through them, so bad data fails exactly as before.
const toUsage = (usage: NonNullable<ChatCompletion["usage"]>): LanguageModel.Usage => {
  const fields = {
    inputTokens: usage.prompt_tokens,
    outputTokens: usage.completion_tokens,
    cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    cacheWriteTokens: (usage.prompt_tokens_details as { cache_write_tokens?: number } | undefined)?.cache_write_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0
  }
  return isCount(fields.inputTokens) && isCount(fields.outputTokens) && isCount(fields.cachedInputTokens) &&
      isCount(fields.cacheWriteTokens) && isCount(fields.reasoningTokens)
    ? Construct.make(LanguageModel.Usage, fields)
    : new LanguageModel.Usage(fields)
}

const toToolCall = (fields: { readonly id: string; readonly name: string; readonly arguments: string }) =>
  typeof fields.id === "string" && typeof fields.name === "string" && typeof fields.arguments === "string"
    ? Construct.make(LanguageModel.ToolCall, fields)
    : new LanguageModel.ToolCall(fields)

/**
 * A tool-call id for a call the server sent without one (or with `""`), as LM
 * Studio, llama.cpp and Gemini's OpenAI-compatible endpoint do: a tool message
 * answering the call needs a non-empty id. `call_<n>_<random>`, random per
 * response so two responses of one conversation never share an id.
 */
const generatedId = (n: number, salt: string): string => `call_${n}_${salt}`

const newSalt = (): string => crypto.randomUUID().replaceAll("-", "").slice(0, 12)

const isMissingId = (id: string | null | undefined): boolean => typeof id !== "string" || id.length === 0

const contentFiltered = (origin: Origin) =>
  new LlmError.ContentFiltered({
    ...origin,
    message: "The provider's content filter stopped the answer"
  })

const missing = (origin: Origin, what: string) =>
  new LlmError.ProviderUnavailable({ ...origin, kind: "server", message: `The provider's answer had no ${what}` })

/**
 * A chat completion as a `Response`, or the failure it stands for (no choices or
 * usage, a content filter). Shared with the `Batch` module.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromCompletion = (
  completion: ChatCompletion,
  origin: Origin,
  latencyMillis: number
): Either.Either<LanguageModel.Response, LlmError.LlmError> => {
  try {
    return responseOf(completion, origin, latencyMillis)
  } catch (error) {
    // A completion that does not fit the model (a null count, a tool call without an id).
    return Either.left(malformedAnswer(error, origin))
  }
}

const responseOf = (
  completion: ChatCompletion,
  origin: Origin,
  latencyMillis: number
): Either.Either<LanguageModel.Response, LlmError.LlmError> => {
  const choice = completion.choices?.[0]
  if (choice === undefined) return Either.left(missing(origin, "choices"))
  if (completion.usage === undefined || completion.usage === null) return Either.left(missing(origin, "usage"))
  if (choice.finish_reason === "content_filter") return Either.left(contentFiltered(origin))
  const refusal = choice.message.refusal ?? undefined
  let salt: string | undefined
  const fields = {
    id: completion.id,
    text: choice.message.content ?? "",
    toolCalls: (choice.message.tool_calls ?? []).flatMap((call, i) =>
      call.type === "function"
        ? [toToolCall({
          id: isMissingId(call.id) ? generatedId(i, salt ??= newSalt()) : call.id,
          name: call.function.name,
          arguments: call.function.arguments
        })]
        : []
    ),
    finishReason: refusal !== undefined ? "refusal" as const : finishReasons[choice.finish_reason] ?? "other",
    refusal,
    usage: toUsage(completion.usage),
    provider: origin.provider,
    model: completion.model || origin.model,
    latencyMillis
  }
  if (
    !(isOptionalString(fields.id) && typeof fields.text === "string" && isOptionalString(fields.refusal) &&
      typeof fields.model === "string" && typeof fields.provider === "string" && fields.latencyMillis >= 0)
  ) return Either.right(new LanguageModel.Response(fields))
  // `attempts` added after the copy, last as the spread put it: one copy of the fields, not two.
  const response: { attempts: ReadonlyArray<LanguageModel.Attempt> } = Construct.make(
    LanguageModel.Response,
    fields as typeof fields & Pick<LanguageModel.Response, "attempts">
  )
  response.attempts = []
  return Either.right(response as LanguageModel.Response)
}

/** What a stream has shown so far; decides whether it finished. */
class StreamState {
  private reason: string | undefined
  private usage: LanguageModel.Usage | undefined
  private refusal: string | undefined
  private id: string | undefined
  private model: string | undefined
  /** Wire tool-call index → the output index of the call it currently carries, and that call's id on the wire. */
  private readonly calls = new Map<number, { readonly index: number; wireId: string | undefined }>()
  private nextIndex = 0
  private salt: string | undefined
  constructor(private readonly origin: Origin) {}

  events(chunk: ChatCompletionChunk): ReadonlyArray<LanguageModel.StreamEvent> {
    this.id ??= chunk.id
    if (chunk.model) this.model = chunk.model
    if (chunk.usage) this.usage = toUsage(chunk.usage)
    const choice = chunk.choices[0]
    if (choice === undefined) return []
    if (choice.finish_reason) this.reason = choice.finish_reason
    const events: Array<LanguageModel.StreamEvent> = []
    const delta = choice.delta
    if (delta.content) {
      events.push(
        typeof delta.content === "string"
          ? Construct.make(LanguageModel.TextDelta, { _tag: "TextDelta", text: delta.content })
          : new LanguageModel.TextDelta({ text: delta.content })
      )
    }
    if (delta.refusal) this.refusal = (this.refusal ?? "") + delta.refusal
    for (const call of delta.tool_calls ?? []) {
      // Some OpenAI-compatible servers repeat `id: null, name: null` (or `id: ""`) on later deltas: absent.
      const wireId = isMissingId(call.id) ? undefined : call.id
      const { index, id } = this.slot(call.index, wireId, typeof call.function?.name === "string" && call.function.name.length > 0)
      events.push(
        new LanguageModel.ToolCallDelta({
          index,
          id,
          name: call.function?.name ?? undefined,
          argumentsDelta: call.function?.arguments ?? ""
        })
      )
    }
    return events
  }

  /**
   * The output index of a tool-call delta at wire index `wireIndex`, and the id to
   * emit with it. A delta bringing a name and an id other than the one already
   * seen at its wire index starts a new call: Ollama streams every parallel call
   * at index 0. The first delta of a call carries its name, so a changed id
   * without a name is read as the same call. A call whose first delta has no id
   * gets a generated one.
   */
  private slot(
    wireIndex: number,
    wireId: string | undefined,
    named: boolean
  ): { index: number; id: string | undefined } {
    const current = this.calls.get(wireIndex)
    const another = named && wireId !== undefined && current?.wireId !== undefined && wireId !== current.wireId
    if (current === undefined || another) {
      const index = this.nextIndex++
      this.calls.set(wireIndex, { index, wireId })
      return { index, id: wireId ?? generatedId(index, this.salt ??= newSalt()) }
    }
    if (wireId !== undefined && current.wireId === undefined) {
      // An id arriving after the first delta (whose id was generated): the server's own wins.
      current.wireId = wireId
      return { index: current.index, id: wireId }
    }
    return { index: current.index, id: undefined }
  }

  finish(latencyMillis: number): Either.Either<LanguageModel.StreamEvent, LlmError.LlmError> {
    if (this.reason === "content_filter") return Either.left(contentFiltered(this.origin))
    if (this.reason === undefined || this.usage === undefined) {
      return Either.left(
        new LlmError.ProviderUnavailable({
          ...this.origin,
          kind: "stream-interrupted",
          message: this.reason === undefined
            ? "The stream ended before the model finished"
            : "The stream ended before reporting usage"
        })
      )
    }
    const fields = {
      id: this.id,
      reason: this.refusal !== undefined ? "refusal" as const : finishReasons[this.reason] ?? "other",
      refusal: this.refusal,
      usage: this.usage,
      provider: this.origin.provider,
      model: this.model ?? this.origin.model,
      latencyMillis
    }
    // Checked by hand as in `fromCompletion`: the validating constructor was ~16 KB allocated per stream.
    return Either.right(
      isOptionalString(fields.id) && isOptionalString(fields.refusal) && typeof fields.model === "string" &&
        typeof fields.provider === "string" && fields.latencyMillis >= 0
        ? Construct.make(LanguageModel.Finish, { _tag: "Finish", ...fields, attempts: [] })
        : new LanguageModel.Finish(fields)
    )
  }
}

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/**
 * Maps what the `openai` SDK throws to an `LlmError`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapError = (error: unknown, origin: Origin): LlmError.LlmError => {
  if (error instanceof OpenAI.APIConnectionTimeoutError) return fromTransport("timeout", error, origin)
  if (error instanceof OpenAI.APIUserAbortError || error instanceof OpenAI.APIConnectionError) {
    return fromTransport("network", error, origin)
  }
  if (error instanceof OpenAI.APIError) {
    const body = (error.error ?? {}) as { message?: unknown }
    return fromApiFailure({
      status: error.status,
      type: error.type ?? undefined,
      code: error.code ?? undefined,
      param: error.param ?? undefined,
      message: typeof body.message === "string" ? body.message : error.message,
      headers: error.headers
    }, origin, Date.now())
  }
  return fromTransport("network", error, origin)
}
