/**
 * A loopback HTTP server that speaks the OpenAI and Anthropic wire formats, so the
 * real SDKs can be tested, benchmarked and demonstrated without a network or keys.
 *
 * Routes: OpenAI `POST /v1/chat/completions` (JSON and SSE, `stream_options.
 * include_usage`), `POST /v1/embeddings` (float and base64), `GET /v1/models`;
 * Anthropic `POST /v1/messages` (JSON and SSE). Faults are scriptable per call:
 * an HTTP error with any status, body and headers; latency before the headers; a
 * slow first token; per-token delay; an error event mid-stream; a dropped
 * connection; a request that never answers. Every request is kept in a journal
 * with how it ended, so tests can see an aborted upstream call.
 *
 * Written on `node:http` rather than `@effect/platform`'s HttpServer because it
 * must control the socket byte by byte (drops, half-written streams) and see the
 * client's disconnect as such.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"

/**
 * Which wire format a request used.
 *
 * @since 0.1.0
 * @category models
 */
export type Route = "openai" | "anthropic" | "embeddings"

/**
 * A fault injected into one call.
 *
 * - `error`: answer with `status`, a body in the provider's error shape (built from
 *   `type`, `code` and `message`, or `body` verbatim) and `headers`.
 * - `midStreamError`: a streamed call sends `afterChunks` content chunks, then an
 *   SSE error event in the provider's shape, then ends.
 * - `drop`: the connection is destroyed after `afterChunks` content chunks (a
 *   non-streamed call is dropped before any byte of its answer).
 * - `hang`: nothing is ever sent; only the client can end the call.
 *
 * @since 0.1.0
 * @category models
 */
export type Fault =
  | {
    readonly kind: "error"
    readonly status: number
    readonly type?: string
    readonly code?: string
    readonly message?: string
    readonly body?: unknown
    readonly headers?: Readonly<Record<string, string>>
  }
  | { readonly kind: "midStreamError"; readonly afterChunks: number; readonly type?: string; readonly message?: string }
  | { readonly kind: "drop"; readonly afterChunks: number }
  | { readonly kind: "hang" }

/**
 * How the simulator answers one call. Everything is optional; the default is a
 * short text answer that quotes the last user message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Behavior {
  readonly text?: string
  readonly toolCalls?: ReadonlyArray<{ readonly id?: string; readonly name: string; readonly arguments: string }>
  /** In the provider's own vocabulary, e.g. `length` (OpenAI) or `max_tokens` (Anthropic). */
  readonly finishReason?: string
  /** A refusal (OpenAI `message.refusal`; Anthropic `stop_reason: "refusal"`). */
  readonly refusal?: string
  readonly usage?: {
    readonly input?: number
    readonly output?: number
    readonly cachedInput?: number
    readonly cacheWrite?: number
    readonly reasoning?: number
  }
  /** The model reported as serving (default: the requested one). */
  readonly model?: string
  /** Delay before the response headers, in milliseconds. */
  readonly latencyMs?: number
  /** Streams: delay after the headers before the first content chunk. */
  readonly firstTokenDelayMs?: number
  /** Streams: delay between content chunks. */
  readonly tokenDelayMs?: number
  /** Streams: how the text is split (default: one chunk per word). */
  readonly chunks?: ReadonlyArray<string>
  /** Streams: leave out the final usage chunk even when it was asked for. */
  readonly omitUsage?: boolean
  readonly fault?: Fault
}

/**
 * What a handler sees of a call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Call {
  readonly id: number
  readonly route: Route
  readonly body: unknown
  readonly headers: Http.IncomingHttpHeaders
  readonly stream: boolean
}

/**
 * Decides the behaviour of calls that have no queued behaviour. Return
 * `undefined` for the default answer.
 *
 * @since 0.1.0
 * @category models
 */
export type Handler = (call: Call) => Behavior | undefined

