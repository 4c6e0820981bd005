/**
 * The Anthropic provider over the official `@anthropic-ai/sdk` (Messages API,
 * version 2026-10-21).
 *
 * System turns become the `system` prompt; tool results become `tool_result`
 * blocks in a user turn; `max_tokens` is required, so a default applies. This API
 * version has no `temperature`, `top_p` or `seed`: they are dropped with a logged
 * note, never a failure. A JSON-schema response format is sent natively as
 * `output_config.format`, or (mode `tool`) as a forced tool whose input is the
 * answer. `message_delta` usage is cumulative: the last value wins. Errors that
 * arrive as an SSE `error` event after a 200 are classified by `error.type`.
 * The SDK's retries and its own OpenTelemetry spans are off.
 *
 * @since 0.1.0
 */
import Sdk from "@anthropic-ai/sdk"
import type {
  ContentBlockParam,
  Message,
  MessageCreateParamsBase,
  MessageParam,
  RawMessageStreamEvent
} from "@anthropic-ai/sdk/resources/messages/messages"
import { Config, Duration, Effect, Either, Layer, Option, Redacted, type Scope } from "effect"
import * as Construct from "../internal/construct.js"
import * as Timed from "../internal/timed.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as NodeFetch from "./NodeFetch.js"
import { call } from "./internal/call.js"
import { fromApiFailure, fromTransport, malformedAnswer, type Origin } from "./internal/errors.js"
import { sdkPull } from "./internal/stream.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey: Redacted.Redacted<string>
  /** Default `https://api.anthropic.com` (without `/v1`). */
  readonly baseURL?: string | undefined
  /** The model used when a request names none. */
  readonly model: string
  /** Other models requests may name (reported in `models`). */
  readonly models?: ReadonlyArray<string> | undefined
  /** The provider name reported (default `anthropic`). */
  readonly provider?: string | undefined
  /** `max_tokens` when a request sets none (default 4096); the API requires one. */
  readonly defaultMaxTokens?: number | undefined
  /** How a JSON-schema response format is enforced (default `native`). */
  readonly jsonSchemaMode?: "native" | "tool" | undefined
  /** The SDK's timeout until the response headers arrive (default 10 minutes). */
  readonly timeout?: Duration.DurationInput | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The fetch the SDK calls (default {@link NodeFetch.fetch}; `globalThis.fetch` for undici's, e.g. behind a proxy dispatcher). */
  readonly fetch?: typeof globalThis.fetch | undefined
}

const stopReasons: Record<string, LanguageModel.FinishReason> = {
  end_turn: "stop",
  stop_sequence: "stop",
  max_tokens: "length",
  model_context_window_exceeded: "length",
  tool_use: "tool_calls",
  refusal: "refusal",
  pause_turn: "other"
}

/**
 * Builds the provider service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<LanguageModel.Service> =>
  Effect.sync(() => {
    const provider = options.provider ?? "anthropic"
    const client = new Sdk({
      apiKey: Redacted.value(options.apiKey),
      baseURL: options.baseURL,
      maxRetries: 0,
      // An explicit timeout also turns off the SDK's "streaming required" guard for large max_tokens.
      timeout: Duration.toMillis(options.timeout ?? Duration.minutes(10)),
      defaultHeaders: options.headers,
      fetch: options.fetch ?? NodeFetch.fetch,
      openTelemetry: false
    })
    const mode = options.jsonSchemaMode ?? "native"
    const defaultMaxTokens = options.defaultMaxTokens ?? 4096
    let noted = false

    const prepare = (request: LanguageModel.Request) =>
      Effect.gen(function*() {
        const origin: Origin = { provider, model: request.model ?? options.model }
        const dropped = (["temperature", "topP", "seed"] as const).filter((field) => request[field] !== undefined)
        if (dropped.length > 0 && !noted) {
          noted = true
          yield* Effect.logInfo(`Anthropic: ${dropped.join(", ")} not supported by this API version; dropped`)
        }
        const { forced, params } = yield* toParams(request, origin, mode, defaultMaxTokens)
        return { origin, params, forced }
      })

    const generateWithin = (
      request: LanguageModel.Request,
      timing: Timed.Timing | undefined
    ): Effect.Effect<LanguageModel.Response, LlmError.LlmError> =>
      Effect.flatMap(prepare(request), ({ forced, origin, params }) => {
        const started = Date.now()
        return call(
          (signal) => client.messages.create({ ...params, stream: false }, { signal }),
          (error) => mapError(error, origin),
          timing
        ).pipe(Effect.flatMap((message) =>
          Effect.try({
            try: () => fromMessage(message, origin, forced, Date.now() - started),
            catch: (error) => malformedAnswer(error, origin)
          })
        ))
      })

    const generate = Timed.withTimedGenerate((request) => generateWithin(request, undefined), generateWithin)

    // A new state per run: a retry may run the same stream again.
    const streamPullWithin = (
      request: LanguageModel.Request,
      timing: Timed.Timing | undefined
    ): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      Effect.flatMap(prepare(request), ({ forced, origin, params }) => {
        const state = new StreamState(origin, forced)
        return sdkPull({
          origin,
          open: (signal) => client.messages.create({ ...params, stream: true }, { signal }),
          onError: (error, phase) =>
            phase === "read" && !(error instanceof Sdk.APIError) ? fromTransport("stream-interrupted", error, origin) : mapError(error, origin),
          events: (event) => state.events(event),
          finish: (latencyMillis) => state.finish(latencyMillis)
        }, timing)
      })
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
 * `Anthropic.layerConfig({ apiKey: Config.redacted("ANTHROPIC_API_KEY"), model: Config.succeed("claude-sonnet-5-5") })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<LanguageModel.LanguageModel, import("effect/ConfigError").ConfigError> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(Config.unwrap(config), make))

/**
 * The API key and optional base URL from `ANTHROPIC_API_KEY` / `ANTHROPIC_BASE_URL`.
 *
 * @since 0.1.0
 * @category config
 */
