/**
 * An OpenAI-compatible HTTP gateway in front of a `LanguageModel` stack, so
 * clients in any language get the same retries, limits, budgets, caches and
 * guards: `POST /v1/chat/completions` (JSON and SSE), `GET /v1/models`,
 * `GET /healthz`, `GET /metrics`.
 *
 * Gateway API keys map to tenants; the tenant goes into every request's metadata,
 * so budgets, rate limits and cache namespaces are per tenant. Errors are
 * OpenAI-shaped with the matching status (429 with `retry-after` for rate limits
 * and budgets; `x-should-retry: false` where waiting cannot help soon). A client
 * that disconnects interrupts the upstream call. Bodies over the size limit get
 * 413 before they are read.
 *
 * Two ways in, one behaviour. `layer` serves on `@effect/platform-node`'s
 * HttpServer (its listening, address and graceful close), but answers on the
 * Node request listener directly: routing, the key check, reading and parsing the
 * body and writing the answer are plain synchronous code, and only the work that
 * needs Effect (the model call, the SSE stream) runs in a fiber, one per request,
 * forked on the layer's runtime. The platform's router, request/response wrappers
 * and per-request `http.server` span cost more than the rest of the gateway put
 * together (profiled: ~1.3 ms of CPU per request over a zero-latency model, which
 * capped a 2-core machine at ~900 requests/s before the model was even called). A
 * W3C `traceparent` header still parents the stack's spans. `make` gives the same
 * gateway as an `HttpApp` (a router) for mounting in an existing
 * `@effect/platform` server.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http"
import {
  Headers as HttpHeaders,
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse,
  HttpTraceContext
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Cause, Chunk, Effect, Exit, FiberId, Layer, Option, Redacted, Runtime, Schema, Scope, Stream } from "effect"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Prometheus from "../telemetry/Prometheus.js"
import * as Wire from "./OpenAiWire.js"

/**
 * A gateway API key and the tenant it belongs to.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApiKey {
  readonly key: Redacted.Redacted<string>
  readonly tenant: string
}

/**
 * Gateway API keys that cannot each identify one tenant: a key configured for
 * several tenants (whichever came first would silently win), or an empty key.
 * `tenants` and the message name the tenants, never the key.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidKeys extends Schema.TaggedError<InvalidKeys>("effect-llm/GatewayInvalidKeys")("InvalidKeys", {
  /** The tenants whose keys are in question. */
  tenants: Schema.Array(Schema.String),
  message: Schema.String
}) {}

/**
 * The keys as the gateway matches them: trimmed like a presented key is, each one
 * for a single tenant (a tenant may have several keys). Fails with `InvalidKeys`
 * when a key is shared by tenants or empty; `layer` and `make` check this before
 * serving.
 *
 * @since 0.1.0
 * @category constructors
 */
export const validateKeys = (keys: ReadonlyArray<ApiKey>): Effect.Effect<ReadonlyArray<ApiKey>, InvalidKeys> =>
  Effect.suspend(() => {
    const trimmed = keys.map((k) => ({ key: Redacted.make(Redacted.value(k.key).trim()), tenant: k.tenant }))
    const empty = trimmed.filter((k) => Redacted.value(k.key).length === 0).map((k) => k.tenant)
    if (empty.length > 0) {
      return Effect.fail(new InvalidKeys({ tenants: empty, message: `Empty gateway API key for tenant ${empty.join(", ")}` }))
    }
    const owners = new Map<string, Set<string>>()
    for (const k of trimmed) {
      const value = Redacted.value(k.key)
      owners.set(value, (owners.get(value) ?? new Set()).add(k.tenant))
    }
    const shared = [...owners.values()].filter((tenants) => tenants.size > 1).map((tenants) => [...tenants])
    if (shared.length > 0) {
      return Effect.fail(
        new InvalidKeys({
          tenants: shared.flat(),
          message: `One gateway API key is configured for several tenants (${shared.map((t) => t.join(" and ")).join("; ")}): each key must identify one tenant`
        })
      )
    }
    return Effect.succeed(trimmed)
  })

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The keys clients authenticate with (`Authorization: Bearer KEY`). */
  readonly keys: ReadonlyArray<ApiKey>
  /**
   * The models clients may name, each served by its own stack. Without it, any
   * model name is passed to the `LanguageModel` in context as `request.model`.
   */
  readonly models?: Readonly<Record<string, LanguageModel.Service>> | undefined
  /** The largest accepted body in bytes (default 1 MiB). */
  readonly maxBodyBytes?: number | undefined
  /** The Prometheus text for `GET /metrics` (default: every Effect metric, `Prometheus.render()`). */
  readonly metrics?: Effect.Effect<string> | undefined
  /** Further routes (e.g. `/analyze`), mounted with the same key check. */
  readonly routes?: ReadonlyArray<Route> | undefined
}

