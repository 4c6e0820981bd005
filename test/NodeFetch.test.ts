import { getEventListeners } from "node:events"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Zlib from "node:zlib"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Deferred, Effect, Layer, Redacted } from "effect"
import { vi } from "vitest"
import * as LanguageModel from "../src/LanguageModel.js"
import * as Cancel from "../src/providers/internal/cancel.js"
import * as NodeFetch from "../src/providers/NodeFetch.js"
import * as OpenAi from "../src/providers/OpenAi.js"
import * as Stack from "../src/Stack.js"
import * as ProviderSimulator from "../src/testing/ProviderSimulator.js"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
  readonly socket: number
  /** Which request on its connection this is, from 1. */
  readonly nth: number
}

interface Server {
  readonly url: string
  /** Every request, in arrival order. */
  readonly seen: Array<Seen>
  /** The ids of the connections closed so far. */
  readonly closed: Array<number>
}

/** A loopback server for the duration of the scope; connections are numbered from 0. */
const server = (handle: (req: Http.IncomingMessage, res: Http.ServerResponse, seen: Seen) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly http: Http.Server; readonly server: Server }>((resume) => {
      const seen: Array<Seen> = []
      const closed: Array<number> = []
      const ids = new WeakMap<object, number>()
      const served = new Map<number, number>()
      let connections = 0
      const http = Http.createServer((req, res) => {
        let body = ""
        req.setEncoding("utf8")
        req.on("data", (d: string) => (body += d))
        req.on("end", () => {
          const socket = ids.get(req.socket)!
          served.set(socket, (served.get(socket) ?? 0) + 1)
          const entry = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, socket, nth: served.get(socket)! }
          seen.push(entry)
          handle(req, res, entry)
        })
      })
      http.on("connection", (socket) => {
        const id = connections++
        ids.set(socket, id)
        socket.on("close", () => closed.push(id))
      })
      http.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({ http, server: { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`, seen, closed } })))
    }),
    ({ http }) =>
      Effect.async<void>((resume) => {
        http.closeAllConnections()
        http.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ server }) => server))

const fetchWith = NodeFetch.make()
const configWithKey = ConfigProvider.fromMap(new Map([["OPENAI_API_KEY", "sk-test"]]))
const text = (response: Response) => Effect.promise(() => response.text())
const call = (url: string, init?: RequestInit) => Effect.promise(() => fetchWith(url, init))
const failure = (url: string, init?: RequestInit) => Effect.promise(() => fetchWith(url, init).then(() => undefined, (e: unknown) => e))

describe("NodeFetch", () => {
  it.scoped("a POST carries its method, headers, body and length; the answer's status, headers and body come back", () =>
    Effect.gen(function*() {
      const srv = yield* server((_req, res) => {
        res.writeHead(201, "Made", { "content-type": "application/json", "x-request-id": "req_1" })
        res.end("{\"ok\":true}")
      })
      const response = yield* call(`${srv.url}/v1/chat?x=1`, {
        method: "post",
        headers: { "content-type": "application/json", authorization: "Bearer k" },
        body: "{\"q\":\"é\"}"
      })
      expect(response.status).toBe(201)
      expect(response.statusText).toBe("Made")
      expect(response.ok).toBe(true)
      expect(response.headers.get("x-request-id")).toBe("req_1")
      expect(yield* Effect.promise(() => response.json())).toEqual({ ok: true })
      const [seen] = srv.seen
      expect(seen).toMatchObject({ method: "POST", url: "/v1/chat?x=1", body: "{\"q\":\"é\"}" })
      expect(seen!.headers).toMatchObject({ "content-type": "application/json", authorization: "Bearer k", "content-length": "10" })
    }))

  it.scoped("bodies: a string without a type is text/plain, URLSearchParams form-encoded, bytes as they are; no body, no length", () =>
    Effect.gen(function*() {
      const srv = yield* server((_req, res) => res.end("ok"))
      yield* call(srv.url, { method: "POST", body: "plain" })
      yield* call(srv.url, { method: "POST", body: new URLSearchParams({ a: "1 2" }) })
      yield* call(srv.url, { method: "PUT", body: new TextEncoder().encode("bytes") })
      yield* call(srv.url)
      expect(srv.seen.map((s) => [s.method, s.headers["content-type"], s.headers["content-length"], s.body])).toEqual([
        ["POST", "text/plain;charset=UTF-8", "5", "plain"],
        ["POST", "application/x-www-form-urlencoded;charset=UTF-8", "5", "a=1+2"],
        ["PUT", undefined, "5", "bytes"],
        ["GET", undefined, undefined, ""]
      ])
    }))

  it.scoped("a body streams: the first part is readable before the server has sent the rest", () =>
    Effect.gen(function*() {
      const rest = yield* Deferred.make<void>()
      const srv = yield* server((_req, res) => {
        res.writeHead(200, { "content-type": "text/event-stream" })
        res.write("data: one\n\n")
        Effect.runFork(Effect.andThen(Deferred.await(rest), () => res.end("data: two\n\n")))
      })
      const response = yield* call(srv.url, { method: "POST", body: "{}" })
      const reader = response.body!.getReader()
      const first = yield* Effect.promise(() => reader.read())
      expect(new TextDecoder().decode(first.value)).toBe("data: one\n\n")
      yield* Deferred.succeed(rest, undefined)
      const second = yield* Effect.promise(() => reader.read())
      expect(new TextDecoder().decode(second.value)).toBe("data: two\n\n")
      expect((yield* Effect.promise(() => reader.read())).done).toBe(true)
    }))

  it.scoped("an abort before the answer rejects with the signal's reason and closes the connection", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const srv = yield* server(() => Effect.runFork(Deferred.succeed(arrived, undefined)))
      const controller = new AbortController()
      const pending = Effect.runPromise(failure(srv.url, { method: "POST", body: "{}", signal: controller.signal }))
      yield* Deferred.await(arrived)
      controller.abort()
      const error = yield* Effect.promise(() => pending)
      expect(error).toBeInstanceOf(DOMException)
      expect((error as DOMException).name).toBe("AbortError")
      const reason = new Error("mine")
      const already = new AbortController()
      already.abort(reason)
      expect(yield* failure(srv.url, { signal: already.signal })).toBe(reason)
      expect(srv.seen).toHaveLength(1) // the pre-aborted call never connected
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toEqual([0])))
    }))

  it.scoped("an abort mid-body errors the body with the reason and closes the connection", () =>
    Effect.gen(function*() {
      const srv = yield* server((_req, res) => {
        res.writeHead(200)
        res.write("part")
      })
      const controller = new AbortController()
      const response = yield* call(srv.url, { signal: controller.signal })
      const reader = response.body!.getReader()
      expect(new TextDecoder().decode((yield* Effect.promise(() => reader.read())).value)).toBe("part")
      const reason = new Error("stop")
      controller.abort(reason)
      expect(yield* Effect.promise(() => reader.read().then(() => undefined, (e: unknown) => e))).toBe(reason)
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toEqual([0])))
    }))

  // The providers' handle (providers/internal/cancel.ts) stands for an AbortSignal: each case above, through it.
  it.scoped("a cancel handle in the init aborts as a signal does: before sending, before the answer, mid-body; none is left attached", () =>
    Effect.gen(function*() {
      const arrived = yield* Deferred.make<void>()
      const srv = yield* server((req, res) => {
        if (req.url === "/hang") return Effect.runFork(Deferred.succeed(arrived, undefined))
        if (req.url === "/moved") return res.writeHead(307, { location: "/hang" }).end()
        res.writeHead(200)
        if (req.url === "/part") return res.write("part")
        res.end("whole")
      })
      const init = (cancel: Cancel.Cancel, extra: RequestInit = {}): RequestInit => ({ ...extra, ...Cancel.fetchOptions(cancel) })
      expect(Cancel.isCancellable(fetchWith)).toBe(true)
      expect(Cancel.isCancellable(NodeFetch.fetch)).toBe(true)
      expect(Cancel.isCancellable(globalThis.fetch)).toBe(false)

      const already = Cancel.make()
      already.abort()
      const refused = yield* failure(srv.url, init(already))
      expect([refused instanceof DOMException, (refused as DOMException).name]).toEqual([true, "AbortError"])
      expect(srv.seen).toHaveLength(0) // never connected

      const waiting = Cancel.make()
      const pending = Effect.runPromise(failure(`${srv.url}/hang`, init(waiting, { method: "POST", body: "{}" })))
      yield* Deferred.await(arrived)
      waiting.abort()
      const error = yield* Effect.promise(() => pending)
      expect([error instanceof DOMException, (error as DOMException).name]).toEqual([true, "AbortError"])
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toEqual([0])))

      const reading = Cancel.make()
      const response = yield* call(`${srv.url}/part`, init(reading))
      const reader = response.body!.getReader()
      expect(new TextDecoder().decode((yield* Effect.promise(() => reader.read())).value)).toBe("part")
      reading.abort()
      const cut = yield* Effect.promise(() => reader.read().then(() => undefined, (e: unknown) => e))
      expect((cut as DOMException).name).toBe("AbortError")
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toEqual([0, 1])))

      // A request that ended lets go of its handle; aborting afterwards touches nothing.
      const done = Cancel.make()
      expect(yield* Effect.flatMap(call(`${srv.url}/whole`, init(done)), text)).toBe("whole")
      expect(done.onAbort).toBeUndefined()
      done.abort()

      // A redirect is fetched by the global fetch: the handle aborts it too.
      const redirected = Cancel.make()
      const following = Effect.runPromise(failure(`${srv.url}/moved`, init(redirected)))
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.seen.filter((s) => s.url === "/hang")).toHaveLength(2)))
      redirected.abort()
      expect(((yield* Effect.promise(() => following)) as DOMException).name).toBe("AbortError")
    }))

  it.scoped("a connection cut mid-body errors the body (terminated); a refused one rejects with TypeError whose cause says why", () =>
    Effect.gen(function*() {
      const srv = yield* server((req, res) => {
        res.writeHead(200, { "content-length": "100" })
        res.write("short", () => req.socket.destroy())
      })
      const response = yield* call(srv.url)
      const error = yield* Effect.promise(() => response.text().then(() => undefined, (e: unknown) => e))
      expect(error).toBeInstanceOf(TypeError)
      expect((error as TypeError).message).toBe("terminated")

      const refused = yield* failure("http://127.0.0.1:9/v1")
      expect(refused).toBeInstanceOf(TypeError)
      expect((refused as TypeError).message).toBe("fetch failed")
      expect(((refused as TypeError).cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED")
    }))

  it.scoped("gzip, deflate and brotli answers are decoded; 204 has no body", () =>
    Effect.gen(function*() {
      const payload = "the same text ".repeat(50)
      const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: Zlib.gzipSync, deflate: Zlib.deflateSync, br: Zlib.brotliCompressSync }
      const srv = yield* server((req, res) => {
        const coding = req.url!.slice(1)
        if (coding === "none") return res.writeHead(204).end()
        res.writeHead(200, { "content-encoding": coding })
        res.end(encoders[coding]!(Buffer.from(payload)))
      })
      for (const coding of ["gzip", "deflate", "br"]) expect(yield* Effect.flatMap(call(`${srv.url}/${coding}`), text)).toBe(payload)
      const empty = yield* call(`${srv.url}/none`)
      expect(empty.status).toBe(204)
      expect(empty.body).toBeNull()
    }))

  it.scoped("redirects: 301 turns a POST into a GET; redirect \"error\" rejects; a target on another origin gets no credentials; a non-http target is refused", () =>
    Effect.gen(function*() {
      const other = yield* server((req, res) => res.end(`other ${req.url}`))
      const srv = yield* server((req, res) => {
        if (req.url === "/moved") return res.writeHead(301, { location: "/here" }).end()
        if (req.url === "/away") return res.writeHead(302, { location: `${other.url}/there` }).end()
        if (req.url === "/data") return res.writeHead(302, { location: "data:application/json,{\"id\":\"forged\"}" }).end()
        res.end(`at ${req.url}`)
      })
      expect(yield* Effect.flatMap(call(`${srv.url}/moved`, { method: "POST", body: "x" }), text)).toBe("at /here")
      expect(srv.seen.map((s) => [s.method, s.url, s.body])).toEqual([["POST", "/moved", "x"], ["GET", "/here", ""]])
      expect(yield* failure(`${srv.url}/moved`, { redirect: "error" })).toBeInstanceOf(TypeError)
      const auth = { authorization: "Bearer secret", cookie: "a=1", "x-keep": "yes" }
      expect(yield* Effect.flatMap(call(`${srv.url}/away`, { headers: auth }), text)).toBe("other /there")
      expect(other.seen[0]!.headers).toMatchObject({ "x-keep": "yes" })
      expect(other.seen[0]!.headers.authorization).toBeUndefined()
      expect(other.seen[0]!.headers.cookie).toBeUndefined()
      expect(yield* failure(`${srv.url}/data`)).toBeInstanceOf(TypeError)
    }))

  it.effect("bad input rejects as fetch does, it does not throw: a bad URL, a bad header, credentials in the URL", () =>
    Effect.gen(function*() {
      expect(yield* failure("not a url")).toBeInstanceOf(TypeError)
      expect(yield* failure("http://127.0.0.1:9/", { headers: { "x-bad": "line\nbreak" } })).toBeInstanceOf(TypeError)
      expect(yield* failure("http://user:pass@127.0.0.1:9/")).toBeInstanceOf(TypeError)
    }))

  it.scoped("redirects are followed as fetch follows them (307 keeps the POST, 303 turns it into a GET); a form-data body goes through the global fetch", () =>
    Effect.gen(function*() {
      const srv = yield* server((req, res) => {
        if (req.url === "/old") return res.writeHead(307, { location: "/new" }).end()
        if (req.url === "/post") return res.writeHead(303, { location: "/result" }).end()
        res.end(`at ${req.url}`)
      })
      expect(yield* Effect.flatMap(call(`${srv.url}/old`, { method: "POST", body: "x" }), text)).toBe("at /new")
      expect(yield* Effect.flatMap(call(`${srv.url}/post`, { method: "POST", body: "y", headers: { "content-type": "text/plain" } }), text)).toBe("at /result")
      const manual = yield* call(`${srv.url}/old`, { redirect: "manual" })
      expect([manual.status, manual.headers.get("location")]).toEqual([307, "/new"])
      const form = new FormData()
      form.append("purpose", "batch")
      expect(yield* Effect.flatMap(call(`${srv.url}/upload`, { method: "POST", body: form }), text)).toBe("at /upload")
      expect(srv.seen.map((s) => [s.method, s.url, s.body, s.headers["content-type"]])).toEqual([
        ["POST", "/old", "x", "text/plain;charset=UTF-8"],
        ["POST", "/new", "x", "text/plain;charset=UTF-8"],
        ["POST", "/post", "y", "text/plain"],
        ["GET", "/result", "", undefined],
        ["GET", "/old", "", undefined],
        ["POST", "/upload", expect.stringContaining("name=\"purpose\""), expect.stringMatching(/^multipart\/form-data; boundary=/)]
      ])
    }))

  it.scoped("a reset on a reused connection before any answer: a GET is sent once more on a new one, a POST never (the server may have taken it); on a new connection neither", () =>
    Effect.gen(function*() {
      // Every connection's second request is reset unanswered (the server read it).
      const srv = yield* server((req, res, seen) => (seen.nth === 2 ? req.socket.destroy() : res.end(`socket ${seen.socket}`)))
      expect(yield* Effect.flatMap(call(srv.url), text)).toBe("socket 0")
      expect(yield* Effect.flatMap(call(srv.url), text)).toBe("socket 1")
      const post = yield* failure(srv.url, { method: "POST", body: "charge me" })
      expect(post).toBeInstanceOf(TypeError)
      expect(((post as TypeError).cause as NodeJS.ErrnoException).code).toBe("ECONNRESET")
      expect(srv.seen.map((s) => [s.method, s.socket, s.nth])).toEqual([["GET", 0, 1], ["GET", 0, 2], ["GET", 1, 1], ["POST", 1, 2]])

      const fresh = yield* server((req) => req.socket.destroy())
      expect(yield* failure(fresh.url)).toBeInstanceOf(TypeError)
      expect(fresh.seen).toHaveLength(1)
    }))

  it.scoped("a body that cannot be decoded errors (terminated) and closes its connection", () =>
    Effect.gen(function*() {
      const srv = yield* server((_req, res) => {
        res.writeHead(200, { "content-encoding": "gzip" })
        res.write(Buffer.from("this is not gzip at all"))
      })
      const response = yield* call(srv.url)
      const error = yield* Effect.promise(() => response.text().then(() => undefined, (e: unknown) => e))
      expect((error as TypeError).message).toBe("terminated")
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toEqual([0])))
    }))

  it.scoped("a large body read slowly arrives whole (gzip too); cancelling a body closes its connection; no abort listener stays behind", () =>
    Effect.gen(function*() {
      const big = Buffer.alloc(3 * 1024 * 1024, "0123456789abcdef")
      const srv = yield* server((req, res) => {
        if (req.url === "/gzip") return res.writeHead(200, { "content-encoding": "gzip" }).end(Zlib.gzipSync(big))
        res.end(big)
      })
      const controller = new AbortController()
      for (const path of ["/plain", "/gzip"]) {
        const response = yield* call(`${srv.url}${path}`, { signal: controller.signal })
        const reader = response.body!.getReader()
        let length = 0
        for (;;) {
          // a slow reader: the socket is paused while 64 KB wait
          yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
          const { done, value } = yield* Effect.promise(() => reader.read())
          if (done) break
          length += value.byteLength
        }
        expect(length).toBe(big.length)
      }
      const cancelled = yield* call(`${srv.url}/plain`, { signal: controller.signal })
      yield* Effect.promise(() => cancelled.body!.cancel())
      yield* Effect.promise(() => vi.waitFor(() => expect(srv.closed).toHaveLength(1)))
      expect(getEventListeners(controller.signal, "abort")).toHaveLength(0)
    }))

  it.scoped("a connection silent for the inactivity timeout is closed: before the answer the call rejects, after it the body errors", () =>
    Effect.gen(function*() {
      // A socket timer: real time, kept short.
      const quick = NodeFetch.make({ inactivityTimeoutMillis: 30 })
      const srv = yield* server((req, res) => {
        if (req.url === "/body") {
          res.writeHead(200)
          res.write("first")
        }
      })
      const before = yield* Effect.promise(() => quick(`${srv.url}/head`).then(() => undefined, (e: unknown) => e))
      expect((before as TypeError).message).toBe("fetch failed")
      expect(((before as TypeError).cause as NodeJS.ErrnoException).code).toBe("ETIMEDOUT")
      const response = yield* Effect.promise(() => quick(`${srv.url}/body`))
      const after = yield* Effect.promise(() => response.text().then(() => undefined, (e: unknown) => e))
      expect((after as TypeError).message).toBe("terminated")
    }))

})

describe("NodeFetch under the providers", () => {
  it.scoped("the OpenAI provider calls through it by default, never the global fetch; a stack file's transport: fetch uses the global one", () =>
    Effect.gen(function*() {
      const sim = yield* ProviderSimulator.make()
      const global = vi.spyOn(globalThis, "fetch")
      yield* Effect.addFinalizer(() => Effect.sync(() => global.mockRestore()))
      const request = yield* LanguageModel.decodeRequest({ messages: [{ role: "user", content: "hi" }] })
      const lm = yield* OpenAi.make({ apiKey: Redacted.make("sk-test"), baseURL: sim.openaiBaseURL, model: "gpt-4.1-mini" })
      yield* sim.enqueue("openai", { text: "by node" })
      expect((yield* lm.generate(request)).text).toBe("by node")
      expect(global).not.toHaveBeenCalled()

      const stack = Stack.layer({ providers: { main: { type: "openai", model: "gpt-4.1-mini", baseURL: sim.openaiBaseURL, retry: false, transport: "fetch" } } })
      yield* sim.enqueue("openai", { text: "by fetch" })
      const answer = yield* LanguageModel.generate(request).pipe(
        Effect.provide(stack.pipe(Layer.provide(Layer.setConfigProvider(configWithKey))))
      )
      expect(answer.text).toBe("by fetch")
      expect(global).toHaveBeenCalledTimes(1)
    }))
})