export const configFromEnv = (model: string): Config.Config<Options> =>
  Config.all({
    apiKey: Config.redacted("ANTHROPIC_API_KEY"),
    baseURL: Config.option(Config.string("ANTHROPIC_BASE_URL")).pipe(Config.map(Option.getOrUndefined))
  }).pipe(Config.map((c) => ({ ...c, model })))

// -----------------------------------------------------------------------------
// Request mapping
// -----------------------------------------------------------------------------

type Params = MessageCreateParamsBase

const invalid = (origin: Origin, message: string, param?: string) =>
  new LlmError.InvalidRequest({ ...origin, message, code: "invalid_request", param })

const parseArguments = (args: string, origin: Origin): Effect.Effect<unknown, LlmError.InvalidRequest> =>
  Effect.try({
    try: () => (args.trim() === "" ? {} : JSON.parse(args)) as unknown,
    catch: () => invalid(origin, "An assistant tool call's arguments are not valid JSON", "messages")
  })

/** Maps the conversation: system turns to `system`, tool results into user turns. */
const toMessages = (
  messages: ReadonlyArray<LanguageModel.Message>,
  origin: Origin
): Effect.Effect<{ system: string | undefined; messages: Array<MessageParam> }, LlmError.InvalidRequest> =>
  Effect.gen(function*() {
    const system: Array<string> = []
    const out: Array<{ role: "user" | "assistant"; content: Array<ContentBlockParam> }> = []
    const push = (role: "user" | "assistant", blocks: Array<ContentBlockParam>) => {
      const last = out[out.length - 1]
      if (last !== undefined && last.role === role) last.content.push(...blocks)
      else out.push({ role, content: blocks })
    }
    for (const message of messages) {
      switch (message.role) {
        case "system":
          system.push(message.content)
          break
        case "user":
          push("user", [{ type: "text", text: message.content }])
          break
        case "assistant": {
          const blocks: Array<ContentBlockParam> = message.content.length > 0 ? [{ type: "text", text: message.content }] : []
          for (const call of message.toolCalls) {
            blocks.push({ type: "tool_use", id: call.id, name: call.name, input: yield* parseArguments(call.arguments, origin) })
          }
          if (blocks.length > 0) push("assistant", blocks)
          break
        }
        case "tool":
          push("user", [{
            type: "tool_result",
            tool_use_id: message.toolCallId,
            content: message.content,
            ...(message.isError === true ? { is_error: true } : {})
          }])
          break
      }
    }
    if (out.length === 0) return yield* Effect.fail(invalid(origin, "Anthropic needs at least one user message", "messages"))
    return { system: system.length > 0 ? system.join("\n\n") : undefined, messages: out }
  })

/**
 * The Messages API body of a request, and the name of the tool forced to carry a
 * structured answer (mode `tool`). Shared with the `Batch` module.
 *
 * @since 0.1.0
 * @category mapping
 */
