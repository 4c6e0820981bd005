/**
 * The core service: one request in, one response (or a stream of events) out.
 *
 * A program asks for `LanguageModel` and never knows which stack answers it.
 * Providers implement it; every middleware (retry, rate limit, fallback, budget,
 * cache, guard, telemetry) takes a `LanguageModel` and gives one back.
 *
 * `Request`, `Response`, `Message`, `StreamEvent`, `Usage` and `ToolCall` are
 * schemas, so they decode untrusted input safely and encode to JSON for caches,
 * the gateway and evaluation reports.
 *
 * @since 0.1.0
 */
import { Chunk, Context, Effect, Option, ParseResult, Schema, type Scope, Stream } from "effect"
import * as Construct from "./internal/construct.js"
import { maxDepth, nonJsonValue, tooDeep } from "./internal/depth.js"
import * as LlmError from "./LlmError.js"

// -----------------------------------------------------------------------------
// Messages and tools
// -----------------------------------------------------------------------------

/**
 * A tool call the model asked for. `arguments` is the JSON text of the arguments,
 * exactly as the model wrote it.
 *
 * @since 0.1.0
 * @category models
 */
export class ToolCall extends Schema.Class<ToolCall>("effect-llm/ToolCall")({
  id: Schema.String,
  name: Schema.String,
  arguments: Schema.String
}) {}

/**
 * Instructions from the application.
 *
 * @since 0.1.0
 * @category models
 */
export class SystemMessage extends Schema.Class<SystemMessage>("effect-llm/SystemMessage")({
  role: Schema.Literal("system"),
  content: Schema.String
}) {}

/**
 * A user turn.
 *
 * @since 0.1.0
 * @category models
 */
export class UserMessage extends Schema.Class<UserMessage>("effect-llm/UserMessage")({
  role: Schema.Literal("user"),
  content: Schema.String
}) {}

/**
 * An earlier model turn: text and/or tool calls.
 *
 * @since 0.1.0
 * @category models
 */
export class AssistantMessage extends Schema.Class<AssistantMessage>("effect-llm/AssistantMessage")({
  role: Schema.Literal("assistant"),
  content: Schema.optionalWith(Schema.String, { default: () => "" }),
  toolCalls: Schema.optionalWith(Schema.Array(ToolCall), { default: () => [] })
}) {}

/**
 * The result of a tool call, answering the call with `toolCallId`.
 *
 * @since 0.1.0
 * @category models
 */
export class ToolMessage extends Schema.Class<ToolMessage>("effect-llm/ToolMessage")({
  role: Schema.Literal("tool"),
  toolCallId: Schema.NonEmptyString,
  content: Schema.String,
  isError: Schema.optional(Schema.Boolean)
}) {}

/**
 * One turn of a conversation, discriminated by `role`.
 *
 * @since 0.1.0
 * @category models
 */
export const Message = Schema.Union(SystemMessage, UserMessage, AssistantMessage, ToolMessage)

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type

/**
 * A tool the model may call; `parameters` is a JSON Schema object.
 *
 * @since 0.1.0
 * @category models
 */
export class Tool extends Schema.Class<Tool>("effect-llm/Tool")({
  name: Schema.String.pipe(Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/)),
  description: Schema.optional(Schema.String),
  parameters: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  strict: Schema.optional(Schema.Boolean)
}) {}

/**
 * Whether and which tool the model must call.
 *
 * @since 0.1.0
 * @category models
 */
