/**
 * effect-llm: production-grade LLM calls for Effect programs.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as LanguageModel from "./LanguageModel.js"

/** @since 0.1.0 */
export * as LlmError from "./LlmError.js"

/** @since 0.1.0 */
export * as OpenAi from "./providers/OpenAi.js"

/** @since 0.1.0 */
export * as Anthropic from "./providers/Anthropic.js"
