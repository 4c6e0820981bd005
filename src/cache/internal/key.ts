/**
 * The canonical form of a request, shared by the exact and the semantic cache.
 *
 * Two requests that must produce the same answer must canonicalize to the same
 * text, whatever the order of their object keys and whether a default was spelled
 * out; two requests that may produce different answers must not. When in doubt a
 * field is kept: a needless miss costs a call, a wrong hit serves a wrong answer.
 */
import * as Crypto from "node:crypto"
import type * as LanguageModel from "../../LanguageModel.js"

/** Which request metadata, beside the tenant, takes part in the key. */
export interface VaryBy {
  /** Key on `metadata.user` (default false: users of one tenant share entries). */
  readonly user?: boolean | undefined
  /** Key on these `metadata.tags` (or on all of them with `true`; default none). */
  readonly tags?: boolean | ReadonlyArray<string> | undefined
}

/** A provider and model. */
export interface Serving {
  readonly provider: string
  readonly model: string
}

type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

/**
 * JSON text with object keys sorted at every depth and `undefined` members dropped.
 * Written out directly: the same text as `JSON.stringify(sortDeep(value))`
 * (`sortDeep` below stays the reference and the tests compare the two) without
 * building the sorted copy first.
 */
export const stableStringify = (value: unknown): string => {
  if (value === null || value === undefined) return "null"
  if (hasToJSON(value)) return stableStringify(value.toJSON())
  if (Array.isArray(value)) {
    let out = "["
    for (let i = 0; i < value.length; i++) out += (i === 0 ? "" : ",") + stableStringify(value[i])
    return out + "]"
  }
  switch (typeof value) {
    case "object": {
      const keys = jsonKeyOrder(Object.keys(value).sort())
      let out = "{"
      let first = true
      for (const key of keys) {
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        out += (first ? "" : ",") + JSON.stringify(key) + ":" + stableStringify(member)
        first = false
      }
      return out + "}"
    }
    case "number":
    case "string":
    case "boolean":
      return JSON.stringify(value)
    default:
      return JSON.stringify(String(value))
  }
}

/** What `JSON.stringify` writes for a value with `toJSON` (a `Date`: its ISO text) is what goes on the wire. */
const hasToJSON = (value: unknown): value is { toJSON(): unknown } =>
  typeof value === "object" && value !== null && typeof (value as { toJSON?: unknown }).toJSON === "function"

const arrayIndex = /^(?:0|[1-9]\d{0,9})$/

/**
 * The order `JSON.stringify` writes an object's keys in: integer-like keys (array
 * indices) first in numeric order, then the others as inserted — which for the
 * sorted copy `sortDeep` makes is `sorted`.
 */
const jsonKeyOrder = (sorted: Array<string>): Array<string> => {
  let indices: Array<string> | undefined
  for (const key of sorted) if (arrayIndex.test(key) && Number(key) < 4294967295) (indices ??= []).push(key)
  if (indices === undefined) return sorted
  const isIndex = new Set(indices)
  return [...indices.sort((a, b) => Number(a) - Number(b)), ...sorted.filter((key) => !isIndex.has(key))]
}

/** The reference form of {@link stableStringify}. */
export const stableStringifyReference = (value: unknown): string => JSON.stringify(sortDeep(value))

const sortDeep = (value: unknown): Json => {
  if (value === null || value === undefined) return null
  if (hasToJSON(value)) return sortDeep(value.toJSON())
  if (Array.isArray(value)) return value.map(sortDeep)
  if (typeof value === "object") {
    // No prototype: an own "__proto__" key (JSON.parse makes them) stays a key.
    const out: Record<string, Json> = Object.create(null)
    for (const key of Object.keys(value).sort()) {
      const member = (value as Record<string, unknown>)[key]
      if (member !== undefined) out[key] = sortDeep(member)
    }
    return out
  }
  if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") return value
  return String(value)
}

/**
 * sha256 in hex. Node's one-shot `crypto.hash` (Node 20.12+) is ~5x faster than a
 * `createHash` object per key (~1 µs against ~6 µs here); older Nodes use the latter.
 */
