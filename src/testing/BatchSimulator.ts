/**
 * A loopback HTTP server that speaks the provider batch APIs, so the real SDKs'
 * batch calls can be tested without a network or keys:
 *
 * - OpenAI: `POST /v1/files` (multipart upload, purpose `batch`), `GET /v1/files/:id`,
 *   `GET /v1/files/:id/content`, `POST /v1/batches`, `GET /v1/batches/:id`,
 *   `POST /v1/batches/:id/cancel`; the input is JSONL of `/v1/chat/completions`
 *   requests, the results an output file and an error file (JSONL).
 * - Anthropic: `POST /v1/messages/batches`, `GET /v1/messages/batches/:id`,
 *   `GET /v1/messages/batches/:id/results` (JSONL), `POST .../cancel`.
 *
 * A batch does not run on a timer: it finishes after a scripted number of status
 * polls (`pollsUntilDone`), so a client polling on a `TestClock` schedule sees the
 * same sequence however fast the machine is. Each request of a batch is answered
 * by an item handler: a text and usage, an API error with any status, type and
 * code, or (OpenAI) an expiry / (Anthropic) `expired` or `canceled`. A whole batch
 * can be scripted to fail validation. Every HTTP request is kept in a journal.
 *
 * A separate server from `ProviderSimulator` (whose file this module may not
 * touch); the two can run side by side. Written on `node:http` for the same
 * reasons.
 *
 * @since 0.1.0
 */
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import { Context, Effect, Layer } from "effect"
import type { Scope } from "effect/Scope"
import type * as ProviderSimulator from "./ProviderSimulator.js"

/**
 * Which batch API.
 *
 * @since 0.1.0
 * @category models
 */
export type Provider = "openai" | "anthropic"

/**
 * How one request inside a batch is answered. The default is a short text that
 * quotes the last user message, with usage at four characters a token.
 *
 * @since 0.1.0
 * @category models
 */
export interface ItemBehavior {
  readonly text?: string
  readonly usage?: { readonly input?: number; readonly output?: number; readonly cachedInput?: number }
  /** The model reported as serving (default: the requested one). */
  readonly model?: string
  /** The request failed with this API error. */
  readonly error?: { readonly status: number; readonly type?: string; readonly code?: string; readonly message?: string }
  /** The request was not run before the batch expired. */
  readonly expired?: boolean
  /** Anthropic only: the request was canceled. */
  readonly canceled?: boolean
}

/**
 * What an item handler sees of one request of a batch.
 *
 * @since 0.1.0
 * @category models
 */
export interface Item {
  readonly provider: Provider
  readonly batchId: string
  readonly customId: string
  /** The request body (chat completion or Messages params). */
  readonly body: unknown
  /** The request's position in the batch (from 0). */
  readonly index: number
}

/**
 * How one batch behaves.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchBehavior {
  /** Status polls before the batch has ended (default 2; the poll that reaches it sees the end). */
  readonly pollsUntilDone?: number
  /** Delay before every HTTP answer about this batch, in milliseconds. */
  readonly latencyMs?: number
  /** OpenAI: the batch fails validation with this error (status `failed`). */
  readonly fail?: { readonly code: string; readonly message: string; readonly line?: number }
}

/**
 * One HTTP request as the simulator saw it.
 *
 * @since 0.1.0
 * @category models
 */
export interface JournalEntry {
  readonly id: number
  readonly method: string
  readonly path: string
  /** What the request did, e.g. `files.create`, `batches.retrieve`, `messages.batches.results`. */
  readonly operation: string
  status: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly port?: number
  /** When set, requests must carry this key (`Authorization: Bearer` or `x-api-key`). */
  readonly apiKey?: string
  /** The default behaviour of batches with none queued. */
  readonly batch?: BatchBehavior
}

/**
 * A running batch simulator.
 *
 * @since 0.1.0
 * @category models
 */
