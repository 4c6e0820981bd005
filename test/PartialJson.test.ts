import { describe, expect, it } from "@effect/vitest"
import * as PartialJson from "../src/structured/PartialJson.js"

/** Whether `next` extends `previous`: keys kept, strings and arrays only growing. */
const grows = (previous: unknown, next: unknown): boolean => {
  if (typeof previous === "string") return typeof next === "string" && next.startsWith(previous)
  if (Array.isArray(previous)) {
    return Array.isArray(next) && next.length >= previous.length &&
      previous.every((item, i) => grows(item, next[i]))
  }
  if (typeof previous === "object" && previous !== null) {
    return typeof next === "object" && next !== null && !Array.isArray(next) &&
      Object.entries(previous).every(([k, v]) => k in next && grows(v, (next as Record<string, unknown>)[k]))
  }
  return previous === next
}

describe("PartialJson.parse", () => {
  it("a complete document parses as JSON.parse does", () => {
    const text = JSON.stringify({ a: [1, -2.5e3, true, false, null], b: { c: "x\"y\\z\n\u00e9" }, d: [] })
    expect(PartialJson.parse(text)).toEqual({ value: JSON.parse(text), complete: true })
  })

  it("every prefix of a document reads as a growing partial value, never inventing content", () => {
    const text = "{\"name\": \"Ada Lovelace\", \"tags\": [\"math\", \"poetry\"], \"age\": 36, \"alive\": false, \"note\": null}"
    let previous: unknown = undefined
    let seen = 0
    for (let end = 1; end <= text.length; end++) {
      const parsed = PartialJson.parse(text.slice(0, end))
      if (parsed === undefined) continue
      if (previous !== undefined) expect(grows(previous, parsed.value), `${JSON.stringify(previous)} -> ${JSON.stringify(parsed.value)}`).toBe(true)
      // never a key or value the text does not have (yet)
      expect(grows(parsed.value, JSON.parse(text))).toBe(true)
      previous = parsed.value
      seen++
    }
    expect(seen).toBeGreaterThan(20)
    expect(PartialJson.parse(text)).toEqual({ value: JSON.parse(text), complete: true })
  })

  it("an unfinished string is kept as far as it goes; an unfinished escape is dropped", () => {
    expect(PartialJson.parse("{\"name\": \"Ad")).toEqual({ value: { name: "Ad" }, complete: false })
    expect(PartialJson.parse("{\"name\": \"Ad\\")).toEqual({ value: { name: "Ad" }, complete: false })
    expect(PartialJson.parse("{\"name\": \"Ad\\u00")).toEqual({ value: { name: "Ad" }, complete: false })
    expect(PartialJson.parse("{\"name\": \"Ad\\u00e9")).toEqual({ value: { name: "Adé" }, complete: false })
  })

  it("a key without its value, a trailing number and a half-written literal are left out", () => {
    expect(PartialJson.parse("{\"a\": 1, \"b")).toEqual({ value: { a: 1 }, complete: false })
    expect(PartialJson.parse("{\"a\": 1, \"b\":")).toEqual({ value: { a: 1 }, complete: false })
    expect(PartialJson.parse("{\"a\": 1, \"b\": 12")).toEqual({ value: { a: 1 }, complete: false })
    expect(PartialJson.parse("{\"a\": 1, \"b\": 12,")).toEqual({ value: { a: 1, b: 12 }, complete: false })
    expect(PartialJson.parse("{\"a\": tr")).toEqual({ value: {}, complete: false })
    expect(PartialJson.parse("{\"a\": [1, 2")).toEqual({ value: { a: [1] }, complete: false })
    expect(PartialJson.parse("{\"a\": [{\"b\": \"c")).toEqual({ value: { a: [{ b: "c" }] }, complete: false })
  })

  it("text before the JSON (a code fence, a preamble) is skipped; nothing yet reads as undefined", () => {
    expect(PartialJson.parse("```json\n{\"a\": \"b\"}\n```")).toEqual({ value: { a: "b" }, complete: true })
    expect(PartialJson.parse("Here it is: [1, 2]")).toEqual({ value: [1, 2], complete: true })
    expect(PartialJson.parse("Here it is")).toBeUndefined()
    expect(PartialJson.parse("")).toBeUndefined()
  })

  it("text that is not JSON reads as undefined", () => {
    expect(PartialJson.parse("{\"a\" 1}")).toBeUndefined()
    expect(PartialJson.parse("{\"a\": x}")).toBeUndefined()
    expect(PartialJson.parse("{\"a\": 1 2}")).toBeUndefined()
    expect(PartialJson.parse("{\"a\": \"\\q\"}")).toBeUndefined()
    expect(PartialJson.parse("{\"a\": 01}")).toBeUndefined()
  })

  it("nesting deeper than maxDepth reads as not JSON instead of overflowing the stack; __proto__ is an own key", () => {
    // 3,000 "[" threw RangeError (a defect in Structured.stream) before the cap
    expect(PartialJson.parse("[".repeat(100_000))).toBeUndefined()
    expect(PartialJson.parse("{\"a\":".repeat(10_000))).toBeUndefined()
    const deep = "[".repeat(PartialJson.maxDepth) + "1" + "]".repeat(PartialJson.maxDepth)
    expect(PartialJson.parse(deep)?.complete).toBe(true)
    expect(PartialJson.parse(`[${deep}]`)).toBeUndefined()
    const parsed = PartialJson.parse("{\"__proto__\": {\"x\": 1}, \"y\": 2}")!.value as Record<string, unknown>
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype)
    expect(parsed).toEqual(JSON.parse("{\"__proto__\": {\"x\": 1}, \"y\": 2}"))
  })
})
