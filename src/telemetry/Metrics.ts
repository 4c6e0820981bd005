/**
 * The metrics of effect-llm, as Effect `Metric`s: one definition per measured
 * thing, shared by the layer that records it and by whatever exports it
 * (`Prometheus.render` for the gateway's `/metrics`, or `@effect/opentelemetry`'s
 * OTLP metrics exporter).
 *
 * `Telemetry.layer` records the per-call metrics (requests, tokens, cost, cache,
 * latency, time to first token, attempts, retries, fallbacks). The resilience and
 * cost layers can import the others and record into them: `recordRateLimitWait`,
 * `recordBreakerState`, `recordBudgetRemaining`.
 *
 * Names follow Prometheus conventions (`snake_case`, base units: seconds, USD,
 * `_total` on counters). Labels are bounded by default: provider, model, outcome
 * (`success` or the error tag), operation; the tenant only when the Telemetry
 * layer is told to (`tenantLabel`), since tenants can be many.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Metric, MetricBoundaries } from "effect"
import { tagged } from "./internal/tagged.js"

// -----------------------------------------------------------------------------
// Per call (recorded by Telemetry)
// -----------------------------------------------------------------------------

/**
 * Calls by outcome. Labels: `operation` (`generate`, `stream`), `provider`,
 * `model`, `outcome` (`success`, an `LlmError` tag, `interrupted`, `defect`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const requests = Metric.counter("effect_llm_requests_total", {
  description: "LLM calls by outcome (success or the error tag)",
  incremental: true
})

/**
 * Tokens billed by providers. Labels: `provider`, `model`, `type` (`input`,
 * `output`, `cached_input`, `reasoning`). Cache hits are not counted: no tokens
 * were spent on them.
 *
 * @since 0.1.0
 * @category metrics
 */
export const tokens = Metric.counter("effect_llm_tokens_total", {
  description: "Tokens used by LLM calls served by a provider",
  incremental: true
})

/**
 * Cost in USD of the calls that reported one. Labels: `provider`, `model`,
 * `estimated` (`true` when the usage was incomplete).
 *
 * @since 0.1.0
 * @category metrics
 */
export const costUsd = Metric.counter("effect_llm_cost_usd_total", {
  description: "Cost of LLM calls in USD",
  incremental: true
})

/**
 * Cache lookups seen by Telemetry. Labels: `result` (`hit`, `miss`), `kind`
 * (`exact`, `semantic`, or `none` for a miss). Misses are counted only when
 * `Telemetry` is told a cache sits below it (`cache: true`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const cacheLookups = Metric.counter("effect_llm_cache_lookups_total", {
  description: "Response and semantic cache hits and misses",
  incremental: true
})

/**
 * Buckets of the latency histogram, in seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const latencyBoundaries: ReadonlyArray<number> = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120]

/**
 * Buckets of the time-to-first-token histogram, in seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const timeToFirstTokenBoundaries: ReadonlyArray<number> = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30]

/**
 * Duration of whole calls (every retry and fallback included), in seconds.
 * Labels: `operation`, `provider`, `model`, `outcome`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const latency = Metric.histogram(
  "effect_llm_request_duration_seconds",
  MetricBoundaries.fromIterable(latencyBoundaries),
  "Duration of LLM calls in seconds"
)

/**
 * Time from the start of a streamed call to its first content event (text or
 * tool-call delta), in seconds. Labels: `provider`, `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const timeToFirstToken = Metric.histogram(
  "effect_llm_time_to_first_token_seconds",
  MetricBoundaries.fromIterable(timeToFirstTokenBoundaries),
  "Time to the first streamed token in seconds"
)

/**
 * Attempts made inside calls (from `Response.attempts`). Labels: `provider`,
 * `model`, `outcome` (`success`, `failure`, `skipped`, `interrupted`), `error`
 * (the error tag, or `none`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const attempts = Metric.counter("effect_llm_attempts_total", {
  description: "Provider attempts inside LLM calls, by outcome",
  incremental: true
})

/**
 * Retries: attempts at a provider/model that had already been tried in the same
 * call. Labels: `provider`, `model`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const retries = Metric.counter("effect_llm_retries_total", {
  description: "Retried attempts at the same provider and model",
  incremental: true
})

/**
 * Calls served by another provider/model than the first one tried. Labels:
 * `provider`, `model` (the one that served).
 *
 * @since 0.1.0
 * @category metrics
 */
export const fallbacks = Metric.counter("effect_llm_fallbacks_total", {
  description: "LLM calls served by a fallback member",
  incremental: true
})

// -----------------------------------------------------------------------------
// Recorded by other layers
// -----------------------------------------------------------------------------

/**
 * Buckets of the rate-limit wait histogram, in seconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const rateLimitWaitBoundaries: ReadonlyArray<number> = [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60]

/**
 * Waits imposed by a rate limiter, in seconds (the count is the number of waits).
 * Labels: `key` (the limiter's key, e.g. `openai/gpt-4.1-mini`), `reason`
 * (`rpm`, `tpm`, `concurrency`, `retry-after`).
 *
 * @since 0.1.0
 * @category metrics
 */
export const rateLimitWaits = Metric.histogram(
  "effect_llm_rate_limit_wait_seconds",
  MetricBoundaries.fromIterable(rateLimitWaitBoundaries),
  "Time spent waiting for rate-limit capacity in seconds"
)

/**
 * The state of each circuit breaker: 0 closed, 1 half-open, 2 open. Label:
 * `member` (the breaker's name).
 *
 * @since 0.1.0
 * @category metrics
 */
export const breakerState = Metric.gauge("effect_llm_circuit_breaker_state", {
  description: "Circuit breaker state per member (0 closed, 1 half-open, 2 open)"
})

/**
 * What is left of a budget in USD. Labels: `scope` (e.g. `global`,
 * `tenant:acme`), `period`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const budgetRemainingUsd = Metric.gauge("effect_llm_budget_remaining_usd", {
  description: "Remaining budget in USD per scope and period"
})

/**
 * A breaker state as a number (see {@link breakerState}).
 *
 * @since 0.1.0
 * @category conversions
 */
export const breakerStateValue = (state: "closed" | "half-open" | "open"): number =>
  state === "closed" ? 0 : state === "half-open" ? 1 : 2

/**
 * Records one rate-limit wait.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordRateLimitWait = (
  key: string,
  wait: Duration.DurationInput,
  reason = "rpm"
): Effect.Effect<void> =>
  Metric.update(tagged(rateLimitWaits, { key, reason }), Duration.toMillis(Duration.decode(wait)) / 1000)

/**
 * Records a breaker's state.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordBreakerState = (member: string, state: "closed" | "half-open" | "open"): Effect.Effect<void> =>
  Metric.set(tagged(breakerState, { member }), breakerStateValue(state))

/**
 * Records what is left of a budget.
 *
 * @since 0.1.0
 * @category recording
 */
export const recordBudgetRemaining = (scope: string, period: string, remainingUsd: number): Effect.Effect<void> =>
  Metric.set(tagged(budgetRemainingUsd, { scope, period }), remainingUsd)
