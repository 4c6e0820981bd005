/**
 * Finds encoded blobs inside a text — base64 (and base64url), hex (plain,
 * space-separated, `\x41` escapes), URL percent-encoding, `\u0041` escapes and
 * HTML numeric entities — and decodes the ones that turn into readable text, so
 * the scanner can scan what an attacker wrapped.
 *
 * Hand-written: the decoders are the platform's (`atob`, `TextDecoder`,
 * `decodeURIComponent`); what is ours is finding candidate blobs and refusing the
 * ones that decode to binary noise.
 *
 * @internal
 */

/** A decoded blob and where it was in the text. */
export interface Blob {
  readonly kind: "base64" | "hex" | "url" | "escape" | "entity"
  readonly start: number
  readonly end: number
  readonly decoded: string
}

const hexEscapes = /(?:\\x[0-9A-Fa-f]{2}){4,}/g
const unicodeEscapes = /(?:\\u[0-9A-Fa-f]{4}){4,}/g
const entities = /(?:&#(?:[xX][0-9A-Fa-f]{1,6}|[0-9]{1,7});){4,}/g

/**
 * Whether `text` may hold a blob: a superset of what `findBlobs` finds (a
 * 16-character base64/hex run, eight separated short tokens in a row, or an
 * escape, entity or percent sign). The lookbehinds keep the regex linear: it
 * tries a run only where one begins, not again inside every word.
 */
const blobCandidate =
  /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/=_-]{16}|\\[xu]|%[0-9A-Fa-f]{2}|&#|(?<![^ :,\n\t])(?:[0-9A-Fa-f./|-]{1,8}[ :,\n\t]+){7}/
const mayHoldBlob = (text: string): boolean => blobCandidate.test(text)

const utf8 = new TextDecoder("utf-8")

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/** Whether decoded text reads as text: mostly letters, digits, spaces and punctuation. */
const readable = (text: string, prose: boolean): boolean => {
  if (text.length < 4) return false
  let good = 0
  let letters = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if ((c >= 32 && c < 127) || c === 10 || c === 13 || c === 9) {
      good++
      if (isLetter(c)) letters++
    } else if (c >= 160 && c !== 0xfffd) good++
  }
  if (!prose) return good / text.length >= 0.95
  return good / text.length >= 0.9 && letters / text.length >= 0.4 && twoWords(text)
}

/**
 * Whether two consecutive runs of ASCII letters are both at least two long
 * (`/[A-Za-z]{2,}[^A-Za-z]+[A-Za-z]{2,}/.test(text)`, in one pass: that regex
 * retries every offset of a long letter run, quadratic in its length).
 */
export const twoWords = (text: string): boolean => {
  let previous = 0
  let run = 0
  for (let i = 0; i < text.length; i++) {
    if (isLetter(text.charCodeAt(i))) {
      if (++run === 2 && previous >= 2) return true
    } else if (run > 0) {
      previous = run
      run = 0
    }
  }
  return false
}

const bytesToText = (bytes: Uint8Array): string | undefined => {
  // Non-fatal decoding and a look for U+FFFD: most candidates are not UTF-8, and a
  // thrown TypeError per candidate costs more than the whole scan of a kilobyte.
  const text = utf8.decode(bytes)
  return text.includes("\ufffd") ? undefined : text
}

const decodeBase64 = (run: string): string | undefined => {
  // A plain word or identifier is not base64: require a mix of classes.
  if (!/[0-9+/=_-]/.test(run) && !(/[a-z]/.test(run) && /[A-Z]/.test(run))) return undefined
  let b64 = run.replace(/-/g, "+").replace(/_/g, "/")
  // Trailing padding dropped by hand: `/=+$/` retries every "=" of a long run.
  let end = b64.length
  while (end > 0 && b64.charCodeAt(end - 1) === 61) end--
  b64 = b64.slice(0, end)
  const rem = b64.length % 4
  if (rem === 1) b64 = b64.slice(0, -1)
  else if (rem !== 0) b64 += rem === 2 ? "==" : "="
  let binary: string
  try {
    binary = atob(b64)
  } catch {
    return undefined
  }
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytesToText(bytes)
}

