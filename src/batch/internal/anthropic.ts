/**
 * Anthropic Message Batches over `@anthropic-ai/sdk`: `messages.batches.create`
 * with (custom_id, params) pairs, `retrieve` to poll, `results` (JSONL, streamed)
 * to read each request's outcome: succeeded, errored, canceled or expired.
 *
 * The request and response mapping mirrors the Anthropic provider's (system
 * prompt, tool results in user turns, `output_config` json_schema, required
 * max_tokens; temperature/top_p/seed dropped for this API version), written here
 * because the provider module does not export its mapping (see docs/routing.md).
 */
import Sdk from "@anthropic-ai/sdk"
import type { ContentBlockParam, Message, MessageCreateParamsNonStreaming, MessageParam } from "@anthropic-ai/sdk/resources/messages/messages"
import { Effect, Either, Stream } from "effect"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import { fromApiFailure, fromTransport, type Origin } from "../../providers/internal/errors.js"
import type { Adapter, Created, Outcome, Progress } from "./adapter.js"

export interface AnthropicOptions {
  readonly client: Sdk
  readonly provider: string
  readonly model: string
  readonly defaultMaxTokens: number
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

const invalid = (origin: Origin, message: string) =>
  new LlmError.InvalidRequest({ ...origin, message, code: "invalid_request", param: "messages" })

/** The Messages API params of a request. */
export const toParams = (
  request: LanguageModel.Request,
  origin: Origin,
  defaultMaxTokens: number
): Either.Either<MessageCreateParamsNonStreaming, LlmError.InvalidRequest> => {
  const system: Array<string> = []
  const out: Array<{ role: "user" | "assistant"; content: Array<ContentBlockParam> }> = []
  const push = (role: "user" | "assistant", blocks: Array<ContentBlockParam>) => {
    const last = out[out.length - 1]
    if (last !== undefined && last.role === role) last.content.push(...blocks)
    else out.push({ role, content: blocks })
  }
  for (const message of request.messages) {
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
          let input: unknown
          try {
            input = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments)
          } catch {
            return Either.left(invalid(origin, "An assistant tool call's arguments are not valid JSON"))
          }
          blocks.push({ type: "tool_use", id: call.id, name: call.name, input })
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
  if (out.length === 0) return Either.left(invalid(origin, "Anthropic needs at least one user message"))
  const params: MessageCreateParamsNonStreaming = {
    model: origin.model,
    max_tokens: request.maxTokens ?? defaultMaxTokens,
    messages: out as Array<MessageParam>
  }
  if (request.stop !== undefined) params.stop_sequences = [...request.stop]
  if (request.tools !== undefined && request.tools.length > 0) {
    params.tools = request.tools.map((tool) => ({
      name: tool.name,
      description: tool.description,
      input_schema: { type: "object" as const, ...tool.parameters },
      ...(tool.strict !== undefined ? { strict: tool.strict } : {})
    }))
  }
  const choice = request.toolChoice
  if (choice !== undefined) {
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
    params.output_config = { format: { type: "json_schema", schema: format.schema as Record<string, unknown> } }
  } else if (format?.type === "json") {
    system.push("Answer with one JSON object and nothing else.")
  }
  if (system.length > 0) params.system = system.join("\n\n")
  return Either.right(params)
}

/** A Messages API answer as a `Response`. */
export const fromMessage = (message: Message, origin: Origin): LanguageModel.Response => {
  let text = ""
  const toolCalls: Array<LanguageModel.ToolCall> = []
  for (const block of message.content) {
    if (block.type === "text") text += block.text
    else if (block.type === "tool_use") {
      toolCalls.push(new LanguageModel.ToolCall({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) }))
    }
  }
  const reason = stopReasons[message.stop_reason ?? ""] ?? "other"
  const usage = message.usage
  const cacheRead = usage.cache_read_input_tokens ?? 0
  const cacheWrite = usage.cache_creation_input_tokens ?? 0
  return new LanguageModel.Response({
    id: message.id,
    text: reason === "refusal" ? "" : text,
    toolCalls,
    finishReason: reason,
    refusal: reason === "refusal" ? (text.length > 0 ? text : "The model refused to answer") : undefined,
    usage: new LanguageModel.Usage({
      inputTokens: (usage.input_tokens ?? 0) + cacheRead + cacheWrite,
      outputTokens: usage.output_tokens ?? 0,
      cachedInputTokens: cacheRead,
      cacheWriteTokens: cacheWrite
    }),
    provider: origin.provider,
    model: message.model || origin.model,
    latencyMillis: 0
  })
}

