/**
 * Prompt-injection defence as `LanguageModel` middleware: the three guard layers
 * wired around a model.
 *
 * - **Input** ({@link makeInput}): every user and tool message is scanned by the
 *   `InjectionScanner` (rules, plus any classifier such as an LLM judge); a flagged
 *   message fails the call with `InjectionDetected` before it costs a token.
 * - **Output** ({@link makeOutput}): per request, a random canary is planted in the
 *   system prompt and tool results are spotlighted (random boundary tags the data
 *   cannot close); the answer is checked by `OutputGuard` (canary leak, protected
 *   strings, secrets, PII, allowed actions, JSON schema) and fails with
 *   `OutputRejected`, or comes back redacted.
 *
 * Streams are checked as they flow. Text is passed on up to the last whitespace
 * (and before a trailing run of digits that may be a phone or card number), so a
 * secret, e-mail or canary split across chunks is held back until it is complete
 * and can be redacted or refused before any of it reaches the caller. Tool-call
 * deltas are held until `Finish`, when the assembled calls and the assembled text
 * are checked as a whole (leaks spelled out across chunks, schema).
 *
 * The two halves are separate layers because they belong at different places in
 * the stack: the input scan outermost (before caches: a flagged request is never
 * served, not even from cache), the output half below the caches (its canary and
 * spotlight tags are random per request, which must not enter a cache key), as in
 * `Telemetry → Guard.input → caches → Guard.output → Budget → …`.
 *
 * @since 0.1.0
 */
import { Array as Arr, Chunk, Effect, Either, Layer, Option, type Scope, Stream } from "effect"
import * as LanguageModel from "../LanguageModel.js"
import * as Construct from "../internal/construct.js"
import * as LlmError from "../LlmError.js"
import * as InjectionScanner from "./InjectionScanner.js"
import * as Secrets from "./internal/secrets.js"
import * as OutputGuard from "./OutputGuard.js"
import * as Spotlight from "./Spotlight.js"

/**
 * Options of the input half. Defaults: built-in rules at threshold 1, scanning
 * user and tool messages.
 *
 * @since 0.1.0
 * @category models
 */
export interface InputOptions {
  readonly scanner?: InjectionScanner.Options
  /** Which messages are scanned (default user and tool). */
  readonly roles?: ReadonlyArray<"user" | "tool" | "assistant" | "system">
}

/**
 * Options of the output half. Defaults: canary on, tool results spotlighted
 * (`delimit`), secrets rejected, PII off, streams checked incrementally.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputOptions extends OutputGuard.Options {
  /** Plant a canary token in the system prompt and refuse answers that leak it (default true). */
  readonly canary?: boolean
  /** Spotlight untrusted messages (default `{ roles: ["tool"] }`); `false` for off. */
  readonly spotlight?: (Spotlight.Options & { readonly roles?: ReadonlyArray<"user" | "tool"> }) | false
  /**
   * `incremental` (default): stream text as it becomes safe; `buffer`: collect the
   * whole answer, check it, then replay it (nothing reaches the caller unchecked).
   */
  readonly stream?: "incremental" | "buffer"
}

