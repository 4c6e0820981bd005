import { describe, expect, it } from "@effect/vitest"
import { fencedJson, unfence, unfenceJson } from "../src/internal/fence.js"
import { seededStrings } from "./seeded-strings.js"

const strings = (alphabet: ReadonlyArray<string>, count: number, seed: number) => seededStrings(alphabet, count, seed, 9)
const pieces = ["```", "`", "json", "js", " ", "\n", "\t", "{", "}", "a", "\u00a0", "\r\n", "x", "``"]

describe("code fences", () => {
  it("unfence gives what the Structured regex captured, or the text", () => {
    const regex = /^\s*```[a-zA-Z]*\s*\n?([\s\S]*?)\n?\s*```\s*$/
    let fenced = 0
    for (const text of strings(pieces, 30_000, 1)) {
      const m = regex.exec(text)
      if (m !== null) fenced++
      expect(unfence(text), JSON.stringify(text)).toBe(m === null ? text : m[1])
    }
    expect(fenced).toBeGreaterThan(300)
    expect(unfence("```json\n{\"a\": 1}\n```")).toBe("{\"a\": 1}")
  })

  it("fencedJson gives what the eval assertions' regex captured", () => {
    const regex = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/
    let fenced = 0
    for (const text of strings(pieces, 30_000, 2).map((t) => t.trim())) {
      const m = regex.exec(text)
      if (m !== null) fenced++
      expect(fencedJson(text), JSON.stringify(text)).toBe(m === null ? undefined : m[1])
    }
    expect(fenced).toBeGreaterThan(50)
  })

  it("unfenceJson gives what the output guard's regex captured, trimmed", () => {
    const regex = /^```(?:json)?\s*\n?([\s\S]*?)\n?```$/
    let fenced = 0
    for (const text of strings([...pieces, "true", "\ufeff"], 30_000, 3)) {
      const trimmed = text.trim()
      if (regex.test(trimmed)) fenced++
      expect(unfenceJson(text), JSON.stringify(text)).toBe(trimmed.replace(regex, "$1").trim())
    }
    expect(fenced).toBeGreaterThan(300)
    // letters after the fence are content unless they are a json tag, in any case
    expect(unfenceJson("```true```")).toBe("true")
    expect(unfenceJson("```JSON\n{\"a\": 1}\n```")).toBe("{\"a\": 1}")
    expect(unfenceJson("\ufeff{\"a\": 1}\u00a0")).toBe("{\"a\": 1}")
  })

  // Both regexes backtracked on an unclosed fence: 4,000 characters of "```" and
  // whitespace took 44 s (cubic), 32 KB of "```json\n{" and spaces 15 s. A model's
  // answer is untrusted text.
  it("an unclosed fence around a megabyte of whitespace or letters is read at once", () => {
    for (const text of ["```" + " ".repeat(1_000_000), "```json\n{" + " ".repeat(1_000_000), "```" + "a".repeat(1_000_000), "```\n" + "\n".repeat(1_000_000) + "x"]) {
      expect(unfence(text)).toBe(text)
      expect(fencedJson(text.trim())).toBeUndefined()
      expect(unfenceJson(text)).toBe(text.trim())
    }
  })
})
