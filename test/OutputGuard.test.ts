import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import * as LanguageModel from "../src/LanguageModel.js"
import * as OutputGuard from "../src/guard/OutputGuard.js"
import { seededStrings } from "./seeded-strings.js"

const canary = "cnry-k3x9q2m7z1w8v4t6"
const rejected = (e: Either.Either<unknown, { readonly reason: string }>) => (Either.isLeft(e) ? e.left.reason : "passed")

const response = (text: string, toolCalls: ReadonlyArray<LanguageModel.ToolCall> = []) =>
  new LanguageModel.Response({
    text,
    toolCalls,
    finishReason: toolCalls.length > 0 ? "tool_calls" : "stop",
    usage: new LanguageModel.Usage({ inputTokens: 1, outputTokens: 1 }),
    provider: "test",
    model: "m",
    latencyMillis: 0
  })

describe("canary", () => {
  it("a planted canary is detected verbatim, spaced out, case-changed, zero-width split or encoded", () => {
    const variants = [
      `Sure: ${canary}`,
      "my marker is C N R Y - K 3 X 9 Q 2 M 7 Z 1 W 8 V 4 T 6",
      `CNRY-K3X9Q2M7Z1W8V4T6`,
      `cnry-k3x9\u200bq2m7z1w8v4t6`,
      `in base64: ${Buffer.from(canary).toString("base64")}`,
      `hex: ${Buffer.from(canary).toString("hex")}`
    ]
    for (const text of variants) expect(rejected(OutputGuard.checkText(text, {}, { canary })), text).toBe("canary-leak")
  })

  it("an answer without the canary passes", () => {
    expect(Either.isRight(OutputGuard.checkText("The weather is fine; cnry is not a word.", {}, { canary }))).toBe(true)
  })

  it.effect("makeCanary draws distinct tokens and the instruction names it", () =>
    Effect.gen(function*() {
      const a = yield* OutputGuard.makeCanary
      const b = yield* OutputGuard.makeCanary
      expect(a).toMatch(/^cnry-[a-z0-9]{16}$/)
      expect(a).not.toBe(b)
      expect(OutputGuard.canaryInstruction(a)).toContain(a)
    }))

  it.effect("makeCanary uses every alphabet character at every position (no fixed or short part)", () =>
    Effect.gen(function*() {
      const seen = Array.from({ length: 16 }, () => new Set<string>())
      for (let i = 0; i < 2000; i++) {
        const token = yield* OutputGuard.makeCanary
        expect(token).toMatch(/^cnry-[a-z0-9]{16}$/)
        ;[...token.slice(5)].forEach((c, j) => seen[j]!.add(c))
      }
      for (const position of seen) expect(position.size).toBe(36)
    }))

  it("a secret checked again (its normalised forms remembered) gives the same verdicts", () => {
    const other = "cnry-aaaa1111bbbb2222"
    for (let round = 0; round < 3; round++) {
      expect(rejected(OutputGuard.checkText("C N R Y - K 3 X 9 Q 2 M 7 Z 1 W 8 V 4 T 6", {}, { canary }))).toBe("canary-leak")
      expect(rejected(OutputGuard.checkText("6t4v8w1z7m2q9x3k-yrnc", {}, { canary }))).toBe("canary-leak")
      expect(rejected(OutputGuard.checkText("fine", {}, { canary }))).toBe("passed")
      expect(rejected(OutputGuard.checkText(`CNRY-AAAA1111BBBB2222`, { protectedStrings: ["tram=32"] }, { canary: other }))).toBe("canary-leak")
      expect(rejected(OutputGuard.checkText("t r a m 3 2", { protectedStrings: ["tram=32"] }, { canary: other }))).toBe("protected-string")
      expect(rejected(OutputGuard.checkText(`hex: ${Buffer.from("tram=32").toString("hex")}`, { protectedStrings: ["x", "tram=32"] }, { canary }))).toBe("protected-string")
    }
  })

  it("a canary of any shape (letters, digits, leetspeak, ordinal-like) is caught in every disguise", () => {
    const alphabet = [..."abcdefghijklmnopqrstuvwxyz0123456789"]
    const random = seededStrings(alphabet, 200, 17, 16).map((s) => `cnry-${s.padEnd(16, "a").slice(0, 16)}`)
    const shapes = ["abcdefghijklmnop", "0123456789012345", "ab12345678901234", "1234567890123ths", "o1e3a4s5t7o1e3a4", "aaaa1111bbbb2222"]
    const leet: Record<string, string> = { o: "0", i: "1", e: "3", a: "4", s: "5", t: "7" }
    // Leetspeak is folded back only in a run mixing letters and digits that does not
    // read as an ordinal ("ab12345678901234"), in the canary as in the answer.
    const folds = (run: string) => /[a-z]/.test(run) && /[0-9]/.test(run) && !/^[0-9]+[a-z]{1,3}$|^[a-z]{1,3}[0-9]+$/.test(run)
    for (const c of [...shapes.map((s) => `cnry-${s}`), ...random]) {
      const spelled = c.replace(/[oieast]/g, (x) => leet[x]!)
      const disguises = [
        c.toUpperCase(),
        [...c].join(" "),
        [...c].reverse().join(""),
        [...c].join("\u200b"),
        ...(folds(spelled.slice(5)) && (folds(c.slice(5)) || !/[0-9]/.test(c)) ? [spelled, [...spelled].reverse().join("")] : []),
        c.replace(/c/g, "\u0441").replace(/y/g, "\u0443"),
        `cnry ${c.slice(5).toUpperCase()}`,
        Buffer.from(c.toUpperCase()).toString("base64"),
        Buffer.from(c).toString("hex")
      ]
      for (const text of disguises) expect(rejected(OutputGuard.checkText(`note: ${text}`, {}, { canary: c })), `${c} in ${text}`).toBe("canary-leak")
      expect(rejected(OutputGuard.checkText(`cnry ${c.slice(5, 13)}`, {}, { canary: c }))).toBe("passed")
    }
  })

  // A canary is skipped without normalising an ASCII answer that provably cannot
  // hold it; the same needles as a protected string (upper case: not canary-shaped)
  // always take the full check, so the two verdicts must agree on every text.
  it("the canary's quick pass agrees with the full check (its needles as a protected string)", () => {
    const c = "cnry-k3x9q2m7z1w8v4t6"
    const hex = Buffer.from(c).toString("hex")
    const pieces = [
      "c", "n", "r", "y", "C", "N", "R", "Y", "cnry", "yrnc", "-", " ", ".", ":", ",", "\n", "\t", "k3x9", "q2m7", "z1w8v4t6", "6t4v8w1z",
      "7m2q9x3k", "a", "1", "=", "+", "/", "_", "%63", "%6e", "\\x63", "\\u0063", "&#99;", "é", "\u200b",
      ` ${Buffer.from(c).toString("base64")} `, ` ${hex.match(/../g)!.join(" ")} `, ` ${hex.match(/../g)!.join(":")} `,
      encodeURIComponent(c).replace(/[a-z0-9]/g, (ch) => `%${ch.charCodeAt(0).toString(16)}`), c.replace(/./g, (ch) => `\\x${ch.charCodeAt(0).toString(16)}`),
      c.replace(/./g, (ch) => `&#${ch.charCodeAt(0)};`), [...c].join(" "), [...c].reverse().join(""), [...c].reverse().join(" "), c.toUpperCase(), "aGVsbG8gd29ybGQh"
    ]
    let leaks = 0
    for (const text of seededStrings(pieces, 20_000, 11, 9)) {
      const asCanary = rejected(OutputGuard.checkText(text, {}, { canary: c }))
      const asProtected = rejected(OutputGuard.checkText(text, { protectedStrings: [c.toUpperCase()] }, {}))
      if (asCanary === "canary-leak") leaks++
      expect(asCanary === "canary-leak", JSON.stringify(text)).toBe(asProtected === "protected-string")
    }
    expect(leaks).toBeGreaterThan(1000)
  })

  it("protected strings (an access code) are detected like the canary", () => {
    expect(rejected(OutputGuard.checkText("The code is t r a m = 3 2", { protectedStrings: ["tram=32"] }))).toBe("protected-string")
  })
})