export const make = (options: AnthropicOptions): Adapter => {
  const { client, provider } = options
  const origin: Origin = { provider, model: options.model }
  const call = <A>(f: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (error) => mapError(error, origin) })
  const modelOf = (request: LanguageModel.Request) => request.model ?? options.model
  const models = new Map<string, string>()

  const progressOf = (batch: Sdk.Messages.Batches.MessageBatch): Progress => {
    const c = batch.request_counts
    return {
      state: batch.processing_status,
      ended: batch.processing_status === "ended",
      total: c.processing + c.succeeded + c.errored + c.canceled + c.expired,
      succeeded: c.succeeded,
      failed: c.errored + c.canceled + c.expired
    }
  }

  const outcomeOf = (line: Sdk.Messages.Batches.MessageBatchIndividualResponse): Outcome => {
    const itemOrigin: Origin = { provider, model: models.get(line.custom_id) ?? options.model }
    const result = line.result
    switch (result.type) {
      case "succeeded":
        return { customId: line.custom_id, result: Either.right(fromMessage(result.message, itemOrigin)) }
      case "errored": {
        const error = result.error.error
        return {
          customId: line.custom_id,
          result: Either.left(fromApiFailure({
            status: statusOf(error.type),
            type: error.type,
            code: undefined,
            message: error.message
          , headers: undefined }, itemOrigin, Date.now()))
        }
      }
      case "expired":
        return {
          customId: line.custom_id,
          result: Either.left(new LlmError.ProviderUnavailable({ ...itemOrigin, kind: "timeout", message: "Batch expired before this request ran" }))
        }
      case "canceled":
        return {
          customId: line.custom_id,
          result: Either.left(new LlmError.ProviderUnavailable({ ...itemOrigin, kind: "server", message: "Batch cancelled before this request ran" }))
        }
    }
  }

  return {
    provider,
    modelOf,
    customIdPattern: /^[a-zA-Z0-9_-]{1,64}$/,
    create: (items) =>
      Effect.gen(function*() {
        const requests: Array<{ custom_id: string; params: MessageCreateParamsNonStreaming }> = []
        for (const { customId, request } of items) {
          const model = modelOf(request)
          models.set(customId, model)
          const params = toParams(request, { provider, model }, options.defaultMaxTokens)
          if (Either.isLeft(params)) return yield* Effect.fail(params.left)
          requests.push({ custom_id: customId, params: params.right })
        }
        const batch = yield* call((signal) => client.messages.batches.create({ requests }, { signal }))
        return { id: batch.id }
      }),
    retrieve: (job: Created) => Effect.map(call((signal) => client.messages.batches.retrieve(job.id, {}, { signal })), progressOf),
    results: (job: Created) =>
      Stream.unwrap(Effect.map(call((signal) => client.messages.batches.results(job.id, {}, { signal })), (decoder) =>
        Stream.fromAsyncIterable(decoder, (error) => mapError(error, origin)).pipe(Stream.map(outcomeOf)))),
    cancel: (job: Created) => Effect.asVoid(call((signal) => client.messages.batches.cancel(job.id, {}, { signal })))
  }
}

/** The HTTP status an error type stands for (batch results carry the type only). */
const statusOf = (type: string): number | undefined => {
  switch (type) {
    case "invalid_request_error":
      return 400
    case "authentication_error":
      return 401
    case "billing_error":
      return 402
    case "permission_error":
      return 403
    case "not_found_error":
      return 404
    case "rate_limit_error":
      return 429
    case "overloaded_error":
      return 529
    case "timeout_error":
      return 504
    default:
      return 500
  }
}
