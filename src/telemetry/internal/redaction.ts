/**
 * Redaction for everything telemetry emits: text, error values, causes and log
 * entries.
 *
 * Builds on `src/internal/redact.ts` (API-key shapes and `Bearer` tokens) and adds
 * what a log line or an error message can carry beyond a bare key: header and
 * query-string forms (`Authorization: Basic ...`, `x-api-key: ...`, `?key=...`),
 * credentials in URLs, and literal secrets the operator names (gateway keys have
 * no fixed shape, so they are scrubbed by value).
 *
 * Errors keep their class: an `LlmError` is rebuilt as the same tagged class with
 * every string field redacted (recursively, e.g. inside `AllProvidersFailed`), so
 * `Effect.catchTag` still works on what leaves the Telemetry layer.
 */
import { Cause, HashMap, Logger, Redacted } from "effect"
import { redact } from "../../internal/redact.js"
import * as LlmError from "../../LlmError.js"

const REDACTED = "[REDACTED]"

const extraPatterns: ReadonlyArray<readonly [RegExp, string | ((match: string, ...groups: Array<string>) => string)]> = [
  // Authorization / Proxy-Authorization headers with any scheme, as text or JSON.
  [/\b((?:proxy-)?authorization)(["']?\s*[:=]\s*["']?)(?:(?:bearer|basic|token|digest)\s+)?[^\s"',;}]+/gi, `$1$2${REDACTED}`],
  // API-key headers, fields and parameters in `name: value`, `name=value` or JSON
  // form; a quoted value is redacted to its closing quote (a password may hold spaces).
  [
    /\b(x-api-key|api-key|x-goog-api-key|apikey|api_key|(?:x-)?(?:auth|access|api|session|id|refresh)[-_]?token|client_secret|x-gateway-key|gateway_key|secret_key|password|passwd)(["']?\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|[^\s"',;&}]+)/gi,
    (_match: string, name: string, separator: string, value: string) => {
      const quote = value[0] === "\"" || value[0] === "'" ? value[0] : ""
      return `${name}${separator}${quote}${REDACTED}${quote}`
    }
  ],
  // `?key=...` query parameters (Google-style keys in URLs).
  [/([?&](?:key|token|sig|signature)=)[^&\s"']+/gi, `$1${REDACTED}`]
]

// The whole userinfo, to the last `@` before the host: a token alone as the user
// (`https://ghp_…@github.com`) and a password holding `@` are credentials too.
const urlCredentials = /([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/iy
const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isWord = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 95
/** `[a-z0-9+.-]`, either case: a URL scheme. */
const isScheme = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 46 || c === 45

/**
 * Credentials in URLs (`scheme://user:password@host`, `scheme://token@host`) replaced: what
 * `text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#]+@/gi, "$1[REDACTED]@")`
 * gives (tested against it). That regex retried every word start of a long
 * scheme-like run (`a.a.a.…`), quadratic in its length; here each `://` is tried
 * once, at the first word-starting letter of the run before it: every later
 * start in the run reaches the same `://` and ends the same way.
 */
export const redactUrlCredentials = (text: string): string => {
  let out = ""
  let last = 0
  for (let at = text.indexOf("://"); at >= 0; at = text.indexOf("://", at + 3)) {
    let start = at
    while (start > last && isScheme(text.charCodeAt(start - 1))) start--
    while (start < at && !(isLetter(text.charCodeAt(start)) && (start === 0 || !isWord(text.charCodeAt(start - 1))))) start++
    if (start === at) continue
    urlCredentials.lastIndex = start
    const m = urlCredentials.exec(text)
    if (m === null) continue
    out += `${text.slice(last, start)}${m[1]}${REDACTED}@`
    last = start + m[0].length
    at = last - 3
  }
  return last === 0 ? text : out + text.slice(last)
}

/**
 * A gate in front of the patterns: every text one of them (or `redact`'s) can
 * match contains one of these fragments (each pattern's literal part, case
 * folded), so a text without any is returned as it is after one scan instead of
 * nine replaces. Most texts a call logs (model names, outcomes, token counts)
 * have none. Keep it in step with the patterns (a test checks each sample key).
 */
const mayHoldCredential =
  /sk-|pk-|rk-|_live_|_test_|gh[pousr]_|github_pat_|xox[abprs]-|akia|asia|bearer|aiza|authorization|api-key|apikey|api_key|token|client_secret|gateway-key|gateway_key|secret_key|passw|[?&](?:key|token|sig|signature)=|:\/\//i

/**
 * A text scrubber: the shared key patterns, the header/parameter forms, and any
 * literal secrets given.
 */
export interface Redactor {
  readonly text: (text: string) => string
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** Builds a redactor that also removes the given literal secrets (at least 4 characters). */
export const makeRedactor = (secrets: ReadonlyArray<string | Redacted.Redacted<string>> = []): Redactor => {
  const literals = secrets
    .map((s) => (Redacted.isRedacted(s) ? Redacted.value(s) : s))
    .filter((s) => s.length >= 4)
    .sort((a, b) => b.length - a.length)
  const literal = literals.length === 0 ? undefined : new RegExp(literals.map(escapeRegExp).join("|"), "g")
  return {
    text: (input) => {
      let out = literal === undefined ? input : input.replace(literal, REDACTED)
      if (!mayHoldCredential.test(out)) return out
      out = redact(out)
      for (const [pattern, replacement] of extraPatterns) {
        out = typeof replacement === "string" ? out.replace(pattern, replacement) : out.replace(pattern, replacement)
      }
      return redactUrlCredentials(out)
    }
  }
}

/** The redactor without literal secrets. */
export const defaultRedactor: Redactor = makeRedactor()

type Fields = Record<string, unknown>

interface SchemaClassConstructor {
  readonly fields: object
  new(props: Fields, disableValidation?: boolean): object
}

const isSchemaClassInstance = (u: object): boolean => {
  const ctor = (u as { readonly constructor?: unknown }).constructor
  return typeof ctor === "function" && typeof (ctor as { readonly fields?: unknown }).fields === "object"
}

/**
 * Redacts every string inside a value: arrays, plain objects, `Schema.Class`
 * instances (rebuilt as the same class), errors (see {@link error}). Other
 * objects are returned unchanged; the result is the input itself when nothing
 * changed.
 */
export const unknown = (redactor: Redactor, value: unknown, depth = 0): unknown => {
  if (typeof value === "string") return redactor.text(value)
  if (typeof value !== "object" || value === null || depth > 8) return value
  if (Redacted.isRedacted(value)) return value
  if (value instanceof Error) return error(redactor, value, depth)
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((item) => {
      const next = unknown(redactor, item, depth + 1)
      if (next !== item) changed = true
      return next
    })
    return changed ? out : value
  }
  const proto = Object.getPrototypeOf(value)
  const plain = proto === Object.prototype || proto === null
  if (!plain && !isSchemaClassInstance(value)) return value
  const [fields, changed] = mapFields(redactor, value as Fields, depth)
  if (!changed) return value
  if (plain) return fields
  const Ctor = (value as { readonly constructor: SchemaClassConstructor }).constructor
  return new Ctor(fields, true)
}

const unchanged: readonly [Fields, boolean] = [{}, false]

/** The fields redacted; `[_, false]` (no copy made) when nothing changed, the usual case. */
const mapFields = (redactor: Redactor, value: Fields, depth: number): readonly [Fields, boolean] => {
  let out: Fields | undefined
  const keys = Object.keys(value)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const item = value[key]
    const next = unknown(redactor, item, depth + 1)
    if (out === undefined) {
      if (next === item) continue
      // The first change: copy the fields seen so far.
      out = {}
      for (let k = 0; k < i; k++) out[keys[k]!] = value[keys[k]!]
    }
    out[key] = next
  }
  return out === undefined ? unchanged : [out, true]
}

/**
 * An error with its message, stack, cause and (for `LlmError`s) every string
 * field redacted. An `LlmError` stays an instance of its own class.
 */
export const error = <E extends Error>(redactor: Redactor, value: E, depth = 0): E => {
  const message = redactor.text(value.message)
  const stack = value.stack === undefined ? undefined : redactor.text(value.stack)
  if (LlmError.isLlmError(value)) {
    const { _tag, ...rest } = value as unknown as Fields
    void _tag
    // `message` lives on the Error, not among the enumerable fields.
    const [fields, changed] = mapFields(redactor, { ...rest, message: value.message }, depth)
    if (!changed && stack === value.stack) return value
    const Ctor = value.constructor as unknown as SchemaClassConstructor
    const rebuilt = new Ctor(fields, true) as E
    setStack(rebuilt, stack)
    return rebuilt
  }
  const cause = "cause" in value ? unknown(redactor, value.cause, depth + 1) : undefined
  if (message === value.message && stack === value.stack && cause === (value as { readonly cause?: unknown }).cause) {
    return value
  }
  const rebuilt = new Error(message, "cause" in value ? { cause } : undefined)
  rebuilt.name = value.name
  setStack(rebuilt, stack)
  return rebuilt as E
}

const setStack = (target: Error, stack: string | undefined) => {
  try {
    Object.defineProperty(target, "stack", { value: stack, writable: true, configurable: true, enumerable: false })
  } catch {
    // a frozen error keeps the stack of its own construction (already redacted text)
  }
}

/** A cause with every failure and defect redacted; interruptions are kept. */
export const cause = <E>(redactor: Redactor, self: Cause.Cause<E>): Cause.Cause<E> =>
  Cause.match(self, {
    onEmpty: Cause.empty as Cause.Cause<E>,
    onFail: (e) => Cause.fail(unknown(redactor, e) as E),
    onDie: (defect) => Cause.die(unknown(redactor, defect)),
    onInterrupt: (fiberId) => Cause.interrupt(fiberId) as Cause.Cause<E>,
    onSequential: (left, right) => Cause.sequential(left, right),
    onParallel: (left, right) => Cause.parallel(left, right)
  })

/**
 * A logger that redacts the message, the cause and the annotations of every entry
 * before handing it to `logger`.
 */
export const logger = <Output>(redactor: Redactor, self: Logger.Logger<unknown, Output>): Logger.Logger<unknown, Output> =>
  Logger.mapInputOptions(self, (options) => ({
    ...options,
    message: unknown(redactor, options.message),
    cause: Cause.isEmpty(options.cause) ? options.cause : cause(redactor, options.cause),
    annotations: annotationsMemo(redactor, options.annotations)
  }))

// One log entry goes to every installed logger with the same (immutable)
// annotations map: each redacting wrapper of that entry reuses the first one's work.
let lastRedactor: Redactor | undefined
let lastIn: HashMap.HashMap<string, unknown> | undefined
let lastOut: HashMap.HashMap<string, unknown> | undefined

const annotationsMemo = (
  redactor: Redactor,
  self: HashMap.HashMap<string, unknown>
): HashMap.HashMap<string, unknown> => {
  if (self === lastIn && redactor === lastRedactor) return lastOut!
  const out = annotations(redactor, self)
  lastRedactor = redactor
  lastIn = self
  lastOut = out
  return out
}

/** The annotations with every value redacted; the same map when nothing changed (the usual case). */
const annotations = (
  redactor: Redactor,
  self: HashMap.HashMap<string, unknown>
): HashMap.HashMap<string, unknown> => {
  let changed: Array<readonly [string, unknown]> | undefined
  for (const [key, value] of self) {
    const next = unknown(redactor, value)
    if (next !== value) (changed ??= []).push([key, next])
  }
  return changed === undefined ? self : HashMap.mutate(self, (map) => {
    for (const [key, value] of changed!) HashMap.set(map, key, value)
  })
}
