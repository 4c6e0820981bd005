/**
 * Text normalization for the guards: one pass that turns what an attacker can
 * disguise into what a rule can match, while remembering where every output
 * character came from so findings can point into the original text.
 *
 * - compatibility folding (NFKC's compatibility mappings, applied per character as
 *   NFKD with the combining marks dropped, so `ｉｇｎｏｒｅ`, `𝐢𝐠𝐧𝐨𝐫𝐞` and `ïgnörë` all
 *   become `ignore`); combining marks written after a Latin, Greek or Cyrillic
 *   letter (`i\u0308`, zalgo stacks) are dropped too and counted as invisible;
 * - invisible characters removed: format characters (Unicode `Cf`: zero-width
 *   space/joiners, bidi controls, soft hyphen, word joiner, BOM), the other
 *   default-ignorable code points (U+034F combining grapheme joiner, fillers),
 *   variation selectors, and Unicode tag characters — whose ASCII payload ("ASCII
 *   smuggling") is decoded and kept apart so it can be scanned too;
 * - homoglyphs folded (Cyrillic/Greek/Armenian look-alikes of Latin letters —
 *   Greek capitals by their capital shape —, typographic quotes and dashes);
 * - lower case, whitespace runs collapsed (a run containing a newline becomes one
 *   `\n`, any other run one space);
 * - leetspeak folded inside tokens that mix letters with `0 1 3 4 5 7 @ $`;
 * - spaced-out words (`i g n o r e`, `i.g.n.o.r.e`) joined.
 *
 * Hand-written because no library does this with an offset map, and the scanner
 * needs it in a few microseconds for a kilobyte.
 *
 * @internal
 */

/** The result of {@link normalize}. */
export interface Normalized {
  /** The normalized text. */
  readonly text: string
  /** `map[i]` is the UTF-16 offset in the original text of normalized character `i`. */
  readonly map: Int32Array
  /** Format/zero-width/variation-selector characters removed. */
  readonly invisible: number
  /** ASCII decoded from Unicode tag characters (hidden text), if any. */
  readonly hidden: string
  /** Letters folded from another script (a sign of homoglyph disguise). */
  readonly homoglyphs: number
  /** Whether leetspeak was folded. */
  readonly leet: boolean
  /** Whether spaced-out letters were joined. */
  readonly spaced: boolean
}

const HOMOGLYPHS: Record<string, string> = {
  // Cyrillic
  "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
  "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ɡ": "g",
  "ӏ": "l", "ո": "n", "ս": "u", "օ": "o", "ց": "g", "ɑ": "a", "ı": "i", "ȷ": "j", "ℓ": "l",
  // Greek
  "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
  "χ": "x", "γ": "y", "ω": "w", "μ": "u", "ς": "s", "ϲ": "c", "ϳ": "j",
  // punctuation
  "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "´": "'", "`": "'", "“": "\"", "”": "\"", "„": "\"",
  "‟": "\"", "″": "\"", "«": "\"", "»": "\"", "‹": "<", "›": ">", "〈": "<", "〉": ">", "⟨": "<", "⟩": ">",
  "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "⁄": "/", "∕": "/", "｜": "|"
}

/**
 * Greek capitals by the Latin capital they look like. Lower case would fold
 * them as their small forms, which look like other letters (`Η`→`η`→`n`,
 * `Ν`→`ν`→`v`, `Μ`→`μ`→`u`, `Υ`→`υ`→`u`), so a capital is looked up first.
 */
const GREEK_CAPITALS = new Map<number, string>([
  [0x391, "a"], [0x392, "b"], [0x395, "e"], [0x396, "z"], [0x397, "h"], [0x399, "i"], [0x39a, "k"],
  [0x39c, "m"], [0x39d, "n"], [0x39f, "o"], [0x3a1, "p"], [0x3a4, "t"], [0x3a5, "y"], [0x3a7, "x"]
])

const LEET: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s" }

/** Format characters and the other default-ignorable code points (U+034F combining grapheme joiner, fillers, variation selectors). */
const isFormat = /^[\p{Cf}\p{Default_Ignorable_Code_Point}\uFE00-\uFE0F\u180B-\u180F\u3164\u115F\u1160]$/u
const isMarkChar = /^\p{M}$/u
const isMark = /\p{M}/gu
const isSpace = /^\s$/u
const spacedLetters = /(?<![a-z])(?:[a-z][ .\-_*·|]){3,}[a-z](?![a-z])/g

const cache = new Map<number, string>()

