/**
 * Cancelling a request sent through NodeFetch without an `AbortSignal` of ours.
 *
 * Why: an `AbortController` per call whose signal goes to the SDK (which adds a
 * listener to it, linked to the SDK's own controller) cost 8-16 µs CPU a call in
 * process through the `openai` SDK, measured against this (creating an
 * `AbortSignal` and adding a listener to it are the expensive parts of Node's
 * `EventTarget`). A {@link Cancel} is a plain object: the provider hands it to the SDK as
 * a `fetchOptions` entry under {@link cancelKey} (the SDK passes `fetchOptions` on
 * to fetch as they are), and NodeFetch, finding it in its `init`, aborts the
 * request through it exactly as through the signal: before the request is sent,
 * while waiting for the answer, or while its body is read.
 *
 * Only NodeFetch's own fetches know the key ({@link isCancellable}); a provider
 * given any other fetch passes a signal as before.
 *
 * What the SDK sees differs in one way: with no signal of ours aborted, it takes
 * the aborted fetch for a timeout. The call has settled by then (nothing reaches
 * the caller, nothing is retried: the client's `maxRetries` is 0), but with
 * `OPENAI_LOG=info` or `debug` the SDK logs a cancelled call as "connection timed
 * out".
 */

/** The `RequestInit` key NodeFetch reads a {@link Cancel} from. */
export const cancelKey: unique symbol = Symbol("effect-llm/NodeFetch/cancel")

/** The reason fetch rejects with when a request is aborted without a reason of its own. */
export const abortError = (): DOMException => new DOMException("This operation was aborted", "AbortError")

/** Stops one request, as `AbortController.abort()` does through its signal. */
export interface Cancel {
  aborted: boolean
  /** NodeFetch's abort of the request in flight, while there is one. */
  onAbort: ((reason: unknown) => void) | undefined
  readonly abort: () => void
}

function abort(this: Cancel): void {
  if (this.aborted) return
  this.aborted = true
  const onAbort = this.onAbort
  this.onAbort = undefined
  onAbort?.(abortError())
}

/** A fresh handle (for `callWith`): an object literal, not a class (class fields are defined one by one, ~1.5 µs). */
export const make = (): Cancel => ({ aborted: false, onAbort: undefined, abort })

const cancellable = new WeakSet<typeof globalThis.fetch>()

/** Marks `fetch` as reading {@link cancelKey}; returns it. */
export const register = (fetch: typeof globalThis.fetch): typeof globalThis.fetch => {
  cancellable.add(fetch)
  return fetch
}

/** Whether `fetch` honours a {@link Cancel} in its `init`. */
export const isCancellable = (fetch: typeof globalThis.fetch): boolean => cancellable.has(fetch)

/**
 * The SDK's `fetchOptions` carrying `cancel` under {@link cancelKey} (typed as no
 * `RequestInit` field: the SDKs' option types know no symbol keys).
 */
export const fetchOptions = (cancel: Cancel): Record<never, never> => ({ [cancelKey]: cancel })

/** The handle in a fetch's `init`, if any. */
export const cancelOf = (init: RequestInit): Cancel | undefined => (init as { readonly [cancelKey]?: Cancel })[cancelKey]

/**
 * `init` for a fetch that does not read {@link cancelKey} (the global fetch NodeFetch
 * hands a redirect or an unsupported request to): its signal also aborts when
 * `cancel` does.
 */
export const withSignal = (init: RequestInit, cancel: Cancel | undefined): RequestInit => {
  if (cancel === undefined) return init
  const controller = new AbortController()
  if (cancel.aborted) controller.abort(abortError())
  else cancel.onAbort = (reason) => controller.abort(reason)
  const signal = init.signal ? AbortSignal.any([init.signal, controller.signal]) : controller.signal
  return { ...init, signal }
}
