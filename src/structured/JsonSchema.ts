/**
 * JSON Schema for structured output: an Effect `Schema` rewritten into the strict
 * subset that OpenAI's `json_schema` strict mode (and Anthropic's `output_config`)
 * accept, plus the way back from what the model wrote to what the Schema decodes.
 *
 * Effect's `JSONSchema.make` gives a draft-07 schema of the Schema's encoded side.
 * Strict mode accepts less: every object must list every property as required and
 * set `additionalProperties: false`, the root must be an object, and keywords such
 * as `format`, `pattern`, `minimum` or `maxLength` are refused or ignored by
 * some models. No library does this rewrite for Effect schemas (OpenAI's Python
 * SDK does it for Pydantic only), so it is written here:
 *
 * - an optional property becomes required and nullable; {@link Strict.fromWire}
 *   turns its `null` back into an absent key before the Schema decodes;
 * - a record (`additionalProperties: <schema>`) becomes an array of
 *   `{ key, value }` entries, turned back into an object by `fromWire`;
 * - a root that is not an object (array, union, record, primitive) is wrapped in
 *   `{ value }` and unwrapped by `fromWire`;
 * - definitions that are part of a cycle stay in `$defs` and are referenced with
 *   `$ref`; every other definition is inlined (a `$ref` with sibling keywords is
 *   not accepted in strict mode);
 * - constraint keywords are moved into `description` (unless kept with
 *   {@link Options.keep}); they are still enforced, by the Schema decode;
 * - what strict mode cannot express (tuples, free-form objects and arrays,
 *   `unknown`, a struct with an index signature) fails with
 *   {@link UnsupportedSchema} when the schema is built, never at call time.
 *
 * @since 0.1.0
 */
import { Either, JSONSchema, Schema } from "effect"
import { maxDepth, tooDeep } from "../internal/depth.js"

/**
 * A JSON Schema node, as plain JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type JsonObject = Record<string, unknown>

/**
 * The schema cannot be expressed in the strict subset. `path` points at the part
 * that cannot (e.g. `.items[].meta`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UnsupportedSchema extends Schema.TaggedError<UnsupportedSchema>("effect-llm/UnsupportedSchema")(
  "UnsupportedSchema",
  {
    path: Schema.String,
    reason: Schema.String,
    message: Schema.String
  }
) {}

/**
 * Constraint keywords strict mode may refuse; by default they are moved into the
 * node's `description`.
 *
 * @since 0.1.0
 * @category models
 */
export type ConstraintKeyword =
  | "format"
  | "pattern"
  | "minimum"
  | "maximum"
  | "exclusiveMinimum"
  | "exclusiveMaximum"
  | "multipleOf"
  | "minLength"
  | "maxLength"
  | "minItems"
  | "maxItems"
  | "uniqueItems"

const constraintKeywords: ReadonlyArray<ConstraintKeyword> = [
  "format",
  "pattern",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "uniqueItems"
]

/** Keywords dropped without a trace: metadata strict mode does not need. */
const droppedKeywords = new Set(["$schema", "$id", "$comment", "title", "default", "examples", "contentEncoding", "contentMediaType"])

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Constraint keywords to keep in place instead of moving them into the
   * description (for models that support them, e.g. OpenAI's newer models accept
   * `pattern` and `format`). Default: none.
   */
  readonly keep?: ReadonlyArray<ConstraintKeyword> | undefined
}

/**
 * A strict schema and the way back from the model's output to the Schema's
 * encoded shape.
 *
 * @since 0.1.0
 * @category models
 */
export interface Strict {
  /** The JSON Schema to send (root `type: "object"`, `$defs` only for recursion). */
  readonly schema: JsonObject
  /** Whether the root was wrapped in `{ value }`. */
  readonly wrapped: boolean
  /**
   * Turns a value written against {@link Strict.schema} into the Schema's encoded
   * shape: `null` of a rewritten optional property → absent, `{ key, value }`
   * entries → a record, the `{ value }` wrapper → its content. With `partial`, it
   * also accepts incomplete values (missing properties, unfinished strings).
   */
  readonly fromWire: (value: unknown, partial?: boolean) => unknown
  /** Whether a value fits {@link Strict.schema} (types, enums, required keys). */
  readonly matches: (value: unknown, partial?: boolean) => boolean
}