describe("secrets and PII", () => {
  it("API-key shapes are rejected by default", () => {
    const keys = [
      "sk-proj-abcdefghijklmnopqrstuvwx1234",
      "sk-ant-api03-abcdefghijklmnopqrstuv",
      "AKIAIOSFODNN7EXAMPLE",
      "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
      "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
      "password = hunter2hunter2"
    ]
    for (const key of keys) expect(rejected(OutputGuard.checkText(`here: ${key}`)), key).toBe("secret")
  })

  it("secrets can be redacted instead", () => {
    const out = OutputGuard.checkText("key sk-proj-abcdefghijklmnopqrstuvwx1234 ok", { secrets: "redact" })
    expect(out).toEqual(Either.right("key [REDACTED:openai-key] ok"))
  })

  it("emails, phones and Luhn-valid card numbers are redacted; a Luhn-invalid number is not", () => {
    const text = "Mail ann@example.com, call +1 415-555-0123, card 4111 1111 1111 1111, order 4111 1111 1111 1112."
    const out = OutputGuard.checkText(text, { pii: "redact" })
    expect(out).toEqual(
      Either.right(
        "Mail [REDACTED:email], call [REDACTED:phone], card [REDACTED:card-number], order 4111 1111 1111 1112."
      )
    )
  })

  it("PII in reject mode fails; PII is off by default", () => {
    expect(rejected(OutputGuard.checkText("mail ann@example.com", { pii: { emails: "reject" } }))).toBe("pii")
    expect(Either.isRight(OutputGuard.checkText("mail ann@example.com"))).toBe(true)
  })

  it("luhn accepts valid and refuses invalid numbers", () => {
    expect(OutputGuard.luhn("4111111111111111")).toBe(true)
    expect(OutputGuard.luhn("4111111111111112")).toBe(false)
  })
})

