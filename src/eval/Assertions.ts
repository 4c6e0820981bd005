/**
 * Assertions an evaluation case makes about a model's answer: string checks
 * (equals, contains, regex, ...), JSON and schema checks, embedding similarity to a
 * reference, an LLM judge with a rubric, and cost and latency ceilings.
 *
 * Every assertion yields a score in [0, 1] and passes when the score reaches its
 * `threshold` (1 for the yes/no checks, 0.8 for `similar`, 0.5 for `llmRubric`).
 * Any assertion can be negated (`not: true`: it passes when the plain one fails, and
 * its score is `1 - score`) and weighted (`weight`, default 1; a case's score is the
 * weighted mean of its assertions' scores; weight 0 records without deciding).
 * String values may use the case's `{{variables}}`.
 *
 * `matchesSchema` takes an Effect `Schema` in TypeScript suites and a JSON Schema
 * object in YAML/JSON suites. The JSON Schema check is a small validator written
 * here (type, properties, required, additionalProperties, items, enum, const,
 * numeric and string bounds, pattern, anyOf/oneOf/allOf) because the project
 * carries no JSON Schema library; keywords it does not know (`$ref`, formats, ...)
 * are ignored.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Either, Option, ParseResult, Schema } from "effect"
import { maxDepth, tooDeep } from "../internal/depth.js"
import { fencedJson } from "../internal/fence.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Embeddings from "../providers/Embeddings.js"
import * as Structured from "../structured/Structured.js"

// -----------------------------------------------------------------------------
// Models
// -----------------------------------------------------------------------------

/** A finite number ≥ 0: `Infinity` (YAML `.inf`) and `NaN` are rejected, so scores stay numbers. */
const FiniteNonNegative = Schema.Number.pipe(Schema.finite(), Schema.nonNegative())

const common = {
  /** Passes when the plain assertion fails (default false). */
  not: Schema.optional(Schema.Boolean),
  /** Weight in the case's score (default 1; 0 records without deciding); finite (`.inf` is rejected). */
  weight: Schema.optional(FiniteNonNegative),
  /** The score needed to pass (default 1; `similar` 0.8; `llmRubric` 0.5). */
  threshold: Schema.optional(Schema.Number.pipe(Schema.between(0, 1))),
  /** A label shown in reports. */
  description: Schema.optional(Schema.String)
}

/**
 * A JSON Schema object, as written in YAML/JSON suites.
 *
 * @since 0.1.0
 * @category models
 */
export const JsonSchemaObject = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * An Effect Schema (TypeScript suites only).
 *
 * @since 0.1.0
 * @category models
 */
export const EffectSchema: Schema.Schema<Schema.Schema.AnyNoContext> = Schema.declare(
  (u: unknown): u is Schema.Schema.AnyNoContext => Schema.isSchema(u),
  { identifier: "EffectSchema" }
)

const struct = <Tag extends string, Fields extends Schema.Struct.Fields>(type: Tag, fields: Fields) =>
  Schema.Struct({ type: Schema.Literal(type), ...fields, ...common })

/**
 * Every assertion, discriminated by `type`.
 *
 * @since 0.1.0
 * @category models
 */
export const Assertion = Schema.Union(
  struct("equals", { value: Schema.String, /** Compare trimmed (default true). */ trim: Schema.optional(Schema.Boolean) }),
  struct("contains", { value: Schema.String }),
  struct("notContains", { value: Schema.String }),
  struct("icontains", { value: Schema.String }),
  struct("containsAny", { values: Schema.NonEmptyArray(Schema.String), ignoreCase: Schema.optional(Schema.Boolean) }),
  struct("containsAll", { values: Schema.NonEmptyArray(Schema.String), ignoreCase: Schema.optional(Schema.Boolean) }),
  struct("regex", { pattern: Schema.String, flags: Schema.optional(Schema.String) }),
  struct("startsWith", { value: Schema.String }),
  struct("isJson", {}),
  struct("matchesSchema", { schema: Schema.Union(EffectSchema, JsonSchemaObject) }),
  struct("similar", { value: Schema.String }),
  struct("llmRubric", { rubric: Schema.String }),
  struct("cost", { maxUsd: FiniteNonNegative }),
  struct("latency", { maxMillis: FiniteNonNegative })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Assertion = typeof Assertion.Type

/**
 * The assertion types.
 *
 * @since 0.1.0
 * @category models
 */
export type Type = Assertion["type"]

/**
 * How one assertion went. `score` is after negation; `value` is what was measured
 * (similarity, judge score, USD, milliseconds), when there is a measure.
 *
 * @since 0.1.0
 * @category models
 */
export class AssertionResult extends Schema.Class<AssertionResult>("effect-llm/eval/AssertionResult")({
  type: Schema.String,
  description: Schema.optional(Schema.String),
  pass: Schema.Boolean,
  score: Schema.Number,
  threshold: Schema.Number,
  weight: Schema.Number,
  negated: Schema.Boolean,
  value: Schema.optional(Schema.Number),
  reason: Schema.String,
  /** Set when the check itself could not run (judge or embedder failed). */
  error: Schema.optional(Schema.String)
}) {}

/**
 * What an assertion looks at: the answer and how it was obtained.
 *
 * @since 0.1.0
 * @category models
 */
export interface Subject {
  readonly output: string
  readonly vars: Readonly<Record<string, unknown>>
  /** Wall time of the call. */
  readonly latencyMillis: number
  /** What the answer cost in USD (undefined when unknown; never guessed as 0). */
  readonly costUsd: number | undefined
  readonly response?: LanguageModel.Response | undefined
}

/**
 * What the model-backed assertions use.
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  /** For `similar` (default: the local deterministic embedder). */
  readonly embeddings?: Embeddings.Service | undefined
  /** For `llmRubric`; without one a rubric assertion fails with an error. */
  readonly judge?: LanguageModel.Service | undefined
}