const isObject = (u: unknown): u is JsonObject => typeof u === "object" && u !== null && !Array.isArray(u)

const defName = (ref: string, path: string): string => {
  const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(ref)
  if (match === null) throw unsupported(path, `the reference ${ref} is not a local definition`)
  return match[1]!.replace(/~1/g, "/").replace(/~0/g, "~")
}

const unsupported = (path: string, reason: string) =>
  new UnsupportedSchema({
    path: path === "" ? "(root)" : path,
    reason,
    message: `The schema cannot be used for strict structured output at ${path === "" ? "(root)" : path}: ${reason}`
  })

/** The `$ref`s inside a node (not following them). */
const refsOf = (node: unknown, into: Set<string>): Set<string> => {
  if (Array.isArray(node)) node.forEach((n) => refsOf(n, into))
  else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref" && typeof value === "string") {
        const match = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(value)
        if (match !== null) into.add(match[1]!.replace(/~1/g, "/").replace(/~0/g, "~"))
      } else refsOf(value, into)
    }
  }
  return into
}

/** Definitions that can reach themselves through `$ref`s. */
const recursiveDefs = (defs: Readonly<Record<string, unknown>>): Set<string> => {
  const edges = new Map(Object.entries(defs).map(([name, node]) => [name, refsOf(node, new Set())]))
  const recursive = new Set<string>()
  for (const start of edges.keys()) {
    const seen = new Set<string>()
    const stack = [...(edges.get(start) ?? [])]
    while (stack.length > 0) {
      const next = stack.pop()!
      if (next === start) {
        recursive.add(start)
        break
      }
      if (seen.has(next)) continue
      seen.add(next)
      stack.push(...(edges.get(next) ?? []))
    }
  }
  return recursive
}

const joinDescriptions = (...parts: ReadonlyArray<unknown>): string | undefined => {
  const texts = parts.filter((p): p is string => typeof p === "string" && p.length > 0)
  const unique = texts.filter((t, i) => texts.indexOf(t) === i)
  return unique.length === 0 ? undefined : unique.join("; ")
}

const isNullable = (node: JsonObject): boolean =>
  node.type === "null" ||
  (Array.isArray(node.type) && node.type.includes("null")) ||
  (Array.isArray(node.enum) && node.enum.includes(null)) ||
  (Array.isArray(node.anyOf) && node.anyOf.some((b) => isObject(b) && isNullable(b)))

class Rewriter {
  /** Objects whose listed keys were optional and got `null` added. */
  readonly optional = new WeakMap<JsonObject, ReadonlySet<string>>()
  /** Arrays that stand for a record. */
  readonly records = new WeakSet<JsonObject>()
  /** Recursive definitions used, rewritten. */
  readonly outDefs: Record<string, JsonObject> = {}
  private readonly keep: ReadonlySet<string>
  private readonly recursive: ReadonlySet<string>

  constructor(private readonly defs: Readonly<Record<string, unknown>>, options: Options) {
    this.keep = new Set(options.keep ?? [])
    this.recursive = recursiveDefs(defs)
  }

  private resolve(name: string, path: string): JsonObject {
    const def = this.defs[name]
    if (!isObject(def)) throw unsupported(path, `the definition ${name} is missing`)
    return def
  }

  /** Rewrites a recursive definition once, into `outDefs`. */
  private useDef(name: string, path: string): void {
    if (name in this.outDefs) return
    this.outDefs[name] = {} // placeholder: stops the recursion while rewriting
    const rewritten = this.node(this.resolve(name, path), `#/$defs/${name}`, false)
    this.outDefs[name] = rewritten
  }

