/**
 * A tolerant parser for JSON that is still arriving: `{"name": "Ad` reads as
 * `{ name: "Ad" }`. Structured streaming uses it to show partial objects while the
 * model writes.
 *
 * Written by hand because `JSON.parse` rejects any prefix and the small npm
 * parsers for partial JSON are not among our dependencies. Rules: objects and
 * arrays are closed where the text stops; an unfinished string is kept as far as
 * it goes (an unfinished escape is dropped); a number or `true`/`false`/`null`
 * at the very end is left out until it is complete (`12` could become `123`);
 * an object key without its value is left out. Text before the first `{` or `[`
 * (a code fence, "Here is the JSON:") is skipped. Nesting deeper than
 * {@link maxDepth} reads as not JSON (the readers recurse, and a model can write
 * three thousand `[` in a row).
 *
 * @since 0.1.0
 */

/**
 * What a prefix of a JSON text says so far. `complete` is true when the value was
 * closed (the text may still have trailing characters).
 *
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly value: unknown
  readonly complete: boolean
}

class Incomplete {
  constructor(readonly value: unknown, readonly has: boolean) {}
}

class Invalid extends Error {}

/** An own property, as `JSON.parse` makes it (assigning `__proto__` would set the prototype). */
const set = (target: Record<string, unknown>, key: string, value: unknown) => {
  if (key === "__proto__") Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true })
  else target[key] = value
}

/**
 * The deepest nesting {@link parse} reads.
 *
 * @since 0.1.0
 * @category constants
 */
export const maxDepth = 512

/**
 * Parses the JSON value that starts at the first `{` or `[` of `text`, tolerating
 * an unfinished end. `undefined` when nothing can be read yet, or when the text is
 * not JSON.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Parsed | undefined => {
  const start = text.search(/[[{]/)
  if (start < 0) return undefined
  let i = start
  let depth = 0
  const n = text.length

  const ws = () => {
    while (i < n && (text[i] === " " || text[i] === "\n" || text[i] === "\r" || text[i] === "\t")) i++
  }

  // Each reader returns the value, or throws Incomplete when the text ends inside it.
  const value = (): unknown => {
    ws()
    if (i >= n) throw new Incomplete(undefined, false)
    const c = text[i]!
    if (c === "{") return object()
    if (c === "[") return array()
    if (c === "\"") return string()
    if (c === "-" || (c >= "0" && c <= "9")) return number()
    for (const [word, result] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length
        return result
      }
      if (word.startsWith(text.slice(i, i + word.length)) && i + word.length > n) throw new Incomplete(undefined, false)
    }
    throw new Invalid(`unexpected ${JSON.stringify(c)} at ${i}`)
  }

  // A reader that throws unwinds the whole parse, so only a return gives the level back.
  const nested = (read: () => unknown) => (): unknown => {
    if (++depth > maxDepth) throw new Invalid(`nested deeper than ${maxDepth} at ${i}`)
    const out = read()
    depth--
    return out
  }

  const object = nested((): unknown => {
    i++ // {
    const out: Record<string, unknown> = {}
    ws()
    if (text[i] === "}") {
      i++
      return out
    }
    for (;;) {
      ws()
      if (i >= n) throw new Incomplete(out, true)
      if (text[i] !== "\"") throw new Invalid(`expected a key at ${i}`)
      let key: string
      try {
        key = string()
      } catch (e) {
        if (e instanceof Incomplete) throw new Incomplete(out, true)
        throw e
      }
      ws()
      if (i >= n) throw new Incomplete(out, true)
      if (text[i] !== ":") throw new Invalid(`expected ':' at ${i}`)
      i++
      try {
        set(out, key, value())
      } catch (e) {
        if (e instanceof Incomplete) {
          if (e.has) set(out, key, e.value)
          throw new Incomplete(out, true)
        }
        throw e
      }
      ws()
      if (i >= n) throw new Incomplete(out, true)
      if (text[i] === ",") {
        i++
        continue
      }
      if (text[i] === "}") {
        i++
        return out
      }
      throw new Invalid(`expected ',' or '}' at ${i}`)
    }
  })

  const array = nested((): unknown => {
    i++ // [
    const out: Array<unknown> = []
    ws()
    if (text[i] === "]") {
      i++
      return out
    }
    for (;;) {
      try {
        out.push(value())
      } catch (e) {
        if (e instanceof Incomplete) {
          if (e.has) out.push(e.value)
          throw new Incomplete(out, true)
        }
        throw e
      }
      ws()
      if (i >= n) throw new Incomplete(out, true)
      if (text[i] === ",") {
        i++
        continue
      }
      if (text[i] === "]") {
        i++
        return out
      }
      throw new Invalid(`expected ',' or ']' at ${i}`)
    }
  })

  const string = (): string => {
    i++ // "
    let out = ""
    while (i < n) {
      const c = text[i]!
      if (c === "\"") {
        i++
        return out
      }
      if (c === "\\") {
        if (i + 1 >= n) throw new Incomplete(out, true)
        const e = text[i + 1]!
        if (e === "u") {
          if (i + 6 > n) throw new Incomplete(out, true)
          const hex = text.slice(i + 2, i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw new Invalid(`bad escape at ${i}`)
          out += String.fromCharCode(parseInt(hex, 16))
          i += 6
          continue
        }
        const simple: Record<string, string> = { "\"": "\"", "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" }
        if (!(e in simple)) throw new Invalid(`bad escape at ${i}`)
        out += simple[e]
        i += 2
        continue
      }
      out += c
      i++
    }
    throw new Incomplete(out, true)
  }

  const number = (): number => {
    const match = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i))
    const rest = /^[-+0-9.eE]*/.exec(text.slice(i))![0]
    if (i + rest.length >= n) throw new Incomplete(undefined, false) // may go on
    if (match === null || match[0].length !== rest.length) throw new Invalid(`bad number at ${i}`)
    i += match[0].length
    return Number(match[0])
  }

  try {
    return { value: value(), complete: true }
  } catch (e) {
    if (e instanceof Incomplete) return e.has ? { value: e.value, complete: false } : undefined
    if (e instanceof Invalid) return undefined
    throw e
  }
}
