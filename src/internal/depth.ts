/**
 * A bound on how deeply JSON-like values nest, checked before anything walks
 * them recursively. The cache key writer, the token count's `JSON.stringify`,
 * Schema's error messages, the output guard's schema check and the JSON Schema
 * converter all recurse, and 3,000–8,000 levels of `[` (a few kilobytes, from a
 * client or from a model) overflowed the stack: a defect, or a 500 at the
 * gateway, instead of a typed error.
 */

/** The deepest nesting of arrays and objects accepted (real tool schemas and answers stay far below). */
export const maxDepth = 128

/**
 * Whether `value` nests arrays or objects more than `max` levels deep. Iterative
 * (a recursive walk would overflow on exactly what it is meant to refuse). An
 * object met again is walked again only when met deeper than before (so a shared
 * object is judged by its deepest place, and a cycle counts as too deep), which
 * keeps the walk within `max` visits of each object.
 */
export const tooDeep = (value: unknown, max: number = maxDepth): boolean => {
  if (typeof value !== "object" || value === null) return false
  const deepest = new Map<object, number>()
  const stack: Array<unknown> = [value]
  const depths: Array<number> = [1]
  while (stack.length > 0) {
    const node = stack.pop() as object
    const depth = depths.pop()!
    if (depth > max) return true
    if ((deepest.get(node) ?? 0) >= depth) continue
    deepest.set(node, depth)
    const children = Array.isArray(node) ? node : Object.values(node)
    for (const child of children) {
      if (typeof child === "object" && child !== null) {
        stack.push(child)
        depths.push(depth + 1)
      }
    }
  }
  return false
}

/**
 * The first value inside `value` that JSON cannot carry as it is — a bigint
 * (`JSON.stringify` throws, and the SDK's failure looked like a network error), a
 * function or a symbol (dropped without a word), a non-finite number (sent as
 * `null`) — described with where it sits ("a bigint at properties.n.maximum"), or
 * undefined. Each object is looked at once, so shared subtrees cost nothing twice;
 * call it on values {@link tooDeep} accepted (no cycles, bounded depth).
 */
export const nonJsonValue = (value: unknown, path = ""): string | undefined =>
  describeNonJson(value, path, new Set())

const describeNonJson = (value: unknown, path: string, seen: Set<object>): string | undefined => {
  const where = path === "" ? "" : ` at ${path}`
  switch (typeof value) {
    case "bigint":
      return `a bigint${where}`
    case "function":
      return `a function${where}`
    case "symbol":
      return `a symbol${where}`
    case "number":
      return Number.isFinite(value) ? undefined : `${value}${where}`
    case "object": {
      if (value === null || seen.has(value)) return undefined
      seen.add(value)
      const isArray = Array.isArray(value)
      for (const [key, child] of Object.entries(value)) {
        const found = describeNonJson(child, isArray ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`, seen)
        if (found !== undefined) return found
      }
      return undefined
    }
    default:
      return undefined
  }
}
