/**
 * A deterministic `LanguageModel` for tests: answers, stream chunks, usage, latency
 * and failures come from a script, and every request it saw is recorded.
 *
 * Latency uses `Effect.sleep`, so tests drive it with `TestClock`.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Ref, Stream } from "effect"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"

/**
 * One scripted answer. Everything is optional: the default is an empty `stop`
 * answer with usage estimated at four characters a token.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply {
  readonly text?: string
  readonly toolCalls?: ReadonlyArray<{ readonly id?: string; readonly name: string; readonly arguments: unknown }>
  readonly finishReason?: LanguageModel.FinishReason
  readonly refusal?: string
  readonly usage?: Partial<ConstructorParameters<typeof LanguageModel.Usage>[0]>
  /** Overrides the model reported as serving (default: the request's, or the script's). */
  readonly model?: string
  /** Wait before the answer (generate) or before the first event (stream). */
  readonly latency?: Duration.DurationInput
  /** How the text is split into `TextDelta`s when streamed (default: one per word). */
  readonly chunks?: ReadonlyArray<string>
  /** Wait between streamed chunks. */
  readonly chunkDelay?: Duration.DurationInput
  /** Streams only: fail with `error` after `after` text chunks went out. */
  readonly failMidStream?: { readonly after: number; readonly error: LlmError.LlmError }
  /** Streams only: end after `after` text chunks without `Finish` (a dropped stream). */
  readonly dropAfter?: number
}

/**
 * A step of a script: a reply, or a failure (optionally after a delay).
 *
 * @since 0.1.0
 * @category models
 */
export type Step = Reply | LlmError.LlmError | { readonly fail: LlmError.LlmError; readonly latency?: Duration.DurationInput }

/**
 * A script: the steps in call order, or a function of the request and the call's
 * index (from 0).
 *
 * @since 0.1.0
 * @category models
 */
export type Script =
  | ReadonlyArray<Step>
  | ((request: LanguageModel.Request, index: number) => Step | Effect.Effect<Step>)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Reported as the provider (default `scripted`). */
  readonly provider?: string
  /** The default model (default `scripted-model`). */
  readonly model?: string
  /** Further models the stack reports it may call. */
  readonly models?: ReadonlyArray<string>
  /** What an array script does past its end: repeat its last step, or die (default). */
  readonly whenExhausted?: "repeat-last" | "die"
}

/**
 * What a test reads back from a scripted model.
 *
 * @since 0.1.0
 * @category models
 */
export interface Recorder {
  /** Every request, in the order the calls started. */
  readonly requests: Effect.Effect<ReadonlyArray<LanguageModel.Request>>
  /** How many calls started. */
  readonly calls: Effect.Effect<number>
}

/**
 * The recorder of the scripted model in context.
 *
 * @since 0.1.0
 * @category tags
 */
export class ScriptedModel extends Context.Tag("effect-llm/testing/ScriptedModel")<ScriptedModel, Recorder>() {}

const estimateTokens = (text: string): number => Math.ceil(text.length / 4)

const isFailure = (step: Step): step is LlmError.LlmError => LlmError.isLlmError(step)
const isDelayedFailure = (step: Step): step is { readonly fail: LlmError.LlmError; readonly latency?: Duration.DurationInput } =>
  !isFailure(step) && "fail" in step

const splitWords = (text: string): ReadonlyArray<string> => text.match(/\S+\s*|\s+/g) ?? []

