/**
 * The streaming scaffold both provider adapters share: open the SDK stream with
 * an AbortController closed with the scope, read it, map its items to events, and
 * let the adapter decide at the end whether the stream finished.
 *
 * The iterable is read with `next()` rather than `Stream.fromAsyncIterable`, whose
 * `return()` on interruption waits for the pending read: a consumer that stops
 * would wait for the next chunk before the request is aborted.
 */
import { Effect, Option, Stream } from "effect"
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
  readonly finish: (latencyMillis: number) => Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError>
}

const fromIterable = <A, E>(iterable: AsyncIterable<A>, onError: (error: unknown) => E): Stream.Stream<A, E> =>
  Stream.suspend(() => {
    const iterator = iterable[Symbol.asyncIterator]()
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (error) => Option.some(onError(error)) }).pipe(
        Effect.flatMap((result) => (result.done === true ? Effect.fail(Option.none()) : Effect.succeed(result.value)))
      )
    )
  })

/** Streams one request through an SDK. */
export const sdkStream = <A>(spec: StreamSpec<A>): Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const started = Date.now()
    const items = yield* Effect.tryPromise({
      try: () => spec.open(controller.signal),
      catch: (error) => spec.onError(error, "open")
    })
    return fromIterable(items, (error) => spec.onError(error, "read")).pipe(
      Stream.mapConcat(spec.events),
      Stream.concat(Stream.suspend(() => spec.finish(Date.now() - started)))
    )
  }))