describe("tool calls and schemas", () => {
  const request = new LanguageModel.Request({
    messages: [new LanguageModel.UserMessage({ role: "user", content: "weather?" })],
    tools: [
      new LanguageModel.Tool({
        name: "get_weather",
        parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false }
      }),
      new LanguageModel.Tool({ name: "send_email", parameters: { type: "object" } })
    ]
  })
  const call = (name: string, args: string) => new LanguageModel.ToolCall({ id: "c", name, arguments: args })

  it("a call outside the allowed actions is rejected", () => {
    const options = { allowedActions: ["get_weather"] }
    expect(rejected(OutputGuard.checkToolCalls([call("send_email", "{}")], options, { request }))).toBe("action-not-allowed")
    expect(Either.isRight(OutputGuard.checkToolCalls([call("get_weather", "{\"city\":\"Oslo\"}")], options, { request }))).toBe(true)
  })

  it("a call to a tool the request did not offer is rejected", () => {
    expect(rejected(OutputGuard.checkToolCalls([call("delete_all", "{}")], {}, { request }))).toBe("unknown-tool")
  })

  it("arguments must be JSON and match the tool's parameter schema", () => {
    expect(rejected(OutputGuard.checkToolCalls([call("get_weather", "{city:")], {}, { request }))).toBe("schema")
    expect(rejected(OutputGuard.checkToolCalls([call("get_weather", "{\"town\":\"Oslo\"}")], {}, { request }))).toBe("schema")
  })

  it("a canary inside tool arguments is a leak", () => {
    expect(rejected(OutputGuard.checkToolCalls([call("send_email", JSON.stringify({ body: canary }))], {}, { request, canary })))
      .toBe("canary-leak")
  })

  it("jsonSchema response formats and a Schema option are enforced", () => {
    const jsonRequest = new LanguageModel.Request({
      messages: [new LanguageModel.UserMessage({ role: "user", content: "x" })],
      responseFormat: { type: "jsonSchema", name: "t", schema: { type: "object", required: ["n"], properties: { n: { type: "integer" } } } }
    })
    expect(rejected(OutputGuard.checkSchema("not json", {}, { request: jsonRequest }))).toBe("schema")
    expect(rejected(OutputGuard.checkSchema("{\"n\":\"one\"}", {}, { request: jsonRequest }))).toBe("schema")
    expect(Either.isRight(OutputGuard.checkSchema("{\"n\":1}", {}, { request: jsonRequest }))).toBe(true)
    const schema = Schema.Struct({ n: Schema.Number.pipe(Schema.positive()) })
    expect(rejected(OutputGuard.checkSchema("{\"n\":-1}", { schema }))).toBe("schema")
    expect(Either.isRight(OutputGuard.checkSchema("```json\n{\"n\":2}\n```", { schema }))).toBe(true)
    // a byte-order mark or a no-break space around the answer, a fence with no tag
    for (const text of ["\ufeff{\"n\":3}", "{\"n\":3}\u00a0", "```{\"n\":3}```", "```JSON\n{\"n\":3}\n```"]) {
      expect(Either.isRight(OutputGuard.checkSchema(text, { schema })), JSON.stringify(text)).toBe(true)
    }
    const booleanRequest = new LanguageModel.Request({
      messages: [new LanguageModel.UserMessage({ role: "user", content: "x" })],
      responseFormat: { type: "jsonSchema", name: "t", schema: { type: "boolean" } }
    })
    expect(Either.isRight(OutputGuard.checkSchema("```true```", {}, { request: booleanRequest }))).toBe(true)
  })

  it.effect("check returns the response redacted or fails with OutputRejected", () =>
    Effect.gen(function*() {
      const ok = yield* OutputGuard.check(response("write to ann@example.com"), { pii: "redact" })
      expect(ok.text).toBe("write to [REDACTED:email]")
      const error = yield* Effect.flip(OutputGuard.check(response(`the marker is ${canary}`), {}, { canary }))
      expect(error._tag).toBe("OutputRejected")
      expect(error.reason).toBe("canary-leak")
    }))
})

