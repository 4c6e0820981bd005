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

/** @since 0.1.0 */
export * as Embeddings from "./providers/Embeddings.js"

/** @since 0.1.0 */
export * as NodeFetch from "./providers/NodeFetch.js"

/** @since 0.1.0 */
export * as Retry from "./resilience/Retry.js"

/** @since 0.1.0 */
export * as RateLimit from "./resilience/RateLimit.js"

/** @since 0.1.0 */
export * as CircuitBreaker from "./resilience/CircuitBreaker.js"

/** @since 0.1.0 */
export * as Fallback from "./resilience/Fallback.js"

/** @since 0.1.0 */
export * as CacheStore from "./cache/CacheStore.js"

/** @since 0.1.0 */
export * as ResponseCache from "./cache/ResponseCache.js"

/** @since 0.1.0 */
export * as SemanticCache from "./cache/SemanticCache.js"

/** @since 0.1.0 */
export * as VectorIndex from "./cache/VectorIndex.js"

/** @since 0.1.0 */
export * as Structured from "./structured/Structured.js"

/** @since 0.1.0 */
export * as JsonSchema from "./structured/JsonSchema.js"

/** @since 0.1.0 */
export * as PartialJson from "./structured/PartialJson.js"

/** @since 0.1.0 */
export * as Pricing from "./cost/Pricing.js"

/** @since 0.1.0 */
export * as Tokens from "./cost/Tokens.js"

/** @since 0.1.0 */
export * as Stack from "./Stack.js"

/** @since 0.1.0 */
export * as Gateway from "./gateway/Gateway.js"

/** @since 0.1.0 */
export * as OpenAiWire from "./gateway/OpenAiWire.js"

/** @since 0.1.0 */
export * as Analyze from "./gateway/Analyze.js"

/** @since 0.1.0 */
export * as Budget from "./cost/Budget.js"

/** @since 0.1.0 */
export * as BudgetStore from "./cost/BudgetStore.js"

/** @since 0.1.0 */
export * as InjectionScanner from "./guard/InjectionScanner.js"

/** @since 0.1.0 */
export * as Spotlight from "./guard/Spotlight.js"

/** @since 0.1.0 */
export * as OutputGuard from "./guard/OutputGuard.js"

/** @since 0.1.0 */
export * as Guard from "./guard/Guard.js"

/** @since 0.1.0 */
export * as Telemetry from "./telemetry/Telemetry.js"

/** @since 0.1.0 */
export * as Metrics from "./telemetry/Metrics.js"

/** @since 0.1.0 */
export * as Prometheus from "./telemetry/Prometheus.js"

/** @since 0.1.0 */
export * as Eval from "./eval/Eval.js"

/** @since 0.1.0 */
export * as Assertions from "./eval/Assertions.js"

/** @since 0.1.0 */
export * as EvalReport from "./eval/Report.js"

/** @since 0.1.0 */
export * as Router from "./routing/Router.js"

/** @since 0.1.0 */
export * as Cascade from "./routing/Cascade.js"

/** @since 0.1.0 */
export * as Batch from "./batch/Batch.js"
