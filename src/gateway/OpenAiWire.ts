/**
 * The OpenAI Chat Completions wire format, as the gateway speaks it to clients:
 * the request body decoded into a `LanguageModel.Request`, and responses, stream
 * chunks and errors encoded back, so any OpenAI client works against the gateway.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Option, ParseResult, Schema } from "effect"
import * as Construct from "../internal/construct.js"
import { maxDepth, tooDeep } from "../internal/depth.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"

const ContentPart = Schema.Struct({ type: Schema.String, text: Schema.optional(Schema.String) })

const WireToolCall = Schema.Struct({
  id: Schema.String,
  type: Schema.optional(Schema.Literal("function")),
  function: Schema.Struct({ name: Schema.String, arguments: Schema.String })
})

const WireMessage = Schema.Struct({
  role: Schema.Literal("system", "developer", "user", "assistant", "tool"),
  content: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Array(ContentPart)))),
  tool_calls: Schema.optional(Schema.NullOr(Schema.Array(WireToolCall))),
  tool_call_id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String)
})

const WireTool = Schema.Struct({
  type: Schema.Literal("function"),
  function: Schema.Struct({
    name: Schema.String,
    description: Schema.optional(Schema.String),
    parameters: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
    strict: Schema.optional(Schema.NullOr(Schema.Boolean))
  })
})

const WireResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json_object") }),
  Schema.Struct({
    type: Schema.Literal("json_schema"),
    json_schema: Schema.Struct({
      name: Schema.String,
      description: Schema.optional(Schema.String),
      schema: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
      strict: Schema.optional(Schema.NullOr(Schema.Boolean))
    })
  })
)

const optionalNull = <A, I>(schema: Schema.Schema<A, I>) => Schema.optional(Schema.NullOr(schema))

/**
 * The subset of a Chat Completions request body the gateway accepts; other fields
 * are ignored, except the ones asking for what the gateway does not do yet (`n` > 1,
 * `logprobs`, `top_logprobs`, `parallel_tool_calls: false`), which `toRequest` refuses.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ChatCompletionBody = Schema.Struct({
  model: Schema.String,
  messages: Schema.Array(WireMessage),
  max_tokens: optionalNull(Schema.Number),
  max_completion_tokens: optionalNull(Schema.Number),
  temperature: optionalNull(Schema.Number),
  top_p: optionalNull(Schema.Number),
  stop: optionalNull(Schema.Union(Schema.String, Schema.Array(Schema.String))),
  seed: optionalNull(Schema.Number),
  tools: optionalNull(Schema.Array(WireTool)),
  tool_choice: optionalNull(Schema.Union(
    Schema.Literal("auto", "none", "required"),
    Schema.Struct({ type: Schema.Literal("function"), function: Schema.Struct({ name: Schema.String }) })
  )),
  response_format: optionalNull(WireResponseFormat),
  stream: optionalNull(Schema.Boolean),
  stream_options: optionalNull(Schema.Struct({ include_usage: Schema.optional(Schema.Boolean) })),
  user: optionalNull(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ChatCompletionBody = typeof ChatCompletionBody.Type

const invalid = (message: string, param?: string) =>
  new LlmError.InvalidRequest({ message, code: "invalid_request", param })

const decodeBody = Schema.decodeUnknown(ChatCompletionBody, { errors: "all" })

const roles: ReadonlySet<unknown> = new Set(["system", "developer", "user", "assistant", "tool"])
const isOptional = (value: unknown, type: "string" | "number" | "boolean") => value === undefined || value === null || typeof value === type
const absent = (value: unknown) => value === undefined || value === null

/**
 * A 400 naming the first field that asks for something the gateway cannot serve
 * yet, rather than an answer that silently lacks it (one choice for `n: 2`, null
 * logprobs, parallel tool calls anyway). Their default values pass. Checked on the
 * raw body, before both the hand-checked and the Schema path.
 */