/**
 * Options of the whole guard; `false` switches a half off.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly input?: InputOptions | false
  readonly output?: OutputOptions | false
}

const roleIndex = (request: LanguageModel.Request, roles: ReadonlySet<string>) =>
  request.messages.flatMap((message, index) => (roles.has(message.role) ? [{ message, index }] : []))

/**
 * The input half: scans the request's messages and fails with
 * `InjectionDetected` when one is flagged.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeInput = (options: InputOptions = {}) =>
(inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.map(InjectionScanner.make(options.scanner), (scanner) => {
    const roles = new Set<string>(options.roles ?? ["user", "tool"])
    // Without asynchronous classifiers (the default: rules plus the in-process
    // model) the scan is plain synchronous code: one `suspend` per call, no
    // per-message effects and no spans (Telemetry owns spans).
    // A `model` without `classifySync` (an effect-only judge) is asynchronous too.
    const model = options.scanner?.model
    const asynchronous = (model !== undefined && model !== false && model.classifySync === undefined) ||
      (options.scanner?.classifiers ?? []).some((c) => c.classifySync === undefined)
    if (!asynchronous) {
      const firstFlagged = (request: LanguageModel.Request): LlmError.InjectionDetected | undefined => {
        const messages = request.messages
        for (let index = 0; index < messages.length; index++) {
          const message = messages[index]!
          if (!roles.has(message.role)) continue
          const result = scanner.scanSync(message.content)
          if (result.flagged) return InjectionScanner.toError(result, `message ${index} (${message.role})`)
        }
        return undefined
      }
      return {
        models: inner.models,
        generate: (request) =>
          Effect.suspend(() => {
            const flagged = firstFlagged(request)
            return flagged === undefined ? inner.generate(request) : Effect.fail(flagged)
          }),
        stream: (request) =>
          Stream.suspend(() => {
            const flagged = firstFlagged(request)
            return flagged === undefined ? inner.stream(request) : Stream.fail(flagged)
          }),
        streamPull: (request) =>
          Effect.suspend(() => {
            const flagged = firstFlagged(request)
            return flagged === undefined ? LanguageModel.pullOf(inner, request) : Effect.fail(flagged)
          })
      }
    }
    const check = (request: LanguageModel.Request): Effect.Effect<void, LlmError.LlmError> =>
      Effect.forEach(roleIndex(request, roles), ({ index, message }) =>
        Effect.flatMap(scanner.scan(message.content), (result) =>
          result.flagged
            ? Effect.fail(InjectionScanner.toError(result, `message ${index} (${message.role})`))
            : Effect.void), { discard: true })
    return {
      models: inner.models,
      generate: (request) => Effect.zipRight(check(request), inner.generate(request)),
      stream: (request) => Stream.unwrap(Effect.as(check(request), inner.stream(request))),
      streamPull: (request) => Effect.zipRight(check(request), LanguageModel.pullOf(inner, request))
    }
  })

interface Prepared {
  readonly request: LanguageModel.Request
  readonly context: OutputGuard.Context
}

/**
 * Runs `f` on a request with a fresh canary planted and untrusted messages
 * spotlit. The options are read once; a request with no untrusted message to wrap
 * (the usual case) skips Spotlight's per-message walk and costs the canary's
 * draws and one `flatMap` (binds, not `Effect.zipWith`, which runs through `Effect.all`).
 */
const preparer = (options: OutputOptions) => {
  const spotlight = options.spotlight ?? { roles: ["tool"] as const }
  const roles = spotlight === false ? undefined : new Set<string>(spotlight.roles ?? ["tool"])
  const spotlit = (request: LanguageModel.Request): Effect.Effect<LanguageModel.Request> | undefined =>
    roles === undefined || !request.messages.some((m) => roles.has(m.role))
      ? undefined
      : Spotlight.apply(request, spotlight as Spotlight.Options & { readonly roles?: ReadonlyArray<"user" | "tool"> })
  const plain = (request: LanguageModel.Request): Prepared => ({ request, context: { request, canary: undefined } })
  const planted = (request: LanguageModel.Request, token: string): Prepared => {
    const next = withMessages(request, Spotlight.withSystem(request.messages, OutputGuard.canaryInstruction(token)))
    return { request: next, context: { request: next, canary: token } }
  }
  const canary = options.canary ?? true
  return <A, E, R>(request: LanguageModel.Request, f: (prepared: Prepared) => Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const wrapped = spotlit(request)
    if (!canary) return wrapped === undefined ? Effect.suspend(() => f(plain(request))) : Effect.flatMap(wrapped, (next) => f(plain(next)))
    return wrapped === undefined
      ? Effect.flatMap(OutputGuard.makeCanary, (token) => f(planted(request, token)))
      : Effect.flatMap(wrapped, (next) => Effect.flatMap(OutputGuard.makeCanary, (token) => f(planted(next, token))))
  }
}

const withMessages = (request: LanguageModel.Request, messages: ReadonlyArray<LanguageModel.Message>): LanguageModel.Request =>
  // Built without the Schema constructor (src/internal/construct.ts): every part is
  // already valid, and the constructor costs microseconds per call.
  Arr.isNonEmptyReadonlyArray(messages) ? Construct.make(LanguageModel.Request, { ...request, messages }) : request

/** Characters of keys and tokens: a forced cut never falls between two of them. */
const isTokenCode = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46 || c === 43 ||
  c === 47 || c === 61 || c === 126