export const sha256: (text: string) => string = typeof Crypto.hash === "function"
  ? (text) => Crypto.hash("sha256", text, "hex")
  : (text) => Crypto.createHash("sha256").update(text).digest("hex")

const nonEmpty = (text: string | undefined): string | undefined => text === undefined || text.length === 0 ? undefined : text

/** A message without its defaults (`isError: false`, empty content or tool calls). */
export const canonicalMessage = (message: LanguageModel.Message): Json => {
  switch (message.role) {
    case "system":
    case "user":
      return { role: message.role, content: message.content }
    case "assistant":
      return {
        role: "assistant",
        content: message.content,
        toolCalls: message.toolCalls.map((call) => ({ id: call.id, name: call.name, arguments: call.arguments }))
      }
    case "tool":
      return { role: "tool", toolCallId: message.toolCallId, content: message.content, isError: message.isError === true }
  }
}

const canonicalFormat = (format: LanguageModel.ResponseFormat | undefined): Json => {
  if (format === undefined || format.type === "text") return null
  if (format.type === "json") return { type: "json" }
  return sortDeep({
    type: "jsonSchema",
    name: format.name,
    description: nonEmpty(format.description),
    schema: format.schema,
    // Providers enforce schemas strictly unless told otherwise.
    strict: format.strict ?? true
  })
}

const canonicalTools = (request: LanguageModel.Request): { tools: Json; toolChoice: Json } => {
  const tools = request.tools ?? []
  if (tools.length === 0) {
    // Without tools a tool choice of "none" or "auto" says nothing; "required" is kept.
    const choice = request.toolChoice
    return { tools: null, toolChoice: choice === undefined || choice === "none" || choice === "auto" ? null : sortDeep(choice) }
  }
  return {
    // Order is kept: providers render tools in order into the prompt.
    tools: tools.map((tool) =>
      sortDeep({
        name: tool.name,
        description: nonEmpty(tool.description),
        parameters: tool.parameters,
        strict: tool.strict === true
      })
    ),
    toolChoice: sortDeep(request.toolChoice ?? "auto")
  }
}

const canonicalTags = (metadata: LanguageModel.Metadata | undefined, varyBy: VaryBy | undefined): Json => {
  if (varyBy?.tags === undefined || varyBy.tags === false) return null
  const tags = metadata?.tags ?? {}
  const names = varyBy.tags === true ? Object.keys(tags) : varyBy.tags
  const picked: Record<string, string> = {}
  for (const name of [...names].sort()) if (tags[name] !== undefined) picked[name] = tags[name]
  return picked
}

/**
 * Everything in a request that shapes the answer, except the messages: the serving
 * model, sampling parameters, tools, output format, tenant and configured metadata.
 */
export const canonicalParams = (
  request: LanguageModel.Request,
  serving: Serving,
  options: { readonly namespace?: string | undefined; readonly varyBy?: VaryBy | undefined }
): Record<string, Json> => {
  const { toolChoice, tools } = canonicalTools(request)
  return {
    v: 1,
    namespace: options.namespace ?? "",
    tenant: request.metadata?.tenant ?? null,
    user: options.varyBy?.user === true ? request.metadata?.user ?? null : null,
    tags: canonicalTags(request.metadata, options.varyBy),
    provider: serving.provider,
    model: serving.model,
    maxTokens: request.maxTokens ?? null,
    temperature: request.temperature ?? null,
    // top_p = 1 keeps every token: the same as not setting it.
    topP: request.topP === undefined || request.topP === 1 ? null : request.topP,
    stop: request.stop === undefined || request.stop.length === 0 ? null : [...request.stop],
    seed: request.seed ?? null,
    tools,
    toolChoice,
    responseFormat: canonicalFormat(request.responseFormat)
  }
}

/** Key options: a namespace and which metadata beside the tenant take part. */
export interface KeyOptions {
  readonly namespace?: string | undefined
  readonly varyBy?: VaryBy | undefined
}

// -----------------------------------------------------------------------------
// The canonical text written directly
// -----------------------------------------------------------------------------
//
// `stableStringify` of the canonical object (`canonicalParams` plus the messages)
// is the reference; it builds that object and sorts the keys of every object in
// it, which was a quarter of a memory-cache hit. The Request schema fixes every
// field the canonical object has, so the writer below emits them in the sorted
// order the reference would produce, as text, and sorts only what is open-ended:
// tool parameters, JSON schemas, tags and a named tool choice go through
// `stableStringify`. The bytes are the reference's bytes (a test compares the two
// on fixed and randomized requests, and pins one key), so keys written before
// stay valid: a change to the bytes must bump `v`.