/**
 * One request as the simulator saw it, and how it ended: `completed` (fully
 * answered), `aborted` (the client closed the connection first), `dropped` (the
 * simulator cut it, as scripted), or `pending`.
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalEntry {
  readonly id: number
  readonly route: Route | "models" | "unknown"
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: unknown
  readonly stream: boolean
  status: number | undefined
  outcome: "pending" | "completed" | "aborted" | "dropped"
  chunksSent: number
  readonly startedAt: number
  endedAt: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Port to listen on (default: any free port on 127.0.0.1). */
  readonly port?: number
  /** When set, requests must carry this key (`Authorization: Bearer` or `x-api-key`) or get a 401. */
  readonly apiKey?: string
  /** Dimensions of `/v1/embeddings` vectors (default 256). */
  readonly embeddingDimensions?: number
}

/**
 * A running simulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Simulator {
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** What to pass as the OpenAI SDK's `baseURL` (`url` + `/v1`). */
  readonly openaiBaseURL: string
  /** What to pass as the Anthropic SDK's `baseURL`. */
  readonly anthropicBaseURL: string
  /** Queues behaviours for the next calls of a route, used in order. */
  readonly enqueue: (route: Route, ...behaviors: ReadonlyArray<Behavior>) => Effect.Effect<void>
  /** Sets the handler for calls with nothing queued (`undefined` restores the default). */
  readonly setHandler: (handler: Handler | undefined) => Effect.Effect<void>
  /** A copy of the journal. */
  readonly journal: Effect.Effect<ReadonlyArray<JournalEntry>>
  /** Waits until an entry satisfies the predicate (checked on every change). */
  readonly awaitEntry: (predicate: (entry: JournalEntry) => boolean) => Effect.Effect<JournalEntry>
  /** Clears queues, handler and journal. */
  readonly reset: Effect.Effect<void>
}

/**
 * The simulator in context (see {@link layer}).
 *
 * @since 0.1.0
 * @category tags
 */
export class ProviderSimulator extends Context.Tag("effect-llm/testing/ProviderSimulator")<
  ProviderSimulator,
  Simulator
>() {}

/** The loose view of a wire body the simulator reads fields from. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Wire = any

const wire = (body: unknown): Wire => (typeof body === "object" && body !== null ? body : {})

const sleep = (ms: number | undefined) =>
  ms === undefined || ms <= 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, ms))

const approxTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))

const splitWords = (text: string): ReadonlyArray<string> => text.match(/\S+\s*|\s+/g) ?? []

const contentText = (content: unknown): string => {
  if (typeof content === "string") return content
  if (Array.isArray(content)) {
    return content.map((part) =>
      typeof part === "object" && part !== null && "text" in part && typeof part.text === "string"
        ? part.text
        : typeof part === "object" && part !== null && "content" in part
        ? contentText(part.content)
        : ""
    ).join("")
  }
  return ""
}

const lastUserText = (messages: unknown): string => {
  if (!Array.isArray(messages)) return ""
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]
    if (m?.role === "user") return contentText(m.content)
  }
  return ""
}

const promptText = (body: Wire): string =>
  [contentText(body?.system), ...(Array.isArray(body?.messages) ? body.messages.map((m: Wire) => contentText(m?.content)) : [])]
    .join("\n")

/**
 * A deterministic embedding: hashed word unigrams and bigrams, L2-normalized, so
 * texts sharing words are close. Stands in for a real embedding model.
 */
const embed = (text: string, dimensions: number): Array<number> => {
  const vector = new Array<number>(dimensions).fill(0)
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
  const features = [...words, ...words.slice(1).map((w, i) => `${words[i]} ${w}`)]
  for (const feature of features) {
    const digest = createHash("sha256").update(feature).digest()
    const index = digest.readUInt32LE(0) % dimensions
    vector[index]! += digest[4]! & 1 ? 1 : -1
  }
  const norm = Math.sqrt(vector.reduce((s, v) => s + v * v, 0)) || 1
  return vector.map((v) => v / norm)
}

const toBase64 = (vector: ReadonlyArray<number>) => Buffer.from(new Float32Array(vector).buffer).toString("base64")

const openaiFinish: Record<string, string> = { stop: "stop", length: "length", tool_calls: "tool_calls" }

