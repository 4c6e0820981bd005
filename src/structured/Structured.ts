/**
 * Structured output: an Effect `Schema` in, a decoded value out — on every
 * provider, with the failures real users hit handled explicitly.
 *
 * The Schema becomes a strict JSON Schema ({@link JsonSchema.make}) sent as the
 * request's `responseFormat` (mode `native`: OpenAI `response_format` json_schema
 * strict, Anthropic `output_config`), as JSON mode plus the schema in the system
 * prompt (mode `json`: OpenAI-compatible local servers), or as a forced tool
 * whose parameters are the schema (mode `tool`). The answer is decoded with the
 * Schema itself, so refinements and transformations apply. A decode failure is
 * re-asked with the failed output and the readable decode error, up to
 * `maxAttempts`; then the call fails with `MalformedOutput`.
 *
 * Failures that a re-ask cannot fix are reported as what they are:
 * - an answer cut at `maxTokens` (finish reason `length`) that does not decode
 *   fails at once with `MalformedOutput` whose `finishReason` is `length`;
 * - a refusal (finish reason `refusal`, or `Response.refusal`) fails at once with
 *   `ContentFiltered` carrying the model's refusal text: it is the model's
 *   content policy speaking, the same kind of failure as a provider's content
 *   filter, and re-asking it or reading it as malformed JSON would be wrong.
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, ParseResult, Schema, SchemaAST, Stream } from "effect"
import { maxDepth, tooDeep } from "../internal/depth.js"
import { unfence } from "../internal/fence.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as JsonSchema from "./JsonSchema.js"
import * as PartialJson from "./PartialJson.js"

/**
 * How the schema is enforced:
 * - `native`: the request's `responseFormat` is
 *   `{ type: "jsonSchema", name, schema, strict: true }` (OpenAI json_schema
 *   strict, Anthropic `output_config.format`, servers that support json_schema);
 * - `json`: `responseFormat: { type: "json" }` and the schema in the system prompt,
 *   for OpenAI-compatible servers without json_schema support;
 * - `tool`: a tool whose parameters are the schema, forced with `toolChoice`; the
 *   answer is the call's arguments.
 *
 * @since 0.1.0
 * @category models
 */
export type Mode = "native" | "json" | "tool"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default `native`. */
  readonly mode?: Mode | undefined
  /**
   * The schema's (or tool's) name, `[a-zA-Z0-9_-]{1,64}`. Default: the Schema's
   * `identifier` annotation, or `output`.
   */
  readonly name?: string | undefined
  /** Sent as the schema's (or tool's) description. */
  readonly description?: string | undefined
  /** Calls in all, first one included (default 3). */
  readonly maxAttempts?: number | undefined
  /** Constraint keywords to keep in the JSON Schema instead of the description. */
  readonly keep?: ReadonlyArray<JsonSchema.ConstraintKeyword> | undefined
}

/**
 * A decoded value with the response it came from and how many calls it took.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<A> {
  readonly value: A
  readonly response: LanguageModel.Response
  readonly attempts: number
}

/**
 * What a partial value may look like: every property optional, strings possibly
 * unfinished (so string literals widen to `string`).
 *
 * @since 0.1.0
 * @category models
 */
export type DeepPartial<T> = T extends string ? string
  : T extends number | boolean | null | undefined ? T
  : T extends ReadonlyArray<infer U> ? ReadonlyArray<DeepPartial<U>>
  : T extends object ? { readonly [K in keyof T]?: DeepPartial<T[K]> }
  : T

/**
 * A partial value of the Schema's encoded shape, not validated yet, emitted each
 * time more of it has arrived. `text` is the raw text so far.
 *
 * @since 0.1.0
 * @category models
 */
export interface PartialValue<I> {
  readonly _tag: "Partial"
  readonly value: DeepPartial<I>
  readonly text: string
}

/**
 * The last element of a structured stream: the decoded value and the response.
 *
 * @since 0.1.0
 * @category models
 */
export interface Complete<A> {
  readonly _tag: "Complete"
  readonly value: A
  readonly response: LanguageModel.Response
}

/**
 * One element of {@link stream}.
 *
 * @since 0.1.0
 * @category models
 */
export type Part<A, I> = PartialValue<I> | Complete<A>

/**
 * The strict JSON Schema a Schema is sent as (for inspection, or to build a
 * request by hand). Fails with `InvalidRequest` (code `unsupported_schema`) when
 * the schema has no strict form.
 *
 * @since 0.1.0
 * @category utils
 */
export const jsonSchema = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  options: Pick<Options, "keep"> = {}
): Effect.Effect<JsonSchema.JsonObject, LlmError.InvalidRequest> =>
  Effect.map(prepare(schema, options), (prepared) => prepared.strict.schema)

// -----------------------------------------------------------------------------
// Preparing the request
// -----------------------------------------------------------------------------