export const ToolChoice = Schema.Union(
  Schema.Literal("auto", "none", "required"),
  Schema.Struct({ tool: Schema.String })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ToolChoice = typeof ToolChoice.Type

/**
 * What shape the answer must have: free text, any JSON object, or JSON matching a
 * schema (enforced natively where the provider can).
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseFormat = Schema.Union(
  Schema.Struct({ type: Schema.Literal("text") }),
  Schema.Struct({ type: Schema.Literal("json") }),
  Schema.Struct({
    type: Schema.Literal("jsonSchema"),
    name: Schema.String.pipe(Schema.pattern(/^[a-zA-Z0-9_-]{1,64}$/)),
    description: Schema.optional(Schema.String),
    schema: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
    strict: Schema.optional(Schema.Boolean)
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ResponseFormat = typeof ResponseFormat.Type

/**
 * Who the call is for. Budgets, rate limits and cache namespaces key on it.
 *
 * @since 0.1.0
 * @category models
 */
export class Metadata extends Schema.Class<Metadata>("effect-llm/Metadata")({
  tenant: Schema.optional(Schema.NonEmptyString),
  user: Schema.optional(Schema.NonEmptyString),
  tags: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
}) {}

/**
 * What is wrong with the caller's JSON objects in a request (tool parameters, a
 * response schema), or true: nesting deeper than `maxDepth`, or a value JSON
 * cannot carry (see `nonJsonValue`). Checked on the whole request, not on those
 * fields: Schema's failure inside an optional field formats the value recursively
 * and overflowed on it, as the cache key, the token count and the SDKs did.
 */
const checkJsonFields = (request: {
  readonly tools?: ReadonlyArray<{ readonly name: string; readonly parameters: unknown }> | undefined
  readonly responseFormat?: ResponseFormat | undefined
}): true | string => {
  const fields: Array<readonly [string, unknown]> = (request.tools ?? []).map((tool, i) => [`tools[${i}] (${tool.name}) parameters`, tool.parameters])
  if (request.responseFormat?.type === "jsonSchema") fields.push(["responseFormat schema", request.responseFormat.schema])
  for (const [name, value] of fields) {
    if (tooDeep(value)) return `nested deeper than ${maxDepth} levels`
    const found = nonJsonValue(value)
    if (found !== undefined) return `${name} hold ${found}, which JSON cannot carry`
  }
  return true
}

/**
 * A request to a language model. Decoding validates it: an empty conversation, a
 * negative `maxTokens` or an unknown role never reaches the network.
 *
 * @since 0.1.0
 * @category models
 */
export class Request extends Schema.Class<Request>("effect-llm/Request")(Schema.Struct({
  messages: Schema.NonEmptyArray(Message),
  /** Overrides the provider's default model. */
  model: Schema.optional(Schema.NonEmptyString),
  maxTokens: Schema.optional(Schema.Int.pipe(Schema.positive())),
  temperature: Schema.optional(Schema.Number.pipe(Schema.between(0, 2))),
  topP: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  stop: Schema.optional(Schema.Array(Schema.NonEmptyString)),
  seed: Schema.optional(Schema.Int),
  tools: Schema.optional(Schema.Array(Tool)),
  toolChoice: Schema.optional(ToolChoice),
  responseFormat: Schema.optional(ResponseFormat),
  metadata: Schema.optional(Metadata),
  /** Per-request cache control: skip the caches, or call and overwrite the entry. */
  cache: Schema.optional(Schema.Struct({
    bypass: Schema.optional(Schema.Boolean),
    refresh: Schema.optional(Schema.Boolean)
  }))
}).pipe(Schema.filter(checkJsonFields))) {}

/**
 * What callers may pass for a request: the JSON shape of {@link Request}.
 *
 * @since 0.1.0
 * @category models
 */
export type RequestInput = Schema.Schema.Encoded<typeof Request>

// -----------------------------------------------------------------------------
// Responses
// -----------------------------------------------------------------------------

const Count = Schema.Int.pipe(Schema.nonNegative())
const zero = { default: () => 0 } as const

/**
 * Token usage. `cachedInputTokens` and `cacheWriteTokens` are parts of
 * `inputTokens`; `reasoningTokens` is part of `outputTokens` (billed as output).
 *
 * @since 0.1.0
 * @category models
 */
export class Usage extends Schema.Class<Usage>("effect-llm/Usage")({
  inputTokens: Count,
  outputTokens: Count,
  cachedInputTokens: Schema.optionalWith(Count, zero),
  cacheWriteTokens: Schema.optionalWith(Count, zero),
  reasoningTokens: Schema.optionalWith(Count, zero)
}) {
  /** @since 0.1.0 */
  get totalTokens(): number {
    return this.inputTokens + this.outputTokens
  }
}

/**
 * Why the model stopped.
 *
 * @since 0.1.0
 * @category models
 */
export const FinishReason = Schema.Literal("stop", "length", "tool_calls", "content_filter", "refusal", "other")

/**
 * @since 0.1.0
 * @category models
 */
export type FinishReason = typeof FinishReason.Type

/**
 * What the call cost in USD; `estimated` when the usage was not reported in full.
 *
 * @since 0.1.0
 * @category models
 */
export class Cost extends Schema.Class<Cost>("effect-llm/Cost")({
  usd: Schema.NonNegative,
  estimated: Schema.Boolean
}) {}

/**
 * How a cache served the response.
 *
 * @since 0.1.0
 * @category models
 */
export class CacheInfo extends Schema.Class<CacheInfo>("effect-llm/CacheInfo")({
  kind: Schema.Literal("exact", "semantic"),
  similarity: Schema.optional(Schema.Number),
  ageMillis: Schema.NonNegative
}) {}

/**
 * One step of the route a call took: which provider and model was tried and how it
 * ended (`error` holds the failure's tag).
 *
 * @since 0.1.0
 * @category models
 */
export class Attempt extends Schema.Class<Attempt>("effect-llm/Attempt")({
  provider: Schema.String,
  model: Schema.String,
  outcome: Schema.Literal("success", "failure", "skipped", "interrupted"),
  error: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String),
  durationMillis: Schema.NonNegative
}) {}