/**
 * An extra authenticated POST route: the handler gets the tenant, the decoded
 * JSON body and the gateway's model stack, and returns a JSON value.
 *
 * @since 0.1.0
 * @category models
 */
export interface Route {
  readonly path: `/${string}`
  readonly handle: (
    input: { readonly tenant: string; readonly body: unknown; readonly model: LanguageModel.Service }
  ) => Effect.Effect<unknown, LlmError.LlmError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServeOptions extends Options {
  readonly port?: number | undefined
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
}

// -----------------------------------------------------------------------------
// What a request gets back, whichever server carries it
// -----------------------------------------------------------------------------

/** A complete answer: status, headers and a body already encoded. */
interface Whole {
  readonly _tag: "Whole"
  readonly status: number
  readonly contentType: string
  readonly headers: Readonly<Record<string, string>> | undefined
  readonly body: string
}

/**
 * An SSE answer: the first frames (the role chunk and the first event, already
 * pulled so a failure before them got its own status), then `pull` until it
 * ends; `close` releases the upstream stream (on the end, an error or a client
 * that went away).
 */
interface Sse {
  readonly _tag: "Sse"
  readonly head: string
  readonly pull: Effect.Effect<string, Option.Option<never>>
  readonly close: Effect.Effect<void>
}

type Reply = Whole | Sse

const json = (status: number, value: unknown, headers?: Readonly<Record<string, string>>): Whole => ({
  _tag: "Whole",
  status,
  contentType: "application/json",
  headers,
  body: JSON.stringify(value)
})

const simpleError = (status: number, type: string, code: string, message: string): Whole =>
  json(status, { error: { message, type, code, param: null } }, undefined)

const errorReply = (error: LlmError.LlmError): Whole => {
  const { body, doNotRetry, retryAfterSeconds, status } = Wire.toErrorResponse(error)
  // `retry-after` stays as information (when the budget or limit frees up); with
  // `x-should-retry: false` the OpenAI SDKs (JS and Python) do not wait for it.
  const headers: Record<string, string> = {}
  if (retryAfterSeconds !== undefined) headers["retry-after"] = String(retryAfterSeconds)
  if (doNotRetry) headers["x-should-retry"] = "false"
  return json(status, body, retryAfterSeconds === undefined && !doNotRetry ? undefined : headers)
}

/**
 * What to do with a request, decided from its method, path and headers alone:
 * answer now, run an effect, or read the JSON body first.
 */
type Plan =
  | { readonly _tag: "Now"; readonly reply: Whole }
  | { readonly _tag: "Run"; readonly effect: Effect.Effect<Reply> }
  | { readonly _tag: "WithBody"; readonly then: (body: unknown) => Effect.Effect<Reply> }

const headerOf = (headers: IncomingHttpHeaders | Readonly<Record<string, string | undefined>>, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : undefined
}

const digest = (text: string) => createHash("sha256").update(text).digest()

const encoder = new TextEncoder()

/** The gateway's routes and handlers, shared by both servers; `keys` come from `validateKeys`. */
const core = (options: Options, validKeys: ReadonlyArray<ApiKey>, fallback: LanguageModel.Service | undefined) => {
  const keys = validKeys.map((k) => ({ digest: digest(Redacted.value(k.key)), tenant: k.tenant }))
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024
  const metrics = options.metrics ?? Prometheus.render()
  const routeModel = fallback ?? Object.values(options.models ?? {})[0]
  const routes = new Map<string, Route>(routeModel === undefined ? [] : (options.routes ?? []).map((r) => [r.path, r]))
  let counter = 0

  const unauthorized = simpleError(401, "invalid_request_error", "invalid_api_key", "Missing or invalid gateway API key")
  const tooLarge = simpleError(413, "invalid_request_error", "request_too_large", `The body exceeds ${maxBodyBytes} bytes`)
  const notFound = simpleError(404, "invalid_request_error", "not_found", "No such route")
  const invalidJson = errorReply(new LlmError.InvalidRequest({ message: "The body is not valid JSON", code: "invalid_json" }))
  const unreadable = errorReply(new LlmError.InvalidRequest({ message: "Could not read the request body", code: "invalid_request" }))
  const healthy = json(200, { status: "ok" })
  const modelList = json(200, {
    object: "list",
    data: (options.models !== undefined ? Object.keys(options.models) : (fallback?.models ?? []).map((m) => m.model))
      .map((id) => ({ id, object: "model", created: 0, owned_by: "effect-llm" }))
  })
  const metricsReply: Effect.Effect<Reply> = Effect.map(metrics, (text): Whole => ({
    _tag: "Whole",
    status: 200,
    contentType: Prometheus.contentType,
    headers: undefined,
    body: text
  }))

  const tenantOf = (headers: IncomingHttpHeaders | Readonly<Record<string, string | undefined>>): string | undefined => {
    const header = headerOf(headers, "authorization") ?? ""
    // The scheme is case-insensitive (RFC 7235): "Bearer", "bearer", "BEARER".
    const presented = header.length > 7 && header.slice(0, 7).toLowerCase() === "bearer " ? header.slice(7).trim() : ""
    if (presented.length === 0) return undefined
    const d = digest(presented)
    return keys.find((k) => timingSafeEqual(k.digest, d))?.tenant
  }

  const serviceFor = (model: string): { readonly service: LanguageModel.Service; readonly model: string | undefined } | undefined => {
    // Only the models the stack serves (what /v1/models lists): any other name
    // would reach the providers, and each new name would add rate-limit gates and
    // metric series for good.
    if (fallback !== undefined) {
      if (model === "default") return { service: fallback, model: undefined }
      return fallback.models.some((m) => m.model === model) ? { service: fallback, model } : undefined
    }
    // Own names only: "constructor" or "__proto__" are not models.
    const service = options.models !== undefined && Object.hasOwn(options.models, model) ? options.models[model] : undefined
    return service === undefined ? undefined : { service, model: undefined }
  }

  const completions = (tenant: string, raw: unknown): Effect.Effect<Reply> => {
    const requestedModel = typeof raw === "object" && raw !== null && "model" in raw && typeof raw.model === "string" ? raw.model : ""
    const target = serviceFor(requestedModel)
    if (target === undefined) {
      return Effect.succeed(errorReply(
        new LlmError.InvalidRequest({ message: `The model '${requestedModel}' does not exist`, code: "model_not_found", status: 404, param: "model" })
      ))
    }
    const effect = Effect.flatMap(Wire.toRequest(raw, { tenant, model: target.model }), ({ body, request }): Effect.Effect<Reply, LlmError.LlmError> => {
      const id = `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`
      const created = Math.floor(Date.now() / 1000)
      if (body.stream === true) {
        // One `model` for every chunk. The served model (what the JSON path returns,
        // `response.model`) is only known from `Finish`, the last event (no earlier
        // event carries it), and the first chunks go out before it: every chunk
        // carries the model the request is routed to, which is the model named, or
        // the stack's first (primary) model for `default` and the model map's
        // names. It is what the JSON path returns too, unless a fallback member
        // served or the provider reports a dated snapshot of the name.
        return openSse(LanguageModel.pullOf(target.service, request), {
          id,
          created,
          model: target.model ?? target.service.models[0]?.model ?? requestedModel,
          includeUsage: body.stream_options?.include_usage === true
        })
      }
      return Effect.map(target.service.generate(request), (response) =>
        json(200, Wire.toCompletion(response, id, created), responseHeaders(response)))
    })
    return Effect.catchAll(effect, (e) => Effect.succeed(errorReply(e)))
  }

  const plan = (method: string, path: string, headers: IncomingHttpHeaders | Readonly<Record<string, string | undefined>>): Plan => {
    if (method === "GET") {
      if (path === "/healthz") return { _tag: "Now", reply: healthy }
      if (path === "/metrics") return { _tag: "Run", effect: metricsReply }
      if (path !== "/v1/models") return { _tag: "Now", reply: notFound }
      return { _tag: "Now", reply: tenantOf(headers) === undefined ? unauthorized : modelList }
    }
    if (method !== "POST") return { _tag: "Now", reply: notFound }
    const route = path === "/v1/chat/completions" ? undefined : routes.get(path)
    if (route === undefined && path !== "/v1/chat/completions") return { _tag: "Now", reply: notFound }
    const tenant = tenantOf(headers)
    if (tenant === undefined) return { _tag: "Now", reply: unauthorized }
    if (Number(headerOf(headers, "content-length") ?? "0") > maxBodyBytes) return { _tag: "Now", reply: tooLarge }
    if (route === undefined) return { _tag: "WithBody", then: (body) => completions(tenant, body) }
    return {
      _tag: "WithBody",
      then: (body) =>
        route.handle({ tenant, body, model: routeModel! }).pipe(
          Effect.map((value): Reply => json(200, value)),
          Effect.catchAll((e) => Effect.succeed(errorReply(e)))
        )
    }
  }

  const parse = (text: string): { readonly ok: true; readonly value: unknown } | { readonly ok: false } => {
    try {
      return { ok: true, value: JSON.parse(text) as unknown }
    } catch {
      return { ok: false }
    }
  }

  return { plan, parse, maxBodyBytes, tooLarge, invalidJson, unreadable }
}

type Core = ReturnType<typeof core>

const responseHeaders = (response: LanguageModel.Response): Record<string, string> => {
  const headers: Record<string, string> = { "x-effect-llm-provider": response.provider }
  if (response.cost !== undefined) headers["x-effect-llm-cost-usd"] = response.cost.usd.toFixed(8)
  if (response.cache !== undefined) headers["x-effect-llm-cache"] = response.cache.kind
  return headers
}

const sseHeaders = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no"
} as const