interface Prepared {
  readonly strict: JsonSchema.Strict
  readonly name: string
  readonly mode: Mode
}

const namePattern = /^[a-zA-Z0-9_-]{1,64}$/

const nameOf = <A, I, R>(schema: Schema.Schema<A, I, R>, options: Options): string => {
  if (options.name !== undefined) return options.name
  const ast = schema.ast
  const identifier = Option.getOrUndefined(
    Option.orElse(
      SchemaAST.getIdentifierAnnotation(ast),
      () => ast._tag === "Transformation" ? SchemaAST.getIdentifierAnnotation(ast.to) : Option.none()
    )
  )
  const cleaned = identifier?.replace(/[^a-zA-Z0-9_-]/g, "_").slice(0, 64)
  return cleaned !== undefined && cleaned.length > 0 ? cleaned : "output"
}

const prepare = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  options: Options
): Effect.Effect<Prepared, LlmError.InvalidRequest> =>
  Effect.suspend(() => {
    const name = nameOf(schema, options)
    if (!namePattern.test(name)) {
      return Effect.fail(
        new LlmError.InvalidRequest({
          message: `The structured output name ${JSON.stringify(name)} must match [a-zA-Z0-9_-]{1,64}`,
          code: "invalid_request",
          param: "name"
        })
      )
    }
    return Either.match(JsonSchema.make(schema, { keep: options.keep }), {
      onLeft: (error) =>
        Effect.fail(
          new LlmError.InvalidRequest({ message: error.message, code: "unsupported_schema", param: error.path })
        ),
      onRight: (strict) => Effect.succeed({ strict, name, mode: options.mode ?? "native" })
    })
  })

const jsonInstruction = (prepared: Prepared) =>
  `Answer with one JSON value and nothing else: no prose, no code fence. ` +
  `It must match this JSON Schema (every property is required; use null where a value is absent):\n` +
  JSON.stringify(prepared.strict.schema)

const withMessages = (
  request: LanguageModel.Request,
  messages: ReadonlyArray<LanguageModel.Message>,
  extra: Partial<ConstructorParameters<typeof LanguageModel.Request>[0]> = {}
): LanguageModel.Request => {
  const [first, ...rest] = messages
  return new LanguageModel.Request({ ...request, ...extra, messages: [first!, ...rest] })
}

/** The request of the first attempt: the format (or tool) set, the instruction added. */
const firstRequest = (request: LanguageModel.Request, prepared: Prepared, options: Options): LanguageModel.Request => {
  switch (prepared.mode) {
    case "native":
      return withMessages(request, request.messages, {
        responseFormat: {
          type: "jsonSchema",
          name: prepared.name,
          schema: prepared.strict.schema,
          strict: true,
          ...(options.description !== undefined ? { description: options.description } : {})
        }
      })
    case "json": {
      const instruction = jsonInstruction(prepared)
      const index = request.messages.findIndex((m) => m.role === "system")
      const messages = index >= 0
        ? request.messages.map((m, i) =>
          i === index ? new LanguageModel.SystemMessage({ role: "system", content: `${m.content}\n\n${instruction}` }) : m
        )
        : [new LanguageModel.SystemMessage({ role: "system", content: instruction }), ...request.messages]
      return withMessages(request, messages, { responseFormat: { type: "json" } })
    }
    case "tool":
      return withMessages(request, request.messages, {
        responseFormat: undefined,
        tools: [
          ...(request.tools ?? []).filter((t) => t.name !== prepared.name),
          new LanguageModel.Tool({
            name: prepared.name,
            description: options.description ?? "Give your answer as the arguments of this tool.",
            parameters: prepared.strict.schema,
            strict: true
          })
        ],
        toolChoice: { tool: prepared.name }
      })
  }
}

// -----------------------------------------------------------------------------
// Reading the answer
// -----------------------------------------------------------------------------

interface Raw {
  readonly text: string
  /** The tool call the text came from (mode `tool`). */
  readonly call?: LanguageModel.ToolCall | undefined
}

const rawOf = (response: LanguageModel.Response, prepared: Prepared): Raw => {
  if (prepared.mode === "tool") {
    const call = response.toolCalls.find((c) => c.name === prepared.name)
    if (call !== undefined) return { text: call.arguments, call }
  }
  return { text: response.text }
}

