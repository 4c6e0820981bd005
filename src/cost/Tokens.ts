/**
 * Token estimates for requests, before they are sent: what a budget reserves and a
 * rate limiter charges up front.
 *
 * OpenAI models are counted with `gpt-tokenizer` in the model's own encoding
 * (`o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the o-series; `cl100k_base`
 * for gpt-4 and gpt-3.5), plus the chat format's overhead as OpenAI's cookbook
 * describes it: 3 tokens per message, the role, 1 for a name, and 3 that prime the
 * reply. A single user message "Hello" to gpt-4o is 3 + 1 + 1 + 3 = 8 tokens, the
 * `prompt_tokens` the API reports for it.
 *
 * Tool definitions and JSON schemas are counted as their JSON text plus a fixed
 * overhead. OpenAI renders tools into a compact TypeScript-like form before the model
 * sees them, which is usually shorter than the JSON, so this errs high: the safe side
 * for a budget.
 *
 * Other models (Anthropic, local ones) use a documented APPROXIMATION: the
 * `o200k_base` count times `approximationFactor` (default 1.35), rounded up. Anthropic
 * does not publish its tokenizer; the factor is a deliberately high guess meant to keep
 * reservations at or above the real count, not a measured ratio. Use Anthropic's
 * token-counting endpoint where an exact figure matters.
 *
 * One exception to exact counts, on the safe side: the output guard's per-request
 * canary (`cnry-` and 16 random characters) is counted as an upper bound, a few
 * tokens above its real count, instead of running BPE on a new random string on
 * every request.
 *
 * The encodings are loaded on first use (each is a large table; loading takes a few
 * hundred milliseconds), so importing this module costs nothing.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import type { Request } from "../LanguageModel.js"

/**
 * The tokenizers this module counts with.
 *
 * @since 0.1.0
 * @category models
 */
export type Encoding = "o200k_base" | "cl100k_base"

/**
 * How a request was counted.
 *
 * @since 0.1.0
 * @category models
 */