const decodeHex = (run: string): string | undefined => {
  const digits = run.replace(/[^0-9A-Fa-f]/g, "")
  if (digits.length % 2 !== 0 || digits.length < 8) return undefined
  const bytes = new Uint8Array(digits.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(i * 2, i * 2 + 2), 16)
  return bytesToText(bytes)
}

let prose = true
const push = (out: Array<Blob>, kind: Blob["kind"], start: number, end: number, decoded: string | undefined) => {
  if (decoded !== undefined && readable(decoded, prose)) out.push({ kind, start, end, decoded })
}

const MORSE: Record<string, string> = {
  ".-": "a", "-...": "b", "-.-.": "c", "-..": "d", ".": "e", "..-.": "f", "--.": "g", "....": "h", "..": "i",
  ".---": "j", "-.-": "k", ".-..": "l", "--": "m", "-.": "n", "---": "o", ".--.": "p", "--.-": "q", ".-.": "r",
  "...": "s", "-": "t", "..-": "u", "...-": "v", ".--": "w", "-..-": "x", "-.--": "y", "--..": "z",
  "-----": "0", ".----": "1", "..---": "2", "...--": "3", "....-": "4", ".....": "5", "-....": "6", "--...": "7",
  "---..": "8", "----.": "9", ".-.-.-": ".", "--..--": ",", "..--..": "?", ".----.": "'"
}

const decodeMorse = (run: string): string | undefined => {
  let out = ""
  for (const token of run.trim().split(/\s+/)) {
    if (token === "/" || token === "|") out += " "
    else {
      const letter = MORSE[token]
      if (letter === undefined) return undefined
      out += letter
    }
  }
  return out
}

const decodeBinary = (run: string): string | undefined => {
  const groups = run.trim().split(/[\s:]+/)
  const bytes = new Uint8Array(groups.length)
  for (let i = 0; i < groups.length; i++) bytes[i] = parseInt(groups[i]!, 2)
  return bytesToText(bytes)
}

const isB64 = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47 || c === 95 || c === 45 || c === 61
const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)

/** URL characters that need no percent-encoding: `A-Z a-z 0-9 . _ ~ ! * ' ( ) + -`. */
const isUrlChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 126 ||
  c === 33 || c === 42 || c === 39 || c === 40 || c === 41 || c === 43 || c === 45

/**
 * The `[start, end)` of every maximal run of URL characters and `%XX` escapes
 * holding three escapes or more, in a row or not (`encodeURIComponent` leaves
 * words alone and escapes only the spaces between them): the matches of
 * `/(?:[url]*%XX){3,}(?:%XX|[url])*\/g`, found in one pass (that regex retries
 * every offset of a long run with fewer escapes, quadratic in its length).
 */
export const urlRuns = (text: string): ReadonlyArray<readonly [number, number]> => {
  const out: Array<readonly [number, number]> = []
  const n = text.length
  let p = 0
  while (p < n) {
    let q = p
    let escapes = 0
    while (q < n) {
      const c = text.charCodeAt(q)
      if (c === 37 && q + 2 < n && isHex(text.charCodeAt(q + 1)) && isHex(text.charCodeAt(q + 2))) {
        q += 3
        escapes++
      } else if (isUrlChar(c)) q++
      else break
    }
    if (escapes >= 3) out.push([p, q])
    p = q > p ? q : p + 1
  }
  return out
}

// token classes for separated encodings
const OTHER = 0
const HEX2 = 1
const BIN8 = 2
const MORSE_TOKEN = 3

/**
 * Every encoded blob in `text` that decodes to readable text (`prose`, the
 * default: words; otherwise any printable text, for tokens such as canaries). One character loop
 * finds the candidate runs; only candidates are decoded, so ordinary prose costs
 * a few microseconds.
 */
