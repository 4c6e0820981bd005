/**
 * Literal start prefixes of a rule pattern, so the scanner can run the pattern
 * only where a match could begin instead of at every offset of the text.
 *
 * A pattern such as `\b(?:ignore|disregard|pay no (?:attention|heed) to) …` can
 * only match where the text has one of `ignore`, `disregard`, `pay no attention`,
 * `pay no heed` at a word start. The scanner's trigger walk (one pass over the
 * text) records those positions, and the pattern then runs as a sticky regex at
 * each of them: a handful of anchored attempts instead of one attempt per offset.
 * An Irregexp scan of a kilobyte against a large leading alternation costs a few
 * microseconds per rule; the anchored attempts cost a fraction of that.
 *
 * The extraction is conservative: it reads the pattern source only as far as it
 * is plain literal text, nested non-capturing groups and alternations (expanding
 * them), and stops at anything else (classes, quantifiers, lookarounds, escapes
 * such as `\w`). When the pattern does not start with `\b` followed by literal
 * words of at least two characters on every branch, it returns `undefined` and
 * the rule runs the ordinary way.
 *
 * @internal
 */

interface Option {
  text: string
  /** The branch was read to its end: text after the group may be appended. */
  open: boolean
}

const MAX_OPTIONS = 600
const QUANTIFIER = /[?*+{]/

/** Skips to the next top-level `|` or `)` of the current sequence. */
const skipSequence = (src: string, i: number): number => {
  let depth = 0
  while (i < src.length) {
    const c = src[i]!
    if (c === "\\") {
      i += 2
      continue
    }
    if (c === "[") {
      i++
      while (i < src.length && src[i] !== "]") i += src[i] === "\\" ? 2 : 1
      i++
      continue
    }
    if (c === "(") depth++
    else if (c === ")") {
      if (depth === 0) return i
      depth--
    } else if (c === "|" && depth === 0) return i
    i++
  }
  return i
}

const close = (options: Array<Option>) => {
  for (const o of options) o.open = false
}

const parseSequence = (src: string, start: number): { options: Array<Option>; end: number } => {
  let options: Array<Option> = [{ text: "", open: true }]
  let i = start
  while (i < src.length && src[i] !== "|" && src[i] !== ")") {
    if (!options.some((o) => o.open)) {
      i = skipSequence(src, i)
      break
    }
    const c = src[i]!
    if (c === "\\") {
      const d = src[i + 1] ?? ""
      if (d === "b") {
        i += 2
        continue
      }
      if (/[A-Za-z0-9]/.test(d) || QUANTIFIER.test(src[i + 2] ?? "")) {
        close(options)
        continue
      }
      for (const o of options) if (o.open) o.text += d
      i += 2
      continue
    }
    if (c === "(") {
      if (!src.startsWith("(?:", i)) {
        close(options)
        continue
      }
      const group = parseAlternation(src, i + 3)
      if (group === undefined || QUANTIFIER.test(src[group.end] ?? "")) {
        close(options)
        continue
      }
      const next: Array<Option> = []
      for (const o of options) {
        if (!o.open) next.push(o)
        else for (const g of group.options) next.push({ text: o.text + g.text, open: g.open })
      }
      if (next.length > MAX_OPTIONS) {
        close(options)
        continue
      }
      options = next
      i = group.end
      continue
    }
    if (c === "[" || c === "." || c === "^" || c === "$" || QUANTIFIER.test(src[i + 1] ?? "")) {
      close(options)
      continue
    }
    for (const o of options) if (o.open) o.text += c
    i++
  }
  return { options, end: i }
}

/** Parses `a|b|(?:c|d)e` up to the closing `)` (or the end); `end` is just past the `)`. */
const parseAlternation = (src: string, start: number): { options: Array<Option>; end: number } | undefined => {
  const options: Array<Option> = []
  let i = start
  for (;;) {
    const seq = parseSequence(src, i)
    options.push(...seq.options)
    if (options.length > MAX_OPTIONS) return undefined
    i = seq.end
    if (i >= src.length) return { options, end: i }
    if (src[i] === ")") return { options, end: i + 1 }
    i++ // "|"
  }
}

/**
 * The literal prefixes every match of `pattern` starts with (at a word start), or
 * `undefined` when they cannot be read off the source safely.
 */
export const startPrefixes = (pattern: RegExp): ReadonlyArray<string> | undefined => {
  const src = pattern.source
  if (pattern.flags.includes("i") || pattern.flags.includes("m") || !src.startsWith("\\b")) return undefined
  const parsed = parseAlternation(src, 2)
  if (parsed === undefined || parsed.end < src.length) return undefined
  const prefixes = new Set<string>()
  for (const o of parsed.options) {
    if (o.text.length < 2 || !/^[a-z0-9_]/.test(o.text)) return undefined
    prefixes.add(o.text)
  }
  return [...prefixes]
}