const unsupported = (raw: unknown): LlmError.InvalidRequest | undefined => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined
  const b = raw as Record<string, unknown>
  const refuse = (param: string, message: string) => new LlmError.InvalidRequest({ message, code: "unsupported_value", param })
  if (!absent(b["n"]) && b["n"] !== 1) return refuse("n", "Unsupported value: 'n' must be 1; the gateway returns one choice per request")
  if (!absent(b["logprobs"]) && b["logprobs"] !== false) {
    return refuse("logprobs", "Unsupported value: 'logprobs' is not supported by the gateway; omit it or set it to false")
  }
  if (!absent(b["top_logprobs"]) && b["top_logprobs"] !== 0) {
    return refuse("top_logprobs", "Unsupported parameter: 'top_logprobs' is not supported by the gateway; omit it")
  }
  if (!absent(b["parallel_tool_calls"]) && b["parallel_tool_calls"] !== true) {
    return refuse(
      "parallel_tool_calls",
      "Unsupported value: 'parallel_tool_calls' can only be true; the gateway cannot ask the provider for one tool call at a time yet"
    )
  }
  return undefined
}

/**
 * The common body (text messages, scalar parameters, no tools, content parts or
 * response format) checked by hand: the Schema decoder costs more than the rest
 * of the request's handling in the gateway. It accepts only bodies the Schema
 * accepts too, and returns what the decoder would (the known fields, nothing
 * else); any other body, valid or not, goes through the Schema and its messages.
 */
const simpleBody = (raw: unknown): ChatCompletionBody | undefined => {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined
  const b = raw as Record<string, unknown>
  if (typeof b["model"] !== "string" || !Array.isArray(b["messages"])) return undefined
  if (!absent(b["tools"]) || !absent(b["tool_choice"]) || !absent(b["response_format"])) return undefined
  for (const name of ["max_tokens", "max_completion_tokens", "temperature", "top_p", "seed"] as const) {
    if (!isOptional(b[name], "number")) return undefined
  }
  if (!isOptional(b["stream"], "boolean") || !isOptional(b["user"], "string")) return undefined
  const stop = b["stop"]
  if (!isOptional(stop, "string") && !(Array.isArray(stop) && stop.every((s) => typeof s === "string"))) return undefined
  const streamOptions = b["stream_options"]
  if (!absent(streamOptions)) {
    if (typeof streamOptions !== "object" || Array.isArray(streamOptions)) return undefined
    const include = (streamOptions as Record<string, unknown>)["include_usage"]
    if (include !== undefined && typeof include !== "boolean") return undefined
  }
  const messages: Array<ChatCompletionBody["messages"][number]> = []
  for (const m of b["messages"] as ReadonlyArray<unknown>) {
    if (typeof m !== "object" || m === null || Array.isArray(m)) return undefined
    const message = m as Record<string, unknown>
    const { content, name, role, tool_call_id } = message
    if (!roles.has(role) || !isOptional(content, "string") || !absent(message["tool_calls"])) return undefined
    if ((tool_call_id !== undefined && typeof tool_call_id !== "string") || (name !== undefined && typeof name !== "string")) return undefined
    messages.push({
      role: role as ChatCompletionBody["messages"][number]["role"],
      ...(content !== undefined ? { content: content as string | null } : {}),
      ...(message["tool_calls"] !== undefined ? { tool_calls: null } : {}),
      ...(tool_call_id !== undefined ? { tool_call_id: tool_call_id as string } : {}),
      ...(name !== undefined ? { name: name as string } : {})
    })
  }
  const body: Record<string, unknown> = { model: b["model"], messages }
  for (
    const name of ["max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "seed", "tools", "tool_choice", "response_format", "stream", "user"] as const
  ) {
    if (b[name] !== undefined) body[name] = b[name]
  }
  if (streamOptions !== undefined) {
    const include = streamOptions === null ? undefined : (streamOptions as Record<string, unknown>)["include_usage"]
    body["stream_options"] = streamOptions === null ? null : include === undefined ? {} : { include_usage: include }
  }
  return body as unknown as ChatCompletionBody
}

const textOf = (content: ChatCompletionBody["messages"][number]["content"]): string | LlmError.InvalidRequest => {
  if (content === undefined || content === null) return ""
  if (typeof content === "string") return content
  let text = ""
  for (const part of content) {
    if (part.type !== "text" || part.text === undefined) {
      return invalid(`Content parts of type "${part.type}" are not supported; send text`, "messages")
    }
    text += part.text
  }
  return text
}

/** The request input a decoded body asks for, or why it cannot be served. */
const toInput = (
  body: ChatCompletionBody,
  context: { readonly tenant: string; readonly model?: string | undefined }
): LanguageModel.RequestInput | LlmError.InvalidRequest => {
  const messages: Array<LanguageModel.RequestInput["messages"][number]> = []
  for (const m of body.messages) {
    const content = textOf(m.content)
    if (typeof content !== "string") return content
    switch (m.role) {
      case "system":
      case "developer":
        messages.push({ role: "system", content })
        break
      case "user":
        messages.push({ role: "user", content })
        break
      case "assistant":
        messages.push({
          role: "assistant",
          content,
          toolCalls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }))
        })
        break
      case "tool":
        if (m.tool_call_id === undefined) return invalid("A tool message needs tool_call_id", "messages")
        messages.push({ role: "tool", toolCallId: m.tool_call_id, content })
        break
    }
  }
  const [first, ...rest] = messages
  if (first === undefined) return invalid("messages must not be empty", "messages")
  const format = body.response_format
  return {
    messages: [first, ...rest],
    model: context.model,
    maxTokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
    temperature: body.temperature ?? undefined,
    topP: body.top_p ?? undefined,
    stop: body.stop === undefined || body.stop === null ? undefined : typeof body.stop === "string" ? [body.stop] : body.stop,
    seed: body.seed ?? undefined,
    tools: body.tools?.map((t) => ({
      name: t.function.name,
      description: t.function.description,
      parameters: t.function.parameters ?? { type: "object", properties: {} },
      strict: t.function.strict ?? undefined
    })),
    toolChoice: body.tool_choice === undefined || body.tool_choice === null
      ? undefined
      : typeof body.tool_choice === "string"
      ? body.tool_choice
      : { tool: body.tool_choice.function.name },
    responseFormat: format === undefined || format === null
      ? undefined
      : format.type === "text"
      ? { type: "text" }
      : format.type === "json_object"
      ? { type: "json" }
      : {
        type: "jsonSchema",
        name: format.json_schema.name,
        description: format.json_schema.description,
        schema: format.json_schema.schema ?? {},
        strict: format.json_schema.strict ?? undefined
      },
    metadata: { tenant: context.tenant, ...(body.user ? { user: body.user } : {}) }
  }
}

