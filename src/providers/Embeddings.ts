/**
 * Text embeddings: a service that turns texts into unit vectors, so that similar
 * texts have a high dot product (cosine similarity). The semantic cache embeds the
 * last user turn with it.
 *
 * Two implementations:
 *
 * - {@link openAi}: OpenAI (or any compatible server) `POST /v1/embeddings` through
 *   the official `openai` SDK, asking for base64 (4 bytes a dimension on the wire
 *   instead of ~20 of JSON text) and decoding it straight into a `Float32Array`.
 * - {@link local}: a deterministic embedder that needs no network, no model file
 *   and no key. Method: Unicode NFKC + lower case; tokens are runs of letters and
 *   digits (identifiers such as `load_dataset` or `v2.10` stay whole and count
 *   double); English stop words are dropped (question words and negations are
 *   kept); a light suffix stripper folds inflections (`loads`, `loading`, `loaded`
 *   → `load`); a small table folds common synonyms (`utilize`/`employ` → `use`,
 *   `obtain`/`retrieve`/`fetch` → `get`, ...); the features — each token, each
 *   pair of neighbouring tokens, and each token's character trigrams at low weight —
 *   are hashed (FNV-1a, signed) into `dimensions` buckets; the sum is L2-normalized.
 *
 *   Its limits: it measures shared words, not meaning. Paraphrases that reword
 *   everything ("How do I cancel?" / "What's the way to end my subscription?")
 *   score low; texts that share most words but ask different things ("the `shape`
 *   method returns the columns" / "the `num_columns` method returns the columns")
 *   score high. It knows English inflection and a few dozen synonyms only, no
 *   other language's. Hash collisions add noise of about 1/sqrt(dimensions) to
 *   every similarity. It is a reasonable default for a cache that must not
 *   answer the wrong question (pair it with a strict threshold and the
 *   semantic cache's guards), and a poor one for recall; use a real embedding
 *   model for that. See docs/caching.md and docs/benchmarks/semantic.json.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Layer, Redacted } from "effect"
import OpenAI from "openai"
import type * as LlmError from "../LlmError.js"
import * as NodeFetch from "./NodeFetch.js"
import { mapError } from "./OpenAi.js"

/**
 * What an embedder does. Vectors are L2-normalized `Float32Array`s of
 * `dimensions` numbers, one per input text, in input order.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** A name for the model, e.g. `local-hash-v1` or `text-embedding-3-small`. */
  readonly model: string
  readonly dimensions: number
  readonly embed: (texts: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Float32Array>, LlmError.LlmError>
}

/**
 * The embeddings service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Embeddings extends Context.Tag("effect-llm/Embeddings")<Embeddings, Service>() {}

/**
 * Embeds one text with the embedder in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const embed = (text: string): Effect.Effect<Float32Array, LlmError.LlmError, Embeddings> =>
  Effect.flatMap(Embeddings, (embeddings) => Effect.map(embeddings.embed([text]), (vectors) => vectors[0]!))

/**
 * The dot product of two vectors (their cosine similarity when both are
 * normalized).
 *
 * @since 0.1.0
 * @category utils
 */
export const similarity = (a: Float32Array, b: Float32Array): number => {
  const n = Math.min(a.length, b.length)
  let sum = 0
  for (let i = 0; i < n; i++) sum += a[i]! * b[i]!
  return sum
}

const normalize = (vector: Float32Array): Float32Array => {
  let sum = 0
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!
  const norm = Math.sqrt(sum)
  if (norm > 0) for (let i = 0; i < vector.length; i++) vector[i] = vector[i]! / norm
  return vector
}

// -----------------------------------------------------------------------------
// OpenAI
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenAiOptions {
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Default `https://api.openai.com/v1`. */
  readonly baseURL?: string | undefined
  /** Default `text-embedding-3-small`. */
  readonly model?: string | undefined
  /** Ask for shorter vectors (text-embedding-3 models); default: the model's own size. */
  readonly dimensions?: number | undefined
  /** The size of the model's vectors when `dimensions` is not given (default 1536). */
  readonly modelDimensions?: number | undefined
  /** Texts per request (default 512; OpenAI allows 2048). */
  readonly batchSize?: number | undefined
  /** The provider name on errors (default `openai`). */
  readonly provider?: string | undefined
  readonly timeout?: Duration.DurationInput | undefined
  /** The fetch the SDK calls (default {@link NodeFetch.fetch}; `globalThis.fetch` for undici's, e.g. behind a proxy dispatcher). */
  readonly fetch?: typeof globalThis.fetch | undefined
}

