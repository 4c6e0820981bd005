/**
 * Reads an SDK's async iterable as a Stream without calling its `return()` on
 * interruption: `return()` waits for the pending read, so a consumer that stops
 * would wait for the next chunk before the request is aborted. The adapters abort
 * the request themselves (an AbortController closed with the scope).
 */
import { Effect, Option, Stream } from "effect"

export const fromIterable = <A, E>(iterable: AsyncIterable<A>, onError: (error: unknown) => E): Stream.Stream<A, E> =>
  Stream.suspend(() => {
    const iterator = iterable[Symbol.asyncIterator]()
    return Stream.repeatEffectOption(
      Effect.tryPromise({ try: () => iterator.next(), catch: (error) => Option.some(onError(error)) }).pipe(
        Effect.flatMap((result) => (result.done === true ? Effect.fail(Option.none()) : Effect.succeed(result.value)))
      )
    )
  })
