/**
 * A `fetch` for the provider SDKs over `node:http` / `node:https` keep-alive
 * agents: the default transport of the OpenAI, Anthropic and embeddings providers.
 *
 * Why our own: the SDKs call the global `fetch` (undici's), whose spec machinery
 * costs more CPU than everything else a call through the stack does. Against the
 * loopback simulator, 64 calls in flight, CPU in the calling process per call
 * through the `openai` SDK: streamed 1.42–1.68 ms with the global fetch, 1.02–1.11
 * with this one; JSON 1.17–1.27 → 0.74–0.79 ms (see docs/benchmarks-stack.md).
 *
 * It covers what the SDKs send — a string or bytes body (or none) to an http(s) URL
 * — and hands everything else to the global fetch: other bodies (form data, blobs,
 * streamed uploads), `Request` objects and other protocols. A redirect is followed
 * as fetch follows it, its target fetched through the global fetch. The answer
 * is a standard `Response`; its body streams as the bytes arrive, with
 * backpressure, and gzip / deflate / brotli bodies are decoded as fetch decodes
 * them. As with fetch: an aborted signal rejects the call (or errors the body)
 * with the signal's reason and closes the connection; a connection failure
 * rejects with `TypeError("fetch failed")` whose `cause` is the socket error; a
 * string body without a content type is sent as `text/plain;charset=UTF-8`.
 *
 * A connection silent for `inactivityTimeoutMillis` (default 300 s, undici's
 * header and body timeouts) is closed: before the answer the call rejects, after
 * it the body errors. A GET, HEAD, PUT, DELETE or OPTIONS request that meets a
 * connection reset on a reused keep-alive socket before any answer (the server
 * closed it while idle) is sent once more on a new connection, as Node's
 * documentation recommends; a POST never is (the server may have taken it: the
 * `Retry` layer decides).
 *
 * Differences to know: no `accept-encoding` is added (a server answers
 * uncompressed unless the caller asks); a dispatcher installed with undici's
 * `setGlobalDispatcher` (a proxy agent, for instance) is not used — give such a
 * provider the global fetch (`fetch: globalThis.fetch`, or `transport: "fetch"` in
 * a stack file); a status past 599, which a `Response` cannot hold, rejects as a
 * failed fetch.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import * as Https from "node:https"
import type { Readable } from "node:stream"
import * as Zlib from "node:zlib"
import * as Cancel from "./internal/cancel.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Connections kept per host and port, in use or idle (default: no limit, like fetch). */
  readonly maxSockets?: number | undefined
  /**
   * How long an idle keep-alive connection is kept, in milliseconds (default 4000:
   * under the 5 s after which Node servers close theirs, so a request rarely meets
   * a connection closing under it).
   */
  readonly idleTimeoutMillis?: number | undefined
  /**
   * A connection silent this long while a request is in flight (connecting,
   * waiting for the answer, or between body chunks) is closed, in milliseconds
   * (default 300000, as undici's fetch).
   */
  readonly inactivityTimeoutMillis?: number | undefined
}

/** Methods safe to send again after a reset on a reused connection. */
const idempotent = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])

/** Statuses whose answer has no body. */
const nullBodyStatus = new Set([101, 103, 204, 205, 304])
const redirectStatus = new Set([301, 302, 303, 307, 308])

/**
 * Follows a redirect as fetch does (the Fetch standard's HTTP-redirect fetch): a
 * 303, or a 301/302 answering a POST, turns the request into a GET without body;
 * the credentials go only to the same origin; only http(s) targets are followed.
 * The target is fetched with the global fetch, which follows any further redirects
 * itself.
 */
