/**
 * The Prometheus text exposition (format 0.0.4) of Effect metrics: what the
 * gateway's `/metrics` endpoint serves and what any Prometheus-compatible scraper
 * reads.
 *
 * Written by hand because neither `effect` nor `@effect/opentelemetry` renders the
 * text format: the OpenTelemetry route needs `@opentelemetry/exporter-prometheus`
 * and a MeterProvider bridge, a second HTTP server and a dependency for what is a
 * small pure function of `Metric.snapshot`.
 *
 * Mapping: counters → `counter`, gauges → `gauge`, histograms → `histogram`
 * (`_bucket` with cumulative counts and an `le` label ending at `+Inf`, `_sum`,
 * `_count`), summaries → `summary` (`quantile` label, `_sum`, `_count`),
 * frequencies → `counter` with one series per observed value (label `key`).
 * Names and label names are sanitized to the Prometheus alphabet; label values
 * and HELP text are escaped.
 *
 * @since 0.1.0
 */
import { Effect, Metric, MetricKeyType, MetricState, Option } from "effect"
import type { MetricPair } from "effect"

/**
 * The `Content-Type` of the exposition.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Keep only metrics whose (sanitized) name passes (default: all). */
  readonly filter?: ((name: string) => boolean) | undefined
  /** Labels added to every series (e.g. `{ instance: "gw-1" }`). */
  readonly labels?: Readonly<Record<string, string>> | undefined
}

/**
 * A metric or label name made valid: characters outside `[a-zA-Z0-9_:]` become
 * `_`, and a leading digit gets a `_` prefix. Label names also lose `:`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const sanitizeName = (name: string, kind: "metric" | "label" = "metric"): string => {
  const allowed = kind === "metric" ? /[^a-zA-Z0-9_:]/g : /[^a-zA-Z0-9_]/g
  const out = name.replace(allowed, "_")
  return out.length === 0 ? "_" : /^[0-9]/.test(out) ? `_${out}` : out
}

/**
 * A label value escaped for the text format: backslash, double quote, newline.
 *
 * @since 0.1.0
 * @category formatting
 */
export const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

/**
 * HELP text escaped for the text format: backslash and newline.
 *
 * @since 0.1.0
 * @category formatting
 */
export const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

/**
 * A sample value: `NaN`, `+Inf`, `-Inf` or the number (bigints exactly).
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

type Labels = ReadonlyArray<readonly [string, string]>

const renderLabels = (labels: Labels): string =>
  labels.length === 0
    ? ""
    : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`

const sample = (name: string, labels: Labels, value: number | bigint): string =>
  `${name}${renderLabels(labels)} ${formatValue(value)}`

type PromType = "counter" | "gauge" | "histogram" | "summary"

const typeOf = (pair: MetricPair.MetricPair.Untyped): PromType | undefined => {
  const keyType = pair.metricKey.keyType
  if (MetricKeyType.isCounterKey(keyType) || MetricKeyType.isFrequencyKey(keyType)) return "counter"
  if (MetricKeyType.isGaugeKey(keyType)) return "gauge"
  if (MetricKeyType.isHistogramKey(keyType)) return "histogram"
  if (MetricKeyType.isSummaryKey(keyType)) return "summary"
  return undefined
}

const samplesOf = (name: string, labels: Labels, state: unknown): ReadonlyArray<string> => {
  const reserved = (extra: string) => labels.filter(([k]) => k !== extra)
  if (MetricState.isCounterState(state)) return [sample(name, labels, state.count)]
  if (MetricState.isGaugeState(state)) return [sample(name, labels, state.value)]
  if (MetricState.isHistogramState(state)) {
    const base = reserved("le")
    const lines = state.buckets
      .filter(([bound]) => bound !== Number.POSITIVE_INFINITY)
      .map(([bound, count]) => sample(`${name}_bucket`, [...base, ["le", formatValue(bound)]], count))
    lines.push(sample(`${name}_bucket`, [...base, ["le", "+Inf"]], state.count))
    lines.push(sample(`${name}_sum`, base, state.sum))
    lines.push(sample(`${name}_count`, base, state.count))
    return lines
  }
  if (MetricState.isSummaryState(state)) {
    const base = reserved("quantile")
    return [
      ...state.quantiles.map(([q, value]) =>
        sample(name, [...base, ["quantile", formatValue(q)]], Option.getOrElse(value, () => Number.NaN))
      ),
      sample(`${name}_sum`, base, state.sum),
      sample(`${name}_count`, base, state.count)
    ]
  }
  if (MetricState.isFrequencyState(state)) {
    const base = reserved("key")
    return [...state.occurrences.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, count]) => sample(name, [...base, ["key", key]], count))
  }
  return []
}

interface Family {
  readonly name: string
  readonly type: PromType
  help: string | undefined
  readonly series: Array<{ readonly labels: Labels; readonly state: unknown }>
}

const compareLabels = (a: Labels, b: Labels): number => {
  const sa = renderLabels(a)
  const sb = renderLabels(b)
  return sa < sb ? -1 : sa > sb ? 1 : 0
}

/**
 * Renders a metric snapshot as Prometheus text. Series of one name are grouped
 * under one HELP/TYPE header; families are sorted by name and series by labels,
 * so the output is stable. A series whose type differs from the first one seen
 * under the same name is dropped (Prometheus would reject the page).
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderSnapshot = (
  pairs: ReadonlyArray<MetricPair.MetricPair.Untyped>,
  options: Options = {}
): string => {
  const families = new Map<string, Family>()
  const extra: Labels = Object.entries(options.labels ?? {}).map(([k, v]) => [sanitizeName(k, "label"), v] as const)
  for (const pair of pairs) {
    const type = typeOf(pair)
    if (type === undefined) continue
    const name = sanitizeName(pair.metricKey.name)
    if (options.filter !== undefined && !options.filter(name)) continue
    let family = families.get(name)
    if (family === undefined) {
      family = { name, type, help: undefined, series: [] }
      families.set(name, family)
    }
    if (family.type !== type) continue
    if (family.help === undefined && Option.isSome(pair.metricKey.description)) family.help = pair.metricKey.description.value
    const own = pair.metricKey.tags.map((tag) => [sanitizeName(tag.key, "label"), tag.value] as const)
    const ownKeys = new Set(own.map(([k]) => k))
    const labels = [...extra.filter(([k]) => !ownKeys.has(k)), ...own]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    family.series.push({ labels, state: pair.metricState })
  }
  const out: Array<string> = []
  for (const family of [...families.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (family.help !== undefined) out.push(`# HELP ${family.name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${family.name} ${family.type}`)
    for (const series of family.series.sort((a, b) => compareLabels(a.labels, b.labels))) {
      out.push(...samplesOf(family.name, series.labels, series.state))
    }
  }
  return out.length === 0 ? "" : `${out.join("\n")}\n`
}

/**
 * The Prometheus text of every metric in the global registry (`Metric.snapshot`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const render = (options?: Options): Effect.Effect<string> =>
  Effect.map(Metric.snapshot, (pairs) => renderSnapshot(pairs, options))

/**
 * The Prometheus text of effect-llm's own metrics only (names starting with
 * `effect_llm_`).
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderOwn: Effect.Effect<string> = render({ filter: (name) => name.startsWith("effect_llm_") })