  /** Rewrites one node. `inlineRef` forces a `$ref` to be inlined (the root). */
  node(input: unknown, path: string, inlineRef: boolean): JsonObject {
    if (!isObject(input)) throw unsupported(path, "a boolean schema (true/false) has no strict form")
    const { $ref, ...siblings } = input
    if (typeof $ref === "string") {
      const name = defName($ref, path)
      const meaningful = Object.keys(siblings).filter((k) => !droppedKeywords.has(k))
      if (this.recursive.has(name) && meaningful.length === 0 && !inlineRef) {
        this.useDef(name, path)
        return { $ref: `#/$defs/${name}` }
      }
      // Inline: a non-recursive definition, or a recursive one with sibling
      // keywords (strict mode does not accept a $ref with siblings), one level deep.
      const def = this.resolve(name, path)
      const merged: JsonObject = { ...def, ...siblings }
      const description = joinDescriptions(def.description, siblings.description)
      if (description !== undefined) merged.description = description
      return this.node(merged, path, false)
    }

    const moved: Array<string> = []
    const kept: JsonObject = {}
    for (const keyword of constraintKeywords) {
      if (input[keyword] === undefined) continue
      if (this.keep.has(keyword)) kept[keyword] = input[keyword]
      else moved.push(`${keyword}: ${typeof input[keyword] === "string" ? input[keyword] : JSON.stringify(input[keyword])}`)
    }
    const description = joinDescriptions(input.description, moved.length > 0 ? `constraints: ${moved.join(", ")}` : undefined)
    const withDescription = (node: JsonObject): JsonObject =>
      description === undefined ? node : { ...node, description }

    if (Array.isArray(input.allOf)) {
      if (input.allOf.length !== 1) throw unsupported(path, "allOf with several members has no strict form")
      const { allOf, ...rest } = input
      return this.node({ ...rest, ...(allOf[0] as JsonObject) }, path, inlineRef)
    }
    const union = Array.isArray(input.anyOf) ? input.anyOf : Array.isArray(input.oneOf) ? input.oneOf : undefined
    if (union !== undefined) {
      return withDescription({ anyOf: union.map((branch, i) => this.node(branch, `${path}|${i}`, false)) })
    }
    if (input.const !== undefined) return withDescription({ ...(input.type !== undefined ? { type: input.type } : {}), const: input.const })
    if (Array.isArray(input.enum)) {
      return withDescription({ ...(input.type !== undefined ? { type: input.type } : {}), enum: input.enum, ...kept })
    }

    const type = input.type
    if (type === "object") return this.object(input, path, description, kept)
    if (type === "array") {
      if (Array.isArray(input.items) || input.additionalItems !== undefined || input.prefixItems !== undefined) {
        throw unsupported(path, "tuples have no strict form; use a Struct with named fields or an Array")
      }
      if (!isObject(input.items)) throw unsupported(path, "an array of unknown items has no strict form")
      return withDescription({ type: "array", items: this.node(input.items, `${path}[]`, false), ...kept })
    }
    const primitives = ["string", "number", "integer", "boolean", "null"]
    if (typeof type === "string" && primitives.includes(type)) return withDescription({ type, ...kept })
    if (Array.isArray(type) && type.every((t) => typeof t === "string" && primitives.includes(t))) {
      return withDescription({ type, ...kept })
    }
    throw unsupported(
      path,
      type === undefined
        ? "a value of any type (Schema.Unknown / Schema.Any) has no strict form"
        : `the type ${JSON.stringify(type)} has no strict form`
    )
  }