/**
 * The `Request` of a common body without the Schema decoder. `toInput` always
 * sets `metadata` and names every optional field (most as `undefined`), which
 * `LanguageModel.decodeRequest`'s own hand-checked path does not take: every
 * gateway request went through the Schema decoder (~54 KB allocated and tens of
 * µs a request, the largest single allocation of a gateway call). Here the input
 * without metadata and without absent fields goes through `decodeRequest` (its
 * checks, its fast path), and the metadata (a non-empty tenant and user, what the
 * Schema asks) is attached after. Anything else returns undefined: the Schema
 * path decides and reports.
 */
const simpleRequest = (
  body: ChatCompletionBody,
  context: { readonly tenant: string; readonly model?: string | undefined }
): LanguageModel.Request | undefined => {
  if (context.tenant.length === 0 || (body.user !== undefined && body.user !== null && typeof body.user !== "string")) return undefined
  const input = toInput(body, context)
  if (input instanceof LlmError.InvalidRequest) return undefined
  const plain: Record<string, unknown> = {}
  for (const key in input) {
    const value = (input as unknown as Record<string, unknown>)[key]
    if (value !== undefined && key !== "metadata") plain[key] = value
  }
  // A text-only assistant turn as `{ role, content }`, the shape the hand-checked path takes.
  plain["messages"] = input.messages.map((m) =>
    m.role === "assistant" && (m.toolCalls === undefined || m.toolCalls.length === 0) ? { role: m.role, content: m.content } : m
  )
  let decoded: LanguageModel.Request | undefined
  // decodeRequest's hand-checked path answers synchronously; anything else is left to the Schema path.
  const exit = Effect.runSyncExit(LanguageModel.decodeRequest(plain as unknown as LanguageModel.RequestInput))
  if (exit._tag === "Success") decoded = exit.value
  if (decoded === undefined) return undefined
  const user = body.user ? body.user : undefined
  const metadata = Construct.make(LanguageModel.Metadata, user === undefined ? { tenant: context.tenant } : { tenant: context.tenant, user })
  return Construct.make(LanguageModel.Request, { ...decoded, metadata })
}

