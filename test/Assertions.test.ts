import { describe, expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import * as YAML from "yaml"
import * as Assertions from "../src/eval/Assertions.js"
import * as LlmError from "../src/LlmError.js"
import * as Embeddings from "../src/providers/Embeddings.js"
import * as ScriptedModel from "../src/testing/ScriptedModel.js"

const subject = (output: string, extra: Partial<Assertions.Subject> = {}): Assertions.Subject => ({
  output,
  vars: {},
  latencyMillis: 100,
  costUsd: 0.0002,
  ...extra
})

const check = (assertion: Assertions.Assertion, output: string, extra: Partial<Assertions.Subject> = {}, env: Assertions.Environment = {}) =>
  Assertions.evaluate(assertion, subject(output, extra), env)

/** Each assertion with an output that satisfies it and one that does not. */
const table: ReadonlyArray<readonly [string, Assertions.Assertion, string, string]> = [
  ["equals (trimmed)", { type: "equals", value: "391" }, " 391\n", "381"],
  ["contains", { type: "contains", value: "Paris" }, "It is Paris.", "It is paris."],
  ["notContains", { type: "notContains", value: "sorry" }, "Here it is", "I am sorry"],
  ["icontains", { type: "icontains", value: "BONJOUR" }, "bonjour, mon ami", "salut"],
  ["containsAny", { type: "containsAny", values: ["ami", "amie"] }, "mon amie", "mon copain"],
  ["containsAll", { type: "containsAll", values: ["où", "bibliothèque"] }, "Où est la bibliothèque ? où", "Où est la gare ?"],
  ["regex", { type: "regex", pattern: "^\\d+$" }, "56", "56.0"],
  ["startsWith", { type: "startsWith", value: "3.14" }, "3.14159", "22/7"],
  ["isJson", { type: "isJson" }, "{\"a\": 1}", "{a: 1}"],
  ["isJson (fenced)", { type: "isJson" }, "```json\n[1, 2]\n```", "``` [1, 2"],
  ["matchesSchema (JSON Schema)", {
    type: "matchesSchema",
    schema: { type: "object", required: ["name", "email"], additionalProperties: false, properties: { name: { type: "string" }, email: { type: "string", pattern: "@" } } }
  }, "{\"name\":\"Ada\",\"email\":\"ada@example.org\"}", "{\"name\":\"Ada\",\"email\":\"none\",\"age\":3}"],
  ["cost", { type: "cost", maxUsd: 0.001 }, "x", "x"],
  ["latency", { type: "latency", maxMillis: 500 }, "x", "x"]
]

describe("Assertions", () => {
  for (const [name, assertion, good, bad] of table) {
    it.effect(`${name}: passes on a matching answer and fails on another`, () =>
      Effect.gen(function*() {
        const expensive = assertion.type === "cost" ? { costUsd: 0.01 } : assertion.type === "latency" ? { latencyMillis: 900 } : {}
        const ok = yield* check(assertion, good)
        const ko = yield* check(assertion, bad, expensive)
        expect(ok.pass, ok.reason).toBe(true)
        expect(ok.score).toBe(1)
        expect(ko.pass, ko.reason).toBe(false)
        expect(ko.score).toBeLessThan(1)
      }))
  }

  it.effect("matchesSchema with an Effect Schema decodes the JSON (refinements apply)", () =>
    Effect.gen(function*() {
      const Contact = Schema.Struct({ name: Schema.NonEmptyString, age: Schema.Int.pipe(Schema.between(0, 150)) })
      const ok = yield* check({ type: "matchesSchema", schema: Contact }, "{\"name\":\"Ada\",\"age\":36}")
      const ko = yield* check({ type: "matchesSchema", schema: Contact }, "{\"name\":\"Ada\",\"age\":360}")
      const notJson = yield* check({ type: "matchesSchema", schema: Contact }, "Ada, 36")
      expect(ok.pass).toBe(true)
      expect(ko.pass).toBe(false)
      expect(ko.reason).toContain("age")
      expect(notJson.pass).toBe(false)
      expect(notJson.reason).toContain("not JSON")
    }))

  it.effect("not: inverts pass and score; weight and threshold are carried", () =>
    Effect.gen(function*() {
      const plain = yield* check({ type: "contains", value: "@" }, "no address here")
      const negated = yield* check({ type: "contains", value: "@", not: true, weight: 3 }, "no address here")
      const negatedKo = yield* check({ type: "contains", value: "@", not: true }, "ada@example.org")
      expect(plain.pass).toBe(false)
      expect(negated).toMatchObject({ pass: true, score: 1, negated: true, weight: 3 })
      expect(negatedKo).toMatchObject({ pass: false, score: 0 })
    }))

  it.effect("containsAll with a threshold passes on a partial match that reaches it", () =>
    Effect.gen(function*() {
      const assertion: Assertions.Assertion = { type: "containsAll", values: ["a1", "b2", "c3"], threshold: 0.6 }
      const two = yield* check(assertion, "a1 b2")
      const one = yield* check(assertion, "a1")
      expect(two.pass).toBe(true)
      expect(two.score).toBeCloseTo(2 / 3)
      expect(one.pass).toBe(false)
    }))

  it.effect("values use the case's {{variables}}", () =>
    Effect.gen(function*() {
      const result = yield* check({ type: "equals", value: "{{expected}}" }, "56", { vars: { expected: "56" } })
      expect(result.pass).toBe(true)
      expect(Assertions.render("a {{ x }} {{y}} {{missing}}", { x: 1, y: { z: 2 } })).toBe("a 1 {\"z\":2} {{missing}}")
      expect(Assertions.variablesOf("{{a}} {{ b }} {{a}}")).toEqual(["a", "b"])
    }))

  it.effect("render fills only the variables' own keys: {{constructor}} is not taken from Object.prototype", () =>
    Effect.gen(function*() {
      expect(Assertions.render("{{constructor}} {{toString}} {{x}}", { x: 1 })).toBe("{{constructor}} {{toString}} 1")
      expect(Assertions.render("{{constructor}}", { constructor: "own" })).toBe("own")
    }))

  it.effect("a weight or a ceiling of Infinity (YAML .inf) or NaN is rejected, so a score cannot become NaN", () =>
    Effect.gen(function*() {
      const decode = Schema.decodeUnknownEither(Assertions.Assertion)
      const fromYaml = YAML.parse("{ type: equals, value: ok, weight: .inf }") as unknown
      expect(decode(fromYaml)._tag).toBe("Left")
      expect(decode({ type: "equals", value: "ok", weight: Number.NaN })._tag).toBe("Left")
      expect(decode({ type: "cost", maxUsd: Number.POSITIVE_INFINITY })._tag).toBe("Left")
      expect(decode({ type: "latency", maxMillis: Number.POSITIVE_INFINITY })._tag).toBe("Left")
      expect(decode({ type: "equals", value: "ok", weight: 2.5, threshold: 0.5 })._tag).toBe("Right")
    }))

  it.effect("an unknown cost fails the cost ceiling instead of counting as $0", () =>
    Effect.gen(function*() {
      const result = yield* check({ type: "cost", maxUsd: 1 }, "x", { costUsd: undefined })
      expect(result.pass).toBe(false)
      expect(result.reason).toContain("unknown")
    }))

  it.effect("an invalid regex is a failed result with an error, not a crash", () =>
    Effect.gen(function*() {
      const result = yield* check({ type: "regex", pattern: "(" }, "x")
      expect(result.pass).toBe(false)
      expect(result.error).toBeDefined()
    }))

  it.effect("similar: cosine of embeddings against the reference, with a threshold", () =>
    Effect.gen(function*() {
      const env = { embeddings: Embeddings.local() }
      const close = yield* check({ type: "similar", value: "Où est la bibliothèque ?", threshold: 0.6 }, "Où est la bibliothèque", {}, env)
      const far = yield* check({ type: "similar", value: "Où est la bibliothèque ?", threshold: 0.6 }, "The weather is sunny today", {}, env)
      expect(close.pass, close.reason).toBe(true)
      expect(close.value).toBeGreaterThan(0.6)
      expect(far.pass, far.reason).toBe(false)
      expect(far.value!).toBeLessThan(0.6)
    }))

  it.effect("similar: a failing embedder gives an error result", () =>
    Effect.gen(function*() {
      const failing: Embeddings.Service = {
        model: "down",
        dimensions: 3,
        embed: () => Effect.fail(new LlmError.ProviderUnavailable({ kind: "server", message: "embedder down" }))
      }
      const result = yield* check({ type: "similar", value: "x" }, "x", {}, { embeddings: failing })
      expect(result.pass).toBe(false)
      expect(result.error).toContain("ProviderUnavailable")
    }))

  describe("llmRubric", () => {
    it.effect("asks the judge for a forced JSON-schema verdict and passes on its verdict", () =>
      Effect.gen(function*() {
        const { recorder, service } = yield* ScriptedModel.make([
          { text: JSON.stringify({ pass: true, score: 0.9, reason: "polite and French" }) }
        ])
        const result = yield* check({ type: "llmRubric", rubric: "Is it polite French?" }, "Bonjour !", {}, { judge: service })
        expect(result).toMatchObject({ pass: true, score: 0.9, value: 0.9 })
        expect(result.reason).toContain("polite and French")
        const [request] = yield* recorder.requests
        expect(request!.responseFormat?.type).toBe("jsonSchema")
        const format = request!.responseFormat as { readonly name: string; readonly schema: Record<string, unknown> }
        expect(format.name).toBe("verdict")
        expect(Object.keys(format.schema["properties"] as object).sort()).toEqual(["pass", "reason", "score"])
        expect(request!.messages.map((m) => m.content).join("\n")).toContain("<answer>\nBonjour !\n</answer>")
      }))

    it.effect("fails when the judge says fail, or when its score is under the threshold", () =>
      Effect.gen(function*() {
        const { service } = yield* ScriptedModel.make([
          { text: JSON.stringify({ pass: false, score: 0.8, reason: "English" }) },
          { text: JSON.stringify({ pass: true, score: 0.6, reason: "meh" }) }
        ])
        const said = yield* check({ type: "llmRubric", rubric: "French?" }, "Hello", {}, { judge: service })
        const low = yield* check({ type: "llmRubric", rubric: "French?", threshold: 0.7 }, "Bonjour", {}, { judge: service })
        expect(said.pass).toBe(false)
        expect(low.pass).toBe(false)
        expect(low.threshold).toBe(0.7)
      }))

    it.effect("re-asks once on a malformed verdict, then reports the judge's failure as an error", () =>
      Effect.gen(function*() {
        const { recorder, service } = yield* ScriptedModel.make([{ text: "PASS, looks great" }, { text: "{\"pass\": true}" }])
        const result = yield* check({ type: "llmRubric", rubric: "French?" }, "Bonjour", {}, { judge: service })
        expect(result.pass).toBe(false)
        expect(result.error).toContain("MalformedOutput")
        expect(yield* recorder.calls).toBe(2)
      }))

    it.effect("without a judge the assertion cannot pass", () =>
      Effect.gen(function*() {
        const result = yield* check({ type: "llmRubric", rubric: "x" }, "y")
        expect(result.pass).toBe(false)
        expect(result.error).toBe("no judge model configured")
      }))
  })

  it("weightedScore and passes: weights, case threshold, weight 0 informational, errors never pass", () => {
    const r = (pass: boolean, weight: number, error?: string) =>
      new Assertions.AssertionResult({ type: "contains", pass, score: pass ? 1 : 0, threshold: 1, weight, negated: false, reason: "", error })
    expect(Assertions.weightedScore([r(true, 3), r(false, 1)])).toBe(0.75)
    expect(Assertions.passes([r(true, 3), r(false, 1)])).toBe(false)
    expect(Assertions.passes([r(true, 3), r(false, 1)], 0.7)).toBe(true)
    expect(Assertions.passes([r(true, 3), r(false, 1)], 0.8)).toBe(false)
    expect(Assertions.passes([r(true, 1), r(false, 0)])).toBe(true)
    expect(Assertions.passes([r(true, 1), r(false, 0, "judge down")])).toBe(false)
  })

  it("the JSON Schema validator reports paths for nested problems", () => {
    const schema = {
      type: "object",
      properties: {
        items: { type: "array", minItems: 1, items: { type: "object", required: ["id"], properties: { id: { type: "integer", minimum: 1 } } } },
        kind: { enum: ["a", "b"] },
        either: { anyOf: [{ type: "string" }, { type: "null" }] }
      }
    }
    expect(Assertions.validateJsonSchema(schema, { items: [{ id: 2 }], kind: "a", either: null })).toEqual([])
    const problems = Assertions.validateJsonSchema(schema, { items: [{ id: 0 }, {}], kind: "c", either: 3 })
    expect(problems).toEqual(expect.arrayContaining([
      "$.items[0].id: 0 < minimum 1",
      "$.items[1].id: required",
      "$.kind: expected one of [\"a\",\"b\"]",
      "$.either: matches none of anyOf"
    ]))
  })
})
