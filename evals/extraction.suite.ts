/**
 * A TypeScript suite: the same extraction task as the YAML example, checked with
 * an Effect Schema (refinements included) instead of a JSON Schema.
 *
 *   npx tsx --conditions=source src/eval/bin.ts eval evals/extraction.suite.ts \
 *     --simulator-handler evals/example.simulator.ts
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type * as Eval from "../src/eval/Eval.js"

/** A contact with a plausible e-mail address. */
const Contact = Schema.Struct({
  name: Schema.NonEmptyString,
  email: Schema.String.pipe(Schema.pattern(/^[^@\s]+@[^@\s]+\.[a-z]+$/i))
})

const task = (text: string) => `Extract the person's name and e-mail address as JSON with keys name and email from: ${text}`

/**
 * The suite (a module's `suite` or `default` export is what `eval` loads).
 *
 * @since 0.1.0
 * @category suites
 */
export const suite: Eval.SuiteInput = {
  name: "extraction-ts",
  prompts: [{ id: "extract", template: "{{task}}" }],
  models: [{ name: "openai-mini", provider: "openai", model: "gpt-4o-mini" }],
  cases: [
    {
      id: "ada",
      vars: { task: task("Please reach out to Ada Lovelace at ada@example.org about the engine.") },
      assertions: [
        { type: "matchesSchema", schema: Contact },
        { type: "contains", value: "ada@example.org" }
      ]
    },
    {
      id: "nobody",
      description: "no address in the text: the answer must not pass as a full contact",
      vars: { task: task("Grace Hopper called about the compiler.") },
      assertions: [
        { type: "matchesSchema", schema: Contact, not: true },
        { type: "contains", value: "Grace Hopper" }
      ]
    }
  ]
}
