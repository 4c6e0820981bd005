/**
 * Markdown code fences around JSON, which models like to add: found by hand
 * rather than by regex. The obvious patterns backtrack on model output that
 * opens a fence and never closes it — `/^\s*```[a-zA-Z]*\s*\n?([\s\S]*?)\n?\s*```\s*$/`
 * took 44 s for 4,000 characters of an unclosed fence and whitespace (cubic) —
 * and a model's answer is untrusted text.
 */

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0xfeff || c === 0x1680 ||
  (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000

/**
 * The text inside a code fence that wraps the whole text, without its language tag
 * and surrounding whitespace; the text as it is when no fence wraps it. What
 * `/^\s*```[a-zA-Z]*\s*\n?([\s\S]*?)\n?\s*```\s*$/` captures (tested against it).
 */
export const unfence = (text: string): string => {
  const t = text.trim()
  if (t.length < 6 || !t.startsWith("```") || !t.endsWith("```")) return text
  return t.slice(3, -3).replace(/^[a-zA-Z]*/, "").trim()
}

/**
 * The trimmed text, or what a code fence wrapping all of it holds, without a `json`
 * tag (any case) and surrounding whitespace. Unlike {@link unfence}, other letters
 * after the fence are content: "```true```" holds `true`. What the output guard's
 * `text.trim().replace(/^```(?:json)?\s*\n?([\s\S]*?)\n?```$/, "$1").trim()` gave
 * (tested against it).
 */
export const unfenceJson = (text: string): string => {
  const t = text.trim()
  if (t.length < 6 || !t.startsWith("```") || !t.endsWith("```")) return t
  const inner = t.slice(3, -3)
  return (inner.slice(0, 4).toLowerCase() === "json" ? inner.slice(4) : inner).trim()
}

/**
 * The JSON inside a fence that opens the (trimmed) text with "```" or "```json"
 * and a line break and closes it with "```", or `undefined`. What
 * `/^```(?:json)?\s*\n([\s\S]*?)\n?```$/` captures (tested against it).
 */
export const fencedJson = (trimmed: string): string | undefined => {
  if (!trimmed.startsWith("```") || !trimmed.endsWith("```")) return undefined
  const close = trimmed.length - 3
  let i = trimmed.startsWith("json", 3) ? 7 : 3
  // the leading whitespace must hold a line break; the content starts after the last one
  let start = -1
  while (i < close && isSpace(trimmed.charCodeAt(i))) {
    if (trimmed.charCodeAt(i) === 10) start = i + 1
    i++
  }
  if (start < 0) return undefined
  const end = close > start && trimmed.charCodeAt(close - 1) === 10 ? close - 1 : close
  return trimmed.slice(start, end)
}