/**
 * A model's answer, with what it cost and how it was served.
 *
 * @since 0.1.0
 * @category models
 */
export class Response extends Schema.Class<Response>("effect-llm/Response")({
  /** The provider's id for the response, when it gives one. */
  id: Schema.optional(Schema.String),
  text: Schema.String,
  toolCalls: Schema.optionalWith(Schema.Array(ToolCall), { default: () => [] }),
  finishReason: FinishReason,
  refusal: Schema.optional(Schema.String),
  usage: Usage,
  /** The provider and model that actually served. */
  provider: Schema.String,
  model: Schema.String,
  cost: Schema.optional(Cost),
  cache: Schema.optional(CacheInfo),
  attempts: Schema.optionalWith(Schema.Array(Attempt), { default: () => [] }),
  /** The route a `Router` chose for the request, when one did. */
  route: Schema.optional(Schema.String),
  latencyMillis: Schema.NonNegative
}) {}

// -----------------------------------------------------------------------------
// Stream events
// -----------------------------------------------------------------------------

/**
 * A piece of answer text.
 *
 * @since 0.1.0
 * @category models
 */
export class TextDelta extends Schema.TaggedClass<TextDelta>("effect-llm/TextDelta")("TextDelta", {
  text: Schema.String
}) {}

/**
 * A piece of a tool call; `id` and `name` come with the first piece of each
 * `index`, `argumentsDelta` appends to its arguments.
 *
 * @since 0.1.0
 * @category models
 */
export class ToolCallDelta extends Schema.TaggedClass<ToolCallDelta>("effect-llm/ToolCallDelta")("ToolCallDelta", {
  index: Count,
  id: Schema.optional(Schema.String),
  name: Schema.optional(Schema.String),
  argumentsDelta: Schema.String
}) {}

/**
 * Usage so far, when a provider reports it before the end.
 *
 * @since 0.1.0
 * @category models
 */
export class UsageEvent extends Schema.TaggedClass<UsageEvent>("effect-llm/UsageEvent")("UsageEvent", {
  usage: Usage
}) {}