/**
 * The verdict an `llmRubric` judge must answer with (forced as a JSON Schema
 * response format and decoded with this Schema).
 *
 * @since 0.1.0
 * @category models
 */
export class Verdict extends Schema.Class<Verdict>("Verdict")({
  pass: Schema.Boolean,
  score: Schema.Number.pipe(Schema.between(0, 1)),
  reason: Schema.String
}) {}

// -----------------------------------------------------------------------------
// Templates
// -----------------------------------------------------------------------------

const variable = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g

/**
 * The variable names a template uses (`{{name}}`).
 *
 * @since 0.1.0
 * @category templates
 */
export const variablesOf = (template: string): ReadonlyArray<string> =>
  Array.from(new Set(Array.from(template.matchAll(variable), (m) => m[1]!)))

/**
 * The templates of an assertion: its string fields that are rendered with the
 * case's variables (`value`, `values`, `pattern`, `rubric`), so a suite can be
 * checked for variables a case does not define.
 *
 * @since 0.1.0
 * @category templates
 */
export const templatesOf = (assertion: Assertion): ReadonlyArray<string> => {
  switch (assertion.type) {
    case "equals":
    case "contains":
    case "notContains":
    case "icontains":
    case "startsWith":
    case "similar":
      return [assertion.value]
    case "containsAny":
    case "containsAll":
      return assertion.values
    case "regex":
      return [assertion.pattern]
    case "llmRubric":
      return [assertion.rubric]
    case "isJson":
    case "matchesSchema":
    case "cost":
    case "latency":
      return []
  }
}

/**
 * Fills `{{name}}` placeholders; objects are written as JSON. Only the
 * variables' own keys count (`{{constructor}}` is not filled from
 * `Object.prototype`). Names without a value are left as they are (suites are
 * checked for them before running).
 *
 * @since 0.1.0
 * @category templates
 */
export const render = (template: string, vars: Readonly<Record<string, unknown>>): string =>
  template.replace(variable, (whole, name: string) => {
    if (!Object.hasOwn(vars, name)) return whole
    const value = vars[name]
    return typeof value === "string" ? value : JSON.stringify(value)
  })

// -----------------------------------------------------------------------------
// Evaluation
// -----------------------------------------------------------------------------

interface Raw {
  readonly score: number
  readonly pass?: boolean
  readonly value?: number
  readonly reason: string
  readonly error?: string
}

const yes = (ok: boolean, reason: string): Raw => ({ score: ok ? 1 : 0, reason })

const defaultThreshold = (type: Type): number => type === "similar" ? 0.8 : type === "llmRubric" ? 0.5 : 1

const preview = (text: string, max = 80) => {
  const flat = JSON.stringify(text)
  return flat.length > max ? `${flat.slice(0, max - 1)}…"` : flat
}

const parseJson = (text: string): Either.Either<unknown, string> => {
  const trimmed = text.trim()
  try {
    const value: unknown = JSON.parse(fencedJson(trimmed) ?? trimmed)
    // the schema check and its messages recurse into the value
    return tooDeep(value) ? Either.left(`nested deeper than ${maxDepth} levels`) : Either.right(value)
  } catch (error) {
    return Either.left(error instanceof Error ? error.message : String(error))
  }
}