const decodeBase64 = (data: string): Float32Array => {
  const bytes = Buffer.from(data, "base64")
  // Copy into an aligned buffer: a Buffer may sit at any offset of its pool.
  const copy = new Uint8Array(bytes.length)
  copy.set(bytes)
  return new Float32Array(copy.buffer, 0, Math.floor(bytes.length / 4))
}

/**
 * OpenAI embeddings through the `openai` SDK (retries off, interruption aborts
 * the request, errors mapped as for chat calls).
 *
 * @since 0.1.0
 * @category constructors
 */
export const openAi = (options: OpenAiOptions = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const client = new OpenAI({
      apiKey: options.apiKey === undefined ? "no-key" : Redacted.value(options.apiKey),
      baseURL: options.baseURL,
      maxRetries: 0,
      timeout: options.timeout === undefined ? undefined : Duration.toMillis(options.timeout),
      ...(options.apiKey === undefined ? { defaultHeaders: { authorization: null } } : {}),
      fetch: options.fetch ?? NodeFetch.fetch
    })
    const model = options.model ?? "text-embedding-3-small"
    const origin = { provider: options.provider ?? "openai", model }
    const batchSize = Math.max(1, options.batchSize ?? 512)

    const batch = (texts: ReadonlyArray<string>) =>
      Effect.tryPromise({
        try: (signal) =>
          client.embeddings.create({
            model,
            input: [...texts],
            encoding_format: "base64",
            ...(options.dimensions !== undefined ? { dimensions: options.dimensions } : {})
          }, { signal }),
        catch: (error) => mapError(error, origin)
      }).pipe(Effect.map((response) =>
        [...response.data].sort((a, b) => a.index - b.index).map((item) => {
          const raw: unknown = item.embedding
          return normalize(typeof raw === "string" ? decodeBase64(raw) : Float32Array.from(raw as ReadonlyArray<number>))
        })
      ))

    return {
      model,
      dimensions: options.dimensions ?? options.modelDimensions ?? 1536,
      embed: (texts) => {
        if (texts.length === 0) return Effect.succeed([])
        const batches: Array<ReadonlyArray<string>> = []
        for (let i = 0; i < texts.length; i += batchSize) batches.push(texts.slice(i, i + batchSize))
        return Effect.map(Effect.forEach(batches, batch, { concurrency: 4 }), (parts) => parts.flat())
      }
    }
  })

/**
 * OpenAI embeddings as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOpenAi = (options?: OpenAiOptions): Layer.Layer<Embeddings> => Layer.effect(Embeddings, openAi(options))

// -----------------------------------------------------------------------------
// Local deterministic embedder
// -----------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface LocalOptions {
  /** Vector size (default 512). More dimensions, fewer hash collisions, slower search. */
  readonly dimensions?: number | undefined
}

const stopWords = new Set(
  ("a an the and or but if then else of to in into onto on at by for from with as is are was were be been being am " +
    "do does did doing done have has had having i me my mine we us our you your yours he him his she her it its they them " +
    "their this that these those there here so such than too very can could will would shall should may might must " +
    "also just about over under again further once only own same other some any each both few more most all " +
    "please tell explain let know give via using within upon s t").split(" ")
)
// Negations, polarity words and question words are not stop words: they change the question.
for (const keep of ["not", "no", "on", "off", "more", "most", "all", "only", "under", "over", "again"]) stopWords.delete(keep)

const synonyms: Record<string, string> = {
  utilize: "use",
  utilise: "use",
  employ: "use",
  leverage: "use",
  obtain: "get",
  retrieve: "get",
  fetch: "get",
  acquire: "get",
  receive: "get",
  create: "make",
  generate: "make",
  produce: "make",
  build: "make",
  construct: "make",
  show: "display",
  present: "display",
  large: "big",
  huge: "big",
  small: "little",
  tiny: "little",
  quick: "fast",
  rapid: "fast",
  swift: "fast",
  speedy: "fast",
  assist: "help",
  aid: "help",
  require: "need",
  necessary: "need",
  permit: "allow",
  begin: "start",
  commence: "start",
  finish: "end",
  complete: "end",
  modify: "change",
  alter: "change",
  adjust: "change",
  erase: "delete",
  purchase: "buy",
  automobile: "car",
  physician: "doctor",
  simple: "easy",
  straightforward: "easy",
  method: "way",
  approach: "way",
  technique: "way",
  capability: "ability",
  capacity: "ability",
  provide: "give",
  supply: "give",
  offer: "give",
  facilitate: "help",
  incorporate: "include",
  contain: "include",
  comprise: "include",
  designate: "specify",
  indicate: "specify",
  determine: "specify",
  illustrate: "display",
  demonstrate: "display",
  store: "save",
  preserve: "save",
  instance: "example",
  sample: "example",
  mistake: "error",
  issue: "problem",
  trouble: "problem",
  answer: "reply",
  respond: "reply",
  response: "reply",
  inquiry: "question",
  query: "question",
  movie: "film",
  cost: "price",
  cheap: "inexpensive"
}

