/**
 * Anthropic Message Batches over `@anthropic-ai/sdk`: `messages.batches.create`
 * with (custom_id, params) pairs, `retrieve` to poll, `results` (JSONL, streamed)
 * to read each request's outcome: succeeded, errored, canceled or expired.
 *
 * Requests and answers are mapped by the Anthropic provider's own functions
 * (`toParams` in `native` JSON-schema mode, `fromMessage`, `mapError`).
 */
import Sdk from "@anthropic-ai/sdk"
import type { MessageCreateParamsNonStreaming } from "@anthropic-ai/sdk/resources/messages/messages"
import { Effect, Either, Stream } from "effect"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import { fromMessage, mapError, toParams } from "../../providers/Anthropic.js"
import { fromApiFailure, type Origin } from "../../providers/internal/errors.js"
import type { Adapter, Created, Outcome, Progress } from "./adapter.js"

export interface AnthropicOptions {
  readonly client: Sdk
  readonly provider: string
  readonly model: string
  readonly defaultMaxTokens: number
}

export const make = (options: AnthropicOptions): Adapter => {
  const { client, provider } = options
  const origin: Origin = { provider, model: options.model }
  const call = <A>(f: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (error) => mapError(error, origin) })
  const modelOf = (request: LanguageModel.Request) => request.model ?? options.model

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

  const outcomeOf = (line: Sdk.Messages.Batches.MessageBatchIndividualResponse, models: ReadonlyMap<string, string>): Outcome => {
    const itemOrigin: Origin = { provider, model: models.get(line.custom_id) ?? options.model }
    const result = line.result
    switch (result.type) {
      case "succeeded":
        return { customId: line.custom_id, result: Either.right(fromMessage(result.message, itemOrigin, undefined, 0)) }
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
          const { params } = yield* toParams(request, { provider, model }, "native", options.defaultMaxTokens)
          const { stream: _stream, ...body } = params
          requests.push({ custom_id: customId, params: body })
        }
        const batch = yield* call((signal) => client.messages.batches.create({ requests }, { signal }))
        return { id: batch.id }
      }),
    retrieve: (job: Created) => Effect.map(call((signal) => client.messages.batches.retrieve(job.id, {}, { signal })), progressOf),
    results: (job: Created, models) =>
      Stream.unwrap(Effect.map(call((signal) => client.messages.batches.results(job.id, {}, { signal })), (decoder) =>
        Stream.fromAsyncIterable(decoder, (error) => mapError(error, origin)).pipe(Stream.map((line) => outcomeOf(line, models))))),
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