/**
 * Decodes a client's body into the body and a validated `Request` carrying the
 * tenant (and the client's `user`) in its metadata.
 *
 * @since 0.1.0
 * @category decoding
 */
export const toRequest = (
  raw: unknown,
  context: { readonly tenant: string; readonly model?: string | undefined }
): Effect.Effect<{ readonly body: ChatCompletionBody; readonly request: LanguageModel.Request }, LlmError.InvalidRequest> => {
  const fromBody = (body: ChatCompletionBody) => {
    const input = toInput(body, context)
    return input instanceof LlmError.InvalidRequest
      ? Effect.fail(input)
      : Effect.map(LanguageModel.decodeRequest(input), (request) => ({ body, request }))
  }
  const refused = unsupported(raw)
  if (refused !== undefined) return Effect.fail(refused)
  const simple = simpleBody(raw)
  if (simple !== undefined) {
    const request = simpleRequest(simple, context)
    if (request !== undefined) return Effect.succeed({ body: simple, request })
  }
  // Before the Schema: its error messages, the cache key and the token count recurse.
  if (tooDeep(raw)) return Effect.fail(invalid(`Invalid body: nested deeper than ${maxDepth} levels`))
  return simple !== undefined
    ? fromBody(simple)
    : decodeBody(raw).pipe(
      Effect.mapError((e) => invalid(`Invalid body: ${ParseResult.TreeFormatter.formatErrorSync(e)}`)),
      Effect.flatMap(fromBody)
    )
}

const wireFinish = (reason: LanguageModel.FinishReason): string =>
  reason === "length" ? "length" : reason === "tool_calls" ? "tool_calls" : reason === "content_filter" ? "content_filter" : "stop"

const wireUsage = (usage: LanguageModel.Usage) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
  prompt_tokens_details: { cached_tokens: usage.cachedInputTokens },
  completion_tokens_details: { reasoning_tokens: usage.reasoningTokens }
})

/**
 * A response as a Chat Completions JSON body.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toCompletion = (response: LanguageModel.Response, id: string, created: number) => ({
  id,
  object: "chat.completion",
  created,
  model: response.model,
  choices: [{
    index: 0,
    message: {
      role: "assistant",
      // As OpenAI (and the SSE path, which sends no content then): null, not "", beside tool calls or a refusal.
      content: response.text === "" && (response.toolCalls.length > 0 || response.refusal !== undefined || response.finishReason === "refusal")
        ? null
        : response.text,
      refusal: response.refusal ?? null,
      ...(response.toolCalls.length > 0
        ? {
          tool_calls: response.toolCalls.map((c) => ({
            id: c.id,
            type: "function",
            function: { name: c.name, arguments: c.arguments }
          }))
        }
        : {})
    },
    logprobs: null,
    finish_reason: wireFinish(response.finishReason)
  }],
  usage: wireUsage(response.usage)
})

/**
 * Encodes stream events as Chat Completions chunks (one SSE `data:` frame each),
 * every chunk with `options.model` (the model is not taken from `Finish`, which
 * comes last: one stream, one model).
 *
 * @since 0.1.0
 * @category encoding
 */
export const chunkEncoder = (options: { readonly id: string; readonly created: number; readonly model: string; readonly includeUsage: boolean }) => {
  const model = options.model
  const frame = (choices: ReadonlyArray<unknown>, extra: object = {}) =>
    `data: ${JSON.stringify({ id: options.id, object: "chat.completion.chunk", created: options.created, model, choices, ...extra })}\n\n`
  const delta = (d: object, finish: string | null = null) => frame([{ index: 0, delta: d, logprobs: null, finish_reason: finish }])
  // The text delta, the frame sent most, from a prefix encoded once: the same JSON `delta` gives.
  let prefix: string | undefined
  const textFrame = (text: string) => {
    prefix ??= `data: {"id":${JSON.stringify(options.id)},"object":"chat.completion.chunk","created":${JSON.stringify(options.created)},"model":${
      JSON.stringify(model)
    },"choices":[{"index":0,"delta":{"content":`
    return `${prefix}${JSON.stringify(text)}},"logprobs":null,"finish_reason":null}]}\n\n`
  }
  return {
    start: () => delta({ role: "assistant", content: "" }),
    event: (event: LanguageModel.StreamEvent): string => {
      switch (event._tag) {
        case "TextDelta":
          return textFrame(event.text)
        case "ToolCallDelta":
          return delta({
            tool_calls: [{
              index: event.index,
              ...(event.id !== undefined ? { id: event.id, type: "function" } : {}),
              function: { ...(event.name !== undefined ? { name: event.name } : {}), arguments: event.argumentsDelta }
            }]
          })
        case "UsageEvent":
          return ""
        case "Finish": {
          const last = delta(event.refusal !== undefined ? { refusal: event.refusal } : {}, wireFinish(event.reason))
          return options.includeUsage ? last + frame([], { usage: wireUsage(event.usage) }) + "data: [DONE]\n\n" : last + "data: [DONE]\n\n"
        }
      }
    },
    error: (body: ErrorBody) => `data: ${JSON.stringify(body)}\n\n`
  }
}