/**
 * The last event of every complete stream. A stream that ends without it failed.
 *
 * @since 0.1.0
 * @category models
 */
export class Finish extends Schema.TaggedClass<Finish>("effect-llm/Finish")("Finish", {
  id: Schema.optional(Schema.String),
  reason: FinishReason,
  refusal: Schema.optional(Schema.String),
  usage: Usage,
  provider: Schema.String,
  model: Schema.String,
  cost: Schema.optional(Cost),
  cache: Schema.optional(CacheInfo),
  attempts: Schema.optionalWith(Schema.Array(Attempt), { default: () => [] }),
  route: Schema.optional(Schema.String),
  latencyMillis: Schema.optional(Schema.NonNegative)
}) {}

/**
 * One event of a streamed answer.
 *
 * @since 0.1.0
 * @category models
 */
export const StreamEvent = Schema.Union(TextDelta, ToolCallDelta, UsageEvent, Finish)

/**
 * @since 0.1.0
 * @category models
 */
export type StreamEvent = typeof StreamEvent.Type

// -----------------------------------------------------------------------------
// The service
// -----------------------------------------------------------------------------

/**
 * A provider and model a stack may call (for pricing and budgets).
 *
 * @since 0.1.0
 * @category models
 */
export interface ModelRef {
  readonly provider: string
  readonly model: string
}

/**
 * What a language model (a provider, or a provider wrapped in middleware) does.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Every provider/model this stack may call. */
  readonly models: ReadonlyArray<ModelRef>
  readonly generate: (request: Request) => Effect.Effect<Response, LlmError.LlmError>
  readonly stream: (request: Request) => Stream.Stream<StreamEvent, LlmError.LlmError>
  /**
   * Optional: the same stream as a pull in the caller's scope. A middleware that
   * reads its inner stream chunk by chunk takes this when it is there (see
   * {@link pullOf}): each `Stream` run between two layers is a channel executor
   * (≈ 0.4 ms CPU a stream on the bench machine), pulls handed down are not. A
   * service that has it must give the same events and errors as `stream`, and a
   * wrapper must not pass on an inner service's `streamPull` with its own `stream`.
   */
  readonly streamPull?: ((request: Request) => Effect.Effect<StreamPull, LlmError.LlmError, Scope.Scope>) | undefined
}

/**
 * The next chunk of a stream's events; fails with `None` at the end of the stream.
 *
 * @since 0.1.0
 * @category models
 */
export type StreamPull = Effect.Effect<Chunk.Chunk<StreamEvent>, Option.Option<LlmError.LlmError>>

/**
 * A service's stream as a pull in the current scope: its `streamPull`, or its
 * `stream` run by `Stream.toPull`.
 *
 * @since 0.1.0
 * @category streaming
 */
export const pullOf = (service: Service, request: Request): Effect.Effect<StreamPull, LlmError.LlmError, Scope.Scope> =>
  service.streamPull !== undefined ? service.streamPull(request) : Stream.toPull(service.stream(request))

/**
 * The stream of a pull opened per run, in the stream's scope.
 *
 * @since 0.1.0
 * @category streaming
 */
export const fromPull = (
  open: Effect.Effect<StreamPull, LlmError.LlmError, Scope.Scope>
): Stream.Stream<StreamEvent, LlmError.LlmError> => Stream.unwrapScoped(Effect.map(open, Stream.repeatEffectChunkOption))

const pullEnd: Effect.Effect<never, Option.Option<never>> = Effect.fail(Option.none())

/**
 * A pull that hands over `events` in one chunk, then ends (a replay, an answer
 * checked whole).
 *
 * @since 0.1.0
 * @category streaming
 */
export const pullOnce = (events: ReadonlyArray<StreamEvent>): StreamPull => {
  let served = false
  return Effect.suspend(() => {
    if (served) return pullEnd
    served = true
    return Effect.succeed(Chunk.unsafeFromArray(events))
  })
}