/**
 * Opens an SSE answer over a service's pull (`LanguageModel.pullOf`: no stream
 * stage between the SSE writer and the stack). The first event is awaited before answering, so a
 * failure before any output gets its proper status (429, 503, ...); a failure
 * after it is sent as an SSE error event. A stream that ends without `Finish`
 * (a service that does not check its upstream finished) is sent as an error
 * event too, never as a normal end: a client would take the partial text for
 * the whole answer.
 */
const openSse = (
  events: Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope>,
  options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean }
): Effect.Effect<Sse, LlmError.LlmError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Scope.make(), (scope) => {
      const close = Scope.close(scope, Exit.void)
      const encode = Wire.chunkEncoder(options)
      let finished = false
      const frames = (chunk: Chunk.Chunk<LanguageModel.StreamEvent>) => {
        let text = ""
        for (const event of chunk) {
          if (event._tag === "Finish") finished = true
          text += encode.event(event)
        }
        return text
      }
      const unfinished = () =>
        encode.error(Wire.toErrorResponse(
          new LlmError.ProviderUnavailable({ kind: "stream-interrupted", message: "The stream ended before the model finished" })
        ).body)
      const opened = Effect.flatMap(Scope.extend(events, scope), (pullEvents) => {
        let done = false
        const pull: Effect.Effect<string, Option.Option<never>> = Effect.suspend(() =>
          done
            ? Effect.fail(Option.none())
            : Effect.matchEffect(pullEvents, {
              onSuccess: (chunk) => Effect.succeed(frames(chunk)),
              onFailure: (e) => {
                done = true
                if (Option.isSome(e)) return Effect.succeed(encode.error(Wire.toErrorResponse(e.value).body))
                return finished ? Effect.fail(Option.none()) : Effect.succeed(unfinished())
              }
            })
        )
        // The status goes out with the first frames: an empty chunk (a guard holding back
        // the first words) does not commit it, so a failure right after still gets its own.
        const first: Effect.Effect<Chunk.Chunk<LanguageModel.StreamEvent>, Option.Option<LlmError.LlmError>> = Effect.flatMap(
          pullEvents,
          (chunk) => (Chunk.isEmpty(chunk) ? first : Effect.succeed(chunk))
        )
        return first.pipe(
          Effect.map((chunk): Sse => ({ _tag: "Sse", head: encode.start() + frames(chunk), pull, close })),
          Effect.catchAll((e) =>
            Option.isSome(e)
              ? Effect.fail(e.value)
              : Effect.succeed<Sse>({ _tag: "Sse", head: encode.start() + unfinished(), pull: Effect.fail(Option.none()), close })
          )
        )
      })
      return Effect.onExit(restore(opened), (exit) => (Exit.isSuccess(exit) ? Effect.void : close))
    })
  )