/**
 * An OpenAI-shaped error body.
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly code: string | null; readonly param: string | null }
}

/**
 * The longest `retry-after` (seconds) a client is left to wait for. openai-node
 * sleeps for whatever `retry-after` says (a day budget's 67339 s included); the
 * Python SDK ignores waits over 60 s. Beyond it, `doNotRetry`.
 */
const maxClientWaitSeconds = 60

/**
 * The HTTP status and OpenAI-shaped body of a failure, the seconds a client
 * should wait (for `retry-after`), when known, and `doNotRetry` when the status
 * would have a client retry (429, 5xx) but retrying cannot help soon: an exhausted
 * quota, upstream credentials refused, a budget (or limit) that frees up only after
 * more than a minute or at an unknown time. Sent as `x-should-retry: false`, which
 * the OpenAI SDKs obey.
 *
 * @since 0.1.0
 * @category encoding
 */
export const toErrorResponse = (error: LlmError.LlmError): {
  readonly status: number
  readonly body: ErrorBody
  readonly retryAfterSeconds: number | undefined
  readonly doNotRetry: boolean
} => {
  const wait = LlmError.retryAfter(error)
  const retryAfterSeconds = Option.match(wait, {
    onNone: () => undefined,
    onSome: (d) => Math.max(1, Math.ceil(Duration.toMillis(d) / 1000))
  })
  const waitTooLong = retryAfterSeconds !== undefined && retryAfterSeconds > maxClientWaitSeconds
  const doNotRetry = waitTooLong || error._tag === "QuotaExhausted" || error._tag === "AuthenticationFailed" ||
    (error._tag === "BudgetExceeded" && retryAfterSeconds === undefined)
  const of = (status: number, type: string, code: string | null, param: string | null = null) => ({
    status,
    body: { error: { message: error.message, type, code, param } },
    retryAfterSeconds,
    doNotRetry
  })
  switch (error._tag) {
    case "InvalidRequest":
      return of(error.status === 404 ? 404 : 400, "invalid_request_error", error.code ?? null, error.param ?? null)
    case "ContextLengthExceeded":
      return of(400, "invalid_request_error", "context_length_exceeded")
    case "ContentFiltered":
      return of(400, "invalid_request_error", "content_filter")
    case "InjectionDetected":
      return of(400, "invalid_request_error", "prompt_injection_detected")
    case "OutputRejected":
      return of(422, "invalid_response_error", "output_rejected")
    case "MalformedOutput":
      return of(422, "invalid_response_error", "malformed_output")
    case "RateLimited":
      return of(429, "rate_limit_error", "rate_limit_exceeded")
    case "BudgetExceeded":
      return of(429, "budget_exceeded", "budget_exceeded")
    case "QuotaExhausted":
      return of(429, "insufficient_quota", "insufficient_quota")
    case "AuthenticationFailed":
      return of(502, "upstream_error", "upstream_authentication_failed")
    case "ProviderUnavailable":
      return of(error.kind === "timeout" ? 504 : 503, "server_error", error.kind)
    case "AllProvidersFailed":
      // Every member refused for its rate limit: the client should back off (retry-after: the soonest), not fail over.
      return error.failures.length > 0 && error.failures.every((f) => f.error._tag === "RateLimited")
        ? of(429, "rate_limit_error", "rate_limit_exceeded")
        : of(503, "server_error", "all_providers_failed")
  }
}