/**
 * The language model service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class LanguageModel extends Context.Tag("effect-llm/LanguageModel")<LanguageModel, Service>() {}

/** One line per problem; an optional field's "Expected undefined" is noise beside the real issue. */
const describeIssues = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): string => {
  const pathOf = (issue: ParseResult.ArrayFormatterIssue) => (issue.path.length > 0 ? issue.path.join(".") : "(request)")
  // Issues per path counted once: searching the list for each issue was quadratic
  // (4,000 bad tools took 5 s to describe).
  const perPath = new Map<string, number>()
  for (const issue of issues) perPath.set(pathOf(issue), (perPath.get(pathOf(issue)) ?? 0) + 1)
  const informative = issues.filter((issue) => !(issue.message.startsWith("Expected undefined") && perPath.get(pathOf(issue))! > 1))
  return [...new Set(informative.map((issue) => `${pathOf(issue)}: ${issue.message}`))].join("; ")
}

const decodeRequestUnknown = Schema.decodeUnknown(Request, { errors: "all", onExcessProperty: "error" })

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && Object.getPrototypeOf(u) === Object.prototype

const isInt = (u: unknown): u is number => typeof u === "number" && Number.isSafeInteger(u)

/** The request fields {@link fastRequest} checks by hand; any other key takes the Schema path. */
const fastRequestFields: Readonly<Record<string, (value: unknown) => boolean>> = {
  messages: () => true, // checked message by message
  model: (v) => v === undefined || (typeof v === "string" && v.length > 0),
  maxTokens: (v) => v === undefined || (isInt(v) && v > 0),
  temperature: (v) => v === undefined || (typeof v === "number" && v >= 0 && v <= 2),
  topP: (v) => v === undefined || (typeof v === "number" && v >= 0 && v <= 1),
  seed: (v) => v === undefined || isInt(v),
  stop: (v) => v === undefined || (Array.isArray(v) && v.every((s) => typeof s === "string" && s.length > 0))
}

/** A system, user or text-only assistant message given as `{ role, content }`, or undefined. */
const fastMessage = (u: unknown): Message | undefined => {
  if (!isPlainObject(u)) return undefined
  let keys = 0
  for (const _ in u) keys++
  const { content, role } = u
  if (keys !== 2 || typeof content !== "string") return undefined
  switch (role) {
    case "system":
      return Construct.make(SystemMessage, { role, content })
    case "user":
      return Construct.make(UserMessage, { role, content })
    case "assistant":
      return Construct.make(AssistantMessage, { role, content, toolCalls: [] })
    default:
      return undefined
  }
}

/**
 * The common request shape (plain messages with a role and text, the sampling
 * fields) checked by hand: what the Schema decode would make of it, without its
 * cost (~25 µs a call). Anything else — tools, formats, metadata, a field out of
 * range, an unknown key — returns undefined and is decoded (and reported) by the
 * Schema.
 */
const fastRequest = (input: unknown): Request | undefined => {
  if (!isPlainObject(input)) return undefined
  const props: Record<string, unknown> = {}
  for (const key in input) {
    const check = fastRequestFields[key]
    const value = input[key]
    if (check === undefined || !Object.hasOwn(fastRequestFields, key) || !check(value)) return undefined
    props[key] = key === "stop" && Array.isArray(value) ? [...value] : value
  }
  const messages = input["messages"]
  if (!Array.isArray(messages) || messages.length === 0) return undefined
  const decoded: Array<Message> = []
  for (const message of messages) {
    const m = fastMessage(message)
    if (m === undefined) return undefined
    decoded.push(m)
  }
  props["messages"] = decoded
  return Construct.make(Request, props as unknown as Schema.Struct.Type<typeof Request.fields>)
}

