/**
 * The streaming scaffold both provider adapters share: open the SDK stream with
 * an AbortController closed with the scope, read it, map its items to events, and
 * let the adapter decide at the end whether the stream finished.
 *
 * Why by hand: the stream is one pull stage (`Stream.repeatEffectChunkOption` in the
 * request's scope, as `Stream.fromPull` builds it: each pull reads
 * SDK items until one yields events, and the end yields `Finish` or the failure of
 * an incomplete stream). Built from Effect's stream operators (`repeatEffectOption`
 * of one item at a time, then `mapConcat`, then `concat` of the ending) it was four
 * channel stages per event: ~150 KB allocated per event, about six times the rest
 * of a streamed gateway request (heap sampling under load, provider alone).
 *
 * The iterable is read with `next()` rather than `Stream.fromAsyncIterable`, whose
 * `return()` on interruption waits for the pending read: a consumer that stops
 * would wait for the next chunk before the request is aborted.
 */
import { Chunk, Effect, Either, Option, Stream } from "effect"
import type * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"

/** What an adapter provides to stream one request. */
export interface StreamSpec<A> {
  /** Starts the request; the signal aborts it. */
  readonly open: (signal: AbortSignal) => Promise<AsyncIterable<A>>
  /** Maps a failure to start or to read the stream. */
  readonly onError: (error: unknown, phase: "open" | "read") => LlmError.LlmError
  /** The events of one SDK item. */
  readonly events: (item: A) => ReadonlyArray<LanguageModel.StreamEvent>
  /** After the last item: `Finish`, or the failure of an incomplete stream. */
  readonly finish: (latencyMillis: number) => Either.Either<LanguageModel.StreamEvent, LlmError.LlmError>
}

const end: Effect.Effect<never, Option.Option<never>> = Effect.fail(Option.none())

/** Streams one request through an SDK. */
export const sdkStream = <A>(spec: StreamSpec<A>): Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const controller = new AbortController()
    let done = false
    // A stream read to its end leaves nothing to abort: aborting it anyway cost more than
    // reading it (an AbortError with its stack, the SDK's and undici's abort listeners
    // releasing a finished body: ~0.5 ms CPU a stream, profiled with 32 concurrent streams).
    yield* Effect.addFinalizer(() => (done ? Effect.void : Effect.sync(() => controller.abort())))
    const started = Date.now()
    const items = yield* Effect.tryPromise({
      try: () => spec.open(controller.signal),
      catch: (error) => spec.onError(error, "open")
    })
    const iterator = items[Symbol.asyncIterator]()
    const next = Effect.tryPromise({
      try: () => iterator.next(),
      catch: (error) => Option.some(spec.onError(error, "read"))
    })
    const pull: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> = Effect.suspend(() =>
      done ? end : Effect.flatMap(next, (result) => {
        if (result.done === true) {
          done = true
          const last = spec.finish(Date.now() - started)
          return Either.isRight(last) ? Effect.succeed(Chunk.of(last.right)) : Effect.fail(Option.some(last.left))
        }
        const events = spec.events(result.value)
        // An item without events (a role chunk, a ping): read on rather than emit an empty chunk.
        return events.length === 0 ? pull : Effect.succeed(Chunk.unsafeFromArray(events))
      })
    )
    return Stream.repeatEffectChunkOption(pull)
  }))