/** Strips common English inflections; conservative on short words. */
const stem = (word: string): string => {
  if (word.length <= 3 || /\d|_/.test(word)) return word
  let w = word
  if (w.endsWith("ies") && w.length > 4) w = `${w.slice(0, -3)}y`
  else if (w.endsWith("sses")) w = w.slice(0, -2)
  else if (w.endsWith("es") && /(sh|ch|x|z|ss)es$/.test(w)) w = w.slice(0, -2)
  else if (w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) w = w.slice(0, -1)
  if (w.endsWith("ing") && w.length > 5) w = w.slice(0, -3)
  else if (w.endsWith("ied") && w.length > 4) w = `${w.slice(0, -3)}y`
  else if (w.endsWith("ed") && w.length > 4) w = w.slice(0, -2)
  else if (w.endsWith("ly") && w.length > 5) w = w.slice(0, -2)
  // Undouble a final consonant left by -ing/-ed (running → runn → run).
  if (w.length > 3 && /([^aeiouslz])\1$/.test(w)) w = w.slice(0, -1)
  // Fold a trailing e so that use/using, make/making meet.
  if (w.length > 3 && w.endsWith("e")) w = w.slice(0, -1)
  return w
}

const canonicalWord = (word: string): string => {
  const direct = synonyms[word]
  if (direct !== undefined) return stem(direct)
  const stemmed = stem(word)
  for (const [from, to] of Object.entries(synonyms)) if (stem(from) === stemmed) return stem(to)
  return stemmed
}

const canonicalCache = new Map<string, string>()
const canonical = (word: string): string => {
  let hit = canonicalCache.get(word)
  if (hit === undefined) {
    hit = canonicalWord(word)
    if (canonicalCache.size < 100_000) canonicalCache.set(word, hit)
  }
  return hit
}

/**
 * The tokens the local embedder sees: lower-cased, stop words dropped, stemmed
 * and synonym-folded, with a weight (identifiers and numbers count double).
 *
 * @since 0.1.0
 * @category utils
 */
export const localTokens = (text: string): ReadonlyArray<{ readonly token: string; readonly weight: number }> => {
  const raw = text.normalize("NFKC").match(/[\p{L}\p{N}]+(?:[_.'’-][\p{L}\p{N}]+)*/gu) ?? []
  const out: Array<{ token: string; weight: number }> = []
  for (const original of raw) {
    const lower = original.toLowerCase().replace(/[’']s$/, "").replace(/[’']/g, "")
    if (stopWords.has(lower)) continue
    const specific = /\d|_|\.\w/.test(lower) || /[a-z][A-Z]/.test(original)
    out.push({ token: specific ? lower : canonical(lower), weight: specific ? 2 : 1 })
  }
  return out
}

const fnv1a = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}

/**
 * The local embedding of one text (see the module header for the method).
 *
 * @since 0.1.0
 * @category utils
 */
export const localEmbedding = (text: string, dimensions = 512): Float32Array => {
  const vector = new Float32Array(dimensions)
  const add = (feature: string, weight: number) => {
    const hash = fnv1a(feature)
    vector[hash % dimensions]! += hash & 0x80000000 ? -weight : weight
  }
  const tokens = localTokens(text)
  tokens.forEach(({ token, weight }, i) => {
    add(`w:${token}`, weight)
    if (i > 0) add(`b:${tokens[i - 1]!.token} ${token}`, 0.5)
    if (token.length >= 5) {
      const padded = `^${token}$`
      const grams = padded.length - 2
      for (let j = 0; j < grams; j++) add(`c:${padded.slice(j, j + 3)}`, 0.6 / Math.sqrt(grams))
    }
  })
  return normalize(vector)
}

/**
 * The local deterministic embedder (no network).
 *
 * @since 0.1.0
 * @category constructors
 */
export const local = (options: LocalOptions = {}): Service => {
  const dimensions = options.dimensions ?? 512
  return {
    model: `local-hash-v1-${dimensions}`,
    dimensions,
    embed: (texts) => Effect.sync(() => texts.map((text) => localEmbedding(text, dimensions)))
  }
}

/**
 * The local embedder as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerLocal = (options?: LocalOptions): Layer.Layer<Embeddings> => Layer.succeed(Embeddings, local(options))