/**
 * Where text can be released: after the last whitespace, before a trailing run
 * of digits, spaces and phone punctuation (a number may still be growing), and
 * before the start of an unfinished secret that spans whitespace (released in
 * pieces, each piece alone would pass the check; see `internal/secrets.ts`). Held-back text is capped at 1 KB, except an unfinished
 * private key (held to its END line or the end of the answer); a cut the cap
 * forces backs off to the start of the key-like run it would split (up to 256
 * characters), so a key inside a long run without spaces is released whole.
 */
const safeCut = (pending: string): number => {
  const open = Secrets.unfinishedAt(pending)
  if (open?.unbounded === true) return open.at
  const tail = /(?:[+(]?\d[\d ().-]*)?\S*$/.exec(pending)
  let cut = pending.length - (tail === null ? 0 : tail[0].length)
  if (open !== undefined && open.at < cut) cut = open.at
  const forced = pending.length - 1024
  if (cut >= forced) return cut
  let at = forced
  while (at > forced - 256 && at > 0 && isTokenCode(pending.charCodeAt(at - 1)) && isTokenCode(pending.charCodeAt(at))) at--
  return at > forced - 256 ? at : forced
}

/**
 * The output half: plants a canary, spotlights untrusted messages, and checks
 * answers (see the module comment for streams).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeOutput = (options: OutputOptions = {}) =>
(inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.sync(() => {
    const withPrepared = preparer(options)
    const generate = (request: LanguageModel.Request) =>
      withPrepared(request, (prepared) =>
        Effect.flatMap(inner.generate(prepared.request), (response) => OutputGuard.check(response, options, prepared.context)))

    // The inner stream read whole in its own scope (released before the checked answer goes out).
    const streamBufferedPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError> =>
      withPrepared(request, (prepared) =>
        Effect.scoped(Effect.flatMap(LanguageModel.pullOf(inner, prepared.request), LanguageModel.collectPull)).pipe(
          Effect.flatMap((response) => OutputGuard.check(response, options, prepared.context)),
          Effect.map((response) => LanguageModel.pullOnce(LanguageModel.toEvents(response)))
        ))

    const streamIncrementalPull = (request: LanguageModel.Request): Effect.Effect<LanguageModel.StreamPull, LlmError.LlmError, Scope.Scope> =>
      withPrepared(request, (prepared) => {
        const { context } = prepared
        let assembled = ""
        let pending = ""
        // By index in a Map: an array indexed by a provider's number was sparse up to it
        // (index 1e9: a 40 s walk) or skipped it (2^32 - 1 is not an array index, so
        // that call escaped the argument check).
        const calls = new Map<number, { id: string; name: string; arguments: string }>()
        const heldCalls: Array<LanguageModel.StreamEvent> = []

        const release = (text: string): Either.Either<ReadonlyArray<LanguageModel.StreamEvent>, LlmError.OutputRejected> =>
          text.length === 0
            ? Either.right([])
            : Either.map(OutputGuard.checkText(text, options, {}), (safe) => safe.length === 0 ? [] : [Construct.make(LanguageModel.TextDelta, { _tag: "TextDelta", text: safe })])

        const leakOptions: OutputGuard.Options = { protectedStrings: options.protectedStrings, secrets: "off", pii: "off" }
        const leakContext: OutputGuard.Context = { canary: context.canary }
        const leakCheck = (window: string): Either.Either<void, LlmError.OutputRejected> =>
          Either.map(OutputGuard.checkText(window, leakOptions, leakContext), () => undefined)

        const onEvent = (event: LanguageModel.StreamEvent): Either.Either<ReadonlyArray<LanguageModel.StreamEvent>, LlmError.OutputRejected> => {
          switch (event._tag) {
            case "TextDelta": {
              assembled += event.text
              pending += event.text
              // Leaks are checked on a window of the assembled text, so a canary split
              // across chunks is seen whole; the full text is checked again at Finish.
              const leak = leakCheck(assembled.slice(-2048))
              if (Either.isLeft(leak)) return Either.left(leak.left)
              const cut = safeCut(pending)
              const ready = pending.slice(0, cut)
              pending = pending.slice(cut)
              return release(ready)
            }
            case "ToolCallDelta": {
              let call = calls.get(event.index)
              if (call === undefined) calls.set(event.index, call = { id: "", name: "", arguments: "" })
              if (event.id !== undefined) call.id = event.id
              if (event.name !== undefined) {
                call.name = event.name
                const allowed = OutputGuard.checkToolCalls(
                  [new LanguageModel.ToolCall({ id: call.id, name: call.name, arguments: "{}" })],
                  { allowedActions: options.allowedActions, checkToolArguments: false, secrets: "off" },
                  context
                )
                if (Either.isLeft(allowed)) return Either.left(allowed.left)
              }
              call.arguments += event.argumentsDelta
              heldCalls.push(event)
              return Either.right([])
            }
            case "UsageEvent":
              return Either.right([event])
            case "Finish": {
              // The whole text once more, with every check: whatever the pieces hid
              // (a leak spelled out across chunks, a secret split by a forced cut) is
              // refused now; its redacted form is what the schema sees, as in `generate`.
              const whole = OutputGuard.checkText(assembled, options, leakContext)
              if (Either.isLeft(whole)) return Either.left(whole.left)
              const toolCalls = [...calls.keys()].sort((a, b) => a - b).map((index) => new LanguageModel.ToolCall(calls.get(index)!))
              const tools = OutputGuard.checkToolCalls(toolCalls, options, context)
              if (Either.isLeft(tools)) return Either.left(tools.left)
              const schema = OutputGuard.checkSchema(whole.right, options, context)
              if (Either.isLeft(schema)) return Either.left(schema.left)
              const rest = release(pending)
              pending = ""
              return Either.map(rest, (events) => [...events, ...heldCalls, event])
            }
          }
        }

        // Each chunk's events checked in order; what they release goes out as one
        // chunk, and a refusal after the events before it (as one event at a time).
        let refused: LlmError.OutputRejected | undefined
        const onChunk = (chunk: Chunk.Chunk<LanguageModel.StreamEvent>): LanguageModel.StreamPull => {
          const out: Array<LanguageModel.StreamEvent> = []
          for (const event of chunk) {
            const released = onEvent(event)
            if (Either.isLeft(released)) {
              refused = released.left
              break
            }
            for (const e of released.right) out.push(e)
          }
          return refused !== undefined && out.length === 0 ? Effect.fail(Option.some(refused)) : Effect.succeed(Chunk.unsafeFromArray(out))
        }
        return Effect.map(LanguageModel.pullOf(inner, prepared.request), (pull): LanguageModel.StreamPull =>
          Effect.suspend(() => refused !== undefined ? Effect.fail(Option.some(refused)) : Effect.flatMap(pull, onChunk)))
      })

    return options.stream === "buffer"
      ? {
        models: inner.models,
        generate,
        stream: (request) => LanguageModel.fromPull(streamBufferedPull(request)),
        streamPull: streamBufferedPull
      }
      : {
        models: inner.models,
        generate,
        stream: (request) => LanguageModel.fromPull(streamIncrementalPull(request)),
        streamPull: streamIncrementalPull
      }
  })

/**
 * Both halves around one model: input scan outside, output checks inside.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}) => (inner: LanguageModel.Service): Effect.Effect<LanguageModel.Service> =>
  Effect.gen(function*() {
    const withOutput = options.output === false ? inner : yield* makeOutput(options.output ?? {})(inner)
    return options.input === false ? withOutput : yield* makeInput(options.input ?? {})(withOutput)
  })

/**
 * The input half as a Layer from LanguageModel to LanguageModel.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerInput = (options?: InputOptions): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, makeInput(options)))

/**
 * The output half as a Layer from LanguageModel to LanguageModel.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOutput = (options?: OutputOptions): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, makeOutput(options)))

/**
 * Both halves as one Layer (use {@link layerInput} and {@link layerOutput} to place
 * them around caches).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<LanguageModel.LanguageModel, never, LanguageModel.LanguageModel> =>
  Layer.effect(LanguageModel.LanguageModel, Effect.flatMap(LanguageModel.LanguageModel, make(options)))

/**
 * The canary planted in a request by the output half, if any (for tests and
 * logs: it is the last `Confidential marker:` of the system prompt).
 *
 * @since 0.1.0
 * @category getters
 */
export const canaryOf = (request: LanguageModel.Request): Option.Option<string> => {
  const system = request.messages.find((m) => m.role === "system")
  const m = system === undefined ? null : /Confidential marker: (cnry-[a-z0-9]+)/.exec(system.content)
  return m === null ? Option.none() : Option.some(m[1]!)
}