// The labeled set lives next to the checkout (../shared/data, no licence to copy it
// in): where it is absent (a clean clone elsewhere) the test reports itself skipped.
const leakSet = join(import.meta.dirname, "../../shared/data/injection/output_leak_dev.jsonl")

describe("the Tensor Trust leak set", () => {
  it.skipIf(!existsSync(leakSet))("protected-string detection catches leaks of the access code in output_leak_dev.jsonl", () => {
    const rows = readFileSync(leakSet, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { text: string; label: string; access_code: string })
    const flagged = (r: (typeof rows)[number]) => Either.isLeft(OutputGuard.checkText(r.text, { secrets: "off", protectedStrings: [r.access_code] }))
    const leaks = rows.filter((r) => r.label === "leak")
    const clean = rows.filter((r) => r.label === "no_leak")
    const detection = leaks.filter(flagged).length / leaks.length
    const falsePositives = clean.filter(flagged).length / clean.length
    // The code is only a part of what a leak reveals (many leaks paraphrase the prompt
    // without it), so this bounds the layer rather than judging it.
    expect(detection).toBeGreaterThan(0.5)
    expect(falsePositives).toBeLessThan(0.1)
  })
})

describe("adversarial output: time linear in its length", () => {
  const strings = seededStrings
  const spans = (text: string, kind: string, options: OutputGuard.Options) =>
    OutputGuard.detect(text, options).filter((d) => d.kind === kind).map((d) => [d.start, d.end])

  it("e-mail addresses are found where the regex they replace finds them", () => {
    const regex = /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g
    let found = 0
    for (const text of strings(["a", "Z", "1", "_", ".", "-", "%", "+", "@", " ", ".com", "co", "x@y.io", "é", "!", "..", "_x"], 20_000, 3)) {
      const expected = [...text.matchAll(regex)].map((m) => [m.index, m.index + m[0].length])
      found += expected.length
      expect(spans(text, "email", { secrets: "off", pii: { emails: "redact" } }), JSON.stringify(text)).toEqual(expected)
    }
    expect(found).toBeGreaterThan(500)
  })

  it("JSON Web Tokens are found where the regex they replace finds them", () => {
    const regex = /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g
    let found = 0
    const alphabet = ["eyJ", "a", "-", "_", ".", " ", "aaaaaaaa", "eyJhbGciOi.", "bbbbbbbbb", "1", "é", "eyJaaaaaaaa.eyJbbbbbbbb.cccccccc"]
    for (const text of strings(alphabet, 20_000, 7)) {
      const expected = [...text.matchAll(regex)].map((m) => [m.index, m.index + m[0].length])
      found += expected.length
      expect(spans(text, "jwt", { secrets: "reject" }), JSON.stringify(text)).toEqual(expected)
    }
    expect(found).toBeGreaterThan(50)
  })

  // Before, an unanchored e-mail regex retried every offset of a long run with no
  // "@" after it, and the JWT regex every "eyJ" of a run: 32 KB took 1-2 s, a
  // megabyte would have taken half an hour. A model can be asked to write such text.
  // Texts without any of the secret patterns' literals skip the patterns; behind a
  // prefix that holds all of them (and cannot join a match), they all run: same spans.
  it("the secret patterns' literal pre-test skips no secret", () => {
    const pieces = [
      "sk-", "SK-", "sk-ant-", "sk-proj-", "AKIA", "akia", "ASIA", "ghp_", "gho_", "ghs_abcdefghijklmnopqrstuvwxyz01234", "github_pat_", "xoxb-", "XOXB-", "AIza", "aiza", "sk_live_",
      "rk_test_", "AKIAABCDEFGHIJKLMNOP ", "ASIA0123456789ABCDEF", "eyJaaaaaaaa.eyJbbbbbbbb.cccccccc", "Bearer ", "bearer ", "-----BEGIN ", "-----BEGIN PRIVATE KEY-----", "RSA ", "PRIVATE KEY-----", "-----END ", "eyJ", "EYJ", "eyJhbGciOi.", "api_key", "API-KEY",
      "ApiKey", "secret", "SECRET_KEY", "Client_Secret", "access_token", "ACCESS-TOKEN", "auth_token", "AuthToken", "password", "PASSWORD",
      "Passwd", "passw", "capital", "secret: hunter2hunter2", "Client-Secret = 'abcdefgh1'", "x-api-key: abcdefghijk", "PASSWORD=abcdefgh",
      "passwd:12345678", "Access_Token = abcdefghij", "AUTH-TOKEN:abcdefghij", "Bearer abcdefghijklmnopqrstuvwx", "-----BEGIN RSA PRIVATE KEY-----",
      "sk-abcdefghijklmnopqrstuvwx", "sk-ant-abcdefghijklmnopq", "xoxp-1234567890", "AIza01234567890123456789012345678901234", "pk_live_abcdefghijklmnop", "rk_test_abcdefghijklmnop", "github_pat_abcdefghijklmnopqrstuvwxyz0123456789ABCD",
      "the", "answer", " is ", "42", ", ", ". ", ":", "=", " = ", "\"", "'", " ", "\n", "ABCDEFGHIJKLMNOP", "abcdefghij", "0123456789", "-", "_", ".", "é"
    ]
    const prefix = "passwd. password. secret. api_key. access_token. auth_token. Bearer. -----BEGIN x sk-. AKIA. ASIA. ghp_. github_pat_. xoxb-. AIza. _live_. _test_. eyJ.\n"
    expect(OutputGuard.detect(prefix, { secrets: "redact" })).toEqual([])
    const shifted = (text: string) =>
      OutputGuard.detect(prefix + text, { secrets: "redact" }).map((d) => ({ ...d, start: d.start - prefix.length, end: d.end - prefix.length }))
    const kinds = new Map<string, number>()
    for (const text of seededStrings(pieces, 20_000, 5, 8)) {
      const direct = OutputGuard.detect(text, { secrets: "redact" })
      for (const d of direct) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1)
      expect(direct, JSON.stringify(text)).toEqual(shifted(text))
    }
    expect(kinds.size, JSON.stringify([...kinds])).toBe(11)
    for (const [kind, n] of kinds) expect(n, kind).toBeGreaterThan(5)
  })

  it("a megabyte of key-like or address-like runs is checked once, not per offset", () => {
    const megabyte = (unit: string) => unit.repeat(Math.ceil(1_000_000 / unit.length))
    const options: OutputGuard.Options = { secrets: "redact", pii: { emails: "redact", phones: "redact", cards: "redact" } }
    for (const text of [megabyte("sk-"), megabyte("a.b"), megabyte("+a"), megabyte("www."), megabyte("eyJ-"), megabyte("%41")]) {
      expect(Either.isRight(OutputGuard.checkText(text, options, {})), text.slice(0, 8)).toBe(true)
    }
    // and a real address and token in such text are still found
    const found = OutputGuard.detect(`${megabyte("a.b")} mail bob@example.com, token eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.c2lnbmF0dXJl`, options)
    expect(found.map((d) => d.kind)).toEqual(["email", "jwt"])
  })
})

