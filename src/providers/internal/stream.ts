/**
 * The streaming scaffold both provider adapters share: open the SDK stream with
 * an AbortController closed with the scope, read it, map its items to events, and
 * let the adapter decide at the end whether the stream finished.
 *
 * Why by hand: the stream is one pull stage (`Stream.repeatEffectChunkOption` in the
 * request's scope, as `Stream.fromPull` builds it). Built from Effect's stream
 * operators (`repeatEffectOption` of one item at a time, then `mapConcat`, then
 * `concat` of the ending) it was four channel stages per event: ~150 KB allocated
 * per event.
 *
 * Each pull hands over every event read so far, not one SDK item: a reader
 * (a plain async loop over the SDK's iterator) fills a buffer and a pull takes it
 * whole, waiting only when it is empty. Each chunk is a step of every stream stage
 * of the stack (provider, retry, fallback, breaker, cache, the gateway's pull),
 * and a step of an Effect stream over an async effect is expensive (a 10-item
 * async iterator: ≈ 840 µs CPU through `Stream.repeatEffectOption`, ≈ 45 µs as a
 * plain Effect loop, ≈ 10 µs with `for await`, on the 2-core bench machine). One
 * pull per SDK item cost a streamed call through the bare provider ≈ 4.5 ms CPU
 * against ≈ 3.1 ms now (SDK alone ≈ 1.5 ms; 64 concurrent streams against the
 * simulator, same process). An upstream that sends its events in one burst now
 * arrives as one or two chunks; one that sends a token at a time still gives one
 * chunk a token, as soon as it is read. The waiting pull is woken with
 * `setImmediate`, after the I/O callbacks of the current turn, so the events of
 * one network read are handed over together. The buffer is bounded
 * ({@link highWaterMark} events): the reader waits when the consumer lags.
 *
 * The iterable is read with `next()` rather than `Stream.fromAsyncIterable`, whose
 * `return()` on interruption waits for the pending read: a consumer that stops
 * aborts the request at once (the pending read then fails, unseen).
 */
import { Chunk, Effect, Either, Option, Scope } from "effect"
import type { Timing } from "../../internal/timed.js"
import type * as LanguageModel from "../../LanguageModel.js"
import type * as LlmError from "../../LlmError.js"
import { call } from "./call.js"
import { malformedAnswer, type Origin } from "./errors.js"

/** What an adapter provides to stream one request. */
export interface StreamSpec<A> {
  /** Who answers: named by the failure of an answer that does not fit the model. */
  readonly origin: Origin
  /** Starts the request; the signal aborts it. */
  readonly open: (signal: AbortSignal) => Promise<AsyncIterable<A>>
  /** Maps a failure to start or to read the stream. */
  readonly onError: (error: unknown, phase: "open" | "read") => LlmError.LlmError
  /** The events of one SDK item. */
  readonly events: (item: A) => ReadonlyArray<LanguageModel.StreamEvent>
  /** After the last item: `Finish`, or the failure of an incomplete stream. */
  readonly finish: (latencyMillis: number) => Either.Either<LanguageModel.StreamEvent, LlmError.LlmError>
}

/** Events read ahead of the consumer before the reader waits. */
export const highWaterMark = 256

const end: Effect.Effect<never, Option.Option<never>> = Effect.fail(Option.none())

/**
 * Streams one request through an SDK, as a pull in the current scope. With
 * `timing` (Retry's attempt timeout, see src/internal/timed.ts), the opening and
 * every pull that waits fail with `timing.onTimeout()` after `timing.millis`, the
 * request aborted; the pull after that failure ends the stream.
 */
export const sdkPull = <A>(
  spec: StreamSpec<A>,
  timing?: Timing
): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
  Effect.gen(function*() {
    const controller = new AbortController()
    /** Read to its end (or failed): nothing left to abort. */
    let done = false
    /** The consumer is gone: the reader stops. */
    let closed = false
    /** Wakes the reader waiting for room in the buffer. */
    let room: (() => void) | undefined
    // A stream read to its end leaves nothing to abort: aborting it anyway cost more than
    // reading it (an AbortError with its stack, the SDK's and undici's abort listeners
    // releasing a finished body: ~0.5 ms CPU a stream, profiled with 32 concurrent streams).
    // Into the scope directly: `Effect.addFinalizer` diffs and patches the fiber refs
    // (the whole context) around every finalizer, which this one does not need.
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        closed = true
        room?.()
        if (!done) controller.abort()
      })
    )
    const started = Date.now()
    const items = yield* call(spec.open, (error) => spec.onError(error, "open"), timing, controller)
    const iterator = items[Symbol.asyncIterator]()

    let buffer: Array<LanguageModel.StreamEvent> = []
    /** Set when the reader stops: the stream's failure, or `undefined` for its end. */
    let ending: { readonly failure: LlmError.LlmError | undefined } | undefined
    let waiting: (() => void) | undefined
    let reading = false

    const wake = () => {
      const resume = waiting
      if (resume !== undefined) {
        waiting = undefined
        setImmediate(resume)
      }
    }

    const read = async (): Promise<void> => {
      try {
        while (!closed) {
          if (buffer.length >= highWaterMark) {
            await new Promise<void>((resolve) => (room = resolve))
            room = undefined
            continue
          }
          let result: IteratorResult<A>
          try {
            result = await iterator.next()
          } catch (error) {
            done = true
            if (!closed) ending = { failure: spec.onError(error, "read") }
            return
          }
          if (closed) return
          if (result.done === true) {
            done = true
            const last = spec.finish(Date.now() - started)
            if (Either.isRight(last)) buffer.push(last.right)
            ending = { failure: Either.isLeft(last) ? last.left : undefined }
            return
          }
          const events = spec.events(result.value)
          // An item without events (a role chunk, a ping): read on.
          if (events.length > 0) {
            for (const event of events) buffer.push(event)
            wake()
          }
        }
      } catch (error) {
        // An adapter callback threw: the item does not fit the model (a null id, a
        // count that is not a number). A server fault, typed; the request is aborted.
        if (!closed) ending = { failure: malformedAnswer(error, spec.origin) }
      } finally {
        wake()
      }
    }

    /** The upstream stayed silent too long: the request is aborted and the next pull fails. */
    const timeOut = (timing: Timing) => {
      closed = true
      room?.()
      if (!done) controller.abort()
      ending = { failure: timing.onTimeout() }
    }

    const pull: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> = Effect.suspend(() => {
      if (buffer.length > 0) {
        const chunk = Chunk.unsafeFromArray(buffer)
        buffer = []
        room?.()
        return Effect.succeed(chunk)
      }
      if (ending !== undefined) {
        const failure = ending.failure
        if (failure === undefined) return end
        ending = { failure: undefined }
        return Effect.fail(Option.some(failure))
      }
      if (!reading) {
        reading = true
        void read()
      }
      return Effect.async<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>>((resume) => {
        if (buffer.length > 0 || ending !== undefined) return resume(pull)
        if (timing === undefined) {
          waiting = () => resume(pull)
          return Effect.sync(() => {
            waiting = undefined
          })
        }
        const wait = () => {
          clearTimeout(timer)
          resume(pull)
        }
        // `wake` clears `waiting` before its setImmediate: a timer firing in between is too late.
        const timer = setTimeout(() => {
          if (waiting !== wait) return
          waiting = undefined
          timeOut(timing)
          resume(pull)
        }, timing.millis)
        waiting = wait
        return Effect.sync(() => {
          clearTimeout(timer)
          if (waiting === wait) waiting = undefined
        })
      })
    })
    return pull
  })
