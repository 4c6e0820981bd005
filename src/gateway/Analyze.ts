/**
 * The mission's "production-ready integration" as one route: untrusted text in,
 * validated JSON out. Scan the text for injection (refuse when flagged), wrap it
 * in per-request spotlight tags the text cannot close, ask for a structured
 * analysis with an Effect Schema, and return the decoded value. The stack below
 * (caches, budget, fallback, retries) applies as for any call.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as InjectionScanner from "../guard/InjectionScanner.js"
import * as Spotlight from "../guard/Spotlight.js"
import * as LanguageModel from "../LanguageModel.js"
import * as LlmError from "../LlmError.js"
import * as Structured from "../structured/Structured.js"
import type * as Gateway from "./Gateway.js"

/**
 * What `/analyze` returns.
 *
 * @since 0.1.0
 * @category models
 */
export const Analysis = Schema.Struct({
  summary: Schema.String.pipe(Schema.maxLength(500)),
  sentiment: Schema.Literal("positive", "negative", "neutral"),
  topics: Schema.Array(Schema.String).pipe(Schema.maxItems(10)),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
}).annotations({ identifier: "Analysis" })

/**
 * @since 0.1.0
 * @category models
 */
export type Analysis = typeof Analysis.Type

const Body = Schema.Struct({ text: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(20_000)) })

/**
 * Analyzes one untrusted text with the given model stack.
 *
 * @since 0.1.0
 * @category constructors
 */
export const analyze = (
  model: LanguageModel.Service,
  input: { readonly text: string; readonly tenant?: string | undefined },
  options: { readonly scanner?: InjectionScanner.Options | undefined } = {}
): Effect.Effect<Analysis, LlmError.LlmError> =>
  Effect.gen(function*() {
    const scan = InjectionScanner.scan(input.text, options.scanner)
    if (scan.flagged) return yield* Effect.fail(InjectionScanner.toError(scan, "the text to analyze"))
    const wrapped = yield* Spotlight.wrap(input.text)
    return yield* Structured.generate(Analysis, {
      messages: [
        {
          role: "system",
          content: `Analyze the document the user provides: summarize it, give its sentiment and topics.\n${wrapped.instructions}`
        },
        { role: "user", content: wrapped.text }
      ],
      temperature: 0,
      maxTokens: 400,
      metadata: input.tenant === undefined ? undefined : { tenant: input.tenant }
    })
  }).pipe(Effect.provideService(LanguageModel.LanguageModel, model))

/**
 * `POST /analyze` for `Gateway.layer({ routes: [...] })`: body `{ "text": "..." }`.
 *
 * @since 0.1.0
 * @category routes
 */
export const route = (options?: { readonly scanner?: InjectionScanner.Options }): Gateway.Route => ({
  path: "/analyze",
  handle: ({ body, model, tenant }) =>
    Schema.decodeUnknown(Body)(body).pipe(
      Effect.mapError((e) => new LlmError.InvalidRequest({ message: `Invalid body: ${e.message}`, code: "invalid_request", param: "text" })),
      Effect.flatMap(({ text }) => analyze(model, { text, tenant }, options))
    )
})