export interface Estimate {
  /** Estimated input (prompt) tokens. */
  readonly inputTokens: number
  readonly encoding: Encoding
  /** True when the model is not an OpenAI model and the count is approximated. */
  readonly approximate: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EstimateOptions {
  /** Multiplier over the `o200k_base` count for non-OpenAI models (default 1.35). */
  readonly approximationFactor?: number
}

/**
 * Per-message overhead of the chat format (OpenAI cookbook).
 *
 * @since 0.1.0
 * @category constants
 */
export const MESSAGE_OVERHEAD = 3

/**
 * Tokens that prime the assistant's reply (OpenAI cookbook).
 *
 * @since 0.1.0
 * @category constants
 */
export const REPLY_PRIMING = 3

/**
 * Fixed overhead per tool definition, per tool call and per response schema, on top
 * of their text.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFINITION_OVERHEAD = 8

/**
 * The default multiplier for approximated (non-OpenAI) models.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_APPROXIMATION_FACTOR = 1.35

const o200kModels = /^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4|codex)/
const cl100kModels = /^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/
let lastModel: string | undefined
let lastEncoding: Encoding | undefined

/**
 * The encoding an OpenAI model uses, or `undefined` for a model this module only
 * approximates. A `provider/` prefix and `ft:` fine-tune prefix are ignored.
 *
 * @since 0.1.0
 * @category utils
 */
export const encodingFor = (model: string): Encoding | undefined => {
  // The last answer is kept: a budget asks for the same model on every call.
  if (model === lastModel) return lastEncoding
  const id = model.replace(/^ft:/, "").replace(/^[^/]+\//, "")
  lastEncoding = o200kModels.test(id) ? "o200k_base" : cl100kModels.test(id) ? "cl100k_base" : undefined
  lastModel = model
  return lastEncoding
}

type Counter = (text: string) => number

const noSpecial = { disallowedSpecial: new Set<string>() }
let o200k: Promise<Counter> | undefined
let cl100k: Promise<Counter> | undefined
/** The counters once loaded: later calls get them without an async step. */
const ready: { o200k_base?: Counter; cl100k_base?: Counter } = {}

/** Texts up to this length have their counts remembered (roles, system prompts, tool schemas). */
const MEMO_MAX_LENGTH = 1024
/** Remembered counts per encoding before the memo starts over. */
const MEMO_MAX_ENTRIES = 1024

/**
 * Where a text is counted in parts: after sentence punctuation (the match) followed
 * by a space and a letter. No pre-token of either encoding crosses such a point
 * (a letter or digit run stops at the punctuation, a punctuation run takes no
 * space after it, and a whitespace run cannot start before a non-space), and
 * neither pattern looks behind, so the parts' counts add up to the whole text's
 * count exactly (tested against the tokenizer on generated texts).
 */
const SENTENCE_END = /[.!?:;](?= \p{L})/gu

/**
 * The sentence part holding an output-guard canary (`cnry-` and 16 random letters
 * and digits, see guard/OutputGuard.ts). It is new on every request, and BPE on an
 * unseen random string is the slow case (~30 µs here), so it is not counted but
 * bounded: ` cnry` is one pre-token (its letter run stops at the `-`), and each of
 * the 18 ASCII characters after it is at most one token (every byte is a token), so
 * `tokens(" cnry") + 18` never under-counts. It over-counts by a few tokens (the
 * test measures how many), never under.
 */
const CANARY_PART = /^ cnry-[a-z0-9]{16}\.$/
const CANARY_TAIL = 18

/**
 * Runs longer than this (letters, symbols or whitespace: what the encodings keep
 * in one pre-token) are not counted by BPE past their first `LONG_RUN` characters.
 */
const LONG_RUN = 128
/**
 * A run of more than `LONG_RUN` letters, symbols or whitespace, matched from its
 * first character only. Combining marks belong to both letter and symbol runs,
 * as in the encodings' pre-token patterns (`!` and U+0301 alternating are one
 * symbol pre-token).
 */
const longRun =
  /(?<![\p{L}\p{M}])[\p{L}\p{M}]{129,}|(?<![^\s\p{L}\p{N}])[^\s\p{L}\p{N}]{129,}|(?<!\s)\s{129,}/gu

const WHITESPACE_RUN = /\s{129}/

/**
 * Whether a text may hold a run longer than `LONG_RUN`: more than `LONG_RUN` code
 * units without a space (a letter or symbol run holds none) or a whitespace run.
 * A necessary condition, checked first because `longRun` (three lookbehinds
 * tried at every position) cost ~1.8 µs on a 150-character prompt and this
 * ~0.2 µs; `longRun` still decides.
 */
const mayHaveLongRun = (text: string): boolean => {
  let space = -1
  for (let next = text.indexOf(" "); next >= 0; next = text.indexOf(" ", next + 1)) {
    if (next - space > LONG_RUN + 1) return true
    space = next
  }
  return text.length - space > LONG_RUN + 1 || WHITESPACE_RUN.test(text)
}

/** The UTF-8 length of a string (every byte is at most one token). */
const utf8Length = (text: string): number => {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

/**
 * Bounds the count of a text with runs longer than `LONG_RUN`: each run is
 * counted by BPE up to `LONG_RUN` characters (keeping its neighbours'
 * pre-tokens as they are) and by its UTF-8 bytes past that plus one, an upper bound
 * (tested against exact counts). BPE is quadratic in the length of one
 * pre-token — 64 KB of one letter took 4 s here, of one emoji 20 s — and a prompt
 * is counted before it is sent, so an exact count of such text would let one
 * request stall the process. Text without such runs is counted exactly.
 */
const boundLongRuns = (text: string, count: Counter): number => {
  let kept = ""
  let extra = 0
  let last = 0
  longRun.lastIndex = 0
  for (const m of text.matchAll(longRun)) {
    let cut = m.index + LONG_RUN
    // never between the halves of a surrogate pair
    const c = text.charCodeAt(cut - 1)
    if (c >= 0xd800 && c <= 0xdbff) cut++
    kept += text.slice(last, cut)
    // +1: BPE of the first part can end on a merge the whole run would not make
    extra += utf8Length(text.slice(cut, m.index + m[0].length)) + 1
    last = m.index + m[0].length
  }
  return count(kept + text.slice(last)) + extra
}

/**
 * Wraps a count (by pre-tokens, see `byPieces`) with a small memo of whole texts
 * and sentences: one lookup where the pre-tokens of a long text are many. A
 * request counts its roles and usually a system prompt the previous call had too,
 * and a budget counts once per candidate model. The memo holds at most
 * `MEMO_MAX_ENTRIES` texts of at most `MEMO_MAX_LENGTH` characters (~2 MB) and is
 * emptied when full. Counts are exact either way, but for one documented upper bound:
 * an output-guard canary sentence (see `CANARY_PART`) counts a few tokens high.
 *
 * A text of several sentences is counted sentence by sentence, each remembered, and
 * the whole is not: a system prompt that differs per request only in one sentence
 * (the output guard's canary or a spotlight boundary: random per request) costs one
 * short count instead of the whole prompt's.
 */
const memoized = (count: Counter): Counter => {
  let memo = new Map<string, number>()
  /** Counts a text not in the memo, and remembers it. */
  const counted = (text: string): number => {
    const n = count(text)
    if (text.length > MEMO_MAX_LENGTH) return n
    if (memo.size >= MEMO_MAX_ENTRIES) memo = new Map()
    memo.set(text, n)
    return n
  }
  const one = (text: string): number => {
    const known = text.length > MEMO_MAX_LENGTH ? undefined : memo.get(text)
    return known !== undefined ? known : counted(text)
  }
  const part = (text: string): number => CANARY_PART.test(text) ? one(" cnry") + CANARY_TAIL : one(text)
  const exact = (text: string): number => {
    if (text.length === 0) return 0
    const known = text.length > MEMO_MAX_LENGTH ? undefined : memo.get(text)
    if (known !== undefined) return known
    // Parts found by scanning, not `split` (a lookbehind split cost ~0.2 µs on a
    // one-sentence text, the common case).
    SENTENCE_END.lastIndex = 0
    let end = SENTENCE_END.exec(text)
    if (end === null) return counted(text)
    let total = 0
    let start = 0
    do {
      total += part(text.slice(start, end.index + 1))
      start = end.index + 1
    } while ((end = SENTENCE_END.exec(text)) !== null)
    return total + part(text.slice(start))
  }
  return (text) => {
    if (text.length <= LONG_RUN || !mayHaveLongRun(text)) return exact(text)
    longRun.lastIndex = 0
    return longRun.test(text) ? boundLongRuns(text, exact) : exact(text)
  }
}

/** Pre-tokens up to this length have their counts remembered. */
const PIECE_MAX_LENGTH = 32
/** Remembered pre-token counts per encoding before that memo starts over. */
const PIECE_MAX_ENTRIES = 8192

/**
 * Counts a text as the sum of its pre-tokens' counts, each remembered.
 *
 * The tokenizer splits a text with its pre-token pattern (`split`) and runs BPE on
 * each piece on its own, so a text's count is the sum of its pieces' counts; and a
 * piece split alone is that one piece (the pattern does not look behind, and the
 * only lookaheads, `\s+(?!\S)` and `\s+$`, apply to whitespace pieces, which stay
 * whole alone). A new user message is mostly words seen before: looking them up
 * took about half the tokenizer's time on a 46-character prompt (0.9 against
 * 2.0 µs in a loop: its `matchAll`, options handling and Unicode pattern per
 * call). A piece not remembered is counted by the tokenizer alone. Tested against
 * the tokenizer's count of the whole text.
 *
 * `asciiEnd`, when given, finds where a piece of an ASCII text ends without the
 * regular expression (Unicode property classes made it most of the rest).
 */
const byPieces = (count: Counter, split: RegExp, asciiEnd: ((text: string, start: number) => number) | undefined): Counter => {
  const pattern = new RegExp(split)
  let memo = new Map<string, number>()
  const piece = (text: string): number => {
    let n = memo.get(text)
    if (n === undefined) {
      n = count(text)
      if (text.length <= PIECE_MAX_LENGTH) {
        if (memo.size >= PIECE_MAX_ENTRIES) memo = new Map()
        memo.set(text, n)
      }
    }
    return n
  }
  return (text) => {
    let total = 0
    if (asciiEnd !== undefined && !NON_ASCII.test(text)) {
      for (let start = 0, end = 0; start < text.length; start = end) {
        end = asciiEnd(text, start)
        // one character is one token (every byte is a token): no slice, no lookup
        total += end === start + 1 ? 1 : piece(text.slice(start, end))
      }
      return total
    }
    pattern.lastIndex = 0
    for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
      // (no pattern's piece is empty; stepping on keeps a changed pattern from looping)
      if (m[0].length === 0) pattern.lastIndex++
      else total += piece(m[0])
    }
    return total
  }
}

const NON_ASCII = /[^\x00-\x7f]/

// ASCII character kinds for `o200kPieceEnd`.
const UPPER = 1
const LOWER = 2
const DIGIT = 3
const NEWLINE = 4
/** `\s` but `\r` and `\n`. */
const SPACE = 5
/** Neither a letter, a digit nor `\s`. */
const OTHER = 6
const asciiKinds = new Uint8Array(128).fill(OTHER)
asciiKinds.fill(UPPER, 65, 91).fill(LOWER, 97, 123).fill(DIGIT, 48, 58)
asciiKinds[10] = asciiKinds[13] = NEWLINE
asciiKinds[9] = asciiKinds[11] = asciiKinds[12] = asciiKinds[32] = SPACE
/** The kind of the character at `i` of an ASCII text, 0 past its end. */
const kindAt = (text: string, i: number): number => i < text.length ? asciiKinds[text.charCodeAt(i)]! : 0

/** Past an English contraction suffix at `at` (`'s`, `'d`, `'m`, `'t`, `'ll`, `'ve`, `'re`, any case), else `at`. */
const contractionEnd = (text: string, at: number): number => {
  if (text.charCodeAt(at) !== 39) return at
  const c = text.charCodeAt(at + 1) | 32
  if (c === 115 || c === 100 || c === 109 || c === 116) return at + 2
  const d = text.charCodeAt(at + 2) | 32
  return (c === 108 && d === 108) || ((c === 118 || c === 114) && d === 101) ? at + 3 : at
}

/**
 * Where the `o200k_base` pre-token starting at `i` of an ASCII text ends: the
 * pattern's alternatives in its order, for ASCII only —
 * `[^\r\n\p{L}\p{N}]?\p{Lu}*\p{Ll}+('s…)?`, then with `\p{Lu}+\p{Ll}*`, `\p{N}{1,3}`,
 * ` ?[^\s\p{L}\p{N}]+[\r\n/]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`. Its pieces were
 * checked against the pattern's on every string of up to five characters over a
 * representative of each case and on 2 million random ASCII strings; the tests
 * compare the counts.
 */
const o200kPieceEnd = (text: string, i: number): number => {
  const c = kindAt(text, i)
  const next = kindAt(text, i + 1)
  if (c === UPPER || c === LOWER || ((c === SPACE || c === OTHER) && (next === UPPER || next === LOWER))) {
    let end = c === UPPER || c === LOWER ? i : i + 1
    while (kindAt(text, end) === UPPER) end++
    while (kindAt(text, end) === LOWER) end++
    return contractionEnd(text, end)
  }
  if (c === DIGIT) return next !== DIGIT ? i + 1 : kindAt(text, i + 2) !== DIGIT ? i + 2 : i + 3
  if (c === OTHER || (next === OTHER && text.charCodeAt(i) === 32)) {
    let end = c === OTHER ? i + 1 : i + 2
    while (kindAt(text, end) === OTHER) end++
    for (let k = text.charCodeAt(end); k === 10 || k === 13 || k === 47; k = text.charCodeAt(++end));
    return end
  }
  // whitespace: up to its last newline, else all of it when it ends the text or
  // is one character, else all but its last character
  let end = i
  let newline = -1
  for (let k = c; k === SPACE || k === NEWLINE; k = kindAt(text, ++end)) if (k === NEWLINE) newline = end
  if (newline >= 0) return newline + 1
  return end === text.length || end - i < 2 ? end : end - 1
}

const splitPatterns = () => import("gpt-tokenizer/encodingParams/constants")

const load = (encoding: Encoding): Promise<Counter> => {
  if (encoding === "o200k_base") {
    return o200k ??= Promise.all([import("gpt-tokenizer/encoding/o200k_base"), splitPatterns()]).then(([m, c]) =>
      ready.o200k_base = memoized(byPieces((text) => m.countTokens(text, noSpecial), c.O200K_TOKEN_SPLIT_REGEX, o200kPieceEnd))
    )
  }
  return cl100k ??= Promise.all([import("gpt-tokenizer/encoding/cl100k_base"), splitPatterns()]).then(([m, c]) =>
    ready.cl100k_base = memoized(byPieces((text) => m.countTokens(text, noSpecial), c.CL100K_TOKEN_SPLIT_REGEX, undefined))
  )
}

/**
 * The counting function of an encoding (special-token text such as `<|endoftext|>`
 * is counted as ordinary text, never rejected).
 *
 * @since 0.1.0
 * @category constructors
 */
export const counter = (encoding: Encoding): Effect.Effect<(text: string) => number> => {
  const loaded = ready[encoding]
  return loaded !== undefined ? Effect.succeed(loaded) : Effect.promise(() => load(encoding))
}

/**
 * Counts the tokens of a text.
 *
 * @since 0.1.0
 * @category counting
 */
export const count = (text: string, encoding: Encoding = "o200k_base"): Effect.Effect<number> =>
  Effect.map(counter(encoding), (tokens) => tokens(text))

/**
 * Counts a request in an encoding, exactly as {@link estimate} does before any
 * approximation factor: messages with their overhead, tool definitions, tool choice
 * and response format.
 *
 * @since 0.1.0
 * @category counting
 */
export const countRequest = (request: Request, tokens: (text: string) => number): number => {
  let total = REPLY_PRIMING
  for (const message of request.messages) {
    total += MESSAGE_OVERHEAD + tokens(message.role) + tokens(message.content)
    if (message.role === "assistant") {
      for (const call of message.toolCalls) {
        total += DEFINITION_OVERHEAD + tokens(call.id) + tokens(call.name) + tokens(call.arguments)
      }
    } else if (message.role === "tool") {
      total += tokens(message.toolCallId)
    }
  }
  for (const tool of request.tools ?? []) {
    total += DEFINITION_OVERHEAD + tokens(tool.name) + tokens(tool.description ?? "") +
      tokens(JSON.stringify(tool.parameters))
  }
  if (request.toolChoice !== undefined && typeof request.toolChoice === "object") {
    total += MESSAGE_OVERHEAD + tokens(request.toolChoice.tool)
  }
  const format = request.responseFormat
  if (format !== undefined && format.type === "jsonSchema") {
    total += DEFINITION_OVERHEAD + tokens(format.name) + tokens(format.description ?? "") +
      tokens(JSON.stringify(format.schema))
  } else if (format !== undefined && format.type === "json") {
    total += MESSAGE_OVERHEAD
  }
  return total
}

/**
 * Estimates the input tokens of a request for a model (default: `request.model`; with
 * no model at all the count is approximated like a non-OpenAI model's).
 *
 * @since 0.1.0
 * @category counting
 */
export const estimate = (
  request: Request,
  model: string | undefined = request.model,
  options: EstimateOptions = {}
): Effect.Effect<Estimate> => {
  const exact = model === undefined ? undefined : encodingFor(model)
  const encoding = exact ?? "o200k_base"
  return Effect.map(counter(encoding), (tokens) => estimateWith(request, exact, encoding, tokens, options))
}

const estimateWith = (
  request: Request,
  exact: Encoding | undefined,
  encoding: Encoding,
  tokens: Counter,
  options: EstimateOptions
): Estimate => {
  const counted = countRequest(request, tokens)
  if (exact !== undefined) return { inputTokens: counted, encoding, approximate: false }
  const factor = options.approximationFactor ?? DEFAULT_APPROXIMATION_FACTOR
  return { inputTokens: Math.ceil(counted * factor), encoding, approximate: true }
}

/**
 * {@link estimate} without an Effect, once the encoding it needs is loaded
 * (`undefined` before: run `estimate` or `counter` once to load it). For hot
 * paths that count every call.
 *
 * @since 0.1.0
 * @category counting
 */
export const estimateIfLoaded = (
  request: Request,
  model: string | undefined = request.model,
  options: EstimateOptions = {}
): Estimate | undefined => {
  const exact = model === undefined ? undefined : encodingFor(model)
  const encoding = exact ?? "o200k_base"
  const tokens = ready[encoding]
  return tokens === undefined ? undefined : estimateWith(request, exact, encoding, tokens, options)
}