export const toParams = (
  request: LanguageModel.Request,
  origin: Origin,
  mode: "native" | "tool",
  defaultMaxTokens: number
): Effect.Effect<{ params: Params; forced: string | undefined }, LlmError.InvalidRequest> =>
  Effect.map(toMessages(request.messages, origin), ({ messages, system }) => {
    let forced: string | undefined
    const params: Params = { model: origin.model, max_tokens: request.maxTokens ?? defaultMaxTokens, messages }
    const systemParts = system === undefined ? [] : [system]
    if (request.stop !== undefined) params.stop_sequences = [...request.stop]
    if (request.tools !== undefined && request.tools.length > 0) {
      params.tools = request.tools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        input_schema: { type: "object" as const, ...tool.parameters },
        ...(tool.strict !== undefined ? { strict: tool.strict } : {})
      }))
    }
    if (request.toolChoice !== undefined) {
      const choice = request.toolChoice
      params.tool_choice = choice === "auto"
        ? { type: "auto" }
        : choice === "none"
        ? { type: "none" }
        : choice === "required"
        ? { type: "any" }
        : { type: "tool", name: choice.tool }
    }
    const format = request.responseFormat
    if (format?.type === "jsonSchema") {
      if (mode === "native") {
        params.output_config = { format: { type: "json_schema", schema: format.schema as Record<string, unknown> } }
      } else {
        params.tools = [...(params.tools ?? []), {
          name: format.name,
          description: format.description ?? "Give the answer as this tool's input.",
          input_schema: { type: "object" as const, ...format.schema }
        }]
        params.tool_choice = { type: "tool", name: format.name }
        forced = format.name
      }
    } else if (format?.type === "json") {
      systemParts.push("Answer with one JSON object and nothing else.")
    }
    if (systemParts.length > 0) params.system = systemParts.join("\n\n")
    return { params, forced }
  })

// -----------------------------------------------------------------------------
// Response mapping
// -----------------------------------------------------------------------------

interface RawUsage {
  readonly input_tokens?: number | null
  readonly output_tokens?: number | null
  readonly cache_creation_input_tokens?: number | null
  readonly cache_read_input_tokens?: number | null
  readonly output_tokens_details?: { readonly thinking_tokens?: number | null } | null
}

const toUsage = (usage: RawUsage): LanguageModel.Usage => {
  const cacheRead = usage.cache_read_input_tokens ?? 0
  const cacheWrite = usage.cache_creation_input_tokens ?? 0
  return new LanguageModel.Usage({
    inputTokens: (usage.input_tokens ?? 0) + cacheRead + cacheWrite,
    outputTokens: usage.output_tokens ?? 0,
    cachedInputTokens: cacheRead,
    cacheWriteTokens: cacheWrite,
    reasoningTokens: usage.output_tokens_details?.thinking_tokens ?? 0
  })
}

const refusalText = (details: { readonly explanation?: string | null } | null | undefined, text: string) =>
  details?.explanation ?? (text.length > 0 ? text : "The model refused to answer")

/**
 * A Messages API answer as a `Response`; `forced` names the structured-output
 * tool whose input is the answer text.
 *
 * @since 0.1.0
 * @category mapping
 */
export const fromMessage = (
  message: Message,
  origin: Origin,
  forced: string | undefined,
  latencyMillis: number
): LanguageModel.Response => {
  let text = ""
  const toolCalls: Array<LanguageModel.ToolCall> = []
  for (const block of message.content) {
    if (block.type === "text") text += block.text
    else if (block.type === "tool_use") {
      if (block.name === forced) text += JSON.stringify(block.input)
      else toolCalls.push(new LanguageModel.ToolCall({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) }))
    }
  }
  const reason = message.stop_reason === "tool_use" && forced !== undefined && toolCalls.length === 0
    ? "stop"
    : stopReasons[message.stop_reason ?? ""] ?? "other"
  return new LanguageModel.Response({
    id: message.id,
    // The text stays on a refusal: a stream has already sent it as deltas, and both
    // paths give the same Response (as OpenAI's keeps `content` next to `refusal`).
    text,
    toolCalls,
    finishReason: reason,
    refusal: reason === "refusal" ? refusalText(message.stop_details, text) : undefined,
    usage: toUsage(message.usage),
    provider: origin.provider,
    model: message.model || origin.model,
    latencyMillis
  })
}

/** What a stream has shown so far; decides whether it finished. */
class StreamState {
  private id: string | undefined
  private model: string | undefined
  private usage: RawUsage = {}
  private stopReason: string | undefined
  private stopDetails: { readonly explanation?: string | null } | null = null
  private stopped = false
  private text = ""
  /** Content block index → tool call index (or -1 for the forced structured-output tool). */
  private readonly tools = new Map<number, number>()
  /** Tool-use content blocks that have received a non-empty `partial_json`. */
  private readonly withInput = new Set<number>()
  constructor(private readonly origin: Origin, private readonly forced: string | undefined) {}