const redirected = (from: URL, to: URL, status: number, init: RequestInit): Promise<Response> => {
  if (to.protocol !== "http:" && to.protocol !== "https:") {
    return Promise.reject(new TypeError("fetch failed", { cause: new Error(`redirected to a ${to.protocol} URL`) }))
  }
  const method = init.method?.toUpperCase() ?? "GET"
  const headers = new Headers(init.headers)
  let body = init.body
  let nextMethod = method
  if ((status === 303 && method !== "GET" && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")) {
    nextMethod = "GET"
    body = null
    for (const name of ["content-type", "content-length", "content-encoding", "content-language", "content-location"]) headers.delete(name)
  }
  if (to.origin !== from.origin) for (const name of ["authorization", "proxy-authorization", "cookie"]) headers.delete(name)
  return globalThis.fetch(to, Cancel.withSignal({ ...init, method: nextMethod, headers, body }, Cancel.cancelOf(init)))
}

/** The reason fetch rejects with when `signal` aborts. */
const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("This operation was aborted", "AbortError")

/** A request body this transport sends itself, as bytes or text; `false` for anything else. */
const bodyOf = (body: RequestInit["body"]): string | Uint8Array | undefined | false => {
  if (body === undefined || body === null) return undefined
  if (typeof body === "string") return body
  if (body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  if (body instanceof URLSearchParams) return body.toString()
  return false
}

/** The decoder of one content coding fetch decodes, or undefined for one it does not. */
const decoderOf = (coding: string): Zlib.Gunzip | Zlib.Inflate | Zlib.BrotliDecompress | undefined => {
  switch (coding.trim().toLowerCase()) {
    case "gzip":
    case "x-gzip":
      return Zlib.createGunzip({ flush: Zlib.constants.Z_SYNC_FLUSH, finishFlush: Zlib.constants.Z_SYNC_FLUSH })
    case "deflate":
      return Zlib.createInflate({ flush: Zlib.constants.Z_SYNC_FLUSH, finishFlush: Zlib.constants.Z_SYNC_FLUSH })
    case "br":
      return Zlib.createBrotliDecompress()
    default:
      return undefined
  }
}

/**
 * The decoders of `content-encoding`, last applied first (`gzip, br` is decoded
 * brotli then gzip); none when it names a coding fetch does not decode (the body
 * then stays as sent, as with fetch).
 */
const decodersOf = (header: string | undefined): ReadonlyArray<Readable & NodeJS.WritableStream> => {
  if (header === undefined) return []
  const codings = header.split(",").filter((c) => c.trim() !== "" && c.trim().toLowerCase() !== "identity").reverse()
  const decoders = codings.map(decoderOf)
  return decoders.every((d) => d !== undefined) ? decoders as ReadonlyArray<Readable & NodeJS.WritableStream> : []
}

/** The answer's body, and how to fail it. */
interface Body {
  readonly stream: ReadableStream<Uint8Array>
  /** Errors the body with `reason` (an abort) unless it has ended. */
  readonly fail: (reason: unknown) => void
}

/**
 * The answer's body as a web stream: pushed as the socket delivers it, paused
 * while more than 64 KB wait for the reader. A connection closed before the end
 * errors it with `TypeError("terminated")` (as fetch does; the cause says why), as
 * does a decoding failure; a body that errors closes its connection.
 */
const webBody = (response: Http.IncomingMessage, source: Readable, settle: () => void): Body => {
  let open = true
  let controller!: ReadableStreamDefaultController<Uint8Array>
  const finish = (error?: unknown) => {
    if (!open) return
    open = false
    settle()
    if (error === undefined) return controller.close()
    controller.error(error)
    response.destroy()
  }
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
      source.on("data", (chunk: Buffer) => {
        if (!open) return
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
        if ((controller.desiredSize ?? 1) <= 0) source.pause()
      })
      source.on("end", () => finish())
      source.on("error", (error) => finish(new TypeError("terminated", { cause: error })))
      response.on("close", () => {
        if (!response.complete) finish(new TypeError("terminated", { cause: new Error("the connection closed before the answer ended") }))
      })
    },
    pull() {
      source.resume()
    },
    cancel() {
      open = false
      settle()
      response.destroy()
    }
  }, { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength })
  return { stream, fail: finish }
}