// -----------------------------------------------------------------------------
// On the Node request listener (what `layer` serves)
// -----------------------------------------------------------------------------

const writeWhole = (res: ServerResponse, reply: Whole, extra?: Readonly<Record<string, string>>) => {
  if (res.headersSent || res.destroyed) return
  res.writeHead(reply.status, {
    "content-type": reply.contentType,
    "content-length": Buffer.byteLength(reply.body),
    ...reply.headers,
    ...extra
  })
  res.end(reply.body)
}

/** Waits until `res` can take more (or is gone: the fiber is interrupted then anyway). */
const drained = (res: ServerResponse) =>
  Effect.async<void>((resume) => {
    if (res.destroyed) return resume(Effect.void)
    const done = () => resume(Effect.void)
    res.once("drain", done)
    res.once("close", done)
    return Effect.sync(() => {
      res.off("drain", done)
      res.off("close", done)
    })
  })

const writeSse = (res: ServerResponse, sse: Sse): Effect.Effect<void> => {
  const write = (text: string): Effect.Effect<void> =>
    text.length === 0 || res.destroyed || res.write(text) ? Effect.void : drained(res)
  // Stops at the end of the events, or when the client is gone (its fiber is interrupted then too).
  const loop: Effect.Effect<void> = Effect.matchEffect(sse.pull, {
    onSuccess: (text) => Effect.zipRight(write(text), Effect.suspend(() => (res.destroyed ? Effect.void : loop))),
    onFailure: () => Effect.void
  })
  return Effect.suspend(() => {
    res.writeHead(200, sseHeaders)
    return Effect.zipRight(write(sse.head), loop)
  }).pipe(Effect.ensuring(Effect.sync(() => res.end())))
}

