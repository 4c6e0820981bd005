/**
 * Scripted answers for `evals/example.suite.yaml` on the ProviderSimulator: what
 * CI runs the example suite against. It is a stand-in for a model, not one:
 * arithmetic is computed, translations come from a small phrase book, extraction
 * is a regex, and the judge is a rule (it passes an answer that contains every
 * 'quoted' term of the rubric). Its point is to exercise the whole pipeline —
 * real SDKs, HTTP, the cache, every assertion kind, the reports — in CI.
 *
 * `broken: true` (see `makeHandler`) gets one arithmetic case wrong, so tests can
 * watch a regression appear.
 *
 * @since 0.1.0
 */
import type { ProviderSimulator } from "../src/testing/index.js"

type Call = ProviderSimulator.Call
type Behavior = ProviderSimulator.Behavior

const textOf = (content: unknown): string =>
  typeof content === "string"
    ? content
    : Array.isArray(content)
    ? content.map((part) => (typeof part === "object" && part !== null && "text" in part ? String(part.text) : "")).join("")
    : ""

const lastUser = (body: unknown): string => {
  const messages = (body as { messages?: ReadonlyArray<{ role?: string; content?: unknown }> }).messages ?? []
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === "user") return textOf(messages[i]?.content)
  return ""
}

const wantsJsonSchema = (body: unknown): boolean => {
  const b = body as { response_format?: { type?: string }; output_config?: unknown }
  return b.response_format?.type === "json_schema" || b.output_config !== undefined
}

/** Evaluates + - * / and parentheses over decimals; nothing else gets through. */
const arithmetic = (expression: string): number | undefined => {
  const tokens = expression.match(/\d+(?:\.\d+)?|[-+*/()]/g)
  if (tokens === null || tokens.join("") !== expression.replace(/\s+/g, "")) return undefined
  let i = 0
  const primary = (): number => {
    const t = tokens[i++]
    if (t === "(") {
      const v = sum()
      i++
      return v
    }
    if (t === "-") return -primary()
    return Number(t)
  }
  const product = (): number => {
    let v = primary()
    while (tokens[i] === "*" || tokens[i] === "/") v = tokens[i++] === "*" ? v * primary() : v / primary()
    return v
  }
  const sum = (): number => {
    let v = product()
    while (tokens[i] === "+" || tokens[i] === "-") v = tokens[i++] === "+" ? v + product() : v - product()
    return v
  }
  return sum()
}

const phrases: Record<string, string> = {
  "good morning, my friend.": "Bonjour, mon ami.",
  "where is the library?": "Où est la bibliothèque ?"
}

const answer = (prompt: string, broken: boolean): string => {
  const compute = /^Compute (.+?)(?: to two decimals)?\. Answer/.exec(prompt)
  if (compute !== null) {
    const value = arithmetic(compute[1]!)
    if (value === undefined) return "I cannot compute that."
    if (broken && compute[1] === "17 * 23") return "381"
    return prompt.includes("two decimals") ? value.toFixed(2) : String(value)
  }
  const translate = /^Translate to French: (.+)$/.exec(prompt)
  if (translate !== null) return phrases[translate[1]!.trim().toLowerCase()] ?? translate[1]!
  const extract = /as JSON with keys name and email from: (.+)$/.exec(prompt)
  if (extract !== null) {
    const text = extract[1]!
    const email = /[^\s@]+@[^\s@]+\.[a-z]+/i.exec(text)?.[0] ?? null
    const name = /\b([A-Z][a-z]+ [A-Z][a-z]+)\b/.exec(text.replace(/^Please /, ""))?.[1] ?? null
    return JSON.stringify({ name, email })
  }
  return prompt
}

const judge = (prompt: string): string => {
  const rubric = /<rubric>\n([\s\S]*?)\n<\/rubric>/.exec(prompt)?.[1] ?? ""
  const output = /<answer>\n([\s\S]*?)\n<\/answer>/.exec(prompt)?.[1] ?? ""
  const terms = Array.from(rubric.matchAll(/'([^']+)'/g), (m) => m[1]!).filter((t) => !/\s/.test(t))
  const missing = terms.filter((t) => !output.toLowerCase().includes(t.toLowerCase()))
  const pass = output.trim().length > 0 && missing.length === 0
  return JSON.stringify({
    pass,
    score: pass ? 0.9 : 0.2,
    reason: pass ? "the answer has every term the rubric asks for" : `missing ${missing.join(", ") || "an answer"}`
  })
}

/**
 * A simulator handler for the example suite.
 *
 * @since 0.1.0
 * @category simulator
 */
export const makeHandler = (options: { readonly broken?: boolean } = {}) => (call: Call): Behavior | undefined => {
  if (call.route === "embeddings") return undefined
  const prompt = lastUser(call.body)
  return { text: wantsJsonSchema(call.body) ? judge(prompt) : answer(prompt, options.broken === true) }
}

/**
 * The handler `--simulator-handler evals/example.simulator.ts` loads.
 *
 * @since 0.1.0
 * @category simulator
 */
export const handler = makeHandler()