/**
 * Builds a scripted model and its recorder.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (script: Script, options: Options = {}): Effect.Effect<{
  readonly service: LanguageModel.Service
  readonly recorder: Recorder
}> =>
  Effect.gen(function*() {
    const provider = options.provider ?? "scripted"
    const defaultModel = options.model ?? "scripted-model"
    const seen = yield* Ref.make<ReadonlyArray<LanguageModel.Request>>([])

    const nextStep = (request: LanguageModel.Request): Effect.Effect<Step> =>
      Effect.flatMap(
        Ref.modify(seen, (requests) => [requests.length, [...requests, request]] as const),
        (index) => {
          if (typeof script === "function") {
            const step = script(request, index)
            return Effect.isEffect(step) ? step : Effect.succeed(step)
          }
          if (index < script.length) return Effect.succeed(script[index]!)
          if (options.whenExhausted === "repeat-last" && script.length > 0) {
            return Effect.succeed(script[script.length - 1]!)
          }
          return Effect.dieMessage(`ScriptedModel: the script has ${script.length} steps; call ${index + 1} has none`)
        }
      )

    const toResponse = (request: LanguageModel.Request, reply: Reply, latencyMillis: number) => {
      const text = reply.text ?? ""
      const inputText = request.messages.map((m) => m.content).join("\n")
      const usage = new LanguageModel.Usage({
        inputTokens: estimateTokens(inputText),
        outputTokens: estimateTokens(text),
        ...reply.usage
      })
      const toolCalls = (reply.toolCalls ?? []).map((call, i) =>
        new LanguageModel.ToolCall({
          id: call.id ?? `call_${i}`,
          name: call.name,
          arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments)
        })
      )
      return new LanguageModel.Response({
        text,
        toolCalls,
        finishReason: reply.finishReason ?? (toolCalls.length > 0 ? "tool_calls" : "stop"),
        refusal: reply.refusal,
        usage,
        provider,
        model: reply.model ?? request.model ?? defaultModel,
        latencyMillis
      })
    }

    const delay = (latency: Duration.DurationInput | undefined) =>
      latency === undefined ? Effect.void : Effect.sleep(latency)

    const generate = (request: LanguageModel.Request) =>
      Effect.flatMap(nextStep(request), (step): Effect.Effect<LanguageModel.Response, LlmError.LlmError> => {
        if (isFailure(step)) return Effect.fail(step)
        if (isDelayedFailure(step)) return Effect.zipRight(delay(step.latency), Effect.fail(step.fail))
        return Effect.as(
          delay(step.latency),
          toResponse(request, step, step.latency === undefined ? 0 : Duration.toMillis(step.latency))
        )
      })

    const streamReply = (request: LanguageModel.Request, reply: Reply) => {
      const response = toResponse(request, reply, 0)
      const pieces = reply.chunks ?? splitWords(response.text)
      const cut = reply.failMidStream?.after ?? reply.dropAfter ?? pieces.length
      const text = Stream.fromIterable(pieces.slice(0, cut)).pipe(
        Stream.map((piece) => new LanguageModel.TextDelta({ text: piece }) as LanguageModel.StreamEvent),
        reply.chunkDelay === undefined ? (s) => s : Stream.tap(() => Effect.sleep(reply.chunkDelay!))
      )
      if (reply.failMidStream !== undefined) return Stream.concat(text, Stream.fail(reply.failMidStream.error))
      if (reply.dropAfter !== undefined) return text
      const rest = LanguageModel.toEvents(response).filter((event) => event._tag !== "TextDelta")
      return Stream.concat(text, Stream.fromIterable(rest))
    }

    const stream = (request: LanguageModel.Request) =>
      Stream.unwrap(
        Effect.map(nextStep(request), (step): Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError> => {
          if (isFailure(step)) return Stream.fail(step)
          if (isDelayedFailure(step)) return Stream.fromEffect(Effect.zipRight(delay(step.latency), Effect.fail(step.fail)))
          return Stream.concat(Stream.execute(delay(step.latency)), streamReply(request, step))
        })
      )

    const service: LanguageModel.Service = {
      models: [defaultModel, ...(options.models ?? [])].map((model) => ({ provider, model })),
      generate,
      stream
    }
    const recorder: Recorder = {
      requests: Ref.get(seen),
      calls: Effect.map(Ref.get(seen), (requests) => requests.length)
    }
    return { service, recorder }
  })

/**
 * A scripted `LanguageModel` and its {@link ScriptedModel} recorder, as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (script: Script, options?: Options): Layer.Layer<LanguageModel.LanguageModel | ScriptedModel> =>
  Layer.effectContext(
    Effect.map(make(script, options), ({ recorder, service }) =>
      Context.make(LanguageModel.LanguageModel, service).pipe(Context.add(ScriptedModel, recorder))
    )
  )
