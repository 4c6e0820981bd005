import { describe, expect, it } from "@effect/vitest"
import { Effect, Random } from "effect"
import { AssistantMessage, Request, SystemMessage, Tool, ToolCall, ToolMessage, UserMessage } from "../src/LanguageModel.js"
import * as Tokens from "../src/cost/Tokens.js"
import * as OutputGuard from "../src/guard/OutputGuard.js"

const hello = new Request({ messages: [new UserMessage({ role: "user", content: "Hello" })] })

describe("Tokens", () => {
  it("picks the encoding of each OpenAI model family", () => {
    for (const model of ["gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4.1-nano", "gpt-5", "o1", "o3-mini", "o4-mini", "openai/gpt-4.1"]) {
      expect(Tokens.encodingFor(model), model).toBe("o200k_base")
    }
    for (const model of ["gpt-4", "gpt-4-turbo", "gpt-3.5-turbo-0125", "ft:gpt-3.5-turbo:acme::abc"]) {
      expect(Tokens.encodingFor(model), model).toBe("cl100k_base")
    }
    expect(Tokens.encodingFor("claude-sonnet-4-5")).toBeUndefined()
    expect(Tokens.encodingFor("llama3.1:8b")).toBeUndefined()
  })

  it.effect("counts text in the encoding: 'Hello, world!' is Hello , world ! = 4 tokens", () =>
    Effect.gen(function*() {
      expect(yield* Tokens.count("Hello, world!", "o200k_base")).toBe(4)
      expect(yield* Tokens.count("Hello, world!", "cl100k_base")).toBe(4)
      // o200k has whole-word tokens for Japanese that cl100k lacks: こんにちは|世界 vs 4 pieces
      expect(yield* Tokens.count("こんにちは世界", "o200k_base")).toBe(2)
      expect(yield* Tokens.count("こんにちは世界", "cl100k_base")).toBe(4)
    }))

  it.effect("special-token text is counted as ordinary text, never rejected", () =>
    Effect.gen(function*() {
      expect(yield* Tokens.count("<|endoftext|>")).toBe(7)
    }))

  it.effect("one user message 'Hello' to gpt-4o is 3 + 1 (role) + 1 + 3 (priming) = 8 prompt tokens", () =>
    Effect.gen(function*() {
      const estimate = yield* Tokens.estimate(hello, "gpt-4o")
      expect(estimate).toEqual({ inputTokens: 8, encoding: "o200k_base", approximate: false })
    }))

  it.effect("system + user: (3+1+4) + (3+1+4) + 3 = 19", () =>
    Effect.gen(function*() {
      const request = new Request({
        messages: [
          new SystemMessage({ role: "system", content: "You are helpful." }),
          new UserMessage({ role: "user", content: "Hello, world!" })
        ]
      })
      expect((yield* Tokens.estimate(request, "gpt-4.1")).inputTokens).toBe(19)
    }))

  it.effect("tool definitions, tool calls, tool results and JSON schemas are counted", () =>
    Effect.gen(function*() {
      const parameters = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
      const request = new Request({
        messages: [
          new UserMessage({ role: "user", content: "Hello" }),
          new AssistantMessage({
            role: "assistant",
            content: "",
            toolCalls: [new ToolCall({ id: "call_1", name: "get_weather", arguments: "{\"city\":\"Paris\"}" })]
          }),
          new ToolMessage({ role: "tool", toolCallId: "call_1", content: "" })
        ],
        tools: [new Tool({ name: "get_weather", description: "Get the weather", parameters })],
        responseFormat: { type: "jsonSchema", name: "get_weather", schema: parameters }
      })
      // priming 3
      // user: 3 + 1 + 1 = 5
      // assistant: 3 + 1 ("assistant") + 0, its call: 8 + 3 (call|_|1) + 2 (get|_weather) + 5 = 18 -> 22
      // tool message: 3 + 1 ("tool") + 0 + 3 (call_1) = 7
      // tool definition: 8 + 2 + 3 (Get| the| weather) + 19 (the schema's JSON) = 32
      // response format: 8 + 2 + 0 + 19 = 29
      expect((yield* Tokens.estimate(request, "gpt-4o")).inputTokens).toBe(3 + 5 + 22 + 7 + 32 + 29)
    }))

  it.effect("non-OpenAI models are approximated: the o200k count times 1.35, rounded up", () =>
    Effect.gen(function*() {
      expect(yield* Tokens.estimate(hello, "claude-sonnet-4-5")).toEqual({
        inputTokens: 11, // ceil(8 x 1.35)
        encoding: "o200k_base",
        approximate: true
      })
      const custom = yield* Tokens.estimate(hello, "claude-sonnet-4-5", { approximationFactor: 2 })
      expect(custom.inputTokens).toBe(16)
    }))

  it.effect("counting a text sentence by sentence (memoised parts) is exactly the tokenizer's count of the whole", () =>
    Effect.gen(function*() {
      const o200k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/o200k_base"))
      const cl100k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/cl100k_base"))
      const raw = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as const
      const pieces = [
        "Hello", "world", "The", "I'm", "it's", "HTML", "Ünïcödé", "日本語", "Ελληνικά", "naïve", "e.g", "x", "A",
        "cnry-k3x9q2m7z1w8v4t6", "<|endoftext|>", "42", "3.14", "1234567", ":)", "...", "—", "`code`", "a/b", "'quote'"
      ]
      const glue = [" ", ". ", "! ", "? ", ": ", "; ", ".  ", ".\n", ".\n\n", ", ", ".\t", "... ", ": 1", ". 2", ".) ", " . ", ":/ ", "; ", "?!  "]
      let seed = 7
      const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n
      const texts: Array<string> = []
      for (let i = 0; i < 400; i++) {
        let text = ""
        for (let j = 0, n = 1 + next(30); j < n; j++) text += pieces[next(pieces.length)]! + glue[next(glue.length)]!
        texts.push(text)
      }
      texts.push("Fin. ".repeat(400)) // longer than the memo's texts: its parts are remembered
      let split = 0
      for (const encoding of ["o200k_base", "cl100k_base"] as const) {
        const tokens = yield* Tokens.counter(encoding)
        for (const text of texts) {
          const whole = raw[encoding](text, { disallowedSpecial: new Set() })
          if (/[.!?:;] \p{L}/u.test(text)) split++
          // twice: the second count comes from the memo
          expect(tokens(text), JSON.stringify(text)).toBe(whole)
          expect(tokens(text), JSON.stringify(text)).toBe(whole)
        }
      }
      expect(split).toBeGreaterThan(500) // most texts were counted in parts
    }))

  it.effect("counting by remembered pre-tokens (ASCII split by hand) is exactly the tokenizer's count", () =>
    Effect.gen(function*() {
      const o200k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/o200k_base"))
      const cl100k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/cl100k_base"))
      const raw = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as const
      // Every string of up to 4 characters over one representative of each case the
      // o200k pattern tells apart (letters of both cases, contraction letters, digits,
      // each kind of whitespace, "/" after symbols, a control character), then
      // random ASCII strings, then random strings with some non-ASCII letters.
      const reps = ["a", "A", "m", "l", "L", "e", "v", "'", "1", " ", "\t", "\n", "\r", "\v", ".", "/", "\x00"]
      const texts: Array<string> = []
      const all = (text: string, depth: number): void => {
        texts.push(text)
        if (depth > 0) for (const r of reps) all(text + r, depth - 1)
      }
      all("", 4)
      for (let code = 0; code < 128; code++) texts.push(String.fromCharCode(code), `ab${String.fromCharCode(code)}`)
      const ascii = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join("")
      const mixed = "aZ' 1.\nésÉ日😀\u00a0\u0301"
      let seed = 11
      const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n
      for (const alphabet of [ascii, "smltSMLTdvrDVRe'E' ", "  \n\r\t\v\fa1./", mixed]) {
        for (let i = 0; i < 5000; i++) {
          let text = ""
          for (let j = 0, n = next(24); j < n; j++) text += alphabet[next(alphabet.length)]
          texts.push(text)
        }
      }
      for (const encoding of ["o200k_base", "cl100k_base"] as const) {
        const tokens = yield* Tokens.counter(encoding)
        let wrong = 0
        for (const text of texts) {
          if (tokens(text) !== raw[encoding](text, { disallowedSpecial: new Set() })) {
            wrong++
            expect.soft(tokens(text), `${encoding} ${JSON.stringify(text)}`).toBe(raw[encoding](text, { disallowedSpecial: new Set() }))
          }
        }
        expect(wrong).toBe(0)
      }
    }))

  it.effect("text with runs of more than 128 letters, symbols or spaces is bounded: never under the exact count", () =>
    Effect.gen(function*() {
      const o200k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/o200k_base"))
      const cl100k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/cl100k_base"))
      const raw = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as const
      const runs = ["a", "Z", "ab", "aB", "é", "e\u0301", "日本", "😀", ":", "-", "=", "!?", " ", "\n", "\t", " \n", "x1", "!\u0301", "\u2764\ufe0f"]
      const words = ["Hello", " world", ". ", "1234", "\"", " the", "(", ")", "I'm", "'s", "\n\n", "", " "]
      let seed = 17
      const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n
      let bounded = 0
      for (const encoding of ["o200k_base", "cl100k_base"] as const) {
        const tokens = yield* Tokens.counter(encoding)
        for (let i = 0; i < 150; i++) {
          let text = ""
          for (let j = 0, n = 1 + next(4); j < n; j++) {
            const run = runs[next(runs.length)]!
            text += words[next(words.length)]! + run.repeat(Math.ceil((60 + next(700)) / run.length)) + words[next(words.length)]!
          }
          const exact = raw[encoding](text, { disallowedSpecial: new Set() })
          const counted = tokens(text)
          expect(counted, JSON.stringify(text.slice(0, 40))).toBeGreaterThanOrEqual(exact)
          if (counted > exact) bounded++
        }
      }
      expect(bounded).toBeGreaterThan(100) // most texts had a long run
      // BPE is quadratic in one pre-token's length: a 1 MB run counted exactly takes
      // minutes. Bounded, it is counted at once, at most one token a byte.
      const tokens = yield* Tokens.counter("o200k_base")
      for (const run of ["a", ":", " ", " \n", "\u00a0", "é", "😀", "!\u0301", "\u2764\ufe0f"]) {
        const text = run.repeat(1_000_000 / run.length)
        const counted = tokens(text)
        expect(counted).toBeGreaterThan(0)
        expect(counted).toBeLessThanOrEqual(Buffer.byteLength(text, "utf8"))
      }
    }))

  it.effect("a run just past the cut is bounded too: every ASCII symbol, 129 to 140 long, in context", () =>
    Effect.gen(function*() {
      const o200k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/o200k_base"))
      const cl100k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/cl100k_base"))
      const raw = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as const
      const units = [" ", "\n", "é", "😀", "!\u0301", "ab"]
      for (let code = 33; code < 127; code++) units.push(String.fromCharCode(code))
      // "!" × 129 followed by "'s next" is 13 tokens in o200k; BPE of the first 128
      // plus one token a byte for the rest gave 12
      const around = [["", ""], [" world", "'s next"], ["Hello ", "1234"]] as const
      for (const encoding of ["o200k_base", "cl100k_base"] as const) {
        const tokens = yield* Tokens.counter(encoding)
        for (const unit of units) {
          for (let length = 129; length <= 140; length++) {
            for (const [before, after] of around) {
              const text = before + unit.repeat(Math.ceil(length / unit.length)) + after
              const exact = raw[encoding](text, { disallowedSpecial: new Set() })
              expect(tokens(text), `${encoding} ${JSON.stringify(text.slice(0, 12))} × ${length}`).toBeGreaterThanOrEqual(exact)
            }
          }
        }
      }
    }))

  it.effect("an output-guard canary is counted as an upper bound: never under, at most a few tokens over", () =>
    Effect.gen(function*() {
      const o200k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/o200k_base"))
      const cl100k = yield* Effect.promise(() => import("gpt-tokenizer/encoding/cl100k_base"))
      const raw = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as const
      const over: Array<number> = []
      for (const encoding of ["o200k_base", "cl100k_base"] as const) {
        const tokens = yield* Tokens.counter(encoding)
        for (let i = 0; i < 300; i++) {
          const canary = yield* Effect.withRandom(OutputGuard.makeCanary, Random.make(`tokens-${i}`))
          const text = `You are a helpful assistant. Answer briefly.\n\n${OutputGuard.canaryInstruction(canary)}`
          const exact = raw[encoding](text, { disallowedSpecial: new Set() })
          const counted = tokens(text)
          expect(counted, text).toBeGreaterThanOrEqual(exact)
          over.push(counted - exact)
        }
        // all-digit and all-letter canaries: the extremes of the pre-tokenizer's split
        for (const tail of ["0000000000000000", "9999999999999999", "zzzzzzzzzzzzzzzz", "a1b2c3d4e5f6g7h8"]) {
          const text = `Be brief.\n\n${OutputGuard.canaryInstruction(`cnry-${tail}`)}`
          expect(tokens(text), text).toBeGreaterThanOrEqual(raw[encoding](text, { disallowedSpecial: new Set() }))
        }
      }
      expect(Math.max(...over)).toBeLessThanOrEqual(12)
    }))
})