export interface Simulator {
  readonly url: string
  /** The OpenAI SDK's `baseURL`. */
  readonly openaiBaseURL: string
  /** The Anthropic SDK's `baseURL`. */
  readonly anthropicBaseURL: string
  /** Behaviours for the next batches created on a provider's API, in order. */
  readonly enqueueBatch: (provider: Provider, ...behaviors: ReadonlyArray<BatchBehavior>) => Effect.Effect<void>
  /** Decides how each request of a batch is answered (`undefined` restores the default). */
  readonly setItemHandler: (handler: ((item: Item) => ItemBehavior | undefined) | undefined) => Effect.Effect<void>
  readonly journal: Effect.Effect<ReadonlyArray<JournalEntry>>
  /** Waits until an entry satisfies the predicate. */
  readonly awaitEntry: (predicate: (entry: JournalEntry) => boolean) => Effect.Effect<JournalEntry>
  /** How many requests each batch (by id) held, and how often its status was polled. */
  readonly batches: Effect.Effect<ReadonlyArray<{ readonly id: string; readonly provider: Provider; readonly requests: number; readonly polls: number }>>
}

/**
 * The simulator in context (see {@link layer}).
 *
 * @since 0.1.0
 * @category tags
 */
export class BatchSimulator extends Context.Tag("effect-llm/testing/BatchSimulator")<BatchSimulator, Simulator>() {}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Wire = any

interface StoredFile {
  readonly id: string
  readonly filename: string
  readonly purpose: string
  readonly bytes: Buffer
  readonly createdAt: number
}

interface BatchState {
  readonly id: string
  readonly provider: Provider
  readonly behavior: BatchBehavior
  readonly createdAt: number
  readonly items: ReadonlyArray<{ readonly customId: string; readonly body: unknown }>
  readonly inputFileId: string | undefined
  readonly endpoint: string | undefined
  readonly metadata: unknown
  polls: number
  cancelled: boolean
  ended: boolean
  outputFileId: string | undefined
  errorFileId: string | undefined
  results: Array<unknown> | undefined
  counts: { succeeded: number; errored: number; expired: number; canceled: number }
  expiredAny: boolean
}

const approxTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4))
const sleep = (ms: number | undefined) =>
  ms === undefined || ms <= 0 ? Promise.resolve() : new Promise<void>((resolve) => setTimeout(resolve, ms))

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part: Wire) => (typeof part?.text === "string" ? part.text : "")).join("")
    : ""

const lastUser = (body: Wire): string => {
  const messages: ReadonlyArray<Wire> = Array.isArray(body?.messages) ? body.messages : []
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === "user") return textOf(messages[i].content)
  return ""
}

const promptText = (body: Wire): string =>
  [textOf(body?.system), ...(Array.isArray(body?.messages) ? body.messages.map((m: Wire) => textOf(m?.content)) : [])].join("\n")

const seconds = (ms: number) => Math.floor(ms / 1000)

/** Anthropic's error type for a status (its batch results carry the type only). */
const anthropicType = (status: number): string =>
  status === 400
    ? "invalid_request_error"
    : status === 401
    ? "authentication_error"
    : status === 402
    ? "billing_error"
    : status === 403
    ? "permission_error"
    : status === 404
    ? "not_found_error"
    : status === 429
    ? "rate_limit_error"
    : status === 529
    ? "overloaded_error"
    : "api_error"

