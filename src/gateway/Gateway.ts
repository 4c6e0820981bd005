/**
 * An OpenAI-compatible HTTP gateway in front of a `LanguageModel` stack, so
 * clients in any language get the same retries, limits, budgets, caches and
 * guards: `POST /v1/chat/completions` (JSON and SSE), `GET /v1/models`,
 * `GET /healthz`, `GET /metrics`.
 *
 * Gateway API keys map to tenants; the tenant goes into every request's metadata,
 * so budgets, rate limits and cache namespaces are per tenant. Errors are
 * OpenAI-shaped with the matching status (429 with `retry-after` for rate limits
 * and budgets). A client that disconnects interrupts the upstream call. Bodies
 * over the size limit get 413 before they are read.
 *
 * @since 0.1.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import {
  HttpIncomingMessage,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Clock, Effect, Exit, Layer, Option, Redacted, Scope, Stream } from "effect"
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

const digest = (text: string) => createHash("sha256").update(text).digest()

const errorResponse = (error: LlmError.LlmError) => {
  const { body, retryAfterSeconds, status } = Wire.toErrorResponse(error)
  return HttpServerResponse.unsafeJson(body, {
    status,
    headers: retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) }
  })
}

const simpleError = (status: number, type: string, code: string, message: string) =>
  HttpServerResponse.unsafeJson({ error: { message, type, code, param: null } }, { status })

class Unauthorized {
  readonly _tag = "Unauthorized"
}
class BodyTooLarge {
  readonly _tag = "BodyTooLarge"
}

/**
 * The gateway as an `HttpApp` (a router), for mounting in an existing server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const fallback = options.models === undefined ? yield* LanguageModel.LanguageModel : undefined
    const keys = options.keys.map((k) => ({ digest: digest(Redacted.value(k.key)), tenant: k.tenant }))
    const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024
    let counter = 0

    const authenticate = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const header = request.headers["authorization"] ?? ""
      const presented = header.startsWith("Bearer ") ? header.slice(7).trim() : ""
      const d = digest(presented)
      const found = presented.length > 0 ? keys.find((k) => timingSafeEqual(k.digest, d)) : undefined
      return found === undefined ? Effect.fail(new Unauthorized()) : Effect.succeed(found.tenant)
    })

    const readJson = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const length = Number(request.headers["content-length"] ?? "0")
      if (length > maxBodyBytes) return yield* Effect.fail(new BodyTooLarge())
      const text = yield* request.text.pipe(
        HttpIncomingMessage.withMaxBodySize(Option.some(maxBodyBytes)),
        Effect.mapError((e) =>
          e.cause instanceof Error && e.cause.message === "maxBytes exceeded"
            ? new BodyTooLarge()
            : new LlmError.InvalidRequest({ message: "Could not read the request body", code: "invalid_request" })
        )
      )
      return yield* Effect.try({
        try: () => JSON.parse(text) as unknown,
        catch: () => new LlmError.InvalidRequest({ message: "The body is not valid JSON", code: "invalid_json" })
      })
    })

    const guarded = <R>(handler: (tenant: string) => Effect.Effect<HttpServerResponse.HttpServerResponse, LlmError.LlmError | BodyTooLarge, R>) =>
      authenticate.pipe(
        Effect.flatMap(handler),
        Effect.catchAll((e) =>
          Effect.succeed(
            e instanceof Unauthorized
              ? simpleError(401, "invalid_request_error", "invalid_api_key", "Missing or invalid gateway API key")
              : e instanceof BodyTooLarge
              ? simpleError(413, "invalid_request_error", "request_too_large", `The body exceeds ${maxBodyBytes} bytes`)
              : errorResponse(e)
          )
        )
      )

    const serviceFor = (model: string): Effect.Effect<{ service: LanguageModel.Service; model: string | undefined }, LlmError.InvalidRequest> => {
      if (fallback !== undefined) return Effect.succeed({ service: fallback, model: model === "default" ? undefined : model })
      const service = options.models?.[model]
      return service === undefined
        ? Effect.fail(new LlmError.InvalidRequest({ message: `The model '${model}' does not exist`, code: "model_not_found", status: 404, param: "model" }))
        : Effect.succeed({ service, model: undefined })
    }

    const completions = guarded((tenant) =>
      Effect.gen(function*() {
        const raw = yield* readJson
        const requestedModel = typeof raw === "object" && raw !== null && "model" in raw && typeof raw.model === "string" ? raw.model : ""
        const { model, service } = yield* serviceFor(requestedModel)
        const { body, request } = yield* Wire.toRequest(raw, { tenant, model })
        const id = `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`
        const created = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        if (body.stream === true) {
          return yield* streamResponse(service.stream(request), {
            id,
            created,
            model: requestedModel,
            includeUsage: body.stream_options?.include_usage === true
          })
        }
        const response = yield* service.generate(request)
        return HttpServerResponse.unsafeJson(Wire.toCompletion(response, id, created), {
          headers: responseHeaders(response)
        })
      })
    )

    const models = guarded(() =>
      Effect.succeed(HttpServerResponse.unsafeJson({
        object: "list",
        data: (options.models !== undefined ? Object.keys(options.models) : (fallback?.models ?? []).map((m) => m.model))
          .map((id) => ({ id, object: "model", created: 0, owned_by: "effect-llm" }))
      }))
    )

    let router = HttpRouter.empty.pipe(
      HttpRouter.post("/v1/chat/completions", completions),
      HttpRouter.get("/v1/models", models),
      HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.unsafeJson({ status: "ok" }))),
      HttpRouter.get(
        "/metrics",
        Effect.map(options.metrics ?? Prometheus.render(), (text) =>
          HttpServerResponse.text(text, { contentType: Prometheus.contentType }))
      )
    )
    const routeModel = fallback ?? Object.values(options.models ?? {})[0]
    for (const route of options.routes ?? []) {
      if (routeModel === undefined) break
      router = HttpRouter.post(
        router,
        route.path,
        guarded((tenant) =>
          Effect.flatMap(readJson, (body) => Effect.map(route.handle({ tenant, body, model: routeModel }), (value) => HttpServerResponse.unsafeJson(value))))
      )
    }
    return router
  })

const responseHeaders = (response: LanguageModel.Response): Record<string, string> => ({
  "x-effect-llm-provider": response.provider,
  ...(response.cost !== undefined ? { "x-effect-llm-cost-usd": response.cost.usd.toFixed(8) } : {}),
  ...(response.cache !== undefined ? { "x-effect-llm-cache": response.cache.kind } : {})
})

const encoder = new TextEncoder()

/**
 * Streams as SSE. The first event is awaited before answering, so a failure
 * before any output gets its proper status (429, 503, ...); a failure after it is
 * sent as an SSE error event. When the client goes away, the body stream is
 * interrupted and the upstream call with it.
 */