/**
 * Folds one non-ASCII code point: compatibility decomposition, lower case, and —
 * for Latin, Greek and Cyrillic bases only — combining marks dropped (other
 * scripts keep their composed form: dropping a Japanese dakuten changes the word).
 */
/** Whether a code point is in the Latin, Greek or Cyrillic blocks whose combining marks are dropped. */
const isLgc = (cp: number): boolean => cp < 0x250 || (cp >= 0x370 && cp < 0x530) || (cp >= 0x1d00 && cp < 0x1f00)

const foldCodePoint = (cp: number, ch: string): string => {
  const cached = cache.get(cp)
  if (cached !== undefined) return cached
  const decomposed = ch.normalize("NFKD")
  const base = decomposed.codePointAt(0) ?? 0
  let out = isLgc(base)
    ? decomposed.replace(isMark, "").toLowerCase()
    : ch.normalize("NFKC").toLowerCase()
  const punct = out.length === 1 && !/\p{L}/u.test(out) ? HOMOGLYPHS[out] : undefined
  if (punct !== undefined) out = punct
  if (cache.size < 4096) cache.set(cp, out)
  return out
}

/** Whitespace that collapsing changes: a run of two or more, or one tab/CR/VT/FF (a lone `\n` or space stays). */
const ASCII_WS = /[\t-\r ]{2,}|[\t\v\f\r]/g
const wordWithLookAlikes = /[\p{L}\p{N}'$@]+/gu
const latinLetter = /[a-z]/

/**
 * Normalizes `input` for matching (see the module comment) and maps every output
 * character back to its offset in `input`.
 */
export const normalize = (input: string): Normalized => {
  const n = input.length
  // A few native regex tests decide which transformations are needed at all (on
  // a kilobyte each costs about a microsecond; a JavaScript loop over the
  // characters costs several).
  const nonAscii = NON_ASCII.test(input)
  if (nonAscii) return finish(slowPath(input))
  // Collapsing is needed for a run of two whitespace characters, a tab/CR/VT/FF,
  // or leading whitespace in a text with a line break (a lone `\n` elsewhere stays
  // as it is, so most multi-line texts keep the identity map).
  const whitespace = COLLAPSIBLE.test(input) || (n > 0 && input.charCodeAt(0) <= 32 && ODD_WHITESPACE.test(input))
  const leetish = LEET_PAIR.test(input)

  let text = input.toLowerCase()
  if (whitespace) {
    text = text.replace(ASCII_WS, (m) => (m.includes("\n") ? "\n" : " "))
    if (text.length > 0 && (text.charCodeAt(0) <= 32)) text = text.replace(/^\s+/, "")
  }
  // The offset map is built only when a finding needs a span (most scans find nothing).
  const base = lazyMap(text, whitespace ? () => asciiMap(input) : () => identity(n))
  return finish(base, leetish, true)
}
const NON_ASCII = /[^\x00-\x7f]/
const ODD_WHITESPACE = /[\t-\r]| {2}/
/** What `ASCII_WS` would change (a subset of `ODD_WHITESPACE`). */
const COLLAPSIBLE = /[\t-\r ]{2}|[\t\v\f\r]/
/** A letter next to a digit, `@` or `$` (anchored on the rarer character: a regex led by a letter class is slow). */
const LEET_PAIR = /[0-9@$](?:(?<=[a-zA-Z].)|(?=[a-zA-Z]))/

/**
 * A result whose `map` is computed on first use. A class, so the accessor lives
 * on the prototype: an object literal with a getter and a setter cost ~1 µs to
 * create, more than normalizing a short ASCII answer (callers read the fields,
 * never spread the result).
 */
class LazyMap implements Mutable {
  invisible = 0
  hidden = ""
  homoglyphs = 0
  leet = false
  spaced = false
  #map: Int32Array | undefined
  readonly #build: () => Int32Array
  constructor(public text: string, build: () => Int32Array) {
    this.#build = build
  }
  get map(): Int32Array {
    return this.#map ??= this.#build()
  }
  set map(value: Int32Array) {
    this.#map = value
  }
}
const lazyMap = (text: string, build: () => Int32Array): Mutable => new LazyMap(text, build)

const identityCache: { map: Int32Array } = { map: new Int32Array(0) }
const identity = (n: number): Int32Array => {
  if (identityCache.map.length < n) {
    const next = new Int32Array(Math.max(n, 4096))
    for (let i = 0; i < next.length; i++) next[i] = i
    identityCache.map = next
  }
  return identityCache.map.subarray(0, n)
}

/** The offset map of the ASCII path: the same whitespace collapsing as `ASCII_WS`. */
const asciiMap = (input: string): Int32Array => {
  const map = new Int32Array(input.length)
  let j = 0
  let i = 0
  const n = input.length
  while (i < n) {
    const c = input.charCodeAt(i)
    if (c === 32 || (c >= 9 && c <= 13)) {
      const start = i
      while (i < n) {
        const d = input.charCodeAt(i)
        if (!(d === 32 || (d >= 9 && d <= 13))) break
        i++
      }
      if (j > 0) map[j++] = start
      continue
    }
    map[j++] = i
    i++
  }
  return map.subarray(0, j)
}

interface Mutable {
  text: string
  map: Int32Array
  invisible: number
  hidden: string
  homoglyphs: number
  leet: boolean
  spaced: boolean
}

/** What one non-ASCII code point becomes (cached per code point). */
interface Folding {
  /** 0: text, 1: invisible, 2: space, 3: line break. */
  readonly kind: number
  /** The folded text, one entry per code point of it. */
  readonly chars: ReadonlyArray<string>
  /** Per entry: whether it is whitespace (a space is pending instead). */
  readonly spaces: ReadonlyArray<boolean>
  /** Whether any entry is a look-alike letter. */
  readonly lookAlike: boolean
  /** A combining mark (`\p{M}`): dropped after a Latin, Greek or Cyrillic letter. */
  readonly mark: boolean
  /** A Latin, Greek or Cyrillic letter (combining marks after it are dropped). */
  readonly lgcLetter: boolean
  /** The Latin letter a Greek capital looks like ({@link GREEK_CAPITALS}). */
  readonly capital: string | undefined
}
const foldings = new Map<number, Folding>()
/** The same cache for the BMP as a plain array (an indexed load instead of a hash lookup). */
const bmpFoldings: Array<Folding | undefined> = new Array<Folding | undefined>(0x10000).fill(undefined)
const INVISIBLE_FOLDING: Folding = { kind: 1, chars: [], spaces: [], lookAlike: false, mark: false, lgcLetter: false, capital: undefined }
const SPACE_FOLDING: Folding = { kind: 2, chars: [], spaces: [], lookAlike: false, mark: false, lgcLetter: false, capital: undefined }
const NEWLINE_FOLDING: Folding = { kind: 3, chars: [], spaces: [], lookAlike: false, mark: false, lgcLetter: false, capital: undefined }
/** What one non-ASCII code point becomes: invisible, a space, a line break or its folded text. */
const folding = (cp: number): Folding => {
  const cached = cp <= 0xffff ? bmpFoldings[cp] : foldings.get(cp)
  if (cached !== undefined) return cached
  const ch = String.fromCodePoint(cp)
  let out: Folding
  if ((cp >= 0xe0100 && cp <= 0xe01ef) || isFormat.test(ch)) out = INVISIBLE_FOLDING
  else if (isSpace.test(ch)) out = cp === 0x2028 || cp === 0x2029 || cp === 0x85 ? NEWLINE_FOLDING : SPACE_FOLDING
  else {
    const chars = [...foldCodePoint(cp, ch)]
    const base = ch.normalize("NFKD").codePointAt(0) ?? 0
    const capital = chars.length === 1 ? GREEK_CAPITALS.get(base) : undefined
    out = {
      kind: 0,
      chars,
      spaces: chars.map((c) => isSpace.test(c)),
      lookAlike: capital !== undefined || chars.some((c) => HOMOGLYPHS[c] !== undefined),
      mark: isMarkChar.test(ch),
      lgcLetter: isLgc(base) && isLetterCode(base),
      capital
    }
  }
  if (cp <= 0xffff) bmpFoldings[cp] = out
  else if (foldings.size < 4096) foldings.set(cp, out)
  return out
}
/** Look-alike letters by code point. */
const HOMOGLYPH_CODES = new Map<number, string>(Object.entries(HOMOGLYPHS).map(([k, v]) => [k.codePointAt(0)!, v]))
/** 1: a letter, 2: not (BMP code units, filled on first use). */
const letterCache = new Uint8Array(0x10000)
const letterRegex = /\p{L}/u
const isLetterCode = (cp: number): boolean => {
  if (cp > 0xffff) return letterRegex.test(String.fromCodePoint(cp))
  let known = letterCache[cp]!
  if (known === 0) letterCache[cp] = known = letterRegex.test(String.fromCharCode(cp)) ? 1 : 2
  return known === 1
}

/**
 * The general path: per code point folding, invisible characters, look-alikes.
 * The output is gathered in an array of pieces (a string grown one character at
 * a time cost more than the folding), each code point's folding is cached.
 */
const slowPath = (input: string): Mutable => {
  const n = input.length
  const parts: Array<string> = []
  let map = new Int32Array(n + 16)
  let len = 0
  const ensure = (extra: number) => {
    if (len + extra > map.length) {
      const next = new Int32Array((map.length + extra) * 2)
      next.set(map)
      map = next
    }
  }
  let invisible = 0
  let hidden = ""
  let lookAlikes = false
  /** Output offset of a Greek capital look-alike → the Latin letter it looks like. */
  let capitals: Map<number, string> | undefined
  /** Whether the last visible character was a Latin, Greek or Cyrillic letter (its combining marks are dropped). */
  let afterLetter = false
  /**
   * Combining marks dropped since that letter. One is how decomposed (NFD) text
   * writes an accent, and is no signal; a stack of them (zalgo) is obfuscation,
   * counted as invisible from the second.
   */
  let marks = 0
  // 0: none pending, 1: space pending, 2: newline pending
  let pendingSpace = 0
  let pendingAt = 0
  let i = 0
  const flushSpace = () => {
    if (pendingSpace !== 0 && len > 0) {
      parts.push(pendingSpace === 2 ? "\n" : " ")
      ensure(1)
      map[len++] = pendingAt
    }
    pendingSpace = 0
  }
  const space = (at: number, newline: boolean) => {
    if (pendingSpace === 0) pendingAt = at
    if (newline) pendingSpace = 2
    else if (pendingSpace === 0) pendingSpace = 1
  }
  while (i < n) {
    const code = input.charCodeAt(i)
    if (code < 128) {
      if (code === 10 || code === 13) {
        space(i, true)
        afterLetter = false
        i++
      } else if (code === 32 || code === 9 || code === 11 || code === 12) {
        space(i, false)
        afterLetter = false
        i++
      } else {
        // a run of visible ASCII: copied in one piece
        flushSpace()
        let j = i + 1
        while (j < n) {
          const d = input.charCodeAt(j)
          if (d >= 128 || d === 32 || (d >= 9 && d <= 13)) break
          j++
        }
        parts.push(input.slice(i, j).toLowerCase())
        ensure(j - i)
        for (let k = i; k < j; k++) map[len++] = k
        const last = input.charCodeAt(j - 1) | 32
        afterLetter = last >= 97 && last <= 122
        marks = 0
        i = j
      }
      continue
    }
    const cp = input.codePointAt(i)!
    const width = cp > 0xffff ? 2 : 1
    if (cp >= 0xe0000 && cp <= 0xe007f) {
      // Unicode tag characters: invisible; their low bits spell ASCII.
      if (cp >= 0xe0020 && cp <= 0xe007e) hidden += String.fromCharCode(cp - 0xe0000)
      invisible++
      i += width
      continue
    }
    const f = folding(cp)
    if (f.kind === 1) invisible++
    else if (f.mark && afterLetter) {
      if (marks++ > 0) invisible++
    } else if (f.kind !== 0) {
      space(i, f.kind === 3)
      afterLetter = false
    } else {
      const chars = f.chars
      for (let k = 0; k < chars.length; k++) {
        if (f.spaces[k]) space(i, false)
        else {
          flushSpace()
          const c = chars[k]!
          if (f.capital !== undefined) (capitals ??= new Map()).set(len, f.capital)
          parts.push(c)
          ensure(2)
          map[len++] = i
          if (c.length === 2) map[len++] = i
        }
      }
      if (f.lookAlike) lookAlikes = true
      if (!f.mark) {
        afterLetter = f.lgcLetter
        marks = 0
      }
    }
    i += width
  }
  let text = parts.join("")
  // Look-alike letters are folded only inside words that are Latin already or
  // made of nothing but look-alikes: genuine Russian or Greek words stay intact.
  let homoglyphs = 0
  if (lookAlikes) {
    text = text.replace(wordWithLookAlikes, (word: string, offset: number) => {
      let mapped = 0
      let letters = 0
      for (let k = 0; k < word.length; k++) {
        const cp = word.codePointAt(k)!
        if (capitals?.has(offset + k) === true || HOMOGLYPH_CODES.has(cp)) mapped++
        if (isLetterCode(cp)) letters++
        if (cp > 0xffff) k++
      }
      if (mapped === 0 || !(latinLetter.test(word) || mapped === letters)) return word
      homoglyphs += mapped
      let out = ""
      for (let k = 0; k < word.length; k++) {
        const c = word[k]!
        const code = c.charCodeAt(0)
        if (code >= 0xd800 && code <= 0xdbff && k + 1 < word.length) {
          out += word.slice(k, k + 2)
          k++
        } else out += capitals?.get(offset + k) ?? HOMOGLYPHS[c] ?? c
      }
      return out
    })
  }
  return { text, map: map.subarray(0, len), invisible, hidden, homoglyphs, leet: false, spaced: false }
}

/** Leetspeak and spaced-out letters, on whichever path produced the text. */
const finish = (base: Mutable, leetish = true, spacedish = true): Normalized => {
  let text = base.text
  // Leetspeak inside mixed tokens: one character for one, so the map is unchanged.
  if (leetish && leetAny.test(text)) text = foldLeet(text, base)
  // Spaced-out letters: drop the separators (the map shrinks with them).
  if (spacedish) {
    spacedLetters.lastIndex = 0
    if (spacedLetters.test(text)) {
      spacedLetters.lastIndex = 0
      const keep: Array<number> = []
      let out = ""
      let last = 0
      for (const m of text.matchAll(spacedLetters)) {
        const start = m.index
        for (let k = last; k < start; k++) keep.push(k)
        out += text.slice(last, start)
        for (let k = start; k < start + m[0].length; k += 2) {
          keep.push(k)
          out += text[k]
        }
        last = start + m[0].length
      }
      for (let k = last; k < text.length; k++) keep.push(k)
      out += text.slice(last)
      const old = base.map
      const next = new Int32Array(keep.length)
      for (let k = 0; k < keep.length; k++) next[k] = old[keep[k]!]!
      text = out
      base.map = next
      base.spaced = true
    }
    spacedLetters.lastIndex = 0
  }
  base.text = text
  return base
}

/** 1: a letter `a-z`, 2: a leet character `0-9 @ $`, 0: neither (ASCII codes). */
const LEET_KIND = Uint8Array.from({ length: 128 }, (_, c) => (c >= 97 && c <= 122 ? 1 : (c >= 48 && c <= 57) || c === 64 || c === 36 ? 2 : 0))

/**
 * What `text.replace(leetMixedToken, ...)` gives, without the regex: it is
 * retried at every offset of every word (quadratic in the word length), while
 * its matches are exactly the maximal runs of `[a-z0-9@$]` with a letter next
 * to a leet character (a run without such a pair has no sub-run with one).
 */
const foldLeet = (text: string, base: Mutable): string => {
  const n = text.length
  let out = ""
  let last = 0
  let changed = false
  let i = 0
  while (i < n) {
    const c0 = text.charCodeAt(i)
    if (c0 >= 128 || LEET_KIND[c0] === 0) {
      i++
      continue
    }
    const start = i
    let prev = LEET_KIND[c0]!
    let mixed = false
    i++
    while (i < n) {
      const c = text.charCodeAt(i)
      const kind = c < 128 ? LEET_KIND[c]! : 0
      if (kind === 0) break
      if (kind !== prev) mixed = true
      prev = kind
      i++
    }
    if (!mixed) continue
    const token = text.slice(start, i)
    if (ordinal.test(token)) continue
    base.leet = true
    let folded = ""
    for (let k = 0; k < token.length; k++) {
      const c = token[k]!
      folded += LEET[c] ?? c
    }
    out += text.slice(last, start) + folded
    last = i
    changed = true
  }
  return changed ? out + text.slice(last) : text
}

const leetAny = /[0-9@$](?:(?<=[a-z].)|(?=[a-z]))/
const ordinal = /^[0-9]+(?:st|nd|rd|th|s|am|pm|k|m|x|d|px|gb|mb|kb|ms|h|min|kg|g|cm|mm|km|b|t|v|w|hz|fps|p|f|c|e)$|^[a-z]{1,3}[0-9]+$/

/**
 * Maps a `[start, end)` range of the normalized text back to the original. The
 * end is the end of the source character of the last normalized one, so a
 * letter folded from an astral code point (`𝐬`, two UTF-16 units) is not cut
 * in the middle of its surrogate pair.
 */
export const spanOf = (normalized: Normalized, start: number, end: number, original: string): readonly [number, number] => {
  const n = original.length
  const from = normalized.map[start] ?? n
  const last = normalized.map[Math.max(start, end - 1)]
  if (last === undefined) return [from, n]
  const c = original.charCodeAt(last)
  const low = last + 1 < n ? original.charCodeAt(last + 1) : 0
  return [from, c >= 0xd800 && c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff ? last + 2 : last + 1]
}