  private object(input: JsonObject, path: string, description: string | undefined, kept: JsonObject): JsonObject {
    const properties = isObject(input.properties) ? input.properties : {}
    const keys = Object.keys(properties)
    const extra = input.additionalProperties
    const patterns = isObject(input.patternProperties) ? Object.entries(input.patternProperties) : []
    if (isObject(extra) || patterns.length > 0) {
      if (keys.length > 0) {
        throw unsupported(path, "a struct with an index signature (named properties plus a record) has no strict form")
      }
      return this.record(input, path, description, isObject(extra) ? extra : undefined, patterns)
    }
    if (extra === true || (!isObject(input.properties) && extra === undefined)) {
      throw unsupported(path, "a free-form object has no strict form; give it named properties or make it a Record")
    }
    const required = new Set(Array.isArray(input.required) ? input.required : [])
    const optional = new Set<string>()
    const out: Record<string, JsonObject> = {}
    for (const key of keys) {
      let child = this.node(properties[key], `${path}.${key}`, false)
      if (!required.has(key)) {
        if (!isNullable(child)) {
          const { description: childDescription, ...rest } = child
          // `fromWire` finds its markers by node identity: the copy carries them.
          this.mark(rest, child)
          child = {
            anyOf: [rest, { type: "null" }],
            ...(typeof childDescription === "string" ? { description: childDescription } : {})
          }
          optional.add(key)
        }
      }
      out[key] = child
    }
    const node: JsonObject = {
      type: "object",
      properties: out,
      required: keys,
      additionalProperties: false,
      ...kept,
      ...(description !== undefined ? { description } : {})
    }
    if (optional.size > 0) this.optional.set(node, optional)
    return node
  }

  /** Gives `copy` the `fromWire` markers (optional keys, record) of `original`. */
  private mark(copy: JsonObject, original: JsonObject): void {
    const optional = this.optional.get(original)
    if (optional !== undefined) this.optional.set(copy, optional)
    if (this.records.has(original)) this.records.add(copy)
  }

  private record(
    input: JsonObject,
    path: string,
    description: string | undefined,
    extra: JsonObject | undefined,
    patterns: ReadonlyArray<[string, unknown]>
  ): JsonObject {
    const values = [...(extra !== undefined ? [extra] : []), ...patterns.map(([, v]) => v)]
    const valueSchema = values.length === 1 ? values[0] : { anyOf: values }
    const keyNotes = [
      ...patterns.map(([pattern]) => `keys match the pattern ${pattern}`),
      ...(isObject(input.propertyNames) && typeof input.propertyNames.pattern === "string"
        ? [`keys match the pattern ${input.propertyNames.pattern}`]
        : [])
    ]
    const node: JsonObject = {
      type: "array",
      description: joinDescriptions(description, "a map written as a list of { key, value } entries, one per key"),
      items: {
        type: "object",
        properties: {
          key: { type: "string", ...(keyNotes.length > 0 ? { description: keyNotes.join("; ") } : {}) },
          value: this.node(valueSchema, `${path}{}`, false)
        },
        required: ["key", "value"],
        additionalProperties: false
      }
    }
    this.records.add(node)
    return node
  }
}