const listener = (gateway: Core, runtime: Runtime.Runtime<never>) => {
  const runFork = Runtime.runFork(runtime)

  const run = (req: IncomingMessage, res: ServerResponse, effect: Effect.Effect<Reply>) => {
    const parent = req.headers["traceparent"] === undefined
      ? Option.none()
      : HttpTraceContext.fromHeaders(HttpHeaders.fromInput(req.headers as Readonly<Record<string, string>>))
    const traced = Option.isSome(parent) ? Effect.withParentSpan(effect, parent.value) : effect
    // Once an SSE answer is open, its upstream stream is released whatever happens next.
    const program = Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(restore(traced), (reply) =>
        reply._tag === "Whole"
          ? Effect.sync(() => writeWhole(res, reply))
          : Effect.ensuring(restore(writeSse(res, reply)), reply.close))
    )
    const fiber = runFork(program)
    fiber.addObserver((exit) => {
      if (Exit.isFailure(exit) && !Cause.isInterruptedOnly(exit.cause)) {
        if (res.headersSent) res.destroy()
        else writeWhole(res, simpleError(500, "server_error", "internal_error", "The gateway failed"))
      }
    })
    res.on("close", () => {
      if (!res.writableEnded) fiber.unsafeInterruptAsFork(FiberId.none)
    })
  }

  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/"
    const q = url.indexOf("?")
    const plan = gateway.plan(req.method ?? "GET", q < 0 ? url : url.slice(0, q), req.headers)
    switch (plan._tag) {
      case "Now":
        // A body we will not read (a refused or oversized request): close after answering.
        return writeWhole(res, plan.reply, req.method === "POST" && !req.complete ? { connection: "close" } : undefined)
      case "Run":
        return run(req, res, plan.effect)
      case "WithBody": {
        const chunks: Array<Buffer> = []
        let size = 0
        let failed = false
        req.on("data", (chunk: Buffer) => {
          if (failed) return
          size += chunk.length
          if (size > gateway.maxBodyBytes) {
            failed = true
            writeWhole(res, gateway.tooLarge, { connection: "close" })
          } else chunks.push(chunk)
        })
        req.on("error", () => {
          if (!failed) writeWhole(res, gateway.unreadable, { connection: "close" })
          failed = true
        })
        req.on("end", () => {
          if (failed) return
          const parsed = gateway.parse(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8"))
          if (parsed.ok) run(req, res, plan.then(parsed.value))
          else writeWhole(res, gateway.invalidJson)
        })
        return
      }
    }
  }
}