/**
 * Validates caller input into a {@link Request}, failing with `InvalidRequest`
 * (code `invalid_request`) and a readable list of the problems.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decodeRequest = (input: Request | RequestInput): Effect.Effect<Request, LlmError.InvalidRequest> => {
  const known = knownRequest(input)
  return known !== undefined ? Effect.succeed(known) : decodeBySchema(input)
}

/** The input as a `Request` when it is one or passes {@link fastRequest}, without an Effect. */
const knownRequest = (input: Request | RequestInput): Request | undefined =>
  input instanceof Request ? input : fastRequest(input)

/** {@link decodeRequest} for an input {@link knownRequest} did not take. */
const decodeBySchema = (input: RequestInput): Effect.Effect<Request, LlmError.InvalidRequest> => {
  // Before the Schema: its error messages, the cache key and the token count recurse.
  if (tooDeep(input)) {
    return Effect.fail(new LlmError.InvalidRequest({ message: `Invalid request: nested deeper than ${maxDepth} levels`, code: "invalid_request" }))
  }
  return decodeRequestUnknown(input).pipe(
      Effect.mapError((error) =>
        new LlmError.InvalidRequest({
          message: `Invalid request: ${describeIssues(ParseResult.ArrayFormatter.formatErrorSync(error))}`,
          code: "invalid_request"
        })
      )
    )
}

/**
 * Generates a response with the `LanguageModel` in context, validating the input
 * first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const generate = (
  input: Request | RequestInput
): Effect.Effect<Response, LlmError.LlmError, LanguageModel> => {
  // The common input is known at once: one step to the service instead of a decode
  // step, a service lookup step and the lookup's own.
  const known = knownRequest(input)
  return known !== undefined
    ? Effect.contextWithEffect((context: Context.Context<LanguageModel>) => Context.get(context, LanguageModel).generate(known))
    : Effect.flatMap(decodeBySchema(input), (request) => Effect.flatMap(LanguageModel, (lm) => lm.generate(request)))
}

/**
 * Streams a response with the `LanguageModel` in context, validating the input
 * first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const stream = (
  input: Request | RequestInput
): Stream.Stream<StreamEvent, LlmError.LlmError, LanguageModel> =>
  Stream.unwrap(Effect.flatMap(decodeRequest(input), (request) => Effect.map(LanguageModel, (lm) => lm.stream(request))))

// -----------------------------------------------------------------------------
// Converting between responses and streams
// -----------------------------------------------------------------------------

interface ToolCallParts {
  id: string
  name: string
  arguments: string
}

/** Tool calls assembled by index, in index order. */
const inIndexOrder = <A>(calls: ReadonlyMap<number, A>): Array<A> =>
  [...calls.keys()].sort((a, b) => a - b).map((index) => calls.get(index)!)

/**
 * The {@link Response} a list of stream events describes, or `undefined` when it
 * does not end in `Finish`: text deltas joined, tool-call deltas assembled by
 * index, the rest from `Finish`. Pure: used by {@link collect} and by the caches
 * to add up a recorded stream without running it.
 *
 * @since 0.1.0
 * @category conversions
 */
