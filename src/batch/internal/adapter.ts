/**
 * What a provider batch API must offer the `Batch` module: create a job from
 * (custom id, request) pairs, read its status, stream its per-request outcomes,
 * cancel it. Outcomes are uncosted and unmatched; `Batch` matches them to their
 * requests and prices them.
 */
import type { Effect, Either, Stream } from "effect"
import type * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"

/** A submitted job as the provider knows it. */
export interface Created {
  readonly id: string
  /** OpenAI: the uploaded JSONL input file. */
  readonly inputFileId?: string | undefined
}

/** The provider's view of a job's progress. */
export interface Progress {
  /** The provider's own status word (`in_progress`, `completed`, `ended`...). */
  readonly state: string
  /** Results can be read (the job ended, whatever the outcome of its requests). */
  readonly ended: boolean
  readonly total: number | undefined
  readonly succeeded: number
  readonly failed: number
  /** The whole job failed (OpenAI validation): no per-request results. */
  readonly failure?: LlmError.LlmError | undefined
}

/** One outcome line, before matching. */
export interface Outcome {
  readonly customId: string
  readonly result: Either.Either<LanguageModel.Response, LlmError.LlmError>
}

export interface Adapter {
  readonly provider: string
  /** The model a request is sent to (its own, or the adapter's default). */
  readonly modelOf: (request: LanguageModel.Request) => string
  readonly create: (
    items: ReadonlyArray<{ readonly customId: string; readonly request: LanguageModel.Request }>,
    metadata: Readonly<Record<string, string>> | undefined
  ) => Effect.Effect<Created, LlmError.LlmError>
  readonly retrieve: (job: Created) => Effect.Effect<Progress, LlmError.LlmError>
  /**
   * Outcomes in the provider's order; items without a line are the caller's to
   * report. `models` maps this job's custom ids to the models they were sent to
   * (errors name it): it belongs to the job, since ids repeat across jobs.
   */
  readonly results: (job: Created, models: ReadonlyMap<string, string>) => Stream.Stream<Outcome, LlmError.LlmError>
  readonly cancel: (job: Created) => Effect.Effect<void, LlmError.LlmError>
  /** Custom ids the API accepts. */
  readonly customIdPattern: RegExp
}

/** Splits a byte stream into text lines (for JSONL bodies). */
export async function* lines(body: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buffered = ""
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true })
    let newline = buffered.indexOf("\n")
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line.length > 0) yield line
      newline = buffered.indexOf("\n")
    }
  }
  buffered += decoder.decode()
  if (buffered.trim().length > 0) yield buffered.trim()
}