const describeError = (error: unknown): string =>
  LlmError.isLlmError(error) ? `${error._tag}: ${error.message}` : error instanceof Error ? error.message : String(error)

const similarity = (env: Environment, output: string, reference: string) =>
  Effect.map(
    (env.embeddings ?? Embeddings.local()).embed([output, reference]),
    ([a, b]) => Embeddings.similarity(a!, b!)
  )

const judgeInstructions = "You grade an answer against a rubric. Read the rubric and the answer, then reply with " +
  "a verdict: `pass` (does the answer satisfy the rubric?), `score` (0 to 1, how well), and a one-sentence `reason`."

/**
 * Asks the judge model for a {@link Verdict} on `output` against `rubric`, through a
 * forced JSON Schema response format (`Structured.generate`, native mode).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const judge = (
  model: LanguageModel.Service,
  rubric: string,
  output: string
): Effect.Effect<Verdict, LlmError.LlmError> =>
  Structured.generate(Verdict, {
    messages: [
      { role: "system", content: judgeInstructions },
      { role: "user", content: `<rubric>\n${rubric}\n</rubric>\n<answer>\n${output}\n</answer>` }
    ],
    temperature: 0
  }, { name: "verdict", maxAttempts: 2 }).pipe(Effect.provideService(LanguageModel.LanguageModel, model))

const measure = (assertion: Assertion, subject: Subject, env: Environment): Effect.Effect<Raw> => {
  const output = subject.output
  const r = (text: string) => render(text, subject.vars)
  switch (assertion.type) {
    case "equals": {
      const expected = r(assertion.value)
      const trim = assertion.trim ?? true
      const ok = trim ? output.trim() === expected.trim() : output === expected
      return Effect.succeed(yes(ok, ok ? `equals ${preview(expected)}` : `expected ${preview(expected)}, got ${preview(output)}`))
    }
    case "contains": {
      const value = r(assertion.value)
      return Effect.succeed(yes(output.includes(value), `${output.includes(value) ? "contains" : "does not contain"} ${preview(value)}`))
    }
    case "notContains": {
      const value = r(assertion.value)
      const ok = !output.includes(value)
      return Effect.succeed(yes(ok, ok ? `does not contain ${preview(value)}` : `contains ${preview(value)}`))
    }
    case "icontains": {
      const value = r(assertion.value)
      const ok = output.toLowerCase().includes(value.toLowerCase())
      return Effect.succeed(yes(ok, `${ok ? "contains" : "does not contain"} ${preview(value)} (any case)`))
    }
    case "containsAny":
    case "containsAll": {
      const fold = (s: string) => assertion.ignoreCase ? s.toLowerCase() : s
      const values = assertion.values.map(r)
      const found = values.filter((v) => fold(output).includes(fold(v)))
      const missing = values.filter((v) => !found.includes(v))
      if (assertion.type === "containsAny") {
        return Effect.succeed(yes(found.length > 0, found.length > 0 ? `contains ${preview(found[0]!)}` : `contains none of ${values.map((v) => preview(v)).join(", ")}`))
      }
      return Effect.succeed({
        score: found.length / values.length,
        reason: missing.length === 0 ? `contains all ${values.length}` : `missing ${missing.map((v) => preview(v)).join(", ")}`
      })
    }
    case "regex": {
      const pattern = r(assertion.pattern)
      try {
        const ok = new RegExp(pattern, assertion.flags).test(output)
        return Effect.succeed(yes(ok, `${ok ? "matches" : "does not match"} /${pattern}/${assertion.flags ?? ""}`))
      } catch (error) {
        return Effect.succeed({ score: 0, reason: `invalid regex /${pattern}/`, error: describeError(error) })
      }
    }
    case "startsWith": {
      const value = r(assertion.value)
      const ok = output.trimStart().startsWith(value)
      return Effect.succeed(yes(ok, `${ok ? "starts" : "does not start"} with ${preview(value)}`))
    }
    case "isJson":
      return Effect.succeed(Either.match(parseJson(output), {
        onLeft: (message) => yes(false, `not JSON: ${message}`),
        onRight: () => yes(true, "valid JSON")
      }))
    case "matchesSchema":
      return Effect.succeed(Either.match(parseJson(output), {
        onLeft: (message) => yes(false, `not JSON: ${message}`),
        onRight: (json) => {
          if (Schema.isSchema(assertion.schema)) {
            return Either.match(Schema.decodeUnknownEither(assertion.schema as Schema.Schema<unknown, unknown, never>, { errors: "all" })(json), {
              onLeft: (error) => yes(false, `does not match the schema: ${ParseResult.TreeFormatter.formatErrorSync(error)}`),
              onRight: () => yes(true, "matches the schema")
            })
          }
          const problems = validateJsonSchema(assertion.schema as JsonSchema, json)
          return problems.length === 0
            ? yes(true, "matches the JSON Schema")
            : yes(false, `does not match the JSON Schema: ${problems.slice(0, 5).join("; ")}`)
        }
      }))
    case "similar": {
      const reference = r(assertion.value)
      return similarity(env, output, reference).pipe(
        Effect.map((value): Raw => ({
          score: Math.max(0, Math.min(1, value)),
          value,
          reason: `cosine ${value.toFixed(3)} to ${preview(reference, 60)}`
        })),
        Effect.catchAllCause((cause) =>
          Effect.succeed<Raw>({ score: 0, reason: "the embedder failed", error: describeError(Cause.squash(cause)) })
        )
      )
    }
    case "llmRubric": {
      const rubric = r(assertion.rubric)
      if (env.judge === undefined) {
        return Effect.succeed({ score: 0, reason: "no judge model configured", error: "no judge model configured" })
      }
      return judge(env.judge, rubric, output).pipe(
        Effect.map((verdict): Raw => ({ score: verdict.score, pass: verdict.pass, value: verdict.score, reason: `judge: ${verdict.reason}` })),
        Effect.catchAllCause((cause) =>
          Effect.succeed<Raw>({ score: 0, reason: "the judge failed", error: describeError(Cause.squash(cause)) })
        )
      )
    }
    case "cost": {
      if (subject.costUsd === undefined) {
        return Effect.succeed({ score: 0, reason: "the cost is unknown (no Response.cost and no price for the model)" })
      }
      const ok = subject.costUsd <= assertion.maxUsd
      return Effect.succeed({ ...yes(ok, `cost $${subject.costUsd.toFixed(6)} ${ok ? "≤" : ">"} $${assertion.maxUsd}`), value: subject.costUsd })
    }
    case "latency": {
      const ok = subject.latencyMillis <= assertion.maxMillis
      return Effect.succeed({
        ...yes(ok, `latency ${Math.round(subject.latencyMillis)} ms ${ok ? "≤" : ">"} ${assertion.maxMillis} ms`),
        value: subject.latencyMillis
      })
    }
  }
}

/**
 * Evaluates one assertion. Never fails: a judge or embedder failure is a failed
 * result with `error` set.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const evaluate = (assertion: Assertion, subject: Subject, env: Environment = {}): Effect.Effect<AssertionResult> =>
  Effect.map(measure(assertion, subject, env), (raw) => {
    const threshold = assertion.threshold ?? defaultThreshold(assertion.type)
    const negated = assertion.not === true
    const plainPass = raw.error === undefined && (raw.pass ?? true) && raw.score >= threshold
    const pass = raw.error === undefined && (negated ? !plainPass : plainPass)
    return new AssertionResult({
      type: assertion.type,
      description: assertion.description,
      pass,
      score: negated ? 1 - raw.score : raw.score,
      threshold,
      weight: assertion.weight ?? 1,
      negated,
      value: raw.value,
      reason: negated ? `not (${raw.reason})` : raw.reason,
      error: raw.error
    })
  })

/**
 * The weighted mean score of results (1 when every weight is 0 or there are none).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const weightedScore = (results: ReadonlyArray<AssertionResult>): number => {
  const total = results.reduce((s, r) => s + r.weight, 0)
  return total === 0 ? 1 : results.reduce((s, r) => s + r.weight * r.score, 0) / total
}

/**
 * Whether a set of results passes: with a case `threshold`, when the weighted
 * score reaches it; without one, when every assertion of non-zero weight passes.
 * A result with an error never passes.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const passes = (results: ReadonlyArray<AssertionResult>, threshold?: number): boolean =>
  !results.some((r) => r.error !== undefined) &&
  (threshold === undefined
    ? results.every((r) => r.pass || r.weight === 0)
    : weightedScore(results) >= threshold)

// -----------------------------------------------------------------------------
// A small JSON Schema validator
// -----------------------------------------------------------------------------

/**
 * A JSON Schema (draft 2020-12 subset).
 *
 * @since 0.1.0
 * @category models
 */
