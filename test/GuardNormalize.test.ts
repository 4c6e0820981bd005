import { describe, expect, it } from "@effect/vitest"
import { normalize } from "../src/guard/internal/normalize.js"

// The leetspeak step of normalize is a hand-written loop standing in for the
// `leetMixedToken` replace (the regex is retried at every offset of every word);
// the reference below is the regex form it replaced, with the spaced-letter step
// that follows it, checked on random texts.
const leetMixedToken = /[a-z0-9@$]*(?:[a-z][0-9@$]|[0-9@$][a-z])[a-z0-9@$]*/g
const spacedLetters = /(?<![a-z])(?:[a-z][ .\-_*·|]){3,}[a-z](?![a-z])/g
const ordinal = /^[0-9]+(?:st|nd|rd|th|s|am|pm|k|m|x|d|px|gb|mb|kb|ms|h|min|kg|g|cm|mm|km|b|t|v|w|hz|fps|p|f|c|e)$|^[a-z]{1,3}[0-9]+$/
const LEET: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s" }

/** The regex form, for ASCII text without whitespace to collapse. */
const reference = (input: string): { text: string; leet: boolean; spaced: boolean } => {
  let leet = false
  let text = input.toLowerCase().replace(leetMixedToken, (token) => {
    if (ordinal.test(token)) return token
    leet = true
    return [...token].map((c) => LEET[c] ?? c).join("")
  })
  const spaced = text.match(spacedLetters) !== null
  text = text.replace(spacedLetters, (m) => m.replace(/(.)./g, "$1"))
  return { text, leet, spaced }
}

const alphabet = ["a", "b", "e", "s", "t", "x", "I", "1", "3", "0", "7", "2", "@", "$", " ", ".", "-", "_", "*", "|", "st", "th", "k", "'", "a ", "b.", "e-", "s*", "t|", "x_", "i "]

describe("normalize: leetspeak and spaced letters", () => {
  it("folds exactly what the regex form folds (random ASCII texts)", () => {
    let seed = 7
    const next = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed % n
    }
    let leet = 0
    let spaced = 0
    for (let t = 0; t < 20000; t++) {
      let text = ""
      const length = 1 + next(40)
      for (let i = 0; i < length; i++) {
        const piece = alphabet[next(alphabet.length)]!
        // no whitespace run to collapse: the reference does not collapse
        if (!(piece === " " && (text.endsWith(" ") || text === ""))) text += piece
      }
      const got = normalize(text)
      const want = reference(text)
      expect({ text: got.text, leet: got.leet, spaced: got.spaced }, JSON.stringify(text)).toEqual(want)
      if (want.leet) leet++
      if (want.spaced) spaced++
    }
    // the sample exercises both steps
    expect(leet).toBeGreaterThan(1000)
    expect(spaced).toBeGreaterThan(100)
  })

  it("keeps the offset map through both steps", () => {
    const got = normalize("h3ll0 w o r l d and 2nd")
    expect(got.text).toBe("hello world and 2nd")
    expect(Array.from(got.map)).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22])
  })
})