  events(event: RawMessageStreamEvent): ReadonlyArray<LanguageModel.StreamEvent> {
    switch (event.type) {
      case "message_start":
        this.id = event.message.id
        this.model = event.message.model
        this.usage = { ...event.message.usage }
        return []
      case "content_block_start": {
        const block = event.content_block
        if (block.type === "text" && block.text.length > 0) return [this.textDelta(block.text)]
        if (block.type === "tool_use") {
          if (block.name === this.forced) {
            this.tools.set(event.index, -1)
            return []
          }
          const index = [...this.tools.values()].filter((i) => i >= 0).length
          this.tools.set(event.index, index)
          return [new LanguageModel.ToolCallDelta({ index, id: block.id, name: block.name, argumentsDelta: "" })]
        }
        return []
      }
      case "content_block_delta": {
        const delta = event.delta
        if (delta.type === "text_delta") return [this.textDelta(delta.text)]
        if (delta.type === "input_json_delta") {
          const index = this.tools.get(event.index)
          if (delta.partial_json.length > 0) this.withInput.add(event.index)
          if (index === -1) return [this.textDelta(delta.partial_json)]
          if (index !== undefined) return [new LanguageModel.ToolCallDelta({ index, argumentsDelta: delta.partial_json })]
        }
        return []
      }
      case "content_block_stop": {
        // A tool called with no input streams no (or only empty) JSON; `generate`
        // reads the same call's `input: {}` as "{}", so the stream says "{}" too.
        const index = this.tools.get(event.index)
        if (index === undefined || this.withInput.has(event.index)) return []
        this.withInput.add(event.index)
        return index === -1
          ? [this.textDelta("{}")]
          : [new LanguageModel.ToolCallDelta({ index, argumentsDelta: "{}" })]
      }
      case "message_delta": {
        this.stopReason = event.delta.stop_reason ?? this.stopReason
        this.stopDetails = event.delta.stop_details ?? this.stopDetails
        // Cumulative totals: a later value replaces an earlier one; null means "unchanged".
        const next: Record<string, unknown> = { ...this.usage }
        for (const [key, value] of Object.entries(event.usage)) if (value !== null && value !== undefined) next[key] = value
        this.usage = next as RawUsage
        return []
      }
      case "message_stop":
        this.stopped = true
        return []
      default:
        return []
    }
  }

  private textDelta(text: string) {
    this.text += text
    return typeof text === "string"
      ? Construct.make(LanguageModel.TextDelta, { _tag: "TextDelta", text })
      : new LanguageModel.TextDelta({ text })
  }

  finish(latencyMillis: number): Either.Either<LanguageModel.StreamEvent, LlmError.LlmError> {
    if (!this.stopped || this.stopReason === undefined || this.id === undefined) {
      return Either.left(
        new LlmError.ProviderUnavailable({
          ...this.origin,
          kind: "stream-interrupted",
          message: "The stream ended before the model finished"
        })
      )
    }
    const reason = this.stopReason === "tool_use" && this.forced !== undefined &&
        [...this.tools.values()].every((i) => i === -1)
      ? "stop"
      : stopReasons[this.stopReason] ?? "other"
    return Either.right(
      new LanguageModel.Finish({
        id: this.id,
        reason,
        refusal: reason === "refusal" ? refusalText(this.stopDetails, this.text) : undefined,
        usage: toUsage(this.usage),
        provider: this.origin.provider,
        model: this.model ?? this.origin.model,
        latencyMillis
      })
    )
  }
}

// -----------------------------------------------------------------------------
// Errors
// -----------------------------------------------------------------------------

/**
 * Maps what `@anthropic-ai/sdk` throws to an `LlmError`.
 *
 * @since 0.1.0
 * @category mapping
 */
export const mapError = (error: unknown, origin: Origin): LlmError.LlmError => {
  if (error instanceof Sdk.APIConnectionTimeoutError) return fromTransport("timeout", error, origin)
  if (error instanceof Sdk.APIUserAbortError || error instanceof Sdk.APIConnectionError) {
    return fromTransport("network", error, origin)
  }
  if (error instanceof Sdk.APIError) {
    return fromApiFailure({
      status: error.status,
      type: error.type ?? undefined,
      code: error.errorCode ?? undefined,
      message: error.apiMessage ?? error.message,
      headers: error.headers
    }, origin, Date.now())
  }
  return fromTransport("network", error, origin)
}