const decodeText = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  prepared: Prepared,
  raw: Raw
): Effect.Effect<Either.Either<A, string>, never, R> => {
  let json: unknown
  try {
    json = JSON.parse(unfence(raw.text))
  } catch (error) {
    return Effect.succeed(Either.left(
      raw.text.trim().length === 0
        ? prepared.mode === "tool" ? `Expected a call of the tool ${prepared.name}, got no call and no JSON text` : "The answer was empty"
        : `The answer is not valid JSON: ${error instanceof Error ? error.message : String(error)}`
    ))
  }
  // The Schema's error message prints the value recursively: a model's 3,000 "[" overflowed it.
  if (tooDeep(json)) return Effect.succeed(Either.left(`The answer's JSON nests deeper than ${maxDepth} levels`))
  return Schema.decodeUnknown(schema, { errors: "all" })(prepared.strict.fromWire(json)).pipe(
    Effect.map(Either.right),
    Effect.catchAll((error) => Effect.succeed(Either.left(ParseResult.TreeFormatter.formatErrorSync(error))))
  )
}

const refused = (refusal: string, origin: { provider: string; model: string }) =>
  new LlmError.ContentFiltered({ ...origin, message: `The model refused to answer: ${refusal}` })

const isRefusal = (reason: LanguageModel.FinishReason, refusal: string | undefined) =>
  reason === "refusal" || refusal !== undefined

const malformed = (
  raw: string,
  issues: string,
  attempts: number,
  finishReason: string,
  origin: { provider: string; model: string }
) =>
  new LlmError.MalformedOutput({
    ...origin,
    raw,
    issues,
    attempts,
    finishReason,
    message: finishReason === "length"
      ? `The structured answer was cut at maxTokens (finish reason length) and does not decode; raise maxTokens. ${issues}`
      : `The structured answer did not match the schema after ${attempts} attempt(s): ${issues}`
  })

/** The request of the next attempt: the failed answer and what was wrong with it. */
const reask = (request: LanguageModel.Request, raw: Raw, issues: string, prepared: Prepared): LanguageModel.Request => {
  const feedback = `Your answer did not match the required schema:\n${issues}\n` +
    (prepared.mode === "tool"
      ? `Call ${prepared.name} again with corrected arguments.`
      : "Reply again with only the corrected JSON.")
  // A call without an id (some OpenAI-compatible servers send `""`) cannot be
  // answered by a tool message: it gets one, unique in the conversation.
  const call = raw.call === undefined || raw.call.id.length > 0
    ? raw.call
    : new LanguageModel.ToolCall({ ...raw.call, id: `call_reask_${request.messages.length}` })
  const turns: Array<LanguageModel.Message> = call !== undefined
    ? [
      new LanguageModel.AssistantMessage({ role: "assistant", content: "", toolCalls: [call] }),
      new LanguageModel.ToolMessage({ role: "tool", toolCallId: call.id, content: feedback, isError: true })
    ]
    : [
      new LanguageModel.AssistantMessage({ role: "assistant", content: raw.text, toolCalls: [] }),
      new LanguageModel.UserMessage({ role: "user", content: feedback })
    ]
  return withMessages(request, [...request.messages, ...turns])
}

// -----------------------------------------------------------------------------
// generate
// -----------------------------------------------------------------------------

/**
 * Like {@link generate}, with the response the value came from and the number of
 * calls it took.
 *
 * @since 0.1.0
 * @category constructors
 */
export const generateResult = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  request: LanguageModel.Request | LanguageModel.RequestInput,
  options: Options = {}
): Effect.Effect<Result<A>, LlmError.LlmError, LanguageModel.LanguageModel | R> =>
  Effect.gen(function*() {
    const prepared = yield* prepare(schema, options)
    const base = yield* LanguageModel.decodeRequest(request)
    const model = yield* LanguageModel.LanguageModel
    const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 3))
    let current = firstRequest(base, prepared, options)
    for (let attempt = 1;; attempt++) {
      const response = yield* model.generate(current)
      const origin = { provider: response.provider, model: response.model }
      if (isRefusal(response.finishReason, response.refusal)) {
        return yield* Effect.fail(refused(response.refusal ?? response.text, origin))
      }
      const raw = rawOf(response, prepared)
      const decoded = yield* decodeText(schema, prepared, raw)
      if (Either.isRight(decoded)) return { value: decoded.right, response, attempts: attempt }
      if (response.finishReason === "length") {
        return yield* Effect.fail(malformed(raw.text, decoded.left, attempt, "length", origin))
      }
      if (attempt >= maxAttempts) {
        return yield* Effect.fail(malformed(raw.text, decoded.left, attempt, response.finishReason, origin))
      }
      yield* Effect.logDebug("structured output did not decode; re-asking").pipe(
        Effect.annotateLogs({ attempt, issues: decoded.left })
      )
      current = reask(current, raw, decoded.left, prepared)
    }
  }).pipe(Effect.withSpan("Structured.generate"))