/**
 * Rewrites a draft-07 JSON Schema (as `JSONSchema.make` produces) into the strict
 * subset.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromJsonSchema = (input: JsonObject, options: Options = {}): Either.Either<Strict, UnsupportedSchema> => {
  // The rewriter recurses: 10,000 levels overflowed the stack.
  if (tooDeep(input)) return Either.left(unsupported("", `the schema nests deeper than ${maxDepth} levels`))
  const defs = {
    ...(isObject(input.definitions) ? input.definitions : {}),
    ...(isObject(input.$defs) ? input.$defs : {})
  }
  const { $defs: _defs, definitions: _definitions, ...root } = input
  const rewriter = new Rewriter(defs, options)
  let body: JsonObject
  try {
    body = rewriter.node(root, "", true)
  } catch (error) {
    if (error instanceof UnsupportedSchema) return Either.left(error)
    throw error
  }
  const isPlainObject = body.type === "object" && !rewriter.records.has(body)
  const wrapped = !isPlainObject
  const top: JsonObject = wrapped
    ? { type: "object", properties: { value: body }, required: ["value"], additionalProperties: false }
    : body
  const schema: JsonObject = Object.keys(rewriter.outDefs).length > 0 ? { ...top, $defs: rewriter.outDefs } : top

  const resolve = (node: JsonObject): JsonObject => {
    let current = node
    for (let i = 0; i < 64 && typeof current.$ref === "string"; i++) {
      current = rewriter.outDefs[defName(current.$ref, "")] ?? {}
    }
    return current
  }

  const matches = (value: unknown, node: JsonObject, partial: boolean): boolean => {
    node = resolve(node)
    if (Array.isArray(node.anyOf)) return node.anyOf.some((b) => isObject(b) && matches(value, b, partial))
    const fits = (candidate: unknown) =>
      candidate === value ||
      (partial && typeof value === "string" && typeof candidate === "string" && candidate.startsWith(value))
    if (node.const !== undefined) return fits(node.const)
    if (Array.isArray(node.enum)) return node.enum.some(fits)
    const types = Array.isArray(node.type) ? node.type : [node.type]
    return types.some((type) => {
      switch (type) {
        case "null":
          return value === null
        case "boolean":
          return typeof value === "boolean"
        case "number":
          return typeof value === "number"
        case "integer":
          return typeof value === "number" && Number.isInteger(value)
        case "string":
          return typeof value === "string"
        case "array":
          return Array.isArray(value) && isObject(node.items) && value.every((v) => matches(v, node.items as JsonObject, partial))
        case "object": {
          if (!isObject(value)) return false
          const properties = isObject(node.properties) ? node.properties : {}
          const required = Array.isArray(node.required) ? node.required : []
          return Object.entries(value).every(([k, v]) => isObject(properties[k]) && matches(v, properties[k], partial)) &&
            (partial || required.every((k) => typeof k === "string" && k in value))
        }
        default:
          return false
      }
    })
  }

  const walk = (value: unknown, node: JsonObject, partial: boolean): unknown => {
    node = resolve(node)
    if (Array.isArray(node.anyOf)) {
      const branch = node.anyOf.find((b) => isObject(b) && matches(value, b, partial))
      return isObject(branch) ? walk(value, branch, partial) : value
    }
    if (rewriter.records.has(node) && Array.isArray(value)) {
      const items = node.items as JsonObject
      const valueNode = (items.properties as Record<string, JsonObject>).value!
      const out: Record<string, unknown> = {}
      for (const entry of value) {
        if (isObject(entry) && typeof entry.key === "string" && "value" in entry) {
          out[entry.key] = walk(entry.value, valueNode, partial)
        }
      }
      return out
    }
    if (node.type === "array" && Array.isArray(value) && isObject(node.items)) {
      const items = node.items
      return value.map((v) => walk(v, items, partial))
    }
    if (node.type === "object" && isObject(value)) {
      const properties = isObject(node.properties) ? node.properties : {}
      const optional = rewriter.optional.get(node)
      const out: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(value)) {
        if (v === null && optional?.has(k)) continue
        out[k] = isObject(properties[k]) ? walk(v, properties[k], partial) : v
      }
      return out
    }
    return value
  }

  return Either.right({
    schema,
    wrapped,
    matches: (value, partial = false) => matches(value, schema, partial),
    fromWire: (value, partial = false) => {
      if (!wrapped) return walk(value, top, partial)
      if (!isObject(value) || !("value" in value)) return partial ? undefined : value
      return walk(value.value, body, partial)
    }
  })
}

/**
 * The strict JSON Schema of an Effect Schema's encoded side, with the way back.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I, R>(
  schema: Schema.Schema<A, I, R>,
  options: Options = {}
): Either.Either<Strict, UnsupportedSchema> => {
  let draft: JsonObject
  try {
    draft = JSONSchema.make(schema) as unknown as JsonObject
  } catch (error) {
    return Either.left(unsupported("", error instanceof Error ? error.message : String(error)))
  }
  return fromJsonSchema(draft, options)
}