export const findBlobs = (text: string, options: { readonly prose?: boolean } = {}): ReadonlyArray<Blob> => {
  prose = options.prose ?? true
  const out: Array<Blob> = []
  const n = text.length
  if (n < 16) return out
  // Most texts hold no candidate at all: one regex says so before the character loop.
  if (!mayHoldBlob(text)) return out
  let runStart = -1
  // separated-token runs
  let tokStart = 0
  let tokHex = true
  let tokBin = true
  let tokMorse = true
  let seqClass = OTHER
  let seqStart = 0
  let seqEnd = 0
  let seqCount = 0
  const endSeq = () => {
    if (seqCount >= 8) {
      const run = text.slice(seqStart, seqEnd)
      const decoded = seqClass === HEX2 ? decodeHex(run) : seqClass === BIN8 ? decodeBinary(run) : decodeMorse(run)
      push(out, seqClass === MORSE_TOKEN ? "escape" : seqClass === BIN8 ? "escape" : "hex", seqStart, seqEnd, decoded)
    }
    seqClass = OTHER
    seqCount = 0
  }
  const endRun = (end: number) => {
    if (end - runStart >= 16) {
      const run = text.slice(runStart, end)
      const decoded = /^[0-9A-Fa-f]+$/.test(run) && run.length % 2 === 0 && /[0-9]/.test(run) ? decodeHex(run) : decodeBase64(run)
      push(out, /^[0-9A-Fa-f]+$/.test(run) ? "hex" : "base64", runStart, end, decoded)
    }
  }
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 32 : text.charCodeAt(i)
    // contiguous base64/hex runs; an "=" followed by anything but "=" ends one
    // (padding comes last), so the key of `token=…` or `?q=…` is a run apart
    if (i < n && isB64(c)) {
      if (runStart < 0) runStart = i
      else if (c !== 61 && text.charCodeAt(i - 1) === 61) {
        endRun(i)
        runStart = i
      }
    } else if (runStart >= 0) {
      endRun(i)
      runStart = -1
    }
    // separated tokens (space, colon, slash-as-word)
    if (c === 32 || c === 58 || c === 10 || c === 9 || c === 44) {
      const len = i - tokStart
      if (len > 0) {
        const cls = tokHex && len === 2 ? HEX2 : tokBin && len === 8 ? BIN8 : tokMorse && len <= 6 ? MORSE_TOKEN : OTHER
        if (cls !== OTHER && (cls === seqClass || (seqClass === MORSE_TOKEN && cls === MORSE_TOKEN))) {
          seqCount++
          seqEnd = i
        } else {
          endSeq()
          if (cls !== OTHER) {
            seqClass = cls
            seqStart = tokStart
            seqEnd = i
            seqCount = 1
          }
        }
      }
      tokStart = i + 1
      tokHex = true
      tokBin = true
      tokMorse = true
    } else {
      if (!isHex(c)) tokHex = false
      if (c !== 48 && c !== 49) tokBin = false
      if (c !== 46 && c !== 45 && c !== 47 && c !== 124) tokMorse = false
    }
  }
  endSeq()
  if (text.includes("\\x")) {
    for (const m of text.matchAll(hexEscapes)) push(out, "escape", m.index, m.index + m[0].length, decodeHex(m[0].replace(/\\x/g, "")))
  }
  if (text.includes("%")) {
    for (const [start, end] of urlRuns(text)) {
      let decoded: string | undefined
      try {
        decoded = decodeURIComponent(text.slice(start, end).replace(/\+/g, " "))
      } catch {
        decoded = undefined
      }
      push(out, "url", start, end, decoded)
    }
  }
  if (text.includes("\\u")) {
    for (const m of text.matchAll(unicodeEscapes)) {
      push(out, "escape", m.index, m.index + m[0].length, m[0].replace(/\\u([0-9A-Fa-f]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))))
    }
  }
  if (text.includes("&#")) {
    for (const m of text.matchAll(entities)) {
      push(out, "entity", m.index, m.index + m[0].length, m[0].replace(/&#([xX]?)([0-9A-Fa-f]+);/g, (_, x: string, d: string) => {
        const cp = parseInt(d, x === "" ? 10 : 16)
        return cp <= 0x10ffff ? String.fromCodePoint(cp) : ""
      }))
    }
  }
  return out
}