/**
 * Asks for an answer shaped by `schema` and decodes it: re-asks with the decode
 * error on a mismatch (up to `maxAttempts`), then fails with `MalformedOutput`;
 * fails with `MalformedOutput` (finish reason `length`) on a truncated answer and
 * with `ContentFiltered` on a refusal; `InvalidRequest` (code
 * `unsupported_schema`) when the schema has no strict form.
 *
 * @example
 * ```ts
 * const ExtractedData = Schema.Struct({
 *   name: Schema.String,
 *   email: Schema.optional(Schema.String),
 *   sentiment: Schema.Literal("positive", "negative", "neutral"),
 *   confidence: Schema.Number.pipe(Schema.between(0, 1))
 * })
 * const data = Structured.generate(ExtractedData, {
 *   messages: [{ role: "user", content: "Extract data from: ..." }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const generate = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  request: LanguageModel.Request | LanguageModel.RequestInput,
  options: Options = {}
): Effect.Effect<A, LlmError.LlmError, LanguageModel.LanguageModel | R> =>
  Effect.map(generateResult(schema, request, options), (result) => result.value)

// -----------------------------------------------------------------------------
// stream
// -----------------------------------------------------------------------------

/** Characters of partial parsing each streamed character pays for (see `stream`). */
const PARSE_CREDIT = 32
/** Parsing credit before anything has arrived: a partial per delta for answers up to about 4 KB. */
const PARSE_CREDIT_START = 2_000_000

/**
 * Streams an answer shaped by `schema`: a `Partial` element each time more of
 * the JSON has arrived (parsed tolerantly, not validated, in the Schema's encoded
 * shape), then one `Complete` element with the decoded value and the response.
 * There is no re-ask while streaming: a final value that does not decode fails
 * with `MalformedOutput` (attempts 1); truncation and refusals fail as in
 * {@link generate}. Partial parsing is bounded to a constant times the answer's
 * length: past a few kilobytes, partials come every few deltas rather than every one.
 *
 * @since 0.1.0
 * @category constructors
 */
export const stream = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  request: LanguageModel.Request | LanguageModel.RequestInput,
  options: Options = {}
): Stream.Stream<Part<A, I>, LlmError.LlmError, LanguageModel.LanguageModel | R> =>
  Stream.unwrap(Effect.gen(function*() {
    const prepared = yield* prepare(schema, options)
    const base = yield* LanguageModel.decodeRequest(request)
    const model = yield* LanguageModel.LanguageModel
    const events: Array<LanguageModel.StreamEvent> = []
    let text = ""
    let toolIndex: number | undefined
    let last: string | undefined
    // Each partial parse reads the whole text so far, so one per delta is quadratic
    // in the answer's length (a 64 KB answer cost 15-60 s of CPU). Parsing is paid
    // for by what arrives: every character earns PARSE_CREDIT characters of parsing,
    // on top of a start that gives answers up to about 4 KB a partial per delta; past
    // that, partials come every 1/32 of the length, and the total stays linear.
    let credit = PARSE_CREDIT_START

    const progress = (): ReadonlyArray<Part<A, I>> => {
      if (credit < text.length) return []
      credit -= text.length
      const parsed = PartialJson.parse(text)
      if (parsed === undefined) return []
      const value = prepared.strict.fromWire(parsed.value, true)
      if (value === undefined) return []
      const key = JSON.stringify(value)
      if (key === last) return []
      last = key
      return [{ _tag: "Partial", value: value as DeepPartial<I>, text }]
    }

    const onEvent = (event: LanguageModel.StreamEvent): ReadonlyArray<Part<A, I>> => {
      events.push(event)
      switch (event._tag) {
        case "TextDelta":
          if (prepared.mode === "tool" && toolIndex !== undefined) return []
          text += event.text
          credit += event.text.length * PARSE_CREDIT
          return progress()
        case "ToolCallDelta":
          if (prepared.mode !== "tool") return []
          if (toolIndex === undefined && event.name === prepared.name) {
            toolIndex = event.index
            text = ""
          }
          if (event.index !== toolIndex) return []
          text += event.argumentsDelta
          credit += event.argumentsDelta.length * PARSE_CREDIT
          return progress()
        default:
          return []
      }
    }

    const finish = Effect.gen(function*() {
      const response = yield* LanguageModel.collect(Stream.fromIterable(events))
      const origin = { provider: response.provider, model: response.model }
      if (isRefusal(response.finishReason, response.refusal)) {
        return yield* Effect.fail(refused(response.refusal ?? response.text, origin))
      }
      const raw = rawOf(response, prepared)
      const decoded = yield* decodeText(schema, prepared, raw)
      if (Either.isLeft(decoded)) {
        return yield* Effect.fail(malformed(raw.text, decoded.left, 1, response.finishReason, origin))
      }
      const complete: Part<A, I> = { _tag: "Complete", value: decoded.right, response }
      return complete
    })

    return model.stream(firstRequest(base, prepared, options)).pipe(
      Stream.mapConcat(onEvent),
      Stream.concat(Stream.fromEffect(finish))
    )
  }))