/**
 * Starts a simulator on loopback; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Simulator, never, import("effect/Scope").Scope> =>
  Effect.acquireRelease(
    Effect.async<{ simulator: Simulator; server: Http.Server }>((resume) => {
      const state = create(options)
      state.server.listen(options.port ?? 0, "127.0.0.1", () => {
        const { port } = state.server.address() as AddressInfo
        resume(Effect.succeed({ simulator: state.simulator(`http://127.0.0.1:${port}`), server: state.server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ simulator }) => simulator))

/**
 * A simulator as a Layer, for tests that share one per file.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<ProviderSimulator> =>
  Layer.scoped(ProviderSimulator, make(options))

const create = (options: Options) => {
  const queues: Record<Route, Array<Behavior>> = { openai: [], anthropic: [], embeddings: [] }
  let handler: Handler | undefined
  let journal: Array<JournalEntry> = []
  let nextId = 1
  const listeners = new Set<() => void>()
  const changed = () => listeners.forEach((listener) => listener())
  const dimensions = options.embeddingDimensions ?? 256

  const behaviorFor = (call: Call): Behavior => queues[call.route].shift() ?? handler?.(call) ?? {}

  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!
      const raw = Buffer.concat(chunks).toString("utf8")
      let body: unknown = undefined
      try {
        body = raw.length > 0 ? JSON.parse(raw) : undefined
      } catch {
        body = raw
      }
      const route: JournalEntry["route"] = req.method === "POST" && path === "/v1/chat/completions"
        ? "openai"
        : req.method === "POST" && path === "/v1/messages"
        ? "anthropic"
        : req.method === "POST" && path === "/v1/embeddings"
        ? "embeddings"
        : req.method === "GET" && path === "/v1/models"
        ? "models"
        : "unknown"
      const entry: JournalEntry = {
        id: nextId++,
        route,
        method: req.method ?? "GET",
        path,
        headers: req.headers,
        body,
        stream: wire(body).stream === true,
        status: undefined,
        outcome: "pending",
        chunksSent: 0,
        startedAt: Date.now(),
        endedAt: undefined
      }
      journal.push(entry)
      changed()
      res.on("close", () => {
        if (entry.outcome === "pending") entry.outcome = res.writableFinished ? "completed" : "aborted"
        entry.endedAt = Date.now()
        changed()
      })
      void serve(entry, req, res).catch(() => {
        if (!res.headersSent) {
          res.writeHead(500, { "content-type": "application/json" })
          res.end(JSON.stringify({ error: { message: "simulator failure", type: "server_error" } }))
        } else {
          res.destroy()
        }
      })
    })
  })

  const authorized = (req: Http.IncomingMessage) => {
    if (options.apiKey === undefined) return true
    return req.headers.authorization === `Bearer ${options.apiKey}` || req.headers["x-api-key"] === options.apiKey
  }

  const write = (_entry: JournalEntry, res: Http.ServerResponse, data: string) => {
    if (res.destroyed) return false
    res.write(data)
    return true
  }

  const serve = async (entry: JournalEntry, req: Http.IncomingMessage, res: Http.ServerResponse) => {
    const provider = entry.route === "anthropic" ? "anthropic" : "openai"
    if (entry.route === "unknown") {
      return sendError(entry, res, provider, { kind: "error", status: 404, type: "not_found_error", message: `No route ${entry.method} ${entry.path}` })
    }
    if (!authorized(req)) {
      return sendError(entry, res, provider, {
        kind: "error",
        status: 401,
        type: provider === "anthropic" ? "authentication_error" : "invalid_request_error",
        code: provider === "anthropic" ? undefined : "invalid_api_key",
        message: "Incorrect API key provided"
      })
    }
    if (entry.route === "models") {
      entry.status = 200
      res.writeHead(200, { "content-type": "application/json" })
      res.end(JSON.stringify({ object: "list", data: [{ id: "sim-model", object: "model", created: 0, owned_by: "simulator" }] }))
      return
    }
    const call: Call = { id: entry.id, route: entry.route, body: entry.body, headers: entry.headers, stream: entry.stream }
    const behavior = behaviorFor(call)
    await sleep(behavior.latencyMs)
    if (res.destroyed) return
    const fault = behavior.fault
    if (fault?.kind === "hang") return
    if (fault?.kind === "error") return sendError(entry, res, provider, fault)
    if (fault?.kind === "drop" && !entry.stream) {
      entry.outcome = "dropped"
      res.destroy()
      return
    }
    if (entry.route === "embeddings") return sendEmbeddings(entry, res)
    const reply = replyOf(entry.body, behavior)
    if (provider === "openai") {
      return entry.stream ? streamOpenAi(entry, res, reply, behavior) : sendJson(entry, res, openAiCompletion(entry, reply))
    }
    return entry.stream ? streamAnthropic(entry, res, reply, behavior) : sendJson(entry, res, anthropicMessage(entry, reply))
  }

  const sendJson = (entry: JournalEntry, res: Http.ServerResponse, body: unknown) => {
    entry.status = 200
    res.writeHead(200, { "content-type": "application/json", "x-request-id": `req_sim_${entry.id}` })
    res.end(JSON.stringify(body))
  }

  const sendError = (
    entry: JournalEntry,
    res: Http.ServerResponse,
    provider: "openai" | "anthropic",
    fault: Extract<Fault, { kind: "error" }>
  ) => {
    const message = fault.message ?? `Simulated error ${fault.status}`
    const body = fault.body ?? (provider === "anthropic"
      ? { type: "error", error: { type: fault.type ?? "api_error", message }, request_id: `req_sim_${entry.id}` }
      : { error: { message, type: fault.type ?? "server_error", param: null, code: fault.code ?? null } })
    entry.status = fault.status
    res.writeHead(fault.status, { "content-type": "application/json", ...fault.headers })
    res.end(typeof body === "string" ? body : JSON.stringify(body))
  }

  const sendEmbeddings = (entry: JournalEntry, res: Http.ServerResponse) => {
    const body = wire(entry.body)
    const inputs: Array<string> = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? "")]
    const size = typeof body.dimensions === "number" ? body.dimensions : dimensions
    const base64 = body.encoding_format === "base64"
    sendJson(entry, res, {
      object: "list",
      data: inputs.map((input, index) => {
        const vector = embed(input, size)
        return { object: "embedding", index, embedding: base64 ? toBase64(vector) : vector }
      }),
      model: body.model ?? "sim-embedding",
      usage: { prompt_tokens: inputs.reduce((n, s) => n + approxTokens(s), 0), total_tokens: inputs.reduce((n, s) => n + approxTokens(s), 0) }
    })
  }

  interface Reply {
    readonly text: string
    readonly toolCalls: ReadonlyArray<{ readonly id: string; readonly name: string; readonly arguments: string }>
    readonly finishReason: string | undefined
    readonly refusal: string | undefined
    readonly model: string
    readonly usage: { input: number; output: number; cachedInput: number; cacheWrite: number; reasoning: number }
  }

  const replyOf = (body: Wire, behavior: Behavior): Reply => {
    const text = behavior.text ?? (behavior.toolCalls?.length || behavior.refusal
      ? ""
      : `Simulated answer to: ${lastUserText(body?.messages).slice(0, 200)}`)
    const toolCalls = (behavior.toolCalls ?? []).map((call, i) => ({ id: call.id ?? `call_sim_${i}`, name: call.name, arguments: call.arguments }))
    const outputText = text + (behavior.refusal ?? "") + toolCalls.map((c) => c.name + c.arguments).join("")
    return {
      text,
      toolCalls,
      finishReason: behavior.finishReason,
      refusal: behavior.refusal,
      model: behavior.model ?? String(body?.model ?? "sim-model"),
      usage: {
        input: behavior.usage?.input ?? approxTokens(promptText(body)),
        output: behavior.usage?.output ?? approxTokens(outputText),
        cachedInput: behavior.usage?.cachedInput ?? 0,
        cacheWrite: behavior.usage?.cacheWrite ?? 0,
        reasoning: behavior.usage?.reasoning ?? 0
      }
    }
  }

  // --- OpenAI -----------------------------------------------------------------

  const openAiFinishReason = (reply: Reply) =>
    reply.finishReason ?? (reply.toolCalls.length > 0 ? "tool_calls" : "stop")

  const openAiUsage = (reply: Reply) => ({
    prompt_tokens: reply.usage.input,
    completion_tokens: reply.usage.output,
    total_tokens: reply.usage.input + reply.usage.output,
    prompt_tokens_details: { cached_tokens: reply.usage.cachedInput, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: reply.usage.reasoning, audio_tokens: 0 }
  })

  const openAiCompletion = (entry: JournalEntry, reply: Reply) => ({
    id: `chatcmpl-sim-${entry.id}`,
    object: "chat.completion",
    created: Math.floor(entry.startedAt / 1000),
    model: reply.model,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: reply.refusal !== undefined && reply.text === "" ? null : reply.text,
        refusal: reply.refusal ?? null,
        ...(reply.toolCalls.length > 0
          ? { tool_calls: reply.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })) }
          : {})
      },
      logprobs: null,
      finish_reason: openaiFinish[openAiFinishReason(reply)] ?? openAiFinishReason(reply)
    }],
    usage: openAiUsage(reply)
  })

  /** Sends content pieces with the scripted timing and faults; false when the stream must stop. */
  const sendPieces = async (
    entry: JournalEntry,
    res: Http.ServerResponse,
    pieces: ReadonlyArray<string>,
    behavior: Behavior,
    errorEvent: (type: string, message: string) => string
  ): Promise<boolean> => {
    const fault = behavior.fault
    await sleep(behavior.firstTokenDelayMs)
    for (let i = 0; i <= pieces.length; i++) {
      if (fault?.kind === "drop" && fault.afterChunks === i) {
        // Let what was sent reach the client before the connection goes.
        await new Promise<void>((resolve) => res.write("", () => resolve()))
        await sleep(5)
        entry.outcome = "dropped"
        res.destroy()
        return false
      }
      if (fault?.kind === "midStreamError" && fault.afterChunks === i) {
        write(entry, res, errorEvent(fault.type ?? "server_error", fault.message ?? "Simulated mid-stream error"))
        entry.outcome = "completed"
        res.end()
        return false
      }
      if (i === pieces.length) break
      if (i > 0) await sleep(behavior.tokenDelayMs)
      if (!write(entry, res, pieces[i]!)) return false
      entry.chunksSent++
    }
    return !res.destroyed
  }

  const streamOpenAi = async (entry: JournalEntry, res: Http.ServerResponse, reply: Reply, behavior: Behavior) => {
    entry.status = 200
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "x-request-id": `req_sim_${entry.id}` })
    const base = { id: `chatcmpl-sim-${entry.id}`, object: "chat.completion.chunk", created: Math.floor(entry.startedAt / 1000), model: reply.model }
    const frame = (choices: unknown, extra: object = {}) => `data: ${JSON.stringify({ ...base, choices, ...extra })}\n\n`
    const delta = (d: object, finish: string | null = null) => frame([{ index: 0, delta: d, logprobs: null, finish_reason: finish }])
    write(entry, res, delta({ role: "assistant", content: "" }))
    const pieces = [
      ...(behavior.chunks ?? splitWords(reply.text)).map((text) => delta({ content: text })),
      ...(reply.refusal !== undefined ? [delta({ refusal: reply.refusal })] : []),
      ...reply.toolCalls.flatMap((call, index) => [
        delta({ tool_calls: [{ index, id: call.id, type: "function", function: { name: call.name, arguments: "" } }] }),
        ...splitArgs(call.arguments).map((part) => delta({ tool_calls: [{ index, function: { arguments: part } }] }))
      ])
    ]
    const ok = await sendPieces(entry, res, pieces, behavior, (type, message) =>
      `data: ${JSON.stringify({ error: { message, type, param: null, code: null } })}\n\n`)
    if (!ok) return
    write(entry, res, delta({}, openaiFinish[openAiFinishReason(reply)] ?? openAiFinishReason(reply)))
    if (wire(entry.body).stream_options?.include_usage === true && behavior.omitUsage !== true) {
      write(entry, res, frame([], { usage: openAiUsage(reply) }))
    }
    write(entry, res, "data: [DONE]\n\n")
    res.end()
  }

  // --- Anthropic --------------------------------------------------------------

  const anthropicStop = (reply: Reply) =>
    reply.refusal !== undefined
      ? "refusal"
      : reply.finishReason ?? (reply.toolCalls.length > 0 ? "tool_use" : "end_turn")

  const anthropicUsage = (reply: Reply) => ({
    input_tokens: reply.usage.input - reply.usage.cachedInput - reply.usage.cacheWrite,
    cache_read_input_tokens: reply.usage.cachedInput,
    cache_creation_input_tokens: reply.usage.cacheWrite,
    output_tokens: reply.usage.output
  })

  const anthropicContent = (reply: Reply) => [
    ...(reply.text.length > 0 || reply.refusal !== undefined ? [{ type: "text", text: reply.text || (reply.refusal ?? "") }] : []),
    ...reply.toolCalls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: JSON.parse(c.arguments || "{}") }))
  ]

  const anthropicMessage = (entry: JournalEntry, reply: Reply) => ({
    id: `msg_sim_${entry.id}`,
    type: "message",
    role: "assistant",
    model: reply.model,
    content: anthropicContent(reply),
    stop_reason: anthropicStop(reply),
    stop_sequence: null,
    usage: anthropicUsage(reply)
  })

  const streamAnthropic = async (entry: JournalEntry, res: Http.ServerResponse, reply: Reply, behavior: Behavior) => {
    entry.status = 200
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_sim_${entry.id}` })
    const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
    const usage = anthropicUsage(reply)
    write(entry, res, event("message_start", {
      message: {
        id: `msg_sim_${entry.id}`,
        type: "message",
        role: "assistant",
        model: reply.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...usage, output_tokens: 1 }
      }
    }))
    const pieces: Array<string> = []
    let index = 0
    const text = reply.text || (reply.refusal ?? "")
    if (text.length > 0) {
      const i = index++
      const words = behavior.chunks ?? splitWords(text)
      words.forEach((piece, n) => {
        pieces.push(
          (n === 0 ? event("content_block_start", { index: i, content_block: { type: "text", text: "" } }) : "") +
            event("content_block_delta", { index: i, delta: { type: "text_delta", text: piece } })
        )
      })
      pieces.push(event("content_block_stop", { index: i }))
    }
    for (const call of reply.toolCalls) {
      const i = index++
      pieces.push(event("content_block_start", { index: i, content_block: { type: "tool_use", id: call.id, name: call.name, input: {} } }))
      for (const part of splitArgs(call.arguments)) {
        pieces.push(event("content_block_delta", { index: i, delta: { type: "input_json_delta", partial_json: part } }))
      }
      pieces.push(event("content_block_stop", { index: i }))
    }
    const ok = await sendPieces(entry, res, pieces, behavior, (type, message) =>
      event("error", { error: { type, message } }))
    if (!ok) return
    write(entry, res, event("message_delta", {
      delta: { stop_reason: anthropicStop(reply), stop_sequence: null },
      usage: behavior.omitUsage === true ? {} : usage
    }))
    write(entry, res, event("message_stop", {}))
    res.end()
  }

  const simulator = (url: string): Simulator => ({
    url,
    openaiBaseURL: `${url}/v1`,
    anthropicBaseURL: url,
    enqueue: (route, ...behaviors) => Effect.sync(() => void queues[route].push(...behaviors)),
    setHandler: (h) => Effect.sync(() => void (handler = h)),
    journal: Effect.sync(() => journal.map((entry) => ({ ...entry }))),
    awaitEntry: (predicate) =>
      Effect.async<JournalEntry>((resume) => {
        const check = () => {
          const found = journal.find(predicate)
          if (found !== undefined) {
            listeners.delete(check)
            resume(Effect.succeed({ ...found }))
          }
        }
        listeners.add(check)
        check()
        return Effect.sync(() => listeners.delete(check))
      }),
    reset: Effect.sync(() => {
      queues.openai = []
      queues.anthropic = []
      queues.embeddings = []
      handler = undefined
      journal = []
    })
  })

  return { server, simulator }
}

/** Splits tool arguments into a few pieces, as providers stream them. */
const splitArgs = (args: string): ReadonlyArray<string> => {
  if (args.length <= 8) return [args]
  const size = Math.ceil(args.length / 3)
  return [args.slice(0, size), args.slice(size, 2 * size), args.slice(2 * size)]
}