/** JSON of a member value as `stableStringify` writes it (primitives inline). */
const jsonOf = (value: unknown): string =>
  typeof value === "string" || typeof value === "number" || typeof value === "boolean"
    ? JSON.stringify(value)
    : stableStringify(value)

/** `"key":value` with a leading comma unless first, or nothing for `undefined` (as the reference drops it). */
const member = (first: boolean, key: string, value: unknown): string =>
  value === undefined ? "" : `${first ? "" : ","}"${key}":${jsonOf(value)}`

/** The JSON of `canonicalMessage(message)`. */
const messageText = (message: LanguageModel.Message): string => {
  const content = message.content === undefined ? "" : `"content":${jsonOf(message.content)},`
  switch (message.role) {
    case "system":
      return `{${content}"role":"system"}`
    case "user":
      return `{${content}"role":"user"}`
    case "assistant": {
      let calls = "["
      for (let i = 0; i < message.toolCalls.length; i++) {
        const call = message.toolCalls[i]!
        const fields = member(true, "arguments", call.arguments) + member(false, "id", call.id) + member(false, "name", call.name)
        calls += `${i === 0 ? "" : ","}{${fields.charCodeAt(0) === 44 ? fields.slice(1) : fields}}`
      }
      return `{${content}"role":"assistant","toolCalls":${calls}]}`
    }
    case "tool":
      return `{${content}"isError":${message.isError === true},"role":"tool"${member(false, "toolCallId", message.toolCallId)}}`
  }
}

const messagesText = (messages: ReadonlyArray<LanguageModel.Message>, count: number): string => {
  let out = "["
  for (let i = 0; i < count; i++) out += (i === 0 ? "" : ",") + messageText(messages[i]!)
  return out + "]"
}

/** The JSON of `canonicalFormat`. */
const formatText = (format: LanguageModel.ResponseFormat | undefined): string => {
  if (format === undefined || format.type === "text") return "null"
  if (format.type === "json") return `{"type":"json"}`
  const fields = member(true, "description", nonEmpty(format.description)) + member(false, "name", format.name) +
    member(false, "schema", format.schema)
  return `{${fields.charCodeAt(0) === 44 ? fields.slice(1) : fields}${fields.length === 0 ? "" : ","}"strict":${
    jsonOf(format.strict ?? true)
  },"type":"jsonSchema"}`
}

/** The JSON of `canonicalTools`: `"toolChoice":…,"tools":…`. */
const toolsText = (request: LanguageModel.Request): string => {
  const tools = request.tools ?? []
  if (tools.length === 0) {
    const choice = request.toolChoice
    return `"toolChoice":${
      choice === undefined || choice === "none" || choice === "auto" ? "null" : stableStringify(choice)
    },"tools":null`
  }
  let out = "["
  for (let i = 0; i < tools.length; i++) {
    const tool = tools[i]!
    const fields = member(true, "description", nonEmpty(tool.description)) + member(false, "name", tool.name) +
      member(false, "parameters", tool.parameters)
    out += `${i === 0 ? "" : ","}{${fields.charCodeAt(0) === 44 ? fields.slice(1) : fields}${fields.length === 0 ? "" : ","}"strict":${
      tool.strict === true
    }}`
  }
  return `"toolChoice":${stableStringify(request.toolChoice ?? "auto")},"tools":${out}]`
}

/** `jsonOf(value ?? null)` without the call for an absent value. */
const orNull = (value: unknown): string => value === undefined || value === null ? "null" : jsonOf(value)

/**
 * The serving model and namespace part, `,"model":…,"namespace":…,"provider":…`,
 * of the last call: a layer asks with the same ones call after call.
 */