export const fromEvents = (events: Iterable<StreamEvent>): Response | undefined => {
  let text = ""
  // By index in a Map: an array indexed by a provider's number was sparse up to it
  // (index 1e9: a 40 s walk) or skipped it (2^32 - 1 is not an array index).
  const calls = new Map<number, ToolCallParts>()
  let finish: Finish | undefined
  for (const event of events) {
    switch (event._tag) {
      case "TextDelta":
        text += event.text
        break
      case "ToolCallDelta": {
        let call = calls.get(event.index)
        if (call === undefined) calls.set(event.index, call = { id: "", name: "", arguments: "" })
        if (event.id !== undefined) call.id = event.id
        if (event.name !== undefined) call.name = event.name
        call.arguments += event.argumentsDelta
        break
      }
      case "Finish":
        finish = event
        break
    }
  }
  if (finish === undefined) return undefined
  // Every part comes from already-valid events: built without re-validating, with
  // absent optional members left out as the Schema constructor leaves them.
  const props: Record<string, unknown> = {
    text,
    toolCalls: inIndexOrder(calls).map((c) => Construct.make(ToolCall, c)),
    finishReason: finish.reason,
    usage: finish.usage,
    provider: finish.provider,
    model: finish.model,
    attempts: finish.attempts,
    latencyMillis: finish.latencyMillis ?? 0
  }
  if (finish.id !== undefined) props["id"] = finish.id
  if (finish.refusal !== undefined) props["refusal"] = finish.refusal
  if (finish.cost !== undefined) props["cost"] = finish.cost
  if (finish.cache !== undefined) props["cache"] = finish.cache
  if (finish.route !== undefined) props["route"] = finish.route
  return Construct.make(Response, props as unknown as Schema.Struct.Type<typeof Response.fields>)
}

/**
 * Assembles a stream into the {@link Response} it describes. Fails with
 * `ProviderUnavailable` (stream-interrupted) when the stream ends without
 * `Finish`.
 *
 * @since 0.1.0
 * @category conversions
 */
export const collect = <E, R>(events: Stream.Stream<StreamEvent, E, R>): Effect.Effect<
  Response,
  E | LlmError.ProviderUnavailable,
  R
> =>
  Effect.flatMap(Stream.runCollect(events), finished)

/**
 * {@link collect} for a pull: reads it to its end and adds the events up, failing
 * as `collect` does when they do not finish.
 *
 * @since 0.1.0
 * @category conversions
 */
export const collectPull = (pull: StreamPull): Effect.Effect<Response, LlmError.LlmError> =>
  Effect.suspend(() => {
    const events: Array<StreamEvent> = []
    const loop: Effect.Effect<Response, LlmError.LlmError> = Effect.matchEffect(pull, {
      onSuccess: (chunk) => {
        for (const event of chunk) events.push(event)
        return loop
      },
      onFailure: (error) => Option.isSome(error) ? Effect.fail(error.value) : finished(events)
    })
    return loop
  })

const finished = (events: Iterable<StreamEvent>): Effect.Effect<Response, LlmError.ProviderUnavailable> => {
  const response = fromEvents(events)
  return response !== undefined ? Effect.succeed(response) : Effect.fail(
    new LlmError.ProviderUnavailable({ kind: "stream-interrupted", message: "The stream ended without finishing" })
  )
}

/**
 * The events that describe a response: its text as one delta, its tool calls, and
 * `Finish`. Used to serve a stream from a finished response (caches, scripts).
 *
 * @since 0.1.0
 * @category conversions
 */
export const toEvents = (response: Response): ReadonlyArray<StreamEvent> => {
  const events: Array<StreamEvent> = []
  if (response.text.length > 0) events.push(new TextDelta({ text: response.text }))
  response.toolCalls.forEach((call, index) =>
    events.push(new ToolCallDelta({ index, id: call.id, name: call.name, argumentsDelta: call.arguments }))
  )
  events.push(finishOf(response))
  return events
}

/**
 * The `Finish` event of a response.
 *
 * @since 0.1.0
 * @category conversions
 */
export const finishOf = (response: Response): Finish =>
  new Finish({
    id: response.id,
    reason: response.finishReason,
    refusal: response.refusal,
    usage: response.usage,
    provider: response.provider,
    model: response.model,
    cost: response.cost,
    cache: response.cache,
    attempts: response.attempts,
    route: response.route,
    latencyMillis: response.latencyMillis
  })

/**
 * The text of the last user message, if any (what guards scan and semantic caches
 * embed).
 *
 * @since 0.1.0
 * @category getters
 */
export const lastUserText = (request: Request): Option.Option<string> => {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!
    if (message.role === "user") return Option.some(message.content)
  }
  return Option.none()
}
