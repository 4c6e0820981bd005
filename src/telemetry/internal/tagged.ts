/**
 * Tagged metrics, built once per label set and reused.
 *
 * `Metric.tagged(metric, key, value)` makes a new metric on every call, and each
 * update of it merges the tag arrays and looks the full key up in the global
 * metric registry (hashing the key and its tags): a few µs per update, and a call
 * through the stack updates up to ten metrics. A metric tagged once with a label
 * array (`Metric.taggedWithLabels`) hands that same array to the registry lookup
 * whenever the fiber adds no tags of its own, and Effect caches the lookup per
 * array: an update is then a map hit.
 *
 * Labels keep their order (the same as `Object.entries` of the record, which is
 * what chained `Metric.tagged` calls produced). Each metric remembers at most
 * {@link MAX_LABEL_SETS} label sets and starts over when full, so a label with
 * unbounded values (a tenant, a rate-limit key) cannot grow it without bound.
 */
import { Metric, MetricLabel } from "effect"

/** How many label sets a cache of tagged metrics keeps before it starts over. */
export const MAX_LABEL_SETS = 4096

const cache = new WeakMap<object, Map<string, unknown>>()

/** `metric` tagged with `labels`, the same instance for the same labels. */
export const tagged = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> => {
  let byLabels = cache.get(metric)
  if (byLabels === undefined) cache.set(metric, byLabels = new Map())
  let key = ""
  for (const name in labels) key += `${name}\u0000${labels[name]}\u0001`
  let out = byLabels.get(key) as Metric.Metric<Type, In, Out> | undefined
  if (out === undefined) {
    if (byLabels.size >= MAX_LABEL_SETS) byLabels.clear()
    out = withLabels(metric, labels)
    byLabels.set(key, out)
  }
  return out
}

/** `metric` tagged with `labels` in their order, a new instance (for callers that keep it). */
export const withLabels = <Type, In, Out>(
  metric: Metric.Metric<Type, In, Out>,
  labels: Readonly<Record<string, string>>
): Metric.Metric<Type, In, Out> =>
  Metric.taggedWithLabels(metric, Object.entries(labels).map(([name, value]) => MetricLabel.make(name, value)))