describe("OutputGuard tool calls (found in review)", () => {
  const requestWith = (parameters: Record<string, unknown>) =>
    new LanguageModel.Request({
      messages: [new LanguageModel.UserMessage({ role: "user", content: "x" })],
      tools: [new LanguageModel.Tool({ name: "search", parameters })]
    })
  const call = (args: string, id = "c1") => new LanguageModel.ToolCall({ id, name: "search", arguments: args })
  const closed = requestWith({ type: "object", properties: { q: { type: "string" } }, required: ["q"], additionalProperties: false })

  it("an extra field named after an Object.prototype member is refused by additionalProperties: false", () => {
    expect(rejected(OutputGuard.checkToolCalls([call(`{"q":"a","extra":1}`)], {}, { request: closed }))).toBe("schema")
    for (const key of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(rejected(OutputGuard.checkToolCalls([call(`{"q":"a","${key}":{"isAdmin":true}}`)], {}, { request: closed })), key).toBe("schema")
    }
    // and a required field is an own one
    expect(rejected(OutputGuard.checkToolCalls([call(`{"constructor":"x"}`)], {}, {
      request: requestWith({ type: "object", properties: { constructor: { type: "string" } }, required: ["constructor"] })
    }))).toBe("passed")
    expect(rejected(OutputGuard.checkToolCalls([call(`{}`)], {}, {
      request: requestWith({ type: "object", required: ["toString"] })
    }))).toBe("schema")
  })

  it("anyOf is checked together with the schema's other keywords (they were skipped)", () => {
    const request = requestWith({
      type: "object",
      properties: { to: { type: "string" }, cc: { type: "string" } },
      additionalProperties: false,
      anyOf: [{ required: ["to"] }, { required: ["cc"] }]
    })
    expect(rejected(OutputGuard.checkToolCalls([call(`{"to":"a@b.c"}`)], {}, { request }))).toBe("passed")
    expect(rejected(OutputGuard.checkToolCalls([call(`{"to":"a@b.c","bcc":"attacker@evil.test"}`)], {}, { request }))).toBe("schema")
    expect(rejected(OutputGuard.checkToolCalls([call(`{"bcc":"x"}`)], {}, { request }))).toBe("schema")
  })

  it("a canary split over two calls is a leak; arguments that are not JSON are refused for the canary they hold, without quoting it", () => {
    const request = requestWith({ type: "object", properties: { q: { type: "string" } } })
    const split = [call(`{"q":"${canary.slice(0, 11)}"}`, "c1"), call(`{"q":"${canary.slice(11)}"}`, "c2")]
    expect(rejected(OutputGuard.checkToolCalls(split, {}, { request, canary }))).toBe("canary-leak")
    expect(rejected(OutputGuard.checkToolCalls(split, {}, { request }))).toBe("passed")
    const raw = OutputGuard.checkToolCalls([call(canary)], {}, { request, canary })
    expect(rejected(raw)).toBe("canary-leak")
    const notJson = OutputGuard.checkToolCalls([call(`not json ${canary.slice(0, 8)}`)], {}, { request })
    expect(rejected(notJson)).toBe("schema")
    expect(Either.isLeft(notJson) && notJson.left.message).not.toContain(canary.slice(0, 8))
  })
})
