/**
 * The OpenAI Batch API over the `openai` SDK: the requests are uploaded as a JSONL
 * file (`files.create`, purpose `batch`), a job is created over it for
 * `/v1/chat/completions` (`batches.create`, window 24h), polled
 * (`batches.retrieve`), and its output and error files are read line by line
 * (`files.content`). Request bodies are the provider's own (`OpenAi.toParams`).
 */
import { Effect, Either, Option, Stream } from "effect"
import OpenAI, { toFile } from "openai"
import type { Batch as SdkBatch } from "openai/resources/batches"
import type { ChatCompletion } from "openai/resources/chat/completions"
import * as LanguageModel from "../../LanguageModel.js"
import * as LlmError from "../../LlmError.js"
import { fromCompletion, mapError, toParams } from "../../providers/OpenAi.js"
import { fromApiFailure, type Origin } from "../../providers/internal/errors.js"
import { type Adapter, type Created, lines, type Outcome, type Progress } from "./adapter.js"

export interface OpenAiOptions {
  readonly client: OpenAI
  readonly provider: string
  readonly model: string
  readonly maxTokensField: "max_completion_tokens" | "max_tokens"
}

interface Line {
  readonly custom_id?: string
  readonly response?: { readonly status_code: number; readonly body: unknown } | null
  readonly error?: { readonly code?: string | null; readonly message?: string | null } | null
}

const ENDED = new Set(["completed", "failed", "expired", "cancelled"])

export const make = (options: OpenAiOptions): Adapter => {
  const { client, provider } = options
  const origin: Origin = { provider, model: options.model }
  const call = <A>(f: (signal: AbortSignal) => Promise<A>) =>
    Effect.tryPromise({ try: f, catch: (error) => mapError(error, origin) })
  const modelOf = (request: LanguageModel.Request) => request.model ?? options.model
  const outcomeOf = (line: Line, models: ReadonlyMap<string, string>): Outcome | undefined => {
    if (typeof line.custom_id !== "string") return undefined
    const itemOrigin: Origin = { provider, model: models.get(line.custom_id) ?? options.model }
    if (line.response !== undefined && line.response !== null) {
      const { body, status_code } = line.response
      if (status_code >= 200 && status_code < 300) {
        return { customId: line.custom_id, result: fromCompletion(body as ChatCompletion, itemOrigin, 0) }
      }
      const error = (body as { error?: { message?: string; type?: string; code?: string | null; param?: string | null } } | null)?.error
      return {
        customId: line.custom_id,
        result: Either.left(fromApiFailure({
          status: status_code,
          type: error?.type,
          code: error?.code ?? undefined,
          param: error?.param ?? undefined,
          message: error?.message ?? `The request failed with status ${status_code}`,
          headers: undefined
        }, itemOrigin, Date.now()))
      }
    }
    const code = line.error?.code ?? "unknown"
    const message = line.error?.message ?? "The request failed"
    return {
      customId: line.custom_id,
      result: Either.left(
        code === "batch_expired"
          ? new LlmError.ProviderUnavailable({ ...itemOrigin, kind: "timeout", message: `Batch expired: ${message}` })
          : code === "batch_cancelled"
          ? new LlmError.ProviderUnavailable({ ...itemOrigin, kind: "server", message: `Batch cancelled: ${message}` })
          : new LlmError.InvalidRequest({ ...itemOrigin, code, message })
      )
    }
  }

  const fileLines = (
    fileId: string | null | undefined,
    models: ReadonlyMap<string, string>
  ): Stream.Stream<Outcome, LlmError.LlmError> =>
    fileId === undefined || fileId === null
      ? Stream.empty
      : Stream.unwrap(Effect.map(call((signal) => client.files.content(fileId, { signal })), (response) =>
        Stream.fromAsyncIterable(
          lines(response.body as unknown as AsyncIterable<Uint8Array>),
          (error) => mapError(error, origin)
        ).pipe(
          Stream.mapEffect((text) =>
            Effect.try({
              try: () => JSON.parse(text) as Line,
              catch: () =>
                new LlmError.ProviderUnavailable({ ...origin, kind: "server", message: "A batch result line is not JSON" })
            })
          ),
          Stream.filterMap((line) => Option.fromNullable(outcomeOf(line, models)))
        )))

  const progressOf = (batch: SdkBatch): Progress => {
    const counts = batch.request_counts
    const failure = batch.status === "failed"
      ? new LlmError.InvalidRequest({
        ...origin,
        code: batch.errors?.data?.[0]?.code ?? "batch_failed",
        message: `The batch failed: ${
          (batch.errors?.data ?? []).map((e) => `${e.line !== undefined && e.line !== null ? `line ${e.line}: ` : ""}${e.message ?? e.code}`).join("; ") || "no reason given"
        }`
      })
      : undefined
    return {
      state: batch.status,
      ended: ENDED.has(batch.status),
      total: counts?.total,
      succeeded: counts?.completed ?? 0,
      failed: counts?.failed ?? 0,
      failure
    }
  }

  return {
    provider,
    modelOf,
    customIdPattern: /^.{1,512}$/s,
    create: (items, metadata) =>
      Effect.gen(function*() {
        const jsonl = items.map(({ customId, request }) =>
          JSON.stringify({
            custom_id: customId,
            method: "POST",
            url: "/v1/chat/completions",
            body: toParams(request, modelOf(request), options.maxTokensField)
          })
        ).join("\n") + "\n"
        const file = yield* call((signal) =>
          toFile(Buffer.from(jsonl, "utf8"), "batch-input.jsonl", { type: "application/jsonl" }).then((upload) =>
            client.files.create({ file: upload, purpose: "batch" }, { signal })
          )
        )
        const batch = yield* call((signal) =>
          client.batches.create({
            input_file_id: file.id,
            endpoint: "/v1/chat/completions",
            completion_window: "24h",
            ...(metadata !== undefined ? { metadata: { ...metadata } } : {})
          }, { signal })
        )
        return { id: batch.id, inputFileId: file.id }
      }),
    retrieve: (job: Created) => Effect.map(call((signal) => client.batches.retrieve(job.id, { signal })), progressOf),
    results: (job: Created, models) =>
      Stream.unwrap(Effect.map(call((signal) => client.batches.retrieve(job.id, { signal })), (batch) =>
        Stream.concat(fileLines(batch.output_file_id, models), fileLines(batch.error_file_id, models)))),
    cancel: (job: Created) => Effect.asVoid(call((signal) => client.batches.cancel(job.id, { signal })))
  }
}