// -----------------------------------------------------------------------------
// As an HttpApp (what `make` gives)
// -----------------------------------------------------------------------------

const toResponse = (reply: Reply): HttpServerResponse.HttpServerResponse =>
  reply._tag === "Whole"
    ? HttpServerResponse.text(reply.body, { status: reply.status, contentType: reply.contentType, headers: reply.headers ?? {} })
    : HttpServerResponse.stream(
      Stream.concat(Stream.make(reply.head), Stream.repeatEffectOption(reply.pull)).pipe(
        Stream.map((text) => encoder.encode(text)),
        Stream.ensuring(reply.close)
      ),
      { contentType: sseHeaders["content-type"], headers: { "cache-control": sseHeaders["cache-control"], "x-accel-buffering": sseHeaders["x-accel-buffering"] } }
    )

/**
 * The gateway as an `HttpApp` (a router), for mounting in an existing server.
 * Keys that `validateKeys` refuses fail it with `InvalidKeys`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const keys = yield* validateKeys(options.keys)
    const fallback = options.models === undefined ? yield* LanguageModel.LanguageModel : undefined
    const gateway = core(options, keys, fallback)
    const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const q = request.url.indexOf("?")
      const plan = gateway.plan(request.method, q < 0 ? request.url : request.url.slice(0, q), request.headers)
      switch (plan._tag) {
        case "Now":
          return Effect.succeed(toResponse(plan.reply))
        case "Run":
          return Effect.map(plan.effect, toResponse)
        case "WithBody":
          return request.text.pipe(
            HttpIncomingMessage.withMaxBodySize(Option.some(gateway.maxBodyBytes)),
            Effect.matchEffect({
              onFailure: (e) =>
                Effect.succeed<Reply>(e.cause instanceof Error && e.cause.message === "maxBytes exceeded" ? gateway.tooLarge : gateway.unreadable),
              onSuccess: (text) => {
                const parsed = gateway.parse(text)
                return parsed.ok ? plan.then(parsed.value) : Effect.succeed<Reply>(gateway.invalidJson)
              }
            }),
            Effect.map(toResponse)
          )
      }
    })
    return HttpRouter.empty.pipe(HttpRouter.all("*", app))
  })

/**
 * Serves the gateway on Node's HTTP server; the `LanguageModel` stack comes from
 * context. Closing the layer stops accepting connections and lets in-flight
 * requests finish. Keys that `validateKeys` refuses fail the layer with
 * `InvalidKeys` before it listens.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ServeOptions) =>
  Layer.unwrapEffect(Effect.map(validateKeys(options.keys), (keys) => {
    const server = createServer()
    const serve = Layer.scopedDiscard(Effect.gen(function*() {
      const fallback = options.models === undefined ? yield* LanguageModel.LanguageModel : undefined
      const handler = listener(core(options, keys, fallback), yield* Effect.runtime<never>())
      server.on("request", handler)
      yield* Effect.addFinalizer(() => Effect.sync(() => server.off("request", handler)))
    }))
    return serve.pipe(
      Layer.provideMerge(NodeHttpServer.layer(() => server, { port: options.port ?? 8787, host: options.host ?? "127.0.0.1" }))
    )
  }))

/**
 * The base URL a started gateway listens on (for tests and the demo).
 *
 * @since 0.1.0
 * @category accessors
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`)
)