export type JsonSchema = { readonly [key: string]: unknown }

const typeOf = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value === "number" && Number.isInteger(value) ? "integer" : typeof value

const typeMatches = (expected: string, value: unknown): boolean => {
  const actual = typeOf(value)
  return expected === actual || (expected === "number" && actual === "integer")
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const deepEqual = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * Validates `value` against a JSON Schema subset; returns the problems, each with
 * its JSON path (empty when valid).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const validateJsonSchema = (schema: JsonSchema, value: unknown, path = "$"): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const type = schema["type"]
  if (typeof type === "string" || Array.isArray(type)) {
    const types = (Array.isArray(type) ? type : [type]) as ReadonlyArray<string>
    if (!types.some((t) => typeMatches(t, value))) {
      return [`${path}: expected ${types.join(" | ")}, got ${typeOf(value)}`]
    }
  }
  if ("const" in schema && !deepEqual(schema["const"], value)) problems.push(`${path}: expected ${JSON.stringify(schema["const"])}`)
  if (Array.isArray(schema["enum"]) && !schema["enum"].some((e) => deepEqual(e, value))) {
    problems.push(`${path}: expected one of ${JSON.stringify(schema["enum"])}`)
  }
  if (typeof value === "number") {
    const n = (k: string) => typeof schema[k] === "number" ? schema[k] as number : undefined
    if (n("minimum") !== undefined && value < n("minimum")!) problems.push(`${path}: ${value} < minimum ${n("minimum")}`)
    if (n("maximum") !== undefined && value > n("maximum")!) problems.push(`${path}: ${value} > maximum ${n("maximum")}`)
    if (n("exclusiveMinimum") !== undefined && value <= n("exclusiveMinimum")!) problems.push(`${path}: ${value} ≤ exclusiveMinimum`)
    if (n("exclusiveMaximum") !== undefined && value >= n("exclusiveMaximum")!) problems.push(`${path}: ${value} ≥ exclusiveMaximum`)
  }
  if (typeof value === "string") {
    if (typeof schema["minLength"] === "number" && value.length < schema["minLength"]) problems.push(`${path}: shorter than ${schema["minLength"]}`)
    if (typeof schema["maxLength"] === "number" && value.length > schema["maxLength"]) problems.push(`${path}: longer than ${schema["maxLength"]}`)
    if (typeof schema["pattern"] === "string" && !new RegExp(schema["pattern"], "u").test(value)) {
      problems.push(`${path}: does not match /${schema["pattern"]}/`)
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema["minItems"] === "number" && value.length < schema["minItems"]) problems.push(`${path}: fewer than ${schema["minItems"]} items`)
    if (typeof schema["maxItems"] === "number" && value.length > schema["maxItems"]) problems.push(`${path}: more than ${schema["maxItems"]} items`)
    if (isObject(schema["items"])) {
      value.forEach((item, i) => problems.push(...validateJsonSchema(schema["items"] as JsonSchema, item, `${path}[${i}]`)))
    }
  }
  if (isObject(value)) {
    const properties = isObject(schema["properties"]) ? schema["properties"] as Record<string, JsonSchema> : {}
    if (Array.isArray(schema["required"])) {
      for (const key of schema["required"] as ReadonlyArray<string>) {
        if (!(key in value)) problems.push(`${path}.${key}: required`)
      }
    }
    for (const [key, member] of Object.entries(value)) {
      const sub = properties[key]
      if (sub !== undefined) problems.push(...validateJsonSchema(sub, member, `${path}.${key}`))
      else if (schema["additionalProperties"] === false) problems.push(`${path}.${key}: not allowed`)
      else if (isObject(schema["additionalProperties"])) {
        problems.push(...validateJsonSchema(schema["additionalProperties"] as JsonSchema, member, `${path}.${key}`))
      }
    }
  }
  if (Array.isArray(schema["allOf"])) {
    for (const sub of schema["allOf"] as ReadonlyArray<JsonSchema>) problems.push(...validateJsonSchema(sub, value, path))
  }
  if (Array.isArray(schema["anyOf"])) {
    const subs = schema["anyOf"] as ReadonlyArray<JsonSchema>
    if (!subs.some((sub) => validateJsonSchema(sub, value, path).length === 0)) problems.push(`${path}: matches none of anyOf`)
  }
  if (Array.isArray(schema["oneOf"])) {
    const count = (schema["oneOf"] as ReadonlyArray<JsonSchema>).filter((sub) => validateJsonSchema(sub, value, path).length === 0).length
    if (count !== 1) problems.push(`${path}: matches ${count} of oneOf (expected exactly 1)`)
  }
  return problems
}

/**
 * The first problem of a set of assertion results, for one-line summaries.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const firstFailure = (results: ReadonlyArray<AssertionResult>): Option.Option<AssertionResult> =>
  Option.fromNullable(results.find((r) => !r.pass && r.weight > 0) ?? results.find((r) => !r.pass))