/**
 * A fetch over its own keep-alive agents (one for http, one for https).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): typeof globalThis.fetch => {
  const agentOptions = {
    keepAlive: true,
    maxSockets: options.maxSockets ?? Infinity,
    // Only idle sockets time out: the agent destroys a free socket on timeout,
    // an answer in progress merely gets a 'timeout' event nobody acts on.
    timeout: options.idleTimeoutMillis ?? 4000
  }
  const inactivity = options.inactivityTimeoutMillis ?? 300_000
  let http: Http.Agent | undefined
  let https: Https.Agent | undefined

  const send = (url: URL, init: RequestInit, body: string | Uint8Array | undefined, headers: Http.OutgoingHttpHeaders, retried: boolean): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined
      // A provider's handle (providers/internal/cancel.ts): aborts as the signal does.
      const cancel = Cancel.cancelOf(init)
      if (signal?.aborted) return reject(abortReason(signal))
      if (cancel?.aborted) return reject(Cancel.abortError())
      const secure = url.protocol === "https:"
      const agent = secure ? (https ??= new Https.Agent(agentOptions)) : (http ??= new Http.Agent(agentOptions))
      let answered = false
      let body_: Body | undefined
      const abortWith = (reason: unknown) => {
        if (body_ !== undefined) return body_.fail(reason)
        request.destroy()
        if (!answered) reject(reason)
      }
      const onAbort = () => abortWith(abortReason(signal!))
      const settle = () => {
        signal?.removeEventListener("abort", onAbort)
        if (cancel !== undefined && cancel.onAbort === abortWith) cancel.onAbort = undefined
      }
      const method = init.method?.toUpperCase() ?? "GET"
      const request = (secure ? Https : Http).request(url, { method, headers, agent }, (response) => {
        answered = true
        try {
          const status = response.statusCode ?? 0
          const location = response.headers.location
          if (redirectStatus.has(status) && location !== undefined && init.redirect !== "manual") {
            settle()
            response.resume()
            if (init.redirect === "error") return reject(new TypeError("fetch failed", { cause: new Error(`redirected to ${location}`) }))
            return resolve(redirected(url, new URL(location, url), status, init))
          }
          const responseHeaders = new Headers()
          const raw = response.rawHeaders
          for (let i = 0; i < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!)
          const head = { status, statusText: response.statusMessage ?? "", headers: responseHeaders }
          if (nullBodyStatus.has(status) || method === "HEAD") {
            settle()
            response.resume()
            return resolve(new Response(null, head))
          }
          let source: Readable = response
          for (const decoder of decodersOf(response.headers["content-encoding"])) {
            const from = source
            from.on("error", (error) => decoder.destroy(error))
            source = from.pipe(decoder)
          }
          body_ = webBody(response, source, settle)
          resolve(new Response(body_.stream, head))
        } catch (error) {
          // A status or header the Response constructor refuses (a status past 599, a header value that is not a byte string)
          settle()
          response.destroy()
          reject(new TypeError("fetch failed", { cause: error }))
        }
      })
      request.on("error", (error: NodeJS.ErrnoException) => {
        if (answered) return // the body's stream reports it
        settle()
        if (signal?.aborted) return reject(abortReason(signal))
        if (cancel?.aborted) return reject(Cancel.abortError())
        if (!retried && request.reusedSocket && error.code === "ECONNRESET" && idempotent.has(method)) {
          return resolve(send(url, init, body, headers, true))
        }
        reject(new TypeError("fetch failed", { cause: error }))
      })
      request.setTimeout(inactivity, () => {
        const silent = Object.assign(new Error(`No data on the connection for ${inactivity} ms`), { code: "ETIMEDOUT" })
        if (body_ !== undefined) body_.fail(new TypeError("terminated", { cause: silent }))
        else request.destroy(silent)
      })
      signal?.addEventListener("abort", onAbort, { once: true })
      if (cancel !== undefined) cancel.onAbort = abortWith
      request.end(body)
    })

  const start = (input: string | URL, init: RequestInit): Promise<Response> => {
    const url = new URL(input)
    const body = bodyOf(init.body)
    if ((url.protocol !== "http:" && url.protocol !== "https:") || body === false) {
      return globalThis.fetch(input, Cancel.withSignal(init, Cancel.cancelOf(init)))
    }
    if (url.username !== "" || url.password !== "") {
      return Promise.reject(new TypeError("Request cannot be constructed from a URL that includes credentials"))
    }
    const headers: Http.OutgoingHttpHeaders = {}
    new Headers(init.headers).forEach((value, name) => {
      headers[name] = value
    })
    if (body !== undefined) {
      if (headers["content-type"] === undefined) {
        if (typeof init.body === "string") headers["content-type"] = "text/plain;charset=UTF-8"
        else if (init.body instanceof URLSearchParams) headers["content-type"] = "application/x-www-form-urlencoded;charset=UTF-8"
      }
      headers["content-length"] = typeof body === "string" ? Buffer.byteLength(body) : body.byteLength
    }
    return send(url, init, body, headers, false)
  }

  return Cancel.register((input, init = {}) => {
    if (typeof input !== "string" && !(input instanceof URL)) return globalThis.fetch(input, Cancel.withSignal(init, Cancel.cancelOf(init)))
    // As fetch: a bad URL or header rejects, it does not throw.
    try {
      return start(input, init)
    } catch (error) {
      return Promise.reject(error instanceof TypeError ? error : new TypeError("fetch failed", { cause: error }))
    }
  })
}

/**
 * The shared instance the providers use by default.
 *
 * @since 0.1.0
 * @category transport
 */
export const fetch: typeof globalThis.fetch = make()