let lastServing: { readonly model: string; readonly provider: string; readonly namespace: string | undefined; readonly text: string } | undefined
const servingText = (serving: Serving, namespace: string | undefined): string => {
  const last = lastServing
  if (last !== undefined && last.model === serving.model && last.provider === serving.provider && last.namespace === namespace) {
    return last.text
  }
  const text = member(false, "model", serving.model) + `,"namespace":${jsonOf(namespace ?? "")}` +
    member(false, "provider", serving.provider)
  lastServing = { model: serving.model, provider: serving.provider, namespace, text }
  return text
}

/**
 * The canonical text of a request: the same bytes as `stableStringify` of
 * `{ ...canonicalParams(request, serving, options), messages }` (the exact cache,
 * all messages) or of `{ kind: "semantic", ...canonicalParams(...), context }`
 * (the semantic cache, all messages but the last).
 */
export const canonicalText = (
  request: LanguageModel.Request,
  serving: Serving,
  options: KeyOptions,
  kind: "exact" | "semantic"
): string => {
  const messages = request.messages
  const metadata = request.metadata
  const tags = canonicalTags(metadata, options.varyBy)
  const stop = request.stop === undefined || request.stop.length === 0 ? "null" : stableStringify(request.stop)
  return (kind === "semantic" ? `{"context":${messagesText(messages, messages.length - 1)},"kind":"semantic",` : "{") +
    `"maxTokens":${orNull(request.maxTokens)}` +
    (kind === "exact" ? `,"messages":${messagesText(messages, messages.length)}` : "") +
    servingText(serving, options.namespace) +
    `,"responseFormat":${formatText(request.responseFormat)}` +
    `,"seed":${orNull(request.seed)}` +
    `,"stop":${stop}` +
    `,"tags":${tags === null ? "null" : stableStringify(tags)}` +
    `,"temperature":${orNull(request.temperature)}` +
    `,"tenant":${orNull(metadata?.tenant)},` +
    toolsText(request) +
    `,"topP":${request.topP === undefined || request.topP === 1 ? "null" : jsonOf(request.topP)}` +
    `,"user":${options.varyBy?.user === true ? orNull(metadata?.user) : "null"}` +
    `,"v":1}`
}

/** The reference form of {@link canonicalText}: the canonical object, stringified with sorted keys. */
export const canonicalTextReference = (
  request: LanguageModel.Request,
  serving: Serving,
  options: KeyOptions,
  kind: "exact" | "semantic"
): string =>
  stableStringifyReference(
    kind === "exact"
      ? { ...canonicalParams(request, serving, options), messages: request.messages.map(canonicalMessage) }
      : { kind: "semantic", ...canonicalParams(request, serving, options), context: request.messages.slice(0, -1).map(canonicalMessage) }
  )

/** The exact-cache key: sha256 of the canonical request served by `serving`. */
export const requestKey = (request: LanguageModel.Request, serving: Serving, options: KeyOptions): string =>
  sha256(canonicalText(request, serving, options, "exact"))

/**
 * The model a request will be served by when nothing fails: the requested model
 * (with the provider that lists it), or the stack's first model.
 */
export const expectedServing = (request: LanguageModel.Request, models: ReadonlyArray<LanguageModel.ModelRef>): Serving => {
  const first = models[0] ?? { provider: "unknown", model: "unknown" }
  if (request.model === undefined) return { provider: first.provider, model: first.model }
  const listed = models.find((ref) => ref.model === request.model)
  return { provider: listed?.provider ?? first.provider, model: request.model }
}

/**
 * The stack model that produced a response. Providers report dated snapshots
 * (`gpt-4o` answers as `gpt-4o-2024-08-06`), so a reported model that extends a
 * listed one (the longest such) counts as that one; an unlisted model stands for
 * itself.
 */
export const producedBy = (
  reported: Serving,
  expected: Serving,
  models: ReadonlyArray<LanguageModel.ModelRef>
): Serving => {
  // The common case: the expected model answered under its own name.
  if (reported.provider === expected.provider && reported.model === expected.model) return expected
  const candidates = [expected, ...models].filter((ref) =>
    ref.provider === reported.provider &&
    (reported.model === ref.model || reported.model.startsWith(`${ref.model}-`))
  )
  if (candidates.length === 0) return reported
  const best = candidates.reduce((a, b) => (b.model.length > a.model.length ? b : a))
  return { provider: best.provider, model: best.model }
}
