import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, JSONSchema, Schema } from "effect"
import * as JsonSchema from "../src/structured/JsonSchema.js"

// -----------------------------------------------------------------------------
// The strict-mode rules, as a checker (OpenAI structured outputs, strict: true)
// -----------------------------------------------------------------------------

const allowedKeywords = new Set([
  "type",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "enum",
  "const",
  "anyOf",
  "$ref",
  "description"
])

type Json = Record<string, unknown>
const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** Every violation of the strict subset in a schema; empty when it complies. */
const strictViolations = (schema: Json, keep: ReadonlyArray<string> = []): ReadonlyArray<string> => {
  const problems: Array<string> = []
  const defs = isObject(schema.$defs) ? schema.$defs : {}
  const types = (node: Json) => (Array.isArray(node.type) ? node.type : [node.type])
  if (schema.type !== "object") problems.push("(root): the root is not type object")
  if ("anyOf" in schema) problems.push("(root): the root is an anyOf")
  const walk = (node: unknown, path: string): void => {
    if (!isObject(node)) {
      problems.push(`${path}: not a schema object`)
      return
    }
    for (const key of Object.keys(node)) {
      if (!allowedKeywords.has(key) && !keep.includes(key) && !(path === "(root)" && key === "$defs")) {
        problems.push(`${path}: unsupported keyword ${key}`)
      }
    }
    if (typeof node.$ref === "string") {
      const match = /^#\/\$defs\/(.+)$/.exec(node.$ref)
      if (match === null || !(match[1]! in defs)) problems.push(`${path}: $ref ${node.$ref} does not resolve in $defs`)
      if (Object.keys(node).length > 1) problems.push(`${path}: $ref with sibling keywords`)
      return
    }
    if (node.type === undefined && node.anyOf === undefined && node.enum === undefined && node.const === undefined) {
      problems.push(`${path}: no type`)
    }
    if (types(node).includes("object")) {
      if (node.additionalProperties !== false) problems.push(`${path}: additionalProperties is not false`)
      if (!isObject(node.properties)) problems.push(`${path}: object without properties`)
      const keys = Object.keys(isObject(node.properties) ? node.properties : {})
      const required = Array.isArray(node.required) ? node.required : []
      if (keys.length !== required.length || !keys.every((k) => required.includes(k))) {
        problems.push(`${path}: required ${JSON.stringify(required)} is not every property ${JSON.stringify(keys)}`)
      }
      for (const key of keys) walk((node.properties as Json)[key], `${path}.${key}`)
    }
    if (types(node).includes("array")) {
      if (!isObject(node.items)) problems.push(`${path}: array without an items schema`)
      else walk(node.items, `${path}[]`)
    }
    if (Array.isArray(node.anyOf)) node.anyOf.forEach((branch, i) => walk(branch, `${path}|${i}`))
  }
  walk(schema, "(root)")
  for (const [name, def] of Object.entries(defs)) walk(def, `$defs.${name}`)
  return problems
}

const strictOf = <A, I>(schema: Schema.Schema<A, I>, options?: JsonSchema.Options): JsonSchema.Strict => {
  const result = JsonSchema.make(schema, options)
  if (Either.isLeft(result)) throw new Error(result.left.message)
  return result.right
}

/** fromWire, then decode with the Schema: what Structured does with an answer. */
const decodeWire = <A, I>(schema: Schema.Schema<A, I>, strict: JsonSchema.Strict, wire: unknown) =>
  Schema.decodeUnknownEither(schema)(strict.fromWire(wire))

// -----------------------------------------------------------------------------
// Schemas under test
// -----------------------------------------------------------------------------

/** The seed's example: name, optional email, sentiment literal, confidence 0..1. */
const ExtractedData = Schema.Struct({
  name: Schema.String,
  email: Schema.optional(Schema.String),
  sentiment: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
})

const Address = Schema.Struct({ street: Schema.String, city: Schema.String, zip: Schema.optional(Schema.String) })
const Person = Schema.Struct({
  name: Schema.String,
  address: Address,
  previous: Schema.optional(Schema.Struct({ address: Address, until: Schema.Int }))
})

interface Category {
  readonly name: string
  readonly note?: string
  readonly children: ReadonlyArray<Category>
}
const Category: Schema.Schema<Category> = Schema.Struct({
  name: Schema.String,
  note: Schema.optional(Schema.String),
  children: Schema.Array(Schema.suspend(() => Category))
}).annotations({ identifier: "Category" })