const streamResponse = (
  events: Stream.Stream<LanguageModel.StreamEvent, LlmError.LlmError>,
  options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean }
) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const pull = yield* Stream.toPull(events).pipe(Scope.extend(scope))
    const first = yield* pull.pipe(
      Effect.onExit((exit) => (Exit.isSuccess(exit) ? Effect.void : Scope.close(scope, Exit.void))),
      Effect.catchAll((e) => (Option.isSome(e) ? Effect.fail(e.value) : Effect.succeed(undefined)))
    )
    const encode = Wire.chunkEncoder(options)
    const rest = Stream.repeatEffectChunkOption(pull)
    const body = Stream.concat(first === undefined ? Stream.empty : Stream.fromChunk(first), rest).pipe(
      Stream.map(encode.event),
      Stream.catchAll((e) => Stream.make(encode.error(Wire.toErrorResponse(e).body))),
      (s) => Stream.concat(Stream.make(encode.start()), s),
      Stream.map((text) => encoder.encode(text)),
      Stream.ensuring(Scope.close(scope, Exit.void))
    )
    return HttpServerResponse.stream(body, {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
    })
  })

/**
 * Serves the gateway on Node's HTTP server; the `LanguageModel` stack comes from
 * context. Closing the layer stops accepting connections and lets in-flight
 * requests finish.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ServeOptions) =>
  Layer.unwrapEffect(Effect.map(make(options), (app) => HttpServer.serve(app))).pipe(
    Layer.provideMerge(NodeHttpServer.layer(() => createServer(), { port: options.port ?? 8787, host: options.host ?? "127.0.0.1" }))
  )

/**
 * The base URL a started gateway listens on (for tests and the demo).
 *
 * @since 0.1.0
 * @category accessors
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = HttpServer.addressWith((address) =>
  Effect.succeed(address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`)
)