/**
 * An item handler that answers each request of a batch as a `ProviderSimulator`
 * handler answers the same request made live, so one script serves a suite run
 * online and batched: its text, usage and model are kept; a fault of kind
 * `error` becomes that item's API error; the streaming faults (`drop`, `hang`,
 * `midStreamError`) have no batch form and become a 500 `api_error`. The handler
 * sees the item's body as the call's body (`stream: false`, no headers, `id` the
 * item's position).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromProviderHandler =
  (handler: ProviderSimulator.Handler) => (item: Item): ItemBehavior | undefined => {
    const behavior = handler({ id: item.index, route: item.provider, body: item.body, headers: {}, stream: false })
    if (behavior === undefined) return undefined
    const fault = behavior.fault
    const error: ItemBehavior["error"] = fault === undefined
      ? undefined
      : fault.kind === "error"
      ? { status: fault.status, type: fault.type, code: fault.code, message: fault.message }
      : { status: 500, type: "api_error", message: `Simulated ${fault.kind} (no batch form)` }
    return {
      ...(behavior.text !== undefined ? { text: behavior.text } : {}),
      ...(behavior.usage !== undefined ? { usage: behavior.usage } : {}),
      ...(behavior.model !== undefined ? { model: behavior.model } : {}),
      ...(error !== undefined ? { error } : {})
    }
  }

/**
 * Starts a batch simulator on loopback; it stops when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<Simulator, never, Scope> =>
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
 * A batch simulator as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<BatchSimulator> => Layer.scoped(BatchSimulator, make(options))

const create = (options: Options) => {
  const files = new Map<string, StoredFile>()
  const batches = new Map<string, BatchState>()
  const queued: Record<Provider, Array<BatchBehavior>> = { openai: [], anthropic: [] }
  let itemHandler: ((item: Item) => ItemBehavior | undefined) | undefined
  const journal: Array<JournalEntry> = []
  const listeners = new Set<() => void>()
  const changed = () => listeners.forEach((listener) => listener())
  let nextId = 1
  let baseUrl = ""

  const server = Http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!
      const entry: JournalEntry = { id: nextId++, method: req.method ?? "GET", path, operation: "unknown", status: undefined }
      journal.push(entry)
      const send = (status: number, body: unknown, contentType = "application/json") => {
        entry.status = status
        res.writeHead(status, { "content-type": contentType, "x-request-id": `req_batchsim_${entry.id}` })
        res.end(typeof body === "string" || Buffer.isBuffer(body) ? body : JSON.stringify(body))
        changed()
      }
      void route(req, Buffer.concat(chunks), path, entry, send).catch((error: unknown) =>
        send(500, { error: { message: `batch simulator failure: ${String(error)}`, type: "server_error" } })
      )
    })
  })

  const authorized = (req: Http.IncomingMessage) =>
    options.apiKey === undefined || req.headers.authorization === `Bearer ${options.apiKey}` ||
    req.headers["x-api-key"] === options.apiKey

  const openAiError = (message: string, type = "invalid_request_error", code: string | null = null) => ({
    error: { message, type, param: null, code }
  })
  const anthropicError = (message: string, type = "invalid_request_error") => ({
    type: "error",
    error: { type, message },
    request_id: null
  })

  const behaviorOf = (provider: Provider): BatchBehavior => queued[provider].shift() ?? options.batch ?? {}

  const route = async (
    req: Http.IncomingMessage,
    raw: Buffer,
    path: string,
    entry: JournalEntry & { operation: string },
    send: (status: number, body: unknown, contentType?: string) => void
  ) => {
    const method = req.method ?? "GET"
    const anthropic = path.startsWith("/v1/messages/batches")
    const fail = (status: number, message: string, type?: string) =>
      send(status, anthropic ? anthropicError(message, type) : openAiError(message, type))
    let m: RegExpExecArray | null
    if (!authorized(req)) return fail(401, "Incorrect API key provided", "authentication_error")
    const json = (): Wire => {
      try {
        return JSON.parse(raw.toString("utf8"))
      } catch {
        return undefined
      }
    }
    // --- OpenAI files ------------------------------------------------------------
    if (method === "POST" && path === "/v1/files") {
      entry.operation = "files.create"
      const form = await new Request("http://batchsim/upload", {
        method: "POST",
        headers: { "content-type": String(req.headers["content-type"] ?? "") },
        body: new Uint8Array(raw)
      }).formData()
      const file = form.get("file")
      const purpose = String(form.get("purpose") ?? "")
      if (file === null || typeof file === "string") return fail(400, "file is required")
      const id = `file-sim${nextId++}`
      const stored: StoredFile = { id, filename: file.name, purpose, bytes: Buffer.from(await file.arrayBuffer()), createdAt: Date.now() }
      files.set(id, stored)
      return send(200, fileObject(stored))
    }
    if (method === "GET" && (m = /^\/v1\/files\/([^/]+)\/content$/.exec(path)) !== null) {
      entry.operation = "files.content"
      const file = files.get(m[1]!)
      return file === undefined ? fail(404, `No such File object: ${m[1]}`) : send(200, file.bytes, "application/octet-stream")
    }
    if (method === "GET" && (m = /^\/v1\/files\/([^/]+)$/.exec(path)) !== null) {
      entry.operation = "files.retrieve"
      const file = files.get(m[1]!)
      return file === undefined ? fail(404, `No such File object: ${m[1]}`) : send(200, fileObject(file))
    }
    // --- OpenAI batches ------------------------------------------------------------
    if (method === "POST" && path === "/v1/batches") {
      entry.operation = "batches.create"
      const body = json()
      const file = files.get(String(body?.input_file_id))
      if (file === undefined) return fail(404, `No such File object: ${body?.input_file_id}`)
      if (body?.completion_window !== "24h") return fail(400, "completion_window must be 24h")
      const lines = file.bytes.toString("utf8").split("\n").filter((l) => l.trim().length > 0)
      const items: Array<{ customId: string; body: unknown }> = []
      const seen = new Set<string>()
      for (const [n, line] of lines.entries()) {
        let parsed: Wire
        try {
          parsed = JSON.parse(line)
        } catch {
          return fail(400, `Line ${n + 1} of the input file is not JSON`)
        }
        if (typeof parsed?.custom_id !== "string" || seen.has(parsed.custom_id)) {
          return fail(400, `Line ${n + 1}: custom_id missing or duplicated`)
        }
        if (parsed.url !== body.endpoint || parsed.method !== "POST") return fail(400, `Line ${n + 1}: url must be ${body.endpoint}`)
        seen.add(parsed.custom_id)
        items.push({ customId: parsed.custom_id, body: parsed.body })
      }
      const batch = newBatch("openai", items, { inputFileId: file.id, endpoint: String(body.endpoint), metadata: body.metadata ?? null })
      await sleep(batch.behavior.latencyMs)
      return send(200, openAiBatch(batch, "validating"))
    }
    if ((m = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(path)) !== null) {
      const batch = batches.get(m[1]!)
      if (batch === undefined || batch.provider !== "openai") return fail(404, `No batch ${m[1]}`)
      await sleep(batch.behavior.latencyMs)
      if (method === "POST" && m[2] !== undefined) {
        entry.operation = "batches.cancel"
        if (!batch.ended) batch.cancelled = true
        return send(200, openAiBatch(batch, batch.ended ? undefined : "cancelling"))
      }
      entry.operation = "batches.retrieve"
      return send(200, openAiBatch(batch, undefined, true))
    }
    // --- Anthropic message batches --------------------------------------------------
    if (method === "POST" && path === "/v1/messages/batches") {
      entry.operation = "messages.batches.create"
      const body = json()
      const requests: ReadonlyArray<Wire> = Array.isArray(body?.requests) ? body.requests : []
      if (requests.length === 0) return fail(400, "requests: at least one request is required")
      const seen = new Set<string>()
      for (const r of requests) {
        if (typeof r?.custom_id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(r.custom_id) || seen.has(r.custom_id)) {
          return fail(400, `custom_id invalid or duplicated: ${r?.custom_id}`)
        }
        if (typeof r.params?.max_tokens !== "number") return fail(400, `${r.custom_id}: params.max_tokens: Field required`)
        seen.add(r.custom_id)
      }
      const batch = newBatch("anthropic", requests.map((r) => ({ customId: r.custom_id, body: r.params })), {})
      await sleep(batch.behavior.latencyMs)
      return send(200, anthropicBatch(batch))
    }
    if ((m = /^\/v1\/messages\/batches\/([^/]+)(\/cancel|\/results)?$/.exec(path)) !== null) {
      const batch = batches.get(m[1]!)
      if (batch === undefined || batch.provider !== "anthropic") return fail(404, `No batch ${m[1]}`, "not_found_error")
      await sleep(batch.behavior.latencyMs)
      if (method === "POST" && m[2] === "/cancel") {
        entry.operation = "messages.batches.cancel"
        if (!batch.ended) batch.cancelled = true
        return send(200, anthropicBatch(batch))
      }
      if (method === "GET" && m[2] === "/results") {
        entry.operation = "messages.batches.results"
        if (!batch.ended || batch.results === undefined) return fail(400, "The batch has not ended yet")
        return send(200, batch.results.map((line) => JSON.stringify(line)).join("\n") + "\n", "application/binary")
      }
      entry.operation = "messages.batches.retrieve"
      return send(200, anthropicBatch(batch, true))
    }
    entry.operation = "unknown"
    return fail(404, `No route ${method} ${path}`, "not_found_error")
  }

  const fileObject = (file: StoredFile) => ({
    id: file.id,
    object: "file",
    bytes: file.bytes.length,
    created_at: seconds(file.createdAt),
    filename: file.filename,
    purpose: file.purpose,
    status: "processed"
  })

  const newBatch = (
    provider: Provider,
    items: ReadonlyArray<{ customId: string; body: unknown }>,
    extra: { inputFileId?: string; endpoint?: string; metadata?: unknown }
  ): BatchState => {
    const id = provider === "openai" ? `batch_sim${nextId++}` : `msgbatch_sim${nextId++}`
    const batch: BatchState = {
      id,
      provider,
      behavior: behaviorOf(provider),
      createdAt: Date.now(),
      items,
      inputFileId: extra.inputFileId,
      endpoint: extra.endpoint,
      metadata: extra.metadata,
      polls: 0,
      cancelled: false,
      ended: false,
      outputFileId: undefined,
      errorFileId: undefined,
      results: undefined,
      counts: { succeeded: 0, errored: 0, expired: 0, canceled: 0 },
      expiredAny: false
    }
    batches.set(id, batch)
    return batch
  }

  /** Advances a batch on a status poll; runs its items when it ends. */
  const poll = (batch: BatchState) => {
    if (batch.ended) return
    batch.polls++
    if (batch.cancelled || batch.behavior.fail !== undefined || batch.polls >= (batch.behavior.pollsUntilDone ?? 2)) {
      finish(batch)
    }
  }

  const finish = (batch: BatchState) => {
    batch.ended = true
    if (batch.provider === "openai" && batch.behavior.fail !== undefined) return
    const outputs: Array<unknown> = []
    const errors: Array<unknown> = []
    batch.items.forEach(({ body, customId }, index) => {
      const behavior = batch.cancelled
        ? { canceled: true }
        : itemHandler?.({ provider: batch.provider, batchId: batch.id, customId, body, index }) ?? {}
      const requestId = `req_item_${batch.id}_${index}`
      if (batch.provider === "openai") {
        if (behavior.canceled === true) return // a cancelled request has no line
        if (behavior.expired === true) {
          batch.expiredAny = true
          batch.counts.expired++
          errors.push({
            id: `batch_req_${index}`,
            custom_id: customId,
            response: null,
            error: { code: "batch_expired", message: "This request could not be executed before the completion window expired." }
          })
        } else if (behavior.error !== undefined) {
          batch.counts.errored++
          errors.push({
            id: `batch_req_${index}`,
            custom_id: customId,
            response: {
              status_code: behavior.error.status,
              request_id: requestId,
              body: openAiError(behavior.error.message ?? `Simulated error ${behavior.error.status}`, behavior.error.type ?? "server_error", behavior.error.code ?? null)
            },
            error: null
          })
        } else {
          batch.counts.succeeded++
          outputs.push({
            id: `batch_req_${index}`,
            custom_id: customId,
            response: { status_code: 200, request_id: requestId, body: completion(body, behavior, requestId) },
            error: null
          })
        }
      } else {
        if (behavior.canceled === true) {
          batch.counts.canceled++
          outputs.push({ custom_id: customId, result: { type: "canceled" } })
        } else if (behavior.expired === true) {
          batch.counts.expired++
          outputs.push({ custom_id: customId, result: { type: "expired" } })
        } else if (behavior.error !== undefined) {
          batch.counts.errored++
          outputs.push({
            custom_id: customId,
            result: {
              type: "errored",
              error: { type: "error", error: { type: behavior.error.type ?? anthropicType(behavior.error.status), message: behavior.error.message ?? `Simulated error ${behavior.error.status}` }, request_id: requestId }
            }
          })
        } else {
          batch.counts.succeeded++
          outputs.push({ custom_id: customId, result: { type: "succeeded", message: message(body, behavior, requestId) } })
        }
      }
    })
    // Results come back in no particular order: reverse them, so clients must match by custom_id.
    outputs.reverse()
    errors.reverse()
    if (batch.provider === "anthropic") {
      batch.results = outputs
      return
    }
    const store = (lines: Array<unknown>, kind: string) => {
      if (lines.length === 0) return undefined
      const id = `file-sim${nextId++}`
      files.set(id, {
        id,
        filename: `${batch.id}_${kind}.jsonl`,
        purpose: "batch_output",
        bytes: Buffer.from(lines.map((l) => JSON.stringify(l)).join("\n") + "\n"),
        createdAt: Date.now()
      })
      return id
    }
    batch.outputFileId = store(outputs, "output")
    batch.errorFileId = store(errors, "error")
  }

  const usageOf = (body: Wire, behavior: ItemBehavior, text: string) => ({
    input: behavior.usage?.input ?? approxTokens(promptText(body)),
    output: behavior.usage?.output ?? approxTokens(text),
    cachedInput: behavior.usage?.cachedInput ?? 0
  })

  const answerText = (body: Wire, behavior: ItemBehavior) => behavior.text ?? `Simulated answer to: ${lastUser(body).slice(0, 200)}`

  const completion = (body: Wire, behavior: ItemBehavior, requestId: string) => {
    const text = answerText(body, behavior)
    const usage = usageOf(body, behavior, text)
    return {
      id: `chatcmpl-${requestId}`,
      object: "chat.completion",
      created: seconds(Date.now()),
      model: behavior.model ?? String(body?.model ?? "sim-model"),
      choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: {
        prompt_tokens: usage.input,
        completion_tokens: usage.output,
        total_tokens: usage.input + usage.output,
        prompt_tokens_details: { cached_tokens: usage.cachedInput, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 }
      }
    }
  }

  const message = (body: Wire, behavior: ItemBehavior, requestId: string) => {
    const text = answerText(body, behavior)
    const usage = usageOf(body, behavior, text)
    return {
      id: `msg_${requestId}`,
      type: "message",
      role: "assistant",
      model: behavior.model ?? String(body?.model ?? "sim-model"),
      content: [{ type: "text", text }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: {
        input_tokens: usage.input - usage.cachedInput,
        cache_read_input_tokens: usage.cachedInput,
        cache_creation_input_tokens: 0,
        output_tokens: usage.output
      }
    }
  }

  const openAiBatch = (batch: BatchState, forced?: string, polled = false) => {
    if (polled) poll(batch)
    const done = batch.counts.succeeded + batch.counts.errored + batch.counts.expired
    const status = forced ?? (batch.behavior.fail !== undefined && batch.ended
      ? "failed"
      : batch.ended
      ? batch.cancelled ? "cancelled" : batch.expiredAny ? "expired" : "completed"
      : batch.polls === 0
      ? "validating"
      : "in_progress")
    return {
      id: batch.id,
      object: "batch",
      endpoint: batch.endpoint,
      errors: batch.behavior.fail !== undefined && batch.ended
        ? { object: "list", data: [{ code: batch.behavior.fail.code, message: batch.behavior.fail.message, line: batch.behavior.fail.line ?? null, param: null }] }
        : null,
      input_file_id: batch.inputFileId,
      completion_window: "24h",
      status,
      output_file_id: batch.outputFileId ?? null,
      error_file_id: batch.errorFileId ?? null,
      created_at: seconds(batch.createdAt),
      in_progress_at: batch.polls > 0 ? seconds(batch.createdAt) : null,
      expires_at: seconds(batch.createdAt) + 86_400,
      completed_at: status === "completed" ? seconds(Date.now()) : null,
      request_counts: { total: batch.items.length, completed: batch.counts.succeeded, failed: done - batch.counts.succeeded },
      metadata: batch.metadata
    }
  }

  const anthropicBatch = (batch: BatchState, polled = false) => {
    if (polled) poll(batch)
    const iso = (ms: number) => new Date(ms).toISOString()
    return {
      id: batch.id,
      type: "message_batch",
      processing_status: batch.ended ? "ended" : batch.cancelled ? "canceling" : "in_progress",
      request_counts: {
        processing: batch.ended ? 0 : batch.items.length,
        succeeded: batch.counts.succeeded,
        errored: batch.counts.errored,
        canceled: batch.counts.canceled,
        expired: batch.counts.expired
      },
      created_at: iso(batch.createdAt),
      expires_at: iso(batch.createdAt + 86_400_000),
      ended_at: batch.ended ? iso(Date.now()) : null,
      archived_at: null,
      cancel_initiated_at: batch.cancelled ? iso(Date.now()) : null,
      results_url: batch.ended ? `${baseUrl}/v1/messages/batches/${batch.id}/results` : null
    }
  }

  const simulator = (url: string): Simulator => {
    baseUrl = url
    return {
      url,
      openaiBaseURL: `${url}/v1`,
      anthropicBaseURL: url,
      enqueueBatch: (provider, ...behaviors) => Effect.sync(() => void queued[provider].push(...behaviors)),
      setItemHandler: (handler) => Effect.sync(() => void (itemHandler = handler)),
      journal: Effect.sync(() => journal.map((entry) => ({ ...entry }))),
      awaitEntry: (predicate) =>
        Effect.async<JournalEntry>((resume) => {
          const check = () => {
            const found = journal.find((entry) => entry.status !== undefined && predicate(entry))
            if (found !== undefined) {
              listeners.delete(check)
              resume(Effect.succeed({ ...found }))
            }
          }
          listeners.add(check)
          check()
          return Effect.sync(() => listeners.delete(check))
        }),
      batches: Effect.sync(() =>
        [...batches.values()].map((b) => ({ id: b.id, provider: b.provider, requests: b.items.length, polls: b.polls }))
      )
    }
  }

  return { server, simulator }
}