const Shape = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("circle"), radius: Schema.Number, label: Schema.optional(Schema.String) }),
  Schema.Struct({ kind: Schema.Literal("rect"), width: Schema.Number, height: Schema.Number })
)

describe("JsonSchema.make (strict rewrite)", () => {
  it("the checker catches what Effect's own JSON Schema breaks (so it can fail)", () => {
    const draft = JSONSchema.make(Schema.Struct({ a: Schema.optional(Schema.String), r: Schema.Record({ key: Schema.String, value: Schema.Number }) })) as unknown as Json
    const problems = strictViolations(draft)
    expect(problems).toContain("(root): unsupported keyword $schema")
    expect(problems.some((p) => p.startsWith("(root): required"))).toBe(true)
    expect(problems).toContain("(root).r: additionalProperties is not false")
  })

  it("ExtractedData: optional email nullable and required, literals as enum, bounds moved to the description", () => {
    const strict = strictOf(ExtractedData)
    expect(strictViolations(strict.schema)).toEqual([])
    expect(strict.wrapped).toBe(false)
    expect(strict.schema).toEqual({
      type: "object",
      properties: {
        name: { type: "string" },
        email: { anyOf: [{ type: "string" }, { type: "null" }] },
        sentiment: { type: "string", enum: ["positive", "negative", "neutral"] },
        confidence: { type: "number", description: "a number between 0 and 1; constraints: minimum: 0, maximum: 1" }
      },
      required: ["name", "email", "sentiment", "confidence"],
      additionalProperties: false
    })
    // null comes back as an absent key, so the Schema's optional field decodes.
    const decoded = decodeWire(ExtractedData, strict, { name: "Ada", email: null, sentiment: "positive", confidence: 0.9 })
    expect(decoded).toEqual(Either.right({ name: "Ada", sentiment: "positive", confidence: 0.9 }))
    expect(Either.isRight(decoded) && "email" in decoded.right).toBe(false)
    // the bound is no longer in the JSON Schema, but the decode still enforces it
    expect(Either.isLeft(decodeWire(ExtractedData, strict, { name: "Ada", email: null, sentiment: "positive", confidence: 1.5 }))).toBe(true)
  })

  it("nested structs: every level strict, optional nested struct nullable; nulls removed at every level", () => {
    const strict = strictOf(Person)
    expect(strictViolations(strict.schema)).toEqual([])
    const props = strict.schema.properties as Json
    expect(props.previous).toMatchObject({ anyOf: [{ type: "object", additionalProperties: false }, { type: "null" }] })
    expect(strict.fromWire({
      name: "Ada",
      address: { street: "1 Main", city: "Oslo", zip: null },
      previous: { address: { street: "2 Side", city: "Bergen", zip: "5003" }, until: 2020 }
    })).toEqual({
      name: "Ada",
      address: { street: "1 Main", city: "Oslo" },
      previous: { address: { street: "2 Side", city: "Bergen", zip: "5003" }, until: 2020 }
    })
    expect(strict.fromWire({ name: "Ada", address: { street: "1", city: "Oslo", zip: "0150" }, previous: null }))
      .toEqual({ name: "Ada", address: { street: "1", city: "Oslo", zip: "0150" } })
  })

  it("an optional field that already admits null keeps null (it is a value there, not absence)", () => {
    const schema = Schema.Struct({ a: Schema.optional(Schema.NullOr(Schema.String)) })
    const strict = strictOf(schema)
    expect(strictViolations(strict.schema)).toEqual([])
    expect(strict.fromWire({ a: null })).toEqual({ a: null })
  })

  it("unions of literals stay enums; a union of structs picks the matching branch when mapping back", () => {
    const literals = strictOf(Schema.Struct({ level: Schema.Literal("low", "mid", "high"), n: Schema.Literal(1, 2, 3) }))
    expect(strictViolations(literals.schema)).toEqual([])
    expect((literals.schema.properties as Json).level).toEqual({ type: "string", enum: ["low", "mid", "high"] })
    expect((literals.schema.properties as Json).n).toEqual({ type: "number", enum: [1, 2, 3] })

    const strict = strictOf(Schema.Struct({ shapes: Schema.Array(Shape) }))
    expect(strictViolations(strict.schema)).toEqual([])
    const wire = { shapes: [{ kind: "rect", width: 2, height: 3 }, { kind: "circle", radius: 1, label: null }] }
    expect(decodeWire(Schema.Struct({ shapes: Schema.Array(Shape) }), strict, wire)).toEqual(Either.right({
      shapes: [{ kind: "rect", width: 2, height: 3 }, { kind: "circle", radius: 1 }]
    }))
  })

  it("a union at the root is wrapped in { value } and unwrapped again", () => {
    const strict = strictOf(Shape)
    expect(strict.wrapped).toBe(true)
    expect(strictViolations(strict.schema)).toEqual([])
    expect(decodeWire(Shape, strict, { value: { kind: "circle", radius: 2, label: "c" } }))
      .toEqual(Either.right({ kind: "circle", radius: 2, label: "c" }))
  })

  it("arrays: items strict, item-count bounds moved to the description; an array root is wrapped", () => {
    const Tags = Schema.Array(Schema.Struct({ tag: Schema.String, weight: Schema.optional(Schema.Number) })).pipe(Schema.minItems(1))
    const strict = strictOf(Schema.Struct({ tags: Tags }))
    expect(strictViolations(strict.schema)).toEqual([])
    expect((strict.schema.properties as Json).tags).toMatchObject({
      type: "array",
      description: expect.stringContaining("minItems: 1")
    })
    expect(decodeWire(Schema.Struct({ tags: Tags }), strict, { tags: [] })._tag).toBe("Left")

    const root = strictOf(Tags)
    expect(root.wrapped).toBe(true)
    expect(strictViolations(root.schema)).toEqual([])
    expect(decodeWire(Tags, root, { value: [{ tag: "a", weight: null }] })).toEqual(Either.right([{ tag: "a" }]))
  })

  it("records become a list of { key, value } entries and come back as an object", () => {
    const Scores = Schema.Struct({ scores: Schema.Record({ key: Schema.String, value: Schema.Struct({ score: Schema.Number, note: Schema.optional(Schema.String) }) }) })
    const strict = strictOf(Scores)
    expect(strictViolations(strict.schema)).toEqual([])
    expect((strict.schema.properties as Json).scores).toMatchObject({
      type: "array",
      items: { type: "object", required: ["key", "value"], additionalProperties: false }
    })
    const wire = { scores: [{ key: "alice", value: { score: 3, note: null } }, { key: "bob", value: { score: 5, note: "late" } }] }
    expect(decodeWire(Scores, strict, wire)).toEqual(Either.right({
      scores: { alice: { score: 3 }, bob: { score: 5, note: "late" } }
    }))

    const root = strictOf(Schema.Record({ key: Schema.String, value: Schema.Number }))
    expect(root.wrapped).toBe(true)
    expect(strictViolations(root.schema)).toEqual([])
    expect(root.fromWire({ value: [{ key: "a", value: 1 }] })).toEqual({ a: 1 })
  })

  it("optional struct, record and Class properties: fromWire removes their inner nulls and turns their entries into an object, partial too", () => {
    class Home extends Schema.Class<Home>("Home")({ city: Schema.String, zip: Schema.optional(Schema.String) }) {}
    const Profile = Schema.Struct({
      previous: Schema.optional(Schema.Struct({ city: Schema.String, zip: Schema.optional(Schema.String) })),
      scores: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number })),
      home: Schema.optional(Home)
    })
    const strict = strictOf(Profile)
    expect(strictViolations(strict.schema)).toEqual([])
    const wire = { previous: { city: "Bergen", zip: null }, scores: [{ key: "alice", value: 3 }], home: { city: "Oslo", zip: null } }
    const encoded = { previous: { city: "Bergen" }, scores: { alice: 3 }, home: { city: "Oslo" } }
    expect(strict.fromWire(wire)).toEqual(encoded)
    expect(strict.fromWire(wire, true)).toEqual(encoded)
    expect(decodeWire(Profile, strict, wire)).toEqual(Either.right({ ...encoded, home: new Home({ city: "Oslo" }) }))
  })

  it("a record whose keys are literals is an ordinary strict object", () => {
    const strict = strictOf(Schema.Record({ key: Schema.Literal("en", "fr"), value: Schema.String }))
    expect(strict.wrapped).toBe(false)
    expect(strictViolations(strict.schema)).toEqual([])
  })

  it("recursive schemas keep $defs and $ref; nulls are removed inside the recursion", () => {
    const strict = strictOf(Schema.Struct({ root: Category, extra: Schema.optional(Category) }))
    expect(strictViolations(strict.schema)).toEqual([])
    expect(Object.keys(strict.schema.$defs as Json)).toEqual(["Category"])
    expect((strict.schema.properties as Json).root).toEqual({ $ref: "#/$defs/Category" })
    const wire = {
      root: { name: "a", note: null, children: [{ name: "b", note: "x", children: [{ name: "c", note: null, children: [] }] }] },
      extra: null
    }
    expect(strict.fromWire(wire)).toEqual({
      root: { name: "a", children: [{ name: "b", note: "x", children: [{ name: "c", children: [] }] }] }
    })

    // a recursive root is inlined one level (the root must be an object), the rest stays in $defs
    const root = strictOf(Category)
    expect(root.wrapped).toBe(false)
    expect(root.schema.type).toBe("object")
    expect(strictViolations(root.schema)).toEqual([])
  })

  it("non-recursive definitions are inlined, so no $ref carries sibling keywords", () => {
    const strict = strictOf(Schema.Struct({ n: Schema.Int.pipe(Schema.greaterThan(3)), id: Schema.UUID, s: Schema.NonEmptyString }))
    expect(strict.schema.$defs).toBeUndefined()
    expect(strictViolations(strict.schema)).toEqual([])
    const props = strict.schema.properties as Json
    expect(props.n).toMatchObject({ type: "integer", description: expect.stringContaining("exclusiveMinimum: 3") })
    expect(props.id).toMatchObject({ type: "string", description: expect.stringContaining("format: uuid") })
  })

  it("refinements and transformations: the wire has the encoded side; keep leaves chosen keywords in place", () => {
    const Event = Schema.Struct({
      at: Schema.Date,
      count: Schema.NumberFromString,
      email: Schema.String.pipe(Schema.pattern(/^[^@]+@[^@]+$/))
    })
    const strict = strictOf(Event)
    expect(strictViolations(strict.schema)).toEqual([])
    const props = strict.schema.properties as Json
    expect(props.at).toMatchObject({ type: "string" })
    expect(props.email).toMatchObject({ type: "string", description: expect.stringContaining("pattern: ^[^@]+@[^@]+$") })
    const decoded = decodeWire(Event, strict, { at: "2026-01-02T03:04:05.000Z", count: "42", email: "a@b.c" })
    expect(Either.isRight(decoded) && decoded.right.at instanceof Date && decoded.right.count === 42).toBe(true)
    expect(decodeWire(Event, strict, { at: "2026-01-02T03:04:05.000Z", count: "42", email: "nope" })._tag).toBe("Left")

    const kept = strictOf(Event, { keep: ["pattern"] })
    expect((kept.schema.properties as Json).email).toMatchObject({ pattern: "^[^@]+@[^@]+$" })
    expect(strictViolations(kept.schema, ["pattern"])).toEqual([])
  })

  it("what strict mode cannot express fails at build time with UnsupportedSchema and a path", () => {
    const cases: ReadonlyArray<[Schema.Schema<any, any>, string, RegExp]> = [
      [Schema.Struct({ pair: Schema.Tuple(Schema.String, Schema.Number) }), ".pair", /tuples/],
      [Schema.Struct({ meta: Schema.Unknown }), ".meta", /any type/],
      [Schema.Struct({ a: Schema.String }, Schema.Record({ key: Schema.String, value: Schema.Number })), "(root)", /index signature/],
      [Schema.Struct({ when: Schema.DateFromSelf }), "(root)", /jsonSchema/],
      [Schema.Struct({ o: Schema.Object }), ".o|0", /free-form/]
    ]
    for (const [schema, path, reason] of cases) {
      const result = JsonSchema.make(schema)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("UnsupportedSchema")
        expect(result.left.path).toBe(path)
        expect(result.left.message).toMatch(reason)
      }
    }
  })

  it.effect("matches checks values against the strict schema (partial mode accepts unfinished values)", () =>
    Effect.sync(() => {
      const strict = strictOf(ExtractedData)
      expect(strict.matches({ name: "a", email: null, sentiment: "neutral", confidence: 0.5 })).toBe(true)
      expect(strict.matches({ name: "a", email: null, sentiment: "meh", confidence: 0.5 })).toBe(false)
      expect(strict.matches({ name: "a", sentiment: "neutral", confidence: 0.5 })).toBe(false)
      expect(strict.matches({ name: "a", sentiment: "neu" }, true)).toBe(true)
      expect(strict.matches({ name: "a", extra: 1 }, true)).toBe(false)
    }))
})
